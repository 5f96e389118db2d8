package http1

import (
	"bufio"
	"bytes"
)

// TargetForm is the form of a request-target (RFC 9112 section 3.2).
type TargetForm uint8

// Request-target forms.
const (
	FormOrigin    TargetForm = iota + 1 // "/path?query"
	FormAbsolute                        // "http://host/path", to proxies
	FormAuthority                       // "host:port", CONNECT only
	FormAsterisk                        // "*", OPTIONS only
)

// Request is a parsed request head. The zero value is ready for ReadRequest;
// reuse one per connection to parse without allocating.
type Request struct {
	Header
	start, method, target, version span
	authority                      span
	authorityFromHost              bool

	// Minor is the HTTP minor version: 0 or 1.
	Minor int
	// Form is the request-target's form.
	Form TargetForm
	// Framing is how the request body is delimited: FrameNone, FrameLength
	// or FrameChunked.
	Framing Framing
}

// Reset empties the request, keeping its memory.
func (r *Request) Reset() {
	r.Header.Reset()
	*r = Request{Header: r.Header}
}

// Method returns the method as received, e.g. "GET".
func (r *Request) Method() []byte { return r.method.of(r.buf) }

// IsMethod reports whether the method is m. Methods are case-sensitive
// (RFC 9110 section 9.1).
func (r *Request) IsMethod(m string) bool { return string(r.Method()) == m }

// Target returns the request-target as received.
func (r *Request) Target() []byte { return r.target.of(r.buf) }

// Authority returns the authority the request is for: the target's for
// absolute-form and authority-form, otherwise Host's value (possibly empty).
func (r *Request) Authority() []byte {
	if r.authorityFromHost {
		return r.Get("Host")
	}
	return r.authority.of(r.buf)
}

// KeepAlive reports whether the client allows the connection to carry
// another request after this one (RFC 9112 section 9.3): HTTP/1.1 unless
// Connection lists "close", HTTP/1.0 only if Connection lists "keep-alive".
func (r *Request) KeepAlive() bool { return keepAlive(r.Minor, &r.Header) }

func keepAlive(minor int, h *Header) bool {
	if h.HasToken("Connection", "close") {
		return false
	}
	if minor == 0 {
		return h.HasToken("Connection", "keep-alive")
	}
	return true
}

// ReadRequest reads one request head from br into r, validating it and
// working out its body framing. On success br is positioned at the first
// body byte. It returns io.EOF if br ended before the head began, and
// otherwise an *Error whose Status the server answers (see StatusOf) or an
// I/O error.
func ReadRequest(br *bufio.Reader, r *Request, lim Limits) error {
	r.Reset()
	start, err := readHead(br, &r.Header, lim, true)
	if err != nil {
		return err
	}
	r.start = start
	if err := r.parseRequestLine(); err != nil {
		return err
	}
	if err := r.checkHost(); err != nil {
		return err
	}
	f, err := readFraming(&r.Header, r.Minor)
	if err != nil {
		return err
	}
	r.Framing = f
	return nil
}

// parseRequestLine parses and checks (RFC 9112 section 3)
//
//	request-line = method SP request-target SP HTTP-version
func (r *Request) parseRequestLine() error {
	line := r.start.of(r.buf)
	off := r.start.off
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return newError(KindBadRequestLine, line)
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return newError(KindBadRequestLine, line)
	}
	method, target, version := line[:sp1], rest[:sp2], rest[sp2+1:]
	if !allClass(method, cToken) {
		if !allClass(method, cValue) {
			return newError(KindBadChar, line)
		}
		return newError(KindBadRequestLine, line)
	}
	if bytes.IndexByte(version, ' ') >= 0 {
		return newError(KindBadRequestLine, line)
	}
	minor, err := parseVersion(version)
	if err != nil {
		return err
	}
	r.Minor = minor
	r.method = span{off, int32(sp1)}
	r.target = span{off + int32(sp1) + 1, int32(sp2)}
	r.version = span{r.target.off + int32(sp2) + 1, int32(len(version))}
	if !allClass(target, cTarget) {
		if !allClass(target, cValue) {
			return newError(KindBadChar, target)
		}
		return newError(KindBadTarget, target)
	}
	return r.classifyTarget(method, target)
}

