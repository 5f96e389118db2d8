//go:build linux

package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const l7Config = `
defaults
    mode http
    timeout connect 5s
    timeout client  30s
    timeout server  30s

frontend web
    bind :80
    http-request use-service prometheus-exporter if { path /metrics }
    stats enable
    stats uri /stats
    acl is_api path_beg /api/
    http-request deny deny_status 403 if is_api
    default_backend nginx

backend nginx
    balance roundrobin
    option httpchk GET /index.html
    http-check expect status 200
    server web1 ` + backendAddr + ` check inter 500ms
`

// TestL7ThroughAppliance serves mode http on the appliance's stack: curl
// keeps its connection alive over several requests, a denied path never
// reaches nginx, and /metrics parses with Prometheus's own parser. It runs
// with each TCP engine.
func TestL7ThroughAppliance(t *testing.T) {
	requireCurl(t)
	withEachEngine(t, testL7ThroughAppliance)
}

func testL7ThroughAppliance(t *testing.T, engine string) {
	tp := newTopology(t)
	app := startAppliance(t, tp, l7Config, 2, "-engine", engine)
	want := tp.file(t, "4k.bin")

	curl := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", tp.client, "curl", "-sS", "--max-time", "10"}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return out
	}
	// Five requests on one connection: curl reuses it, and says so.
	url := "http://" + applianceIP + "/4k.bin"
	out, err := exec.Command("ip", "netns", "exec", tp.client, "curl", "-sS", "-v", "--max-time", "10",
		"-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
		"-w", "%{http_code} %{size_download}\n", url, url, url, url, url).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), "200 4096\n"); got != 5 {
		t.Errorf("got %d of 5 full responses:\n%s", got, out)
	}
	if got := strings.Count(string(out), "Re-using existing connection"); got != 4 {
		t.Errorf("curl reused its connection %d times, want 4:\n%s", got, out)
	}
	body := curl(url)
	if !bytes.Equal(body, want) {
		t.Errorf("body of %d bytes differs from the %d served", len(body), len(want))
	}
	// A body many windows long, read and written by the proxy (not
	// spliced): window updates and TSO against the kernel's TCP.
	big := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{2}).Read(big)
	if err := os.WriteFile(filepath.Join(tp.www, "www", "1m.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if body := curl("http://" + applianceIP + "/1m.bin"); !bytes.Equal(body, big) {
			t.Fatalf("1 MiB body: got %d bytes, differing from the %d served", len(body), len(big))
		}
	}
	if code := curl("-o", "/dev/null", "-w", "%{http_code}", "http://"+applianceIP+"/api/x"); string(code) != "403" {
		t.Errorf("denied path answered %s, want 403", code)
	}
	if page := curl("http://" + applianceIP + "/stats"); !bytes.Contains(page, []byte("nginx")) || !bytes.Contains(page, []byte("web1")) {
		t.Errorf("stats page lacks the backend and server:\n%.400s", page)
	}

	metrics := curl("http://" + applianceIP + "/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(metrics))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%.600s", err, metrics)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f := families[name]
		if f == nil {
			t.Fatalf("/metrics lacks %s", name)
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
		t.Fatalf("/metrics has no %s%v", name, labels)
		return 0
	}
	if v := value("haproxy_frontend_http_requests_total", map[string]string{"proxy": "web"}); v < 7 {
		t.Errorf("frontend http requests = %v, want at least 7", v)
	}
	if v := value("haproxy_server_status", map[string]string{"proxy": "nginx", "server": "web1", "state": "UP"}); v != 1 {
		t.Errorf("server web1 UP = %v, want 1 (health checks pass against nginx)", v)
	}
	var accepted float64
	for k := range 2 {
		accepted += value("bareproxy_core_connections_accepted_total", map[string]string{"core": fmt.Sprint(k)})
	}
	if accepted < 4 {
		t.Errorf("cores accepted %v connections in all, want at least 4", accepted)
	}
	if engine == "native" && strings.Contains(app.stderr.String(), "TAP offloads on") {
		var tso float64
		for k := range 2 {
			tso += value("bareproxy_core_tso_segments_total", map[string]string{"core": fmt.Sprint(k)})
		}
		if tso < 3 { // at least the three 1 MiB bodies
			t.Errorf("/metrics counts %v TSO segments, want at least 3", tso)
		}
	}
	if c := app.cores(t); c[0].Accepted+c[1].Accepted < uint64(accepted) {
		t.Errorf("/cores counts fewer connections than /metrics did before it: %+v vs %v", c, accepted)
	}
}
