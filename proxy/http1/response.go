package http1

import "bufio"

// Response is a parsed response head. The zero value is ready for
// ReadResponse; reuse one per connection to parse without allocating.
type Response struct {
	Header
	start, version, code, reason span

	// Minor is the HTTP minor version: 0 or 1.
	Minor int
	// Status is the three-digit status code, 100 to 599.
	Status int
	// Framing is how the response body is delimited, given the request it
	// answers.
	Framing Framing
}

// Reset empties the response, keeping its memory.
func (r *Response) Reset() {
	r.Header.Reset()
	*r = Response{Header: r.Header}
}

// Reason returns the reason phrase, possibly empty.
func (r *Response) Reason() []byte { return r.reason.of(r.buf) }

// KeepAlive reports whether the server lets the connection carry another
// request: as for requests, and never when the body runs until close or the
// connection becomes a tunnel.
func (r *Response) KeepAlive() bool {
	if r.Framing.Kind == FrameClose || r.Framing.Kind == FrameTunnel {
		return false
	}
	return keepAlive(r.Minor, &r.Header)
}

// ReadResponse reads one response head from br into r. req is the request
// it answers, which decides framing for HEAD and CONNECT; nil is taken as a
// GET. A 1xx other than 101 is returned like any response with FrameNone:
// the caller forwards it and reads again. Every *Error it returns has Status
// 502. It returns io.EOF if br ended before the head began.
func ReadResponse(br *bufio.Reader, r *Response, req *Request, lim Limits) error {
	r.Reset()
	start, err := readHead(br, &r.Header, lim, false)
	if err != nil {
		return asResponseError(err)
	}
	r.start = start
	if err := r.parseStatusLine(); err != nil {
		return asResponseError(err)
	}
	f, err := readFraming(&r.Header, r.Minor)
	if err != nil {
		return asResponseError(err)
	}
	// RFC 9112 section 6.3, items 1 and 2.
	switch {
	case req != nil && req.IsMethod("HEAD"),
		r.Status < 200 && r.Status != 101, r.Status == 204, r.Status == 304:
		f = Framing{}
	case r.Status == 101,
		req != nil && req.Form == FormAuthority && r.Status < 300:
		f = Framing{Kind: FrameTunnel}
	case f.Kind == FrameNone:
		// Item 7: no length and no coding, the body runs until close.
		f = Framing{Kind: FrameClose}
	}
	r.Framing = f
	return nil
}

// parseStatusLine parses (RFC 9112 section 4)
//
//	status-line = HTTP-version SP status-code SP [ reason-phrase ]
//
// also accepting a missing final SP when the reason is empty, which some
// servers send.
func (r *Response) parseStatusLine() error {
	line := r.start.of(r.buf)
	off := r.start.off
	if len(line) < 12 || line[8] != ' ' {
		return newError(KindBadStatusLine, line)
	}
	minor, err := parseVersion(line[:8])
	if err != nil {
		return err
	}
	st := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return newError(KindBadStatusLine, line)
		}
		st = st*10 + int(c-'0')
	}
	// RFC 9110 section 15: status codes are 100 to 599.
	if st < 100 || st > 599 {
		return newError(KindBadStatusLine, line)
	}
	reason := line[12:]
	if len(reason) > 0 {
		if reason[0] != ' ' {
			return newError(KindBadStatusLine, line)
		}
		reason = reason[1:]
		if !allClass(reason, cValue) {
			return newError(KindBadChar, line)
		}
	}
	r.Minor, r.Status = minor, st
	r.version = span{off, 8}
	r.code = span{off + 9, 3}
	r.reason = span{off + int32(len(line)-len(reason)), int32(len(reason))}
	return nil
}
