package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestHTTPKeepAlivePooling sends N requests over one client connection and
// checks that the server saw one connection: the client side stays open
// and the server connection goes back to the core's pool between requests.
func TestHTTPKeepAlivePooling(t *testing.T) {
	be := newGoBackend(t, hello("s1"))
	r := httpProxy(t, be.addr())
	c := dial(t, r.addr)
	br := bufio.NewReader(c)
	const n = 20
	for i := range n {
		resp, body := roundTrip(t, c, br, fmt.Sprintf("GET /k/%d HTTP/1.1\r\nHost: example.com\r\n\r\n", i))
		if resp.StatusCode != 200 || body != "hello from s1" || resp.Close {
			t.Fatalf("request %d: %d %q close=%v, want 200 %q close=false", i, resp.StatusCode, body, resp.Close, "hello from s1")
		}
		if got, want := resp.Header.Get("X-Got-Path"), fmt.Sprintf("/k/%d", i); got != want {
			t.Errorf("request %d: server got path %q, want %q", i, got, want)
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
			r := startHTTP(t, oneBackend{
				be:      []string{"http-reuse " + tt.mode},
				servers: []string{"s1 " + be.addr()},
			}, host())
			// Three client connections in turn, two requests each.
			for i := range 3 {
				c := dial(t, r.addr)
				br := bufio.NewReader(c)
				for j := range 2 {
					roundTrip(t, c, br, fmt.Sprintf("GET /%d/%d HTTP/1.1\r\nHost: x\r\n\r\n", i, j))
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

// TestHTTPPoolPerCore checks that an idle connection parked on one core is
// never handed to a request on another.
func TestHTTPPoolPerCore(t *testing.T) {
	be := newGoBackend(t, hello("s1"))
	r := startHTTP(t, oneBackend{
		be:      []string{"http-reuse always"},
		servers: []string{"s1 " + be.addr()},
	}, twoCores())
	b := r.p.Backends()[0]
	srv := b.Servers[0]
	b.putIdle(t.Context(), newServerConn(dial(t, be.addr()), srv, 0))
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
	r := httpProxy(t, be.addr(), withPoolIdle(50*time.Millisecond))
	rawExchange(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b := r.p.Backends()[0]
	waitIdle(t, b)
	if !eventually(5*time.Millisecond, func() bool { return b.idleCount(b.Servers[0], 0) == 0 }) {
		t.Fatal("idle connection never purged")
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
	r := httpProxy(t, srv)
	c := dial(t, r.addr)
	br := bufio.NewReader(c)
	for i := range 3 {
		resp, body := roundTrip(t, c, br, fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i))
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q, want 200 %q", i, resp.StatusCode, body, "ok")
		}
		time.Sleep(20 * time.Millisecond) // let the server's FIN arrive (not asserted)
	}
}

// TestHTTPServerAskedToClose checks that a request goes out with
// "Connection: close" exactly when its server connection will not be
// kept: a fresh connection while the core's idle pool is full, or every
// connection under option http-server-close.
func TestHTTPServerAskedToClose(t *testing.T) {
	for _, tt := range []struct {
		name      string
		be        []string
		wantClose []bool // per client connection, one request each
	}{
		{"pool of one", nil, []bool{false, true, true}},
		{"http-server-close", []string{"option http-server-close"}, []bool{true, true, true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var closes []bool
			var mu sync.Mutex
			be := newGoBackend(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				closes = append(closes, r.Close)
				mu.Unlock()
				io.WriteString(w, "ok")
			})
			r := startHTTP(t, oneBackend{be: tt.be, servers: []string{"s1 " + be.addr()}}, host(), withPoolMax(1))
			for i := range tt.wantClose {
				c := dial(t, r.addr)
				resp, body := roundTrip(t, c, bufio.NewReader(c), fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i))
				if resp.StatusCode != 200 || body != "ok" || resp.Close {
					t.Fatalf("request %d: %d %q close=%v, want 200 \"ok\" with the client connection kept", i, resp.StatusCode, body, resp.Close)
				}
				c.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(closes) != fmt.Sprint(tt.wantClose) {
				t.Errorf("server saw Connection: close as %v, want %v", closes, tt.wantClose)
			}
			if got, want := be.accepts.Load(), int64(len(tt.wantClose)); got != want {
				t.Errorf("server accepted %d connections, want %d", got, want)
			}
		})
	}
}
