package proxy

import (
	"io"
	"net/http"
	"testing"
)

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
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 401 {
				if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="Appliance"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			} else if string(body) != "<html>stats</html>" {
				t.Errorf("body %q", body)
			}
		})
	}
	if got := be.reqs.Load(); got != 0 {
		t.Errorf("server saw %d requests, want 0", got)
	}
}
