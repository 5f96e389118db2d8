package http1

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

var goodRequests = []string{
	"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET /search?q=a+b&x=%20 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nX-Mixed-CASE: Value\r\nx-mixed-case: second\r\n\r\n",
	"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n",
	"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\nProxy-Authorization: Basic eDp5\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"get / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Tab:\tv\t\r\nX-Spaces:   v  w   \r\nX-Obs-Text: caf\xe9\r\n\r\n",
	"DELETE /a HTTP/1.1\r\nhost: h\r\nCookie: a=1; b=2\r\nCookie: c=3\r\n\r\n",
}

// TestRoundTrip checks that a request that was only read writes back byte
// for byte, field order, case and whitespace included.
func TestRoundTrip(t *testing.T) {
	var r Request
	for _, in := range goodRequests {
		if err := ReadRequest(bufio.NewReader(strings.NewReader(in)), &r, Limits{}); err != nil {
			t.Fatalf("ReadRequest(%q) = %v", in, err)
		}
		if got := string(r.AppendHead(nil)); got != in {
			t.Errorf("round trip:\n got %q\nwant %q", got, in)
		}
		var buf bytes.Buffer
		if n, err := r.WriteHead(&buf); err != nil || n != len(in) || buf.String() != in {
			t.Errorf("WriteHead = %d, %v, %q", n, err, buf.String())
		}
	}
}

func TestResponseRoundTrip(t *testing.T) {
	var r Response
	for _, in := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nServer: x\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 9\r\n\r\n",
		"HTTP/1.0 200\r\n\r\n",
		"HTTP/1.1 204 \r\n\r\n",
		"HTTP/1.1 500 Internal\tServer Error\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		if err := ReadResponse(bufio.NewReader(strings.NewReader(in)), &r, nil, Limits{}); err != nil {
			t.Fatalf("ReadResponse(%q) = %v", in, err)
		}
		if got := string(r.AppendHead(nil)); got != in {
			t.Errorf("round trip:\n got %q\nwant %q", got, in)
		}
	}
}

func TestHeaderEdit(t *testing.T) {
	r, err := readReq(t, "GET /a HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nAccept: */*\r\nx-a: 2\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(r.Get("X-a")); got != "1" {
		t.Errorf("Get = %q", got)
	}
	if got := r.Count("x-A"); got != 2 {
		t.Errorf("Count = %d", got)
	}
	if err := r.Set("X-A", "3"); err != nil {
		t.Fatal(err)
	}
	if err := r.Add("X-Forwarded-For", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if n := r.Del("accept"); n != 1 {
		t.Errorf("Del = %d", n)
	}
	if err := r.SetTarget("/b?c"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetMethod("HEAD"); err != nil {
		t.Fatal(err)
	}
	want := "HEAD /b?c HTTP/1.1\r\nHost: h\r\nX-A: 3\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n"
	if got := string(r.AppendHead(nil)); got != want {
		t.Errorf("edited head:\n got %q\nwant %q", got, want)
	}
	for _, bad := range [][2]string{{"X-A", "a\r\nInjected: 1"}, {"X A", "b"}, {"", "b"}, {"X-A", "\x00"}} {
		if err := r.Add(bad[0], bad[1]); KindOf(err) != KindBadHeaderEdit {
			t.Errorf("Add(%q, %q) = %v, want KindBadHeaderEdit", bad[0], bad[1], err)
		}
	}
	if err := r.SetTarget("/a b"); err == nil {
		t.Error("SetTarget with space accepted")
	}
	if err := r.SetTarget("*"); err == nil {
		t.Error("SetTarget(*) accepted for HEAD")
	}
	if got := string(r.Target()); got != "/b?c" {
		t.Errorf("target after failed SetTarget = %q", got)
	}
	r.SetMinor(0)
	if got := string(r.AppendHead(nil)); !strings.HasPrefix(got, "HEAD /b?c HTTP/1.0\r\n") {
		t.Errorf("SetMinor: %q", got)
	}
	if err := r.SetTarget("http://other.example/z"); err != nil || string(r.Authority()) != "other.example" || r.Form != FormAbsolute {
		t.Errorf("SetTarget absolute: %v %q %v", err, r.Authority(), r.Form)
	}
}

func TestStripHopByHop(t *testing.T) {
	in := "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret, Host, content-length, Upgrade\r\n" +
		"Keep-Alive: timeout=5\r\nX-Secret: s\r\nProxy-Connection: close\r\nTE: trailers\r\n" +
		"Upgrade: websocket\r\nContent-Length: 0\r\nX-Keep: k\r\n\r\n"
	tests := []struct {
		keepUpgrade bool
		upgrade     bool
		want        string
	}{
		{false, false, "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nX-Keep: k\r\n\r\n"},
		{true, true, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nContent-Length: 0\r\nX-Keep: k\r\n\r\n"},
	}
	for _, tt := range tests {
		r, err := readReq(t, in)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.StripHopByHop(tt.keepUpgrade); got != tt.upgrade {
			t.Errorf("StripHopByHop(%v) = %v", tt.keepUpgrade, got)
		}
		if got := string(r.AppendHead(nil)); got != tt.want {
			t.Errorf("StripHopByHop(%v):\n got %q\nwant %q", tt.keepUpgrade, got, tt.want)
		}
	}
	r, err := readReq(t, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , chunked\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	r.StripHopByHop(false)
	r.AddFraming(r.Framing)
	if got, want := string(r.AppendHead(nil)), "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"; got != want {
		t.Errorf("framing normalised:\n got %q\nwant %q", got, want)
	}
}
