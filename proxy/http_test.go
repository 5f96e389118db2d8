package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPStreamsChunkedBodies streams several MB each way, chunked, and
// checks them byte for byte.
func TestHTTPStreamsChunkedBodies(t *testing.T) {
	const size = 6 << 20
	be := newGoBackend(t, func(w http.ResponseWriter, r *http.Request) {
		// Echo the body back, transformed, chunked (no Content-Length),
		// reading and writing at once.
		http.NewResponseController(w).EnableFullDuplex()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Body.Read(buf)
			for i := range buf[:n] {
				buf[i] ^= 0x5a
			}
			w.Write(buf[:n])
			if err != nil {
				break
			}
		}
	})
	r := httpProxy(t, be.addr())
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i*7 + i>>11)
	}
	c := dial(t, r.addr)
	c.SetDeadline(time.Now().Add(60 * time.Second))
	go func() {
		w := bufio.NewWriter(c)
		io.WriteString(w, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
		for off := 0; off < size; {
			n := min(size-off, 100_000+off%777)
			fmt.Fprintf(w, "%x\r\n", n)
			w.Write(payload[off : off+n])
			io.WriteString(w, "\r\n")
			off += n
		}
		io.WriteString(w, "0\r\n\r\n")
		w.Flush()
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("response framing %v, want chunked", resp.TransferEncoding)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != size {
		t.Fatalf("got %d bytes back, want %d", len(got), size)
	}
	for i := range got {
		if got[i] != payload[i]^0x5a {
			t.Fatalf("byte %d differs", i)
		}
	}
}

// TestHTTPMalformedNeverForwarded sends malformed and smuggling requests raw
// and checks each gets its status, the connection closes, and the server
// never sees a request.
func TestHTTPMalformedNeverForwarded(t *testing.T) {
	be := newGoBackend(t, hello("s1"))
	r := httpProxy(t, be.addr())
	big := strings.Repeat("a", 20<<10)
	tests := []struct {
		name string
		req  string
		want int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE and CL", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400},
		{"conflicting CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400},
		{"CL list conflict", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 5\r\n\r\nabcde", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400},
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", 400},
		{"NUL in header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n", 400},
		{"bad field name", "GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n", 400},
		{"two Host", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"TE in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE not chunked last", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400},
		{"TE chunked twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
		{"TE gzip chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"bad CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd", 400},
		{"bad version", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"lower-case version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad request line", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"fragment in target", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"head too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", 431},
		{"too many fields", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 120) + "\r\n", 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := rawExchange(t, r.addr, tt.req)
			if resp == nil {
				t.Fatalf("no response, want %d", tt.want)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if !resp.Close {
				t.Errorf("connection not closed after %d", resp.StatusCode)
			}
		})
	}
	// A smuggled second request after a bad one must not reach the server.
	resp, _ := rawExchange(t, r.addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp == nil || resp.StatusCode != 400 {
		t.Errorf("smuggling attempt: %v, want 400", resp)
	}
	if got := be.reqs.Load(); got != 0 {
		t.Errorf("server saw %d requests, want 0", got)
	}
	r.waitLog(t, "<BADREQ>", len(tests)+1) // lines come after the counters
	st := r.p.Stats().Frontends[0]
	if want := uint64(len(tests) + 1); st.InvalidRequests != want || st.Responses[3] != want-2 || st.Responses[4] != 2 {
		t.Errorf("invalid %d 4xx %d 5xx %d, want %d %d 2 (501, 505)", st.InvalidRequests, st.Responses[3], st.Responses[4], want, want-2)
	}
}

// TestHTTPTimeouts covers timeout http-request (408, cR) and timeout
// http-keep-alive (an idle client connection is closed).
func TestHTTPTimeouts(t *testing.T) {
	be := newGoBackend(t, hello("s1"))
	r := startHTTP(t, oneBackend{
		fe:      []string{"timeout http-request 200ms", "timeout http-keep-alive 100ms"},
		servers: []string{"s1 " + be.addr()},
	}, host())
	// Slow head: 408.
	resp, _ := rawExchange(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\n")
	if resp == nil || resp.StatusCode != 408 {
		t.Fatalf("incomplete head got %v, want 408", resp)
	}
	line := r.waitLog(t, "<BADREQ>", 1)[0]
	if !strings.Contains(line, " 408 ") || !strings.Contains(line, " cR-- ") {
		t.Errorf("log %q, want 408 cR--", line)
	}
	// Keep-alive: one response, then the proxy closes the idle connection.
	c := dial(t, r.addr)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	if resp, _ := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatalf("keep-alive request: status %d, want 200", resp.StatusCode)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after keep-alive timeout read returned %v, want EOF", err)
	}
}

// TestHTTP10Client checks an HTTP/1.0 client: keep-alive only when asked,
// and a chunked response de-chunked and ended by close.
func TestHTTP10Client(t *testing.T) {
	be := newGoBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.Write([]byte("part1,"))
			w.(http.Flusher).Flush()
			w.Write([]byte("part2"))
			return
		}
		io.WriteString(w, "plain")
	})
	r := httpProxy(t, be.addr())
	c := dial(t, r.addr)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	resp, body := roundTrip(t, c, br, "GET /plain HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	if body != "plain" || resp.Close {
		t.Fatalf("1.0 keep-alive: %q close=%v, want %q close=false", body, resp.Close, "plain")
	}
	io.WriteString(c, "GET /chunked HTTP/1.0\r\n\r\n")
	rest, _ := io.ReadAll(br)
	s := string(rest)
	if !strings.HasSuffix(s, "\r\n\r\npart1,part2") || strings.Contains(strings.ToLower(s), "transfer-encoding") {
		t.Errorf("1.0 client got %q, want a de-chunked body ended by close", s)
	}
}

// TestHTTPConnectTunnel relays a CONNECT after the server's 200.
func TestHTTPConnectTunnel(t *testing.T) {
	srv := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if !strings.HasPrefix(readHead(br), "CONNECT db.internal:5432 HTTP/1.1") {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		io.Copy(c, br)
	})
	r := httpProxy(t, srv)
	c := dial(t, r.addr)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\nearly")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v, want 200", resp, err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "early" {
		t.Fatalf("tunnel echo %q %v", got, err)
	}
}

// TestHTTPUpgradeTunnel switches protocols with a websocket-like handshake
// and echoes bytes both ways through the tunnel.
func TestHTTPUpgradeTunnel(t *testing.T) {
	srv := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		head := readHead(br)
		if !strings.Contains(strings.ToLower(head), "upgrade: websocket") || !strings.Contains(strings.ToLower(head), "connection: upgrade") {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhi!")
		io.Copy(c, br) // echo
	})
	r := startHTTP(t, oneBackend{be: []string{"timeout tunnel 10s"}, servers: []string{"s1 " + srv}}, host())
	c := dial(t, r.addr)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
	greet := make([]byte, 3)
	if _, err := io.ReadFull(br, greet); err != nil || string(greet) != "hi!" {
		t.Fatalf("greeting %q %v", greet, err)
	}
	msg := bytes.Repeat([]byte("0123456789"), 50_000)
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the tunnel: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	if n, _ := io.Copy(io.Discard, br); n != 0 {
		t.Errorf("%d bytes after close", n)
	}
	line := r.waitLog(t, `"GET /ws HTTP/1.1"`, 1)[0]
	if !strings.Contains(line, " 101 ") {
		t.Errorf("log line %q, want status 101", line)
	}
}
