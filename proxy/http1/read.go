package http1

import (
	"bufio"
	"errors"
	"io"
)

// Default limits.
const (
	// DefaultMaxHeadBytes bounds a head: start line, field lines and CRLFs.
	DefaultMaxHeadBytes = 16 << 10
	// DefaultMaxFields bounds the number of field lines in a head.
	DefaultMaxFields = 100
	// DefaultMaxChunkLine bounds a chunk-size line or trailer field line,
	// CRLF included. It is further bounded by the reader's buffer size.
	DefaultMaxChunkLine = 4 << 10
)

// Limits bounds what a reader accepts. The zero value means the defaults.
type Limits struct {
	// MaxHeadBytes bounds a head, CRLFs included; zero means
	// DefaultMaxHeadBytes. Over it a request gets 431.
	MaxHeadBytes int
	// MaxFields bounds the field lines of a head; zero means
	// DefaultMaxFields. Over it a request gets 431.
	MaxFields int
	// MaxChunkLine bounds one chunk-size line (with extensions) or trailer
	// line, CRLF included; zero means DefaultMaxChunkLine. A line must also
	// fit the bufio.Reader's buffer.
	MaxChunkLine int
	// MaxTrailerBytes bounds a trailer section; zero means MaxHeadBytes.
	MaxTrailerBytes int
}

func (l Limits) headBytes() int {
	if l.MaxHeadBytes > 0 {
		return l.MaxHeadBytes
	}
	return DefaultMaxHeadBytes
}

func (l Limits) fields() int {
	if l.MaxFields > 0 {
		return l.MaxFields
	}
	return DefaultMaxFields
}

func (l Limits) chunkLine() int {
	if l.MaxChunkLine > 0 {
		return l.MaxChunkLine
	}
	return DefaultMaxChunkLine
}

func (l Limits) trailerBytes() int {
	if l.MaxTrailerBytes > 0 {
		return l.MaxTrailerBytes
	}
	return l.headBytes()
}

// readHead reads a start line and field lines up to the empty line into h,
// copying them into h.buf, and returns the start line's span. It returns
// io.EOF if the connection closed before the first byte of a start line (a
// clean end of a keep-alive connection, possibly after stray CRLFs).
// skipBlank skips empty lines before the start line (RFC 9112 section 2.2,
// requests only); without it an empty first line is a bad status line.
func readHead(br *bufio.Reader, h *Header, lim Limits, skipBlank bool) (span, error) {
	h.Reset()
	var (
		start     span
		haveStart bool
		total     int
		maxHead   = lim.headBytes()
		maxFields = lim.fields()
	)
	for {
		off := len(h.buf)
		for {
			chunk, err := br.ReadSlice('\n')
			total += len(chunk)
			if total > maxHead {
				return span{}, newError(KindHeadTooLarge, h.buf[:min(len(h.buf), 32)])
			}
			h.buf = append(h.buf, chunk...)
			if err == nil {
				break
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if errors.Is(err, io.EOF) {
				if !haveStart && len(h.buf) == 0 {
					return span{}, io.EOF
				}
				return span{}, newError(KindTruncated, h.buf[off:])
			}
			return span{}, err
		}
		end := len(h.buf) - 2
		if end < off || h.buf[end] != '\r' {
			return span{}, newError(KindBareLF, h.buf[off:])
		}
		h.buf = h.buf[:end]
		n := end - off
		if !haveStart {
			if n == 0 {
				if skipBlank {
					continue
				}
				return span{}, newError(KindBadStatusLine, nil)
			}
			start, haveStart = span{int32(off), int32(n)}, true
			continue
		}
		if n == 0 {
			return start, nil
		}
		if len(h.fields) == maxFields {
			return span{}, newError(KindTooManyFields, nil)
		}
		f, err := parseField(h.buf, off, n)
		if err != nil {
			return span{}, err
		}
		h.fields = append(h.fields, f)
	}
}

// parseField parses a field line (RFC 9112 section 5):
//
//	field-line = field-name ":" OWS field-value OWS
//
// rejecting obs-fold (section 5.2), whitespace before the colon (section 5.1
// says MUST 400) and any CTL but HTAB in the value.
func parseField(buf []byte, off, n int) (field, error) {
	line := buf[off : off+n]
	if isOWS(line[0]) {
		return field{}, newError(KindObsFold, line)
	}
	i := 0
	for i < n && isToken(line[i]) {
		i++
	}
	switch {
	case i == n:
		return field{}, newError(KindBadFieldName, line)
	case isOWS(line[i]):
		return field{}, newError(KindSpaceBeforeColon, line)
	case line[i] != ':' || i == 0:
		if !isValue(line[i]) {
			return field{}, newError(KindBadChar, line)
		}
		return field{}, newError(KindBadFieldName, line)
	}
	v, e := i+1, n
	for v < e && isOWS(line[v]) {
		v++
	}
	for e > v && isOWS(line[e-1]) {
		e--
	}
	for _, c := range line[v:e] {
		if !isValue(c) {
			return field{}, newError(KindBadChar, line)
		}
	}
	return field{
		line:  span{int32(off), int32(n)},
		name:  span{int32(off), int32(i)},
		value: span{int32(off + v), int32(e - v)},
	}, nil
}
