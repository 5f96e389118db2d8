package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// TestHTTPStatsAuth checks "stats auth": every listed user gets the page,
// anyone else 401 with the realm, and nothing reaches the backend.
func TestHTTPStatsAuth(t *testing.T) {
	be := newGoBackend(t, hello("s1"))
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    stats enable
    stats uri /stats
    stats realm Appliance
    stats auth admin:s3cret
    stats auth ops:other
    default_backend app
backend app
    server s1 %s
`, freePort(t), be.addr()), host(), WithStats(stubRenderer{}))
	cl := httpClient(r.addr)
	tests := []struct {
		name       string
		user, pass string
		want       int
	}{
		{"no credentials", "", "", 401},
		{"wrong password", "admin", "guess", 401},
		{"password of another user", "admin", "other", 401},
		{"prefix of the password", "admin", "s3cre", 401},
		{"first user", "admin", "s3cret", 200},
		{"second user", "ops", "other", 200},
		{"credentials longer than any user", "admin", string(make([]byte, 4096)), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://x/stats", nil)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, body := do(t, cl, req)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 401 {
				if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="Appliance"` {
					t.Errorf("WWW-Authenticate = %q, want %q", got, `Basic realm="Appliance"`)
				}
			} else if body != "<html>stats</html>" {
				t.Errorf("body %q, want %q", body, "<html>stats</html>")
			}
		})
	}
	if got := be.reqs.Load(); got != 0 {
		t.Errorf("server saw %d requests, want 0", got)
	}
}

// TestHTTPStatsAndMetrics serves the stats page at "stats uri" and the
// Prometheus exporter through use-service, with a stub renderer.
func TestHTTPStatsAndMetrics(t *testing.T) {
	be := newGoBackend(t, hello("s1"))
	src := func(port int) string {
		return cfgf(`
frontend fe
    bind 127.0.0.1:%d
    stats enable
    stats uri /admin?stats
    monitor-uri /healthz
    http-request use-service prometheus-exporter if { path /metrics }
    default_backend app
backend app
    server s1 %s
`, port, be.addr())
	}
	r := start(t, src(freePort(t)), host(), WithStats(stubRenderer{}))
	cl := httpClient(r.addr)
	for _, tt := range []struct {
		path, ctype, body, srv string
	}{
		{"/admin?stats", "text/html; charset=utf-8", "<html>stats</html>", "fe/<STATS>"},
		{"/metrics", "text/plain; version=0.0.4; charset=utf-8", "# TYPE up gauge\nup 1\n", "fe/<PROMEX>"},
		{"/healthz", "text/plain", "OK\n", "fe/<MONITOR>"},
		{"/other", "text/plain; charset=utf-8", "hello from s1", "app/s1"},
	} {
		resp, body := get(t, cl, "http://x"+tt.path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.ctype || body != tt.body {
			t.Errorf("%s: %d %q %q, want 200 %q %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.ctype, tt.body)
		}
		line := r.waitLog(t, `"GET `+tt.path+` HTTP/1.1"`, 1)[0]
		if !strings.Contains(line, " "+tt.srv+" ") {
			t.Errorf("log %q, want %s", line, tt.srv)
		}
	}
	if got := be.reqs.Load(); got != 1 {
		t.Errorf("server saw %d requests, want 1", got)
	}
	// Without a renderer the stats page is 503.
	r2 := start(t, src(freePort(t)), host())
	resp, _ := rawExchange(t, r2.addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp == nil || resp.StatusCode != 503 {
		t.Errorf("metrics without renderer: %v, want 503", resp)
	}
}
