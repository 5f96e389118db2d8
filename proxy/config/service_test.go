package config

import "testing"

func TestUseService(t *testing.T) {
	src := `defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend www
  bind :80
  http-request use-service prometheus-exporter if { path /metrics }
  default_backend app
backend app
  server b1 10.0.1.2:8080
`
	cfg, _, err := Parse("haproxy.cfg", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rules := cfg.Frontends[0].HTTPRequest
	if len(rules) != 1 {
		t.Fatalf("got %d rules, want 1", len(rules))
	}
	r := rules[0]
	if r.Action != ActionUseService || r.Service != ServicePrometheus || r.Line != 8 || r.Cond == nil {
		t.Errorf("got %+v, want use-service %s at line 8 with a condition", r, ServicePrometheus)
	}
}
