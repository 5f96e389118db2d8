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
// first response (nil if the proxy closed without one) and whether the
// connection was closed after it.
func rawExchange(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, ""
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// cfgf formats a config from httpDefaults plus body.
func cfgf(body string, args ...any) string { return httpDefaults + fmt.Sprintf(body, args...) }
