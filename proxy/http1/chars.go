package http1

// Byte classes, one bit each in charClass.
const (
	// cToken is tchar (RFC 9110 section 5.6.2).
	cToken = 1 << iota
	// cValue is a byte allowed inside a field value or reason phrase:
	// VCHAR, obs-text, SP and HTAB (RFC 9110 section 5.5, RFC 9112 section 4).
	cValue
	// cTarget is a byte allowed in a request-target: visible ASCII except "#"
	// (RFC 9112 section 3.2, RFC 3986 section 2).
	cTarget
	// cHost is a byte allowed in uri-host [":" port]: unreserved, sub-delims,
	// "%" of pct-encoded, ":" and the brackets of an IP-literal (RFC 3986
	// section 3.2.2).
	cHost
	// cHex is HEXDIG, either case.
	cHex
)

var charClass = makeCharClass()

func makeCharClass() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
		if alnum {
			t[c] |= cToken | cHost
		}
		if '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F' {
			t[c] |= cHex
		}
		if b > 0x20 && b < 0x7f || b >= 0x80 || b == ' ' || b == '\t' {
			t[c] |= cValue
		}
		if b > 0x20 && b < 0x7f && b != '#' {
			t[c] |= cTarget
		}
	}
	for _, b := range []byte("!#$%&'*+-.^_`|~") {
		t[b] |= cToken
	}
	for _, b := range []byte("-._~!$&'()*+,;=%:[]") {
		t[b] |= cHost
	}
	return t
}

func isToken(b byte) bool { return charClass[b]&cToken != 0 }
func isValue(b byte) bool { return charClass[b]&cValue != 0 }

// allClass reports whether every byte of s is in class c.
func allClass(s []byte, c uint8) bool {
	for _, b := range s {
		if charClass[b]&c == 0 {
			return false
		}
	}
	return true
}

func allClassString(s string, c uint8) bool {
	for i := 0; i < len(s); i++ {
		if charClass[s[i]]&c == 0 {
			return false
		}
	}
	return true
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}

// equalFold compares an ASCII field name or token case-insensitively. Unlike
// strings.EqualFold it does not fold Unicode, so "\u212a" never equals "k".
func equalFold[T string | []byte](a []byte, b T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func isOWS(b byte) bool { return b == ' ' || b == '\t' }

// trimOWS removes optional whitespace (SP, HTAB) at both ends.
func trimOWS(s []byte) []byte {
	for len(s) > 0 && isOWS(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// listIter walks the elements of a comma-separated list field value (RFC
// 9110 section 5.6.1), trimming OWS and skipping empty elements as the RFC
// requires a recipient to.
type listIter struct{ s []byte }

func (it *listIter) next() ([]byte, bool) {
	for len(it.s) > 0 {
		i := 0
		for i < len(it.s) && it.s[i] != ',' {
			i++
		}
		e := trimOWS(it.s[:i])
		if i < len(it.s) {
			it.s = it.s[i+1:]
		} else {
			it.s = nil
		}
		if len(e) > 0 {
			return e, true
		}
	}
	return nil, false
}