// parseVersion checks HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive
// (RFC 9112 section 2.3), and returns the minor version of 1.0 or 1.1.
func parseVersion(v []byte) (int, error) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		if !allClass(v, cValue) {
			return 0, newError(KindBadChar, v)
		}
		return 0, newError(KindBadVersion, v)
	}
	if v[5] != '1' || v[7] > '1' {
		return 0, newError(KindUnsupportedVersion, v)
	}
	return int(v[7] - '0'), nil
}

// classifyTarget sets Form and the authority span (RFC 9112 section 3.2).
func (r *Request) classifyTarget(method, target []byte) error {
	connect := string(method) == "CONNECT"
	r.authorityFromHost, r.authority = false, span{}
	switch {
	case connect:
		// Section 3.2.3: CONNECT takes authority-form only, with a port.
		if !validAuthority(target, true) {
			return newError(KindBadTarget, target)
		}
		r.Form, r.authority = FormAuthority, r.target
	case target[0] == '/':
		r.Form, r.authorityFromHost = FormOrigin, true
	case len(target) == 1 && target[0] == '*':
		// Section 3.2.4: asterisk-form is for OPTIONS only.
		if string(method) != "OPTIONS" {
			return newError(KindBadTarget, target)
		}
		r.Form, r.authorityFromHost = FormAsterisk, true
	default:
		a, ok := absoluteAuthority(target)
		if !ok {
			return newError(KindBadTarget, target)
		}
		r.Form = FormAbsolute
		r.authority = span{r.target.off + int32(a), int32(len(target) - a)}
		for i, c := range target[a:] {
			if c == '/' || c == '?' {
				r.authority.n = int32(i)
				break
			}
		}
		if !validAuthority(r.authority.of(r.buf), false) || r.authority.n == 0 {
			// RFC 9110 section 4.2.1: an http URI with an empty host is
			// invalid; section 4.2.4: userinfo is an error.
			return newError(KindBadTarget, target)
		}
	}
	return nil
}

// absoluteAuthority checks scheme "://" at the start of an absolute-form
// target and returns the offset of the authority.
func absoluteAuthority(t []byte) (int, bool) {
	i := 0
	for i < len(t) {
		c := t[i]
		alpha := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if alpha || i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			i++
			continue
		}
		break
	}
	if i == 0 || !bytes.HasPrefix(t[i:], []byte("://")) {
		return 0, false
	}
	return i + 3, true
}

// validAuthority checks uri-host [":" port] (RFC 3986 section 3.2.2) loosely
// by byte class, with no userinfo; needPort requires a non-empty port.
func validAuthority(a []byte, needPort bool) bool {
	if !allClass(a, cHost) {
		return false
	}
	if len(a) > 0 && a[0] == '[' {
		e := bytes.IndexByte(a, ']')
		if e < 0 {
			return false
		}
		rest := a[e+1:]
		if len(rest) == 0 {
			return !needPort
		}
		return rest[0] == ':' && validPort(rest[1:], needPort)
	}
	if bytes.IndexByte(a, '[') >= 0 || bytes.IndexByte(a, ']') >= 0 {
		return false
	}
	c := bytes.IndexByte(a, ':')
	if c < 0 {
		return !needPort
	}
	if needPort && c == 0 {
		return false
	}
	return validPort(a[c+1:], needPort)
}

// validPort checks port = *DIGIT (RFC 3986 section 3.2.3), at most 65535.
func validPort(p []byte, needPort bool) bool {
	if len(p) == 0 {
		return !needPort
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return false
		}
	}
	return true
}

// checkHost applies RFC 9112 section 3.2: 400 for an HTTP/1.1 request with
// no Host, for more than one Host field line, and for an invalid Host value.
func (r *Request) checkHost() error {
	i := r.Index("Host", 0)
	if i < 0 {
		if r.Minor == 1 {
			return newError(KindMissingHost, nil)
		}
		return nil
	}
	if j := r.Index("Host", i+1); j >= 0 {
		return newError(KindDuplicateHost, r.Value(j))
	}
	if v := r.Value(i); !validAuthority(v, false) {
		return newError(KindBadHost, v)
	}
	return nil
}
