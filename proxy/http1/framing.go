package http1

import (
	"math"
	"strconv"
)

// FramingKind says how a message body is delimited (RFC 9112 section 6.3).
type FramingKind uint8

// Framing kinds.
const (
	// FrameNone: no body (requests without Content-Length or
	// Transfer-Encoding; responses to HEAD; 1xx, 204 and 304 responses).
	FrameNone FramingKind = iota
	// FrameLength: exactly Framing.Length bytes (Content-Length).
	FrameLength
	// FrameChunked: the chunked transfer coding, up to and including the
	// trailer section (RFC 9112 section 7.1).
	FrameChunked
	// FrameClose: the body runs until the server closes the connection; only
	// responses without Content-Length or Transfer-Encoding.
	FrameClose
	// FrameTunnel: after a 2xx answer to CONNECT or a 101, the connection
	// carries opaque bytes in both directions until either side closes.
	FrameTunnel
)

var frameText = [...]string{"none", "length", "chunked", "close", "tunnel"}

func (k FramingKind) String() string {
	if int(k) < len(frameText) {
		return frameText[k]
	}
	return "framing " + strconv.Itoa(int(k))
}

// Framing is the body delimitation of one message.
type Framing struct {
	// Kind is how the body ends.
	Kind FramingKind
	// Length is the body length for FrameLength; zero otherwise.
	Length int64
}

// HasBody reports whether bytes follow the head.
func (f Framing) HasBody() bool {
	return f.Kind != FrameNone && !(f.Kind == FrameLength && f.Length == 0)
}

// parseLength parses one Content-Length list element: 1*DIGIT (RFC 9110
// section 8.6), no sign, no whitespace, no overflow of int64.
func parseLength(s []byte) (int64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// readFraming works out the framing from Content-Length and
// Transfer-Encoding (RFC 9112 sections 6.1 to 6.3) and merges identical
// duplicate Content-Length values. It does not know about status codes or
// methods; callers adjust for those. With no length field it returns
// FrameNone.
func readFraming(h *Header, minor int) (Framing, error) {
	te := h.Index("Transfer-Encoding", 0)
	cl := h.Index("Content-Length", 0)
	if te >= 0 {
		// RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding
		// has faulty framing.
		if minor == 0 {
			return Framing{}, newError(KindBadTransferEncoding, h.Value(te))
		}
		// RFC 9112 section 6.3 item 3: both present "ought to be handled as
		// an error"; this is the classic smuggling vector.
		if cl >= 0 {
			return Framing{}, newError(KindLengthAndChunked, h.Value(cl))
		}
		return readTransferEncoding(h, te)
	}
	if cl < 0 {
		return Framing{}, nil
	}
	var (
		n     int64
		count int
	)
	for i := cl; i >= 0; i = h.Index("Content-Length", i+1) {
		it := listIter{h.Value(i)}
		// An empty value or a list of only commas holds no length.
		if len(trimOWS(h.Value(i))) == 0 {
			return Framing{}, newError(KindBadContentLength, h.Value(i))
		}
		for e, ok := it.next(); ok; e, ok = it.next() {
			v, ok := parseLength(e)
			if !ok {
				return Framing{}, newError(KindBadContentLength, e)
			}
			if count > 0 && v != n {
				return Framing{}, newError(KindConflictingLength, h.Value(i))
			}
			n = v
			count++
		}
		if count == 0 {
			return Framing{}, newError(KindBadContentLength, h.Value(i))
		}
	}
	// RFC 9112 section 6.3 item 5: identical duplicates are replaced by a
	// single valid field. Only rewrite when there was more than one value,
	// so that a normal message round-trips byte for byte.
	if count > 1 {
		var num [20]byte
		setField(h, h.Name(cl), strconv.AppendInt(num[:0], n, 10))
	}
	return Framing{Kind: FrameLength, Length: n}, nil
}

// readTransferEncoding checks the transfer-coding list across every
// Transfer-Encoding field: chunked must be present exactly once and last.
func readTransferEncoding(h *Header, first int) (Framing, error) {
	var (
		last    []byte
		chunked int
		other   []byte
		seen    bool
	)
	for i := first; i >= 0; i = h.Index("Transfer-Encoding", i+1) {
		it := listIter{h.Value(i)}
		for e, ok := it.next(); ok; e, ok = it.next() {
			seen = true
			last = e
			if equalFold(e, "chunked") {
				chunked++
			} else if other == nil {
				other = e
			}
		}
	}
	switch {
	case !seen:
		return Framing{}, newError(KindBadTransferEncoding, h.Value(first))
	case !equalFold(last, "chunked"):
		// RFC 9112 section 6.3 item 4: a request must be rejected with 400;
		// a response would be read until close, which is refused here (see
		// the package comment).
		return Framing{}, newError(KindBadTransferEncoding, last)
	case chunked > 1:
		// RFC 9112 section 7: chunked must not be applied more than once.
		return Framing{}, newError(KindBadTransferEncoding, h.Value(first))
	case other != nil:
		// RFC 9112 section 6.1: a coding the proxy does not implement.
		return Framing{}, newError(KindUnsupportedCoding, other)
	}
	return Framing{Kind: FrameChunked}, nil
}
