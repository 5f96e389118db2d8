package http1

import (
	"bufio"
	"errors"
	"io"
	"math"
)

// BodyOptions tunes CopyBodyWith. The zero value passes bodies through
// unchanged with default limits.
type BodyOptions struct {
	// Limits bounds chunk-size lines and the trailer section.
	Limits Limits
	// Dechunk writes only the payload of a chunked body, dropping chunk
	// lines, extensions and trailers: for a peer that cannot take chunked
	// (HTTP/1.0), which then needs close-delimited framing.
	Dechunk bool
}

// CopyBody streams one body framed by f from src to dst and returns the
// bytes written. A chunked body is passed through as chunked, chunk
// extensions and trailers included, after each line has been checked. buf
// is the copy buffer; with a nil buf the body is copied out of src's own
// buffer. Nothing is buffered beyond buf and src, so any length streams in
// bounded memory. A body that ends early returns io.ErrUnexpectedEOF;
// malformed chunking returns an *Error.
func CopyBody(dst io.Writer, src *bufio.Reader, f Framing, buf []byte) (int64, error) {
	return CopyBodyWith(dst, src, f, buf, BodyOptions{})
}

// CopyBodyWith is CopyBody with options.
func CopyBodyWith(dst io.Writer, src *bufio.Reader, f Framing, buf []byte, opt BodyOptions) (int64, error) {
	switch f.Kind {
	case FrameLength:
		return copyN(dst, src, f.Length, buf)
	case FrameChunked:
		return copyChunked(dst, src, buf, opt)
	case FrameClose, FrameTunnel:
		return copyN(dst, src, -1, buf)
	}
	return 0, nil
}

// copyN copies n bytes, or until EOF if n < 0.
func copyN(dst io.Writer, src *bufio.Reader, n int64, buf []byte) (int64, error) {
	var written int64
	for empty := 0; n != 0; {
		var (
			p   []byte
			err error
		)
		if len(buf) > 0 {
			m := len(buf)
			if n > 0 && n < int64(m) {
				m = int(n)
			}
			var k int
			k, err = src.Read(buf[:m])
			p = buf[:k]
		} else {
			if src.Buffered() == 0 {
				_, err = src.Peek(1)
			}
			k := src.Buffered()
			if n > 0 && n < int64(k) {
				k = int(n)
			}
			p, _ = src.Peek(k)
			src.Discard(k)
		}
		if len(p) > 0 {
			empty = 0
			w, werr := dst.Write(p)
			written += int64(w)
			if werr != nil {
				return written, werr
			}
			if n > 0 {
				n -= int64(len(p))
			}
		} else if err == nil {
			if empty++; empty > 100 {
				return written, io.ErrNoProgress
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if n < 0 {
					return written, nil
				}
				if n > 0 {
					return written, io.ErrUnexpectedEOF
				}
				return written, nil
			}
			return written, err
		}
	}
	return written, nil
}

// readLine returns the next line of src, CRLF included, valid until the next
// read. A line over max bytes or over src's buffer is KindChunkLineTooLong.
func readLine(src *bufio.Reader, max int) ([]byte, error) {
	line, err := src.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull || len(line) > max:
		return nil, newError(KindChunkLineTooLong, line)
	case errors.Is(err, io.EOF):
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	case len(line) < 2 || line[len(line)-2] != '\r':
		return nil, newError(KindBareLF, line)
	}
	return line, nil
}

// copyChunked checks and copies a chunked body (RFC 9112 section 7.1):
//
//	chunked-body = *chunk last-chunk trailer-section CRLF
//	chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//	last-chunk   = 1*("0") [ chunk-ext ] CRLF
func copyChunked(dst io.Writer, src *bufio.Reader, buf []byte, opt BodyOptions) (int64, error) {
	var written int64
	maxLine := opt.Limits.chunkLine()
	put := func(p []byte) error {
		if opt.Dechunk {
			return nil
		}
		n, err := dst.Write(p)
		written += int64(n)
		return err
	}
	for {
		line, err := readLine(src, maxLine)
		if err != nil {
			return written, err
		}
		size, err := parseChunkLine(line[:len(line)-2])
		if err != nil {
			return written, err
		}
		if err := put(line); err != nil {
			return written, err
		}
		if size == 0 {
			break
		}
		n, err := copyN(dst, src, size, buf)
		written += n
		if err != nil {
			return written, err
		}
		crlf, err := src.Peek(2)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return written, err
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return written, newError(KindBadChunk, crlf)
		}
		err = put(crlf)
		src.Discard(2)
		if err != nil {
			return written, err
		}
	}
	// trailer-section = *( field-line CRLF ), then CRLF (RFC 9112 section 7.1.2).
	maxTrailer := opt.Limits.trailerBytes()
	for total := 0; ; {
		line, err := readLine(src, maxLine)
		if err != nil {
			return written, err
		}
		if total += len(line); total > maxTrailer {
			return written, newError(KindTrailerTooLarge, nil)
		}
		if len(line) > 2 {
			if _, err := parseField(line, 0, len(line)-2); err != nil {
				return written, newError(KindBadTrailer, line)
			}
		}
		if err := put(line); err != nil {
			return written, err
		}
		if len(line) == 2 {
			return written, nil
		}
	}
}

// parseChunkLine parses chunk-size [ chunk-ext ] (RFC 9112 section 7.1.1):
//
//	chunk-size = 1*HEXDIG
//	chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//	chunk-ext-name = token
//	chunk-ext-val  = token / quoted-string
//
// rejecting sizes that overflow int64.
func parseChunkLine(l []byte) (int64, error) {
	var size int64
	i := 0
	for ; i < len(l) && charClass[l[i]]&cHex != 0; i++ {
		if size > math.MaxInt64>>4 {
			return 0, newError(KindBadChunk, l)
		}
		size = size<<4 | int64(unhex(l[i]))
	}
	if i == 0 {
		return 0, newError(KindBadChunk, l)
	}
	for i < len(l) {
		i = skipOWS(l, i)
		if i == len(l) || l[i] != ';' {
			return 0, newError(KindBadChunk, l)
		}
		i = skipOWS(l, i+1)
		j := i
		for j < len(l) && isToken(l[j]) {
			j++
		}
		if j == i {
			return 0, newError(KindBadChunk, l)
		}
		i = j
		k := skipOWS(l, i)
		if k == len(l) || l[k] != '=' {
			continue
		}
		i = skipOWS(l, k+1)
		if i < len(l) && l[i] == '"' {
			end, ok := quotedString(l, i)
			if !ok {
				return 0, newError(KindBadChunk, l)
			}
			i = end
			continue
		}
		j = i
		for j < len(l) && isToken(l[j]) {
			j++
		}
		if j == i {
			return 0, newError(KindBadChunk, l)
		}
		i = j
	}
	return size, nil
}

func skipOWS(l []byte, i int) int {
	for i < len(l) && isOWS(l[i]) {
		i++
	}
	return i
}

// quotedString scans a quoted-string starting at l[i] == '"' (RFC 9110
// section 5.6.4) and returns the offset after its closing quote.
func quotedString(l []byte, i int) (int, bool) {
	for i++; i < len(l); i++ {
		switch c := l[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 == len(l) || !isValue(l[i+1]) {
				return 0, false
			}
			i++
		case !isValue(c):
			return 0, false
		}
	}
	return 0, false
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
