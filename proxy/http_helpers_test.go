package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// httpDefaults is the defaults section of the mode http tests.
const httpDefaults = `global
    log stdout local0
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s
`

// goBackend is an httptest server that counts accepted connections and
// requests.
type goBackend struct {
	srv     *httptest.Server
	accepts atomic.Int64
	reqs    atomic.Int64
}

func (b *goBackend) addr() string { return b.srv.Listener.Addr().String() }

// newGoBackend starts h on loopback.
func newGoBackend(t testing.TB, h http.HandlerFunc) *goBackend {
	t.Helper()
	b := &goBackend{}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.reqs.Add(1)
		h(w, r)
	}))
	b.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			b.accepts.Add(1)
		}
	}
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	return b
}

// hello answers "hello from NAME" with the request's method and path in
// headers, so tests can see what the server got.
func hello(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server", name)
		w.Header().Set("X-Got-Path", r.URL.RequestURI())
		w.Header().Set("X-Got-XFF", strings.Join(r.Header.Values("X-Forwarded-For"), "|"))
		w.Header().Set("X-Got-Via", r.Header.Get("X-Via"))
		w.Header().Set("X-Got-Debug", r.Header.Get("X-Debug"))
		io.WriteString(w, "hello from "+name)
	}
}

// httpClient returns a keep-alive client that dials the proxy however the
// URL's host is written (so tests can set Host freely).
func httpClient(addr string) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp4", addr)
			},
			MaxIdleConnsPerHost: 4,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// rawExchange writes req on a new connection to addr and returns the
// first response (nil if the proxy closed without one) and its body.
func rawExchange(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	resp, body, err := tryExchange(addr, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// tryExchange is rawExchange for goroutines other than the test's: it
// returns an error where rawExchange stops the test.
func tryExchange(addr, req string) (*http.Response, string, error) {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, "", nil
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body), nil
}

// roundTrip writes req on the open connection c and reads one response
// and its whole body from br, which buffers c.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, req string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("write %q: %v", req, err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response to %q: %v", req, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body of the response to %q: %v", req, err)
	}
	return resp, string(body)
}

// do sends req with cl and returns the response with its whole body.
func do(t *testing.T, cl *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", req.Method, req.URL, err)
	}
	return resp, string(body)
}

// get is do for a GET of url.
func get(t *testing.T, cl *http.Client, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, cl, req)
}

// rawBackend serves each connection with a function on the raw socket,
// for servers that misbehave on purpose.
func rawBackend(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	return backend(t, func(c net.Conn) { serve(c, bufio.NewReader(c)) })
}

// readHead reads a request head (up to the empty line).
func readHead(br *bufio.Reader) string {
	var b strings.Builder
	for {
		l, err := br.ReadString('\n')
		b.WriteString(l)
		if err != nil || l == "\r\n" {
			return b.String()
		}
	}
}

// waitIdle waits (bounded) until the backend's first server has an idle
// pooled connection on core 0.
func waitIdle(t *testing.T, b *Backend) {
	t.Helper()
	if !eventually(time.Millisecond, func() bool { return b.idleCount(b.Servers[0], 0) != 0 }) {
		t.Fatal("no idle server connection was pooled")
	}
}

// withPoolIdle sets how long a pooled server connection may stay idle.
func withPoolIdle(d time.Duration) Option { return func(o *options) { o.http.poolIdle = d } }
func withPoolMax(n int) Option            { return func(o *options) { o.http.poolMax = n } }

// wantHeader returns a check that the response's header name is want.
func wantHeader(name, want string) func(*testing.T, *http.Response, string) {
	return func(t *testing.T, resp *http.Response, _ string) {
		t.Helper()
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// stubRenderer is a StatsRenderer for tests.
type stubRenderer struct{}

func (stubRenderer) RenderStats(w io.Writer, kind StatsKind) (string, error) {
	if kind == StatsPrometheus {
		io.WriteString(w, "# TYPE up gauge\nup 1\n")
		return "text/plain; version=0.0.4; charset=utf-8", nil
	}
	io.WriteString(w, "<html>stats</html>")
	return "text/html; charset=utf-8", nil
}

// startHTTP runs o after httpDefaults on a free port.
func startHTTP(t *testing.T, o oneBackend, cores []Network, opts ...Option) *running {
	t.Helper()
	return start(t, httpDefaults+o.config(freePort(t)), cores, opts...)
}

// httpProxy runs the plainest mode http proxy on one host core: frontend
// fe sends everything to backend be, whose one server s1 is at srv.
func httpProxy(t *testing.T, srv string, opts ...Option) *running {
	t.Helper()
	return startHTTP(t, oneBackend{servers: []string{"s1 " + srv}}, host(), opts...)
}

// cfgf formats a config from httpDefaults plus body.
func cfgf(body string, args ...any) string { return httpDefaults + fmt.Sprintf(body, args...) }
