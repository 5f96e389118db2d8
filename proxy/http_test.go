package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPKeepAlivePooling sends N requests over one client connection and
// checks that the server saw one connection: the client side stays open
// and the server connection goes back to the core's pool between requests.
func TestHTTPKeepAlivePooling(t *testing.T) {
	be := newGoBackend(t, hello("s1"))
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    server s1 %s
`, port, be.addr()), host())
	c, err := net.Dial("tcp4", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	const n = 20
	for i := range n {
		fmt.Fprintf(c, "GET /k/%d HTTP/1.1\r\nHost: example.com\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "hello from s1" || resp.Close {
			t.Fatalf("request %d: %d %q close=%v", i, resp.StatusCode, body, resp.Close)
		}
		if got := resp.Header.Get("X-Got-Path"); got != fmt.Sprintf("/k/%d", i) {
			t.Errorf("server got path %q", got)
		}
	}
	if got := be.accepts.Load(); got != 1 {
		t.Errorf("server accepted %d connections for %d requests over one client connection, want 1", got, n)
	}
	r.waitLog(t, `"GET /k/19 HTTP/1.1"`, 1)
	st := r.p.Stats()
	fe, bs := st.Frontends[0], st.Backends[0]
	if fe.Requests != n || fe.Responses[1] != n || bs.Connects != 1 || bs.Reuses != n-1 || bs.Requests != n {
		t.Errorf("counters: fe requests %d 2xx %d; be requests %d connects %d reuses %d; want %d %d; %d 1 %d",
			fe.Requests, fe.Responses[1], bs.Requests, bs.Connects, bs.Reuses, n, n, n, n-1)
	}
	if fe.Conns != 1 {
		t.Errorf("frontend accepted %d connections, want 1", fe.Conns)
	}
}

// TestHTTPReuseSafeFirstRequest checks http-reuse safe: the first request of
// each new client connection gets its own server connection, and later
// requests may take pooled ones; http-reuse always lets first requests
// share them too.
func TestHTTPReuseSafeFirstRequest(t *testing.T) {
	for _, tt := range []struct {
		mode        string
		wantAccepts int64
	}{
		{"safe", 3},
		{"always", 1},
		{"never", 3},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			be := newGoBackend(t, hello("s1"))
			port := freePort(t)
			r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    http-reuse %s
    server s1 %s
`, port, tt.mode, be.addr()), host())
			// Three client connections in turn, two requests each.
			for i := range 3 {
				c, err := net.Dial("tcp4", r.addr)
				if err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(c)
				for j := range 2 {
					fmt.Fprintf(c, "GET /%d/%d HTTP/1.1\r\nHost: x\r\n\r\n", i, j)
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
				}
				c.Close()
				// The pooled connection is parked before the response is
				// written, but let the test not depend on it.
				if tt.mode == "always" {
					waitIdle(t, r.p.Backends()[0])
				}
			}
			if got := be.accepts.Load(); got != tt.wantAccepts {
				t.Errorf("http-reuse %s: server accepted %d connections, want %d", tt.mode, got, tt.wantAccepts)
			}
		})
	}
}

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
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    server s1 %s
`, port, be.addr()), host())
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i*7 + i>>11)
	}
	c, err := net.Dial("tcp4", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    server s1 %s
`, port, be.addr()), host())
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

// waitIdle waits (bounded) until the backend's first server has an idle
// pooled connection on core 0.
func waitIdle(t *testing.T, b *Backend) {
	t.Helper()
	for i := 0; b.idleCount(b.Servers[0], 0) == 0; i++ {
		if i > 2000 {
			t.Fatal("no idle server connection was pooled")
		}
		time.Sleep(time.Millisecond)
	}
}
