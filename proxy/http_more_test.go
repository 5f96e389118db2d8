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

func withPoolIdle(d time.Duration) Option { return func(o *options) { o.http.poolIdle = d } }

// TestHTTPPoolPerCore checks that an idle connection parked on one core is
// never handed to a request on another.
func TestHTTPPoolPerCore(t *testing.T) {
	be := newGoBackend(t, hello("s1"))
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    http-reuse always
    server s1 %s
`, port, be.addr()), []Network{HostNetwork{ReusePort: true}, HostNetwork{ReusePort: true}})
	b := r.p.Backends()[0]
	c, err := net.Dial("tcp4", be.addr())
	if err != nil {
		t.Fatal(err)
	}
	srv := b.Servers[0]
	b.putIdle(t.Context(), newServerConn(c, srv, 0))
	if sc := b.takeIdle(srv, 1, false); sc != nil {
		t.Fatal("core 1 took core 0's idle connection")
	}
	sc := b.takeIdle(srv, 0, false)
	if sc == nil || sc.core != 0 {
		t.Fatalf("core 0 did not get its idle connection back: %v", sc)
	}
	sc.close()
}

// TestHTTPPoolIdleTimeout checks that pooled connections are closed once
// idle for the pool's lifetime.
func TestHTTPPoolIdleTimeout(t *testing.T) {
	be := newGoBackend(t, hello("s1"))
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    server s1 %s
`, port, be.addr()), host(), withPoolIdle(50*time.Millisecond))
	rawExchange(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b := r.p.Backends()[0]
	waitIdle(t, b)
	for i := 0; b.idleCount(b.Servers[0], 0) > 0; i++ {
		if i > 2000 {
			t.Fatal("idle connection never purged")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHTTPRetryDeadPooledConn: the server closes each connection after one
// response without saying so; the next request finds the pooled connection
// dead and is sent again on a new one instead of failing.
func TestHTTPRetryDeadPooledConn(t *testing.T) {
	srv := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		readHead(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    server s1 %s
`, port, srv), host())
	c, err := net.Dial("tcp4", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 3 {
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond) // let the server's FIN arrive (not asserted)
	}
}

// TestHTTPTimeouts covers timeout http-request (408, cR) and timeout
// http-keep-alive (an idle client connection is closed).
func TestHTTPTimeouts(t *testing.T) {
	be := newGoBackend(t, hello("s1"))
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    timeout http-request 200ms
    timeout http-keep-alive 100ms
    default_backend be
backend be
    server s1 %s
`, port, be.addr()), host())
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
	c, err := net.Dial("tcp4", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	io.ReadAll(resp.Body)
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
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET /plain HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "plain" || resp.Close {
		t.Fatalf("1.0 keep-alive: %q close=%v", body, resp.Close)
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
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    server s1 %s
`, port, srv), host())
	c, err := net.Dial("tcp4", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\nearly")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "early" {
		t.Fatalf("tunnel echo %q %v", got, err)
	}
}

// TestHTTPBalanceHash checks balance uri and hdr(name): a key always lands
// on the same server, and different keys spread.
func TestHTTPBalanceHash(t *testing.T) {
	var addrs []any
	for _, n := range []string{"a", "b", "c"} {
		addrs = append(addrs, newGoBackend(t, hello(n)).addr())
	}
	for _, bal := range []string{"uri", "hdr(X-User)"} {
		t.Run(bal, func(t *testing.T) {
			port := freePort(t)
			r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    balance `+bal+`
    server a %s
    server b %s
    server c %s
`, append([]any{port}, addrs...)...), host())
			cl := httpClient(r.addr)
			seen := map[string]bool{}
			for k := range 12 {
				var first string
				for range 3 {
					req, _ := http.NewRequest("GET", fmt.Sprintf("http://x/item/%d?r=%d", k, time.Now().UnixNano()), nil)
					req.Header.Set("X-User", fmt.Sprintf("user%d", k))
					resp, err := cl.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					got := resp.Header.Get("X-Server")
					if first == "" {
						first = got
					} else if got != first {
						t.Errorf("key %d went to %s then %s", k, first, got)
					}
				}
				seen[first] = true
			}
			if len(seen) < 2 {
				t.Errorf("12 keys all went to %v", seen)
			}
		})
	}
}
