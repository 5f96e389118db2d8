package proxy

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestHTTPRouting routes requests by host, path, method and source to
// backends and checks which server answered.
func TestHTTPRouting(t *testing.T) {
	api := newGoBackend(t, hello("api"))
	static := newGoBackend(t, hello("static"))
	admin := newGoBackend(t, hello("admin"))
	writes := newGoBackend(t, hello("writes"))
	app := newGoBackend(t, hello("app"))
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    acl host_api hdr(host) -i api.example.com
    acl p_static path_beg /static/ /assets/
    acl p_img path_end .png .jpg
    acl p_reg path_reg ^/v[0-9]+/admin
    acl m_write method POST PUT DELETE
    acl from_lo src 127.0.0.0/8
    acl from_far src 192.0.2.0/24
    use_backend api if host_api
    use_backend static if p_static or p_img
    use_backend admin if p_reg from_lo
    use_backend writes if m_write !from_far
    default_backend app
backend api
    server s %s
backend static
    server s %s
backend admin
    server s %s
backend writes
    server s %s
backend app
    server s %s
`, port, api.addr(), static.addr(), admin.addr(), writes.addr(), app.addr()), host())
	cl := httpClient(r.addr)
	tests := []struct {
		method, host, path string
		want               string
	}{
		{"GET", "api.example.com", "/x", "api"},
		{"GET", "API.Example.COM", "/x", "api"},
		{"GET", "api.example.com:8080", "/x", "app"}, // hdr(host) sees the port
		{"GET", "www.example.com", "/static/a.css", "static"},
		{"GET", "www.example.com", "/assets/", "static"},
		{"GET", "www.example.com", "/img/logo.png", "static"},
		{"GET", "www.example.com", "/img/logo.png?x=1", "static"}, // path has no query
		{"GET", "www.example.com", "/v2/admin/users", "admin"},
		{"GET", "www.example.com", "/v/admin", "app"},
		{"POST", "www.example.com", "/form", "writes"},
		{"DELETE", "www.example.com", "/item/1", "writes"},
		{"GET", "www.example.com", "/", "app"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.host+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://"+tt.host+tt.path, nil)
			resp, _ := do(t, cl, req)
			if got := resp.Header.Get("X-Server"); got != tt.want {
				t.Errorf("routed to %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRouteSample checks Route on samples directly, covering src and
// fetches the loopback tests cannot vary.
func TestRouteSample(t *testing.T) {
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    acl far src 192.0.2.0/24
    acl get method GET
    use_backend b1 if far get
    use_backend b2 if far
    default_backend b3
backend b1
    server s 127.0.0.1:1
backend b2
    server s 127.0.0.1:1
backend b3
    server s 127.0.0.1:1
`, port), host())
	fe := r.p.Frontends()[0]
	for _, tt := range []struct {
		src, method, want string
	}{
		{"192.0.2.7", "GET", "b1"},
		{"192.0.2.7", "POST", "b2"},
		{"198.51.100.1", "GET", "b3"},
	} {
		smp := &Sample{Src: netip.MustParseAddr(tt.src), HTTP: true, Method: tt.method, Path: "/"}
		if got := Route(fe, smp).Name(); got != tt.want {
			t.Errorf("%s %s: routed to %s, want %s", tt.src, tt.method, got, tt.want)
		}
	}
}

