package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// AppendV1 appends the v1 text header for h to dst (section 2.1): "PROXY
// TCP4 src dst sport dport\r\n", the same with TCP6, or "PROXY UNKNOWN\r\n"
// for Local, Unspec and other protocols. IPv6 addresses are written in
// RFC 5952 form. UDP cannot be expressed in v1 and is an error.
func AppendV1(dst []byte, h *Header) ([]byte, error) {
	if h.Command != Proxy || h.Proto == Unspec || h.Proto == UnixStream || h.Proto == UnixDgram {
		return append(dst, "PROXY UNKNOWN\r\n"...), nil
	}
	var word string
	switch h.Proto {
	case TCP4:
		if !h.Src.Addr().Is4() || !h.Dst.Addr().Is4() {
			return dst, fmt.Errorf("proxyproto: tcp4 needs ipv4 addresses, have %q and %q", h.Src, h.Dst)
		}
		word = "PROXY TCP4 "
	case TCP6:
		if !h.Src.Addr().Is6() || !h.Dst.Addr().Is6() || h.Src.Addr().Zone() != "" || h.Dst.Addr().Zone() != "" {
			return dst, fmt.Errorf("proxyproto: tcp6 needs ipv6 addresses without zone, have %q and %q", h.Src, h.Dst)
		}
		word = "PROXY TCP6 "
	default:
		return dst, fmt.Errorf("proxyproto: protocol %#02x has no v1 form", uint8(h.Proto))
	}
	dst = append(dst, word...)
	dst = h.Src.Addr().AppendTo(dst)
	dst = append(dst, ' ')
	dst = h.Dst.Addr().AppendTo(dst)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(h.Src.Port()), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(h.Dst.Port()), 10)
	return append(dst, '\r', '\n'), nil
}

func malformed(what string, v []byte) error {
	return fmt.Errorf("%w: %s %q", ErrMalformed, what, v)
}

// readV1 reads a v1 line. br starts with "PROXY " and holds at least 12
// bytes. It looks for the LF within MaxV1Len bytes, waiting for more input
// only while none has been seen.
func readV1(br *bufio.Reader, h *Header) error {
	var line []byte
	for want := 12; ; {
		p, err := br.Peek(want)
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line = p[:i+1]
			break
		}
		if len(p) >= MaxV1Len {
			return malformed("no crlf within 107 bytes", p)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		want = min(MaxV1Len, max(want+1, br.Buffered()))
	}
	err := parseV1(line, h)
	br.Discard(len(line))
	return err
}

// parseV1 parses one v1 line including its LF.
func parseV1(line []byte, h *Header) error {
	// "The receiver must not tolerate a single CR or LF character to end
	// the line when a complete CRLF sequence is expected."
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return malformed("line not terminated by crlf", line)
	}
	l := line[len("PROXY ") : len(line)-2]
	h.Version, h.Command = 1, Proxy
	if bytes.HasPrefix(l, []byte("UNKNOWN")) && (len(l) == 7 || l[7] == ' ') {
		// "the receiver must ignore anything presented before the CRLF".
		h.Proto = Unspec
		return nil
	}
	var f [5][]byte
	for i := range f {
		sp := bytes.IndexByte(l, ' ')
		if i == len(f)-1 {
			sp = len(l)
		}
		if sp <= 0 {
			return malformed("expected 6 fields separated by single spaces", line)
		}
		f[i], l = l[:sp], l[min(sp+1, len(l)):]
	}
	if bytes.IndexByte(f[4], ' ') >= 0 {
		return malformed("extra field", line)
	}
	var src, dst netip.Addr
	var ok bool
	switch string(f[0]) {
	case "TCP4":
		h.Proto = TCP4
		src, ok = parseIPv4(f[1])
		if ok {
			dst, ok = parseIPv4(f[2])
		}
	case "TCP6":
		h.Proto = TCP6
		src, ok = parseIPv6(f[1])
		if ok {
			dst, ok = parseIPv6(f[2])
		}
	default:
		return malformed("unknown protocol", f[0])
	}
	if !ok {
		return malformed("invalid address", line)
	}
	sport, ok1 := parsePort(f[3])
	dport, ok2 := parsePort(f[4])
	if !ok1 || !ok2 {
		return malformed("invalid port", line)
	}
	h.Src, h.Dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	return nil
}

// parseIPv4 parses exactly 4 decimal numbers 0 to 255 separated by single
// dots, without leading zeros (section 2.1).
func parseIPv4(b []byte) (netip.Addr, bool) {
	var a [4]byte
	for i := range a {
		n, j := 0, 0
		for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
			if j > 0 && b[0] == '0' {
				return netip.Addr{}, false
			}
			if n = n*10 + int(b[j]-'0'); n > 255 {
				return netip.Addr{}, false
			}
		}
		if j == 0 {
			return netip.Addr{}, false
		}
		a[i], b = byte(n), b[j:]
		if i < 3 {
			if len(b) == 0 || b[0] != '.' {
				return netip.Addr{}, false
			}
			b = b[1:]
		}
	}
	return netip.AddrFrom4(a), len(b) == 0
}

// parseIPv6 parses an IPv6 address as groups of 1 to 4 hex digits with at
// most one "::" (section 2.1), also taking a trailing dotted IPv4 part
// ("::ffff:192.0.2.1", as inet_ntop and netip write IPv4-mapped addresses).
// It accepts what netip.ParseAddr accepts for IPv6 without a zone, but does
// not allocate.
func parseIPv6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis, i := -1, 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis, b = 0, b[2:]
	}
	for len(b) > 0 && i < 16 {
		n, j := 0, 0
		for ; j < len(b) && j < 5 && isHex(b[j]); j++ {
			n = n<<4 | int(unhex(b[j]))
		}
		if j == 0 || j > 4 {
			return netip.Addr{}, false
		}
		if j < len(b) && b[j] == '.' {
			// An embedded IPv4 address fills the last 32 bits.
			if i > 12 || ellipsis < 0 && i != 12 {
				return netip.Addr{}, false
			}
			a, ok := parseIPv4(b)
			if !ok {
				return netip.Addr{}, false
			}
			a4 := a.As4()
			copy(ip[i:], a4[:])
			i, b = i+4, nil
			break
		}
		ip[i], ip[i+1] = byte(n>>8), byte(n)
		i, b = i+2, b[j:]
		if len(b) == 0 {
			break
		}
		if b[0] != ':' || len(b) == 1 {
			return netip.Addr{}, false
		}
		b = b[1:]
		if b[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis, b = i, b[1:]
		}
	}
	if len(b) != 0 {
		return netip.Addr{}, false
	}
	switch {
	case i < 16 && ellipsis < 0:
		return netip.Addr{}, false
	case i < 16:
		n := 16 - i
		copy(ip[ellipsis+n:], ip[ellipsis:i])
		clear(ip[ellipsis : ellipsis+n])
	case ellipsis >= 0:
		// "::" stands for at least one group of zeros.
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// parsePort parses a decimal 0 to 65535 without leading zeros (section 2.1).
func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return uint16(n), n <= 65535
}
