package http1

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

func copyBody(t *testing.T, in string, f Framing, buf []byte, opt BodyOptions) (string, string, error) {
	t.Helper()
	br := bufio.NewReaderSize(strings.NewReader(in), 64)
	var out bytes.Buffer
	n, err := CopyBodyWith(&out, br, f, buf, opt)
	if n != int64(out.Len()) {
		t.Errorf("CopyBody returned %d, wrote %d", n, out.Len())
	}
	rest, _ := io.ReadAll(br)
	return out.String(), string(rest), err
}

func TestCopyBody(t *testing.T) {
	chunked := "5;ext=1;q=\"a \\\"b\\\"\"\r\nhello\r\n" +
		"000A \t; name\r\n0123456789\r\n" +
		"0\r\nX-Sum: abc\r\nX-Other:  v \r\n\r\n"
	tests := []struct {
		name    string
		in      string
		f       Framing
		dechunk bool
		want    string
		rest    string
	}{
		{"length", "abcdefNEXT", Framing{FrameLength, 6}, false, "abcdef", "NEXT"},
		{"length zero", "NEXT", Framing{FrameLength, 0}, false, "", "NEXT"},
		{"none", "NEXT", Framing{}, false, "", "NEXT"},
		{"close", "all of it", Framing{Kind: FrameClose}, false, "all of it", ""},
		{"tunnel", "raw\x00bytes", Framing{Kind: FrameTunnel}, false, "raw\x00bytes", ""},
		{"chunked pass-through", chunked + "NEXT", Framing{Kind: FrameChunked}, false, chunked, "NEXT"},
		{"chunked dechunk", chunked + "NEXT", Framing{Kind: FrameChunked}, true, "hello0123456789", "NEXT"},
		{"last chunk only", "0\r\n\r\nNEXT", Framing{Kind: FrameChunked}, false, "0\r\n\r\n", "NEXT"},
		{"last chunk zeros", "0000;x=y\r\n\r\n", Framing{Kind: FrameChunked}, false, "0000;x=y\r\n\r\n", ""},
	}
	for _, tt := range tests {
		for _, buf := range [][]byte{nil, make([]byte, 3), make([]byte, 4096)} {
			t.Run(fmt.Sprintf("%s/buf%d", tt.name, len(buf)), func(t *testing.T) {
				got, rest, err := copyBody(t, tt.in, tt.f, buf, BodyOptions{Dechunk: tt.dechunk})
				if err != nil {
					t.Fatalf("CopyBody = %v", err)
				}
				if got != tt.want || rest != tt.rest {
					t.Errorf("got %q rest %q, want %q rest %q", got, rest, tt.want, tt.rest)
				}
			})
		}
	}
}

