package http1

import (
	"bufio"
	"io"
	"strings"
	"testing"
)

const typicalRequest = "GET /api/v1/items?id=12345&sort=desc HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Referer: https://www.example.com/\r\n" +
	"Cookie: session=0123456789abcdef; theme=dark\r\n" +
	"Connection: keep-alive\r\n" +
	"Cache-Control: max-age=0\r\n\r\n"

// TestAllocs proves the reuse path allocates nothing: parsing into a warm
// Request, editing it, writing it, and copying a chunked body.
func TestAllocs(t *testing.T) {
	sr := strings.NewReader(typicalRequest)
	br := bufio.NewReader(sr)
	var r Request
	allocs := testing.AllocsPerRun(100, func() {
		sr.Reset(typicalRequest)
		br.Reset(sr)
		if err := ReadRequest(br, &r, Limits{}); err != nil {
			t.Fatal(err)
		}
		r.StripHopByHop(false)
		if err := r.Set("X-Forwarded-For", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		r.AddFraming(r.Framing)
		if _, err := r.WriteHead(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("read+edit+write allocates %v times per request, want 0", allocs)
	}
	const body = "5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n"
	buf := make([]byte, 64)
	allocs = testing.AllocsPerRun(100, func() {
		sr.Reset(body)
		br.Reset(sr)
		if _, err := CopyBody(io.Discard, br, Framing{Kind: FrameChunked}, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("chunked copy allocates %v times, want 0", allocs)
	}
}