// TestHTTPRules covers http-request deny, redirect, set-header,
// del-header, option forwardfor and http-response set-header.
func TestHTTPRules(t *testing.T) {
	be := newGoBackend(t, hello("s1"))
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    option forwardfor
    acl blocked path_beg /private
    acl old path_beg /old
    http-request deny deny_status 429 if { path_beg /slow }
    http-request deny if blocked
    http-request redirect location https://example.org/new code 301 if old
    http-request redirect prefix /v2 if { path_beg /legacy }
    http-request redirect scheme https drop-query if { path_beg /secure }
    http-request set-header X-Via "bare %%[src]" if { path_beg /via }
    http-request del-header X-Debug
    http-response set-header X-Proxy bare
    default_backend be
backend be
    server s1 %s
`, port, be.addr()), host())
	cl := httpClient(r.addr)
	tests := []struct {
		name, path string
		hdr        map[string]string
		status     int
		check      func(t *testing.T, resp *http.Response, body string)
	}{
		{name: "deny 403", path: "/private/x", status: 403, check: func(t *testing.T, resp *http.Response, body string) {
			if !strings.Contains(body, "403 Forbidden") {
				t.Errorf("body %q, want it to say 403 Forbidden", body)
			}
		}},
		{name: "deny_status 429", path: "/slow", status: 429},
		{name: "redirect location", path: "/old/page", status: 301, check: wantHeader("Location", "https://example.org/new")},
		{name: "redirect prefix", path: "/legacy/a?b=1", status: 302, check: wantHeader("Location", "/v2/legacy/a?b=1")},
		{name: "redirect scheme", path: "/secure/a?b=1", status: 302, check: wantHeader("Location", "https://www.example.com/secure/a")},
		{name: "set-header", path: "/via", status: 200, check: wantHeader("X-Got-Via", "bare 127.0.0.1")},
		{name: "del-header", path: "/", hdr: map[string]string{"X-Debug": "1"}, status: 200, check: wantHeader("X-Got-Debug", "")},
		{name: "forwardfor appends", path: "/", hdr: map[string]string{"X-Forwarded-For": "203.0.113.9"}, status: 200,
			check: wantHeader("X-Got-XFF", "203.0.113.9|127.0.0.1")},
		{name: "response set-header", path: "/", status: 200, check: wantHeader("X-Proxy", "bare")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://www.example.com"+tt.path, nil)
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			resp, body := do(t, cl, req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.check != nil {
				tt.check(t, resp, body)
			}
		})
	}
	st := r.p.Stats().Frontends[0]
	if st.Denied != 2 || st.Intercepted != 3 {
		t.Errorf("denied %d intercepted %d, want 2 and 3", st.Denied, st.Intercepted)
	}
	if got := be.reqs.Load(); got != 4 {
		t.Errorf("server saw %d requests, want 4", got)
	}
}

// TestHTTPForwardForExcept checks "option forwardfor except" and "header".
func TestHTTPForwardForExcept(t *testing.T) {
	be := newGoBackend(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "xff=%q real=%q", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Real-IP"))
	})
	for _, tt := range []struct {
		option, want string
	}{
		{"option forwardfor except 127.0.0.0/8", `xff="" real=""`},
		{"option forwardfor header X-Real-IP", `xff="" real="127.0.0.1"`},
		{"option forwardfor except 10.0.0.0/8", `xff="127.0.0.1" real=""`},
	} {
		t.Run(tt.option, func(t *testing.T) {
			r := startHTTP(t, oneBackend{fe: []string{tt.option}, servers: []string{"s1 " + be.addr()}}, host())
			resp, body := rawExchange(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp == nil || body != tt.want {
				t.Errorf("got %q, want %q", body, tt.want)
			}
		})
	}
}

// TestHTTPBalanceHash checks balance uri and hdr(name): a key always lands
// on the same server, and different keys spread.
func TestHTTPBalanceHash(t *testing.T) {
	var servers []string
	for _, n := range []string{"a", "b", "c"} {
		servers = append(servers, n+" "+newGoBackend(t, hello(n)).addr())
	}
	for _, bal := range []string{"uri", "hdr(X-User)"} {
		t.Run(bal, func(t *testing.T) {
			r := startHTTP(t, oneBackend{be: []string{"balance " + bal}, servers: servers}, host())
			cl := httpClient(r.addr)
			seen := map[string]bool{}
			for k := range 12 {
				var first string
				for range 3 {
					req, _ := http.NewRequest("GET", fmt.Sprintf("http://x/item/%d?r=%d", k, time.Now().UnixNano()), nil)
					req.Header.Set("X-User", fmt.Sprintf("user%d", k))
					resp, _ := do(t, cl, req)
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