func TestCopyBodyMalformed(t *testing.T) {
	long := strings.Repeat("0", 40) + "1\r\na\r\n0\r\n\r\n"
	tests := []struct {
		name string
		in   string
		kind Kind
		err  error
	}{
		{"bad chunk size", "g\r\nx\r\n0\r\n\r\n", KindBadChunk, nil},
		{"empty chunk size", "\r\n", KindBadChunk, nil},
		{"chunk size 0x", "0x5\r\nhello\r\n0\r\n\r\n", KindBadChunk, nil},
		{"negative chunk size", "-1\r\n", KindBadChunk, nil},
		{"chunk size overflow", "8000000000000000\r\n", KindBadChunk, nil},
		{"chunk size overflow long", "fffffffffffffffff\r\n", KindBadChunk, nil},
		{"space after size", "5 \r\nhello\r\n0\r\n\r\n", KindBadChunk, nil},
		{"leading space", " 5\r\nhello\r\n0\r\n\r\n", KindBadChunk, nil},
		{"empty extension", "5;\r\nhello\r\n0\r\n\r\n", KindBadChunk, nil},
		{"extension empty value", "5;a=\r\nhello\r\n0\r\n\r\n", KindBadChunk, nil},
		{"extension open quote", "5;a=\"b\r\nhello\r\n0\r\n\r\n", KindBadChunk, nil},
		{"ctl in extension", "5;a\x01\r\nhello\r\n0\r\n\r\n", KindBadChunk, nil},
		{"bare lf chunk line", "5\nhello\r\n0\r\n\r\n", KindBareLF, nil},
		{"data longer than size", "3\r\nhello\r\n0\r\n\r\n", KindBadChunk, nil},
		{"missing crlf after data", "5\r\nhello0\r\n\r\n", KindBadChunk, nil},
		{"chunk line too long for limit", long, KindChunkLineTooLong, nil},
		{"bad trailer", "0\r\nX : y\r\n\r\n", KindBadTrailer, nil},
		{"obs-fold trailer", "0\r\nX: y\r\n z\r\n\r\n", KindBadTrailer, nil},
		{"nul trailer", "0\r\nX: \x00\r\n\r\n", KindBadTrailer, nil},
		{"bare lf trailer end", "0\r\nX: y\r\n\n", KindBareLF, nil},
		{"truncated data", "5\r\nhel", KindNone, io.ErrUnexpectedEOF},
		{"truncated after data", "5\r\nhello\r", KindNone, io.ErrUnexpectedEOF},
		{"truncated before trailer end", "0\r\n", KindNone, io.ErrUnexpectedEOF},
		{"truncated size line", "5", KindNone, io.ErrUnexpectedEOF},
	}
	opt := BodyOptions{Limits: Limits{MaxChunkLine: 32}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := copyBody(t, tt.in, Framing{Kind: FrameChunked}, make([]byte, 8), opt)
			if err == nil {
				t.Fatal("CopyBody = nil error")
			}
			if KindOf(err) != tt.kind || tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("CopyBody = %v (kind %v), want %v %v", err, KindOf(err), tt.kind, tt.err)
			}
		})
	}
	if _, _, err := copyBody(t, "abc", Framing{FrameLength, 5}, nil, BodyOptions{}); err != io.ErrUnexpectedEOF {
		t.Errorf("short length body = %v, want io.ErrUnexpectedEOF", err)
	}
	big := "0\r\n" + strings.Repeat("X-T: aaaaaaaaaa\r\n", 10) + "\r\n"
	_, _, err := copyBody(t, big, Framing{Kind: FrameChunked}, nil, BodyOptions{Limits: Limits{MaxTrailerBytes: 64}})
	if KindOf(err) != KindTrailerTooLarge {
		t.Errorf("trailer over limit = %v", err)
	}
}

// chunkSource generates a chunked body of total payload bytes in chunks of
// size, followed by a trailer, without holding it in memory.
type chunkSource struct {
	left, size int
	pending    []byte
	done       bool
	scratch    []byte
}

func (c *chunkSource) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		switch {
		case c.done:
			return 0, io.EOF
		case c.left == 0:
			c.pending, c.done = []byte("0\r\nX-Checksum: ok\r\n\r\n"), true
		default:
			n := min(c.size, c.left)
			c.left -= n
			c.scratch = fmt.Appendf(c.scratch[:0], "%x;i=%d\r\n", n, c.left)
			for i := 0; i < n; i++ {
				c.scratch = append(c.scratch, byte('a'+c.left%26))
			}
			c.pending = append(c.scratch, '\r', '\n')
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// TestCopyChunkedLarge streams a 10 MiB chunked body and checks that it
// comes out byte for byte while the copy allocates far less than the body.
func TestCopyChunkedLarge(t *testing.T) {
	const total = 10 << 20
	want := sha256.New()
	if _, err := io.Copy(want, &chunkSource{left: total, size: 16 << 10}); err != nil {
		t.Fatal(err)
	}
	src := bufio.NewReaderSize(&chunkSource{left: total, size: 16 << 10}, 8<<10)
	got := sha256.New()
	buf := make([]byte, 32<<10)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := CopyBody(got, src, Framing{Kind: FrameChunked}, buf)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if n <= total {
		t.Errorf("wrote %d bytes, want more than %d", n, total)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Error("pass-through output differs from input")
	}
	// The generator allocates a little per chunk; the copier itself nothing.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("copying %d bytes allocated %d bytes", total, alloc)
	}
}
