package metrics

import (
	"bytes"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/bareproxy/bareproxy/proxy"
	"github.com/bareproxy/bareproxy/proxy/config"
	"github.com/bareproxy/bareproxy/proxy/health"
)

// closeHandler stands in for the mode http engine: the HTTP families are
// written for mode http proxies whatever their counts.
type closeHandler struct{}

func (closeHandler) Serve(s *proxy.Session) { s.Client.Close() }

func withHTTPStub() proxy.Option {
	return proxy.WithHandler(config.ModeHTTP, func(*proxy.Proxy, *proxy.Frontend) (proxy.Handler, error) {
		return closeHandler{}, nil
	})
}

// TestHTTPAndCheckFamilies runs real TCP health checks against a live and
// a dead server and checks the check families, the HTTP families of a mode
// http proxy, and the HTML LastChk column.
func TestHTTPAndCheckFamilies(t *testing.T) {
	src := fill(`
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
frontend web
    bind %s
    default_backend app
backend app
    server up1 %s check inter 50ms rise 1 fall 1
    server down1 %s check inter 50ms rise 1 fall 1
    server nochk %s
`, freeAddr(t), echoServer(t), freeAddr(t), echoServer(t))
	p := startProxy(t, src, 1, nil, withHTTPStub())
	srv := p.Backends()[0].Servers
	waitFor(t, "checks to conclude", func() bool {
		a, b := srv[0].CheckStats(), srv[1].CheckStats()
		return a != nil && b != nil && a.Last.Code == health.L4OK && b.Last.Code == health.L4Conn && !srv[1].Up() && b.Failed >= 1
	})
	r := &Renderer{Proxy: p}
	var buf bytes.Buffer
	if _, err := r.RenderStats(&buf, proxy.StatsPrometheus); err != nil {
		t.Fatal(err)
	}
	fams := parseProm(t, buf.Bytes())
	s := func(name string) map[string]string { return map[string]string{"proxy": "app", "server": name} }
	tests := []struct {
		name   string
		labels map[string]string
		typ    dto.MetricType
		want   float64
	}{
		{"haproxy_server_check_status", map[string]string{"server": "up1", "state": "L4OK"}, dto.MetricType_GAUGE, 1},
		{"haproxy_server_check_status", map[string]string{"server": "up1", "state": "L4CON"}, dto.MetricType_GAUGE, 0},
		{"haproxy_server_check_status", map[string]string{"server": "down1", "state": "L4CON"}, dto.MetricType_GAUGE, 1},
		{"haproxy_server_check_code", s("up1"), dto.MetricType_GAUGE, 0},
		{"haproxy_server_check_failures_total", s("up1"), dto.MetricType_COUNTER, 0},
		{"haproxy_server_status", map[string]string{"server": "down1", "state": "DOWN"}, dto.MetricType_GAUGE, 1},
		{"haproxy_server_check_up_down_total", s("down1"), dto.MetricType_COUNTER, 1},
		{"haproxy_backend_check_up_down_total", map[string]string{"proxy": "app"}, dto.MetricType_COUNTER, 1},
		{"haproxy_backend_active_servers", map[string]string{"proxy": "app"}, dto.MetricType_GAUGE, 2},
		{"haproxy_frontend_http_requests_total", map[string]string{"proxy": "web"}, dto.MetricType_COUNTER, 0},
		{"haproxy_frontend_http_responses_total", map[string]string{"proxy": "web", "code": "5xx"}, dto.MetricType_COUNTER, 0},
		{"haproxy_backend_http_responses_total", map[string]string{"proxy": "app", "code": "other"}, dto.MetricType_COUNTER, 0},
		{"haproxy_server_http_responses_total", map[string]string{"server": "nochk", "code": "2xx"}, dto.MetricType_COUNTER, 0},
		{"haproxy_backend_current_queue", map[string]string{"proxy": "app"}, dto.MetricType_GAUGE, 0},
		{"haproxy_server_connection_reuses_total", s("up1"), dto.MetricType_COUNTER, 0},
	}
	for _, tt := range tests {
		got, typ, n := find(fams, tt.name, tt.labels)
		if n != 1 || typ != tt.typ || got != tt.want {
			t.Errorf("%s%v: %d samples, type %v, value %v; want 1 %v %v", tt.name, tt.labels, n, typ, got, tt.typ, tt.want)
		}
	}
	if v, _, n := find(fams, "haproxy_server_check_failures_total", s("down1")); n != 1 || v < 1 {
		t.Errorf("down1 check failures: %d samples, value %v; want at least 1", n, v)
	}
	// Unchecked servers have no check figures; each checked one has one
	// sample per check outcome.
	if _, _, n := find(fams, "haproxy_server_check_status", s("nochk")); n != 0 {
		t.Errorf("nochk has %d check_status samples", n)
	}
	if _, _, n := find(fams, "haproxy_server_check_status", s("up1")); n != len(checkStates) || n < 9 {
		t.Errorf("up1 has %d check_status samples; want %d", n, len(checkStates))
	}
	// Each server has one of every code class.
	if _, _, n := find(fams, "haproxy_server_http_responses_total", s("up1")); n != 6 {
		t.Errorf("up1 has %d response classes; want 6", n)
	}

	buf.Reset()
	ct, err := r.RenderStats(&buf, proxy.StatsHTML)
	if err != nil || ct != ContentTypeHTML {
		t.Fatalf("RenderStats html: %q, %v", ct, err)
	}
	page := buf.String()
	for _, sub := range []string{
		`<td class="n">up1</td><td>UP</td><td>L4OK in `,
		`<tr class="down"><td class="n">down1</td><td>DOWN</td><td>L4CON in `,
		`<td class="n">nochk</td><td>no check</td><td>-</td>`,
	} {
		if !strings.Contains(page, sub) {
			t.Errorf("page lacks %q", sub)
		}
	}
}

// TestTCPProxyHasNoHTTPFamilies: mode tcp proxies carry no HTTP figures.
func TestTCPProxyHasNoHTTPFamilies(t *testing.T) {
	r := trafficRenderer(t)
	var buf bytes.Buffer
	ct, err := r.RenderStats(&buf, proxy.StatsPrometheus)
	if err != nil || ct != ContentTypePrometheus {
		t.Fatalf("RenderStats: %q, %v", ct, err)
	}
	fams := parseProm(t, buf.Bytes())
	for name := range fams {
		if strings.Contains(name, "_http_") || strings.Contains(name, "_check_") && name != "haproxy_backend_check_up_down_total" {
			t.Errorf("mode tcp render has %s", name)
		}
	}
}
