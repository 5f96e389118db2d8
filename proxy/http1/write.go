package http1

import (
	"io"
	"strconv"
)

// AppendHead appends the request head as it will go on the wire: the
// request line, every field line in order and the empty line. An unedited
// request comes out byte for byte as it was read (merged duplicate
// Content-Length aside).
func (r *Request) AppendHead(dst []byte) []byte {
	dst = append(dst, r.start.of(r.buf)...)
	dst = append(dst, '\r', '\n')
	return r.appendFields(dst)
}

// WriteHead writes the head to w in one Write, through a scratch buffer the
// request keeps for reuse.
func (r *Request) WriteHead(w io.Writer) (int, error) {
	r.out = r.AppendHead(r.out[:0])
	return w.Write(r.out)
}

// AppendHead appends the response head as it will go on the wire.
func (r *Response) AppendHead(dst []byte) []byte {
	dst = append(dst, r.start.of(r.buf)...)
	dst = append(dst, '\r', '\n')
	return r.appendFields(dst)
}

// WriteHead writes the head to w in one Write, through a scratch buffer the
// response keeps for reuse.
func (r *Response) WriteHead(w io.Writer) (int, error) {
	r.out = r.AppendHead(r.out[:0])
	return w.Write(r.out)
}

// versionText is the HTTP-version for minor 0 and 1.
var versionText = [2]string{"HTTP/1.0", "HTTP/1.1"}

// SetMethod replaces the method; m must be a token.
func (r *Request) SetMethod(m string) error {
	if m == "" || !allClassString(m, cToken) {
		return newError(KindBadHeaderEdit, []byte(m))
	}
	rebuild(r, m, r.Target(), r.Minor)
	return nil
}

// SetTarget replaces the request-target, for example to rewrite a path. It
// must be visible ASCII without "#" and valid for the method; the form is
// reclassified. On error the request is unchanged.
func (r *Request) SetTarget(t string) error {
	if t == "" || !allClassString(t, cTarget) {
		return newError(KindBadHeaderEdit, []byte(t))
	}
	saved := *r
	method := r.Method()
	rebuild(r, method, t, r.Minor)
	if err := r.classifyTarget(method, r.Target()); err != nil {
		saved.buf = r.buf // keep the grown buffer; the old line is intact in it
		*r = saved
		return err
	}
	return nil
}

// SetMinor replaces the HTTP minor version (0 or 1). A proxy sends its own
// version on each hop (RFC 9110 section 6.2), normally 1.
func (r *Request) SetMinor(minor int) {
	rebuild(r, r.Method(), r.Target(), minor&1)
}

// rebuild appends a new request line to the buffer and points the spans at
// it. The old line stays in the buffer, so slices of it stay valid.
func rebuild[M, T string | []byte](r *Request, method M, target T, minor int) {
	off := int32(len(r.buf))
	r.buf = append(r.buf, method...)
	r.buf = append(r.buf, ' ')
	r.buf = append(r.buf, target...)
	r.buf = append(r.buf, ' ')
	r.buf = append(r.buf, versionText[minor]...)
	r.Minor = minor
	r.method = span{off, int32(len(method))}
	r.target = span{off + r.method.n + 1, int32(len(target))}
	r.version = span{r.target.off + r.target.n + 1, 8}
	r.start = span{off, int32(len(r.buf)) - off}
}

// SetStatus replaces the status code and reason phrase.
func (r *Response) SetStatus(code int, reason string) error {
	if code < 100 || code > 599 || !allClassString(reason, cValue) {
		return newError(KindBadHeaderEdit, []byte(reason))
	}
	r.Status = code
	rebuildStatusLine(r, r.Minor, code, reason)
	return nil
}

// SetMinor replaces the HTTP minor version (0 or 1).
func (r *Response) SetMinor(minor int) {
	rebuildStatusLine(r, minor&1, r.Status, r.Reason())
}

func rebuildStatusLine[T string | []byte](r *Response, minor, code int, reason T) {
	off := int32(len(r.buf))
	r.buf = append(r.buf, versionText[minor]...)
	r.buf = append(r.buf, ' ')
	r.buf = strconv.AppendInt(r.buf, int64(code), 10)
	r.buf = append(r.buf, ' ')
	r.buf = append(r.buf, reason...)
	r.Minor = minor
	r.version = span{off, 8}
	r.code = span{off + 9, 3}
	r.reason = span{off + 13, int32(len(reason))}
	r.start = span{off, int32(len(r.buf)) - off}
}
