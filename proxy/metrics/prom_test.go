package metrics

import (
	"bytes"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// hostile is a backend name with every character that the text format or
// HTML must escape. The config parser would not accept it; the test sets it
// on the parsed configuration.
const hostile = "ev\"il\\<b>&'\nx</table>"

const trafficCfg = `
global
    maxconn 100
defaults
    mode tcp
    timeout connect 2s
    timeout client 20s
    timeout server 20s
frontend fe
    bind %s
    default_backend be
frontend fe2
    bind %s
    maxconn 50
    default_backend dead
backend be
    server s1 %s weight 3
    server s2 %s backup
    server s3 %s disabled
backend dead
    retries 1
    server d1 %s
`

// trafficRenderer runs a two-core proxy on loopback, drives known traffic
// through it (three echoed connections through fe, one refused connection
// through fe2) and returns a Renderer over it once the counters settle.
func trafficRenderer(t *testing.T) *Renderer {
	t.Helper()
	echo := echoServer(t)
	fe, fe2 := freeAddr(t), freeAddr(t)
	src := fill(trafficCfg, fe, fe2, echo, echo, echo, freeAddr(t))
	p := startProxy(t, src, 2, func(c *config.Config) {
		c.Backends[1].Name = hostile
		c.Frontends[1].DefaultBackend = hostile
	})
	for range 3 {
		if got := roundTrip(t, fe, "helloworld"); got != "helloworld" {
			t.Fatalf("echo through fe = %q", got)
		}
	}
	if got := roundTrip(t, fe2, "x"); got != "" {
		t.Fatalf("fe2 answered %q; want nothing (dead server)", got)
	}
	waitFor(t, "counters to settle", func() bool {
		st := p.Stats()
		return st.Cur == 0 && st.Frontends[0].Conns == 3 && st.Frontends[1].Conns == 1 &&
			st.Backends[0].BytesOut == 30 && st.Backends[1].ConnectErrors == 2 && st.Backends[0].Cur == 0
	})
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	return &Renderer{
		Proxy: p,
		Cores: func() []CoreSample {
			return []CoreSample{
				{FramesIn: 10, FramesOut: 11, Drops: 1, Accepted: 2, Dialled: 3, SteeringMisses: 0, Established: 4},
				{FramesIn: 20, FramesOut: 21, Drops: 0, Accepted: 1, Dialled: 1, SteeringMisses: 5, ResetsSent: 6, PortsExhausted: 7,
					Retransmits: 8, TCPTimeouts: 9, SplicedBytes: 10, TSOSegments: 11},
			}
		},
		Logs:  func() LogSample { return LogSample{Sent: 40, Dropped: 5, Errors: 1} },
		Start: start,
		Now:   func() time.Time { return start.Add(90 * time.Second) },
	}
}

func parseProm(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("expfmt: %v\n%s", err, b)
	}
	return fams
}

// find returns the value of the sample of family name whose labels include
// want, and whether there is exactly one.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, dto.MetricType, int) {
	f := fams[name]
	if f == nil {
		return 0, 0, 0
	}
	var v float64
	n := 0
	for _, m := range f.Metric {
		ok := true
		for k, val := range want {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == k && lp.GetValue() == val {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		n++
		switch {
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Untyped != nil:
			v = m.Untyped.GetValue()
		}
	}
	return v, f.GetType(), n
}

func TestPrometheusTraffic(t *testing.T) {
	r := trafficRenderer(t)
	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	fams := parseProm(t, buf.Bytes())
	C, G := dto.MetricType_COUNTER, dto.MetricType_GAUGE
	fe := map[string]string{"proxy": "fe"}
	fe2 := map[string]string{"proxy": "fe2"}
	be := map[string]string{"proxy": "be"}
	dead := map[string]string{"proxy": hostile}
	srv := func(p, s string) map[string]string { return map[string]string{"proxy": p, "server": s} }
	with := func(m map[string]string, kv ...string) map[string]string {
		o := map[string]string{}
		for k, v := range m {
			o[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			o[kv[i]] = kv[i+1]
		}
		return o
	}
	tests := []struct {
		name   string
		labels map[string]string
		typ    dto.MetricType
		want   float64
	}{
		{"haproxy_process_nbthread", nil, G, 2},
		{"haproxy_process_max_connections", nil, G, 100},
		{"haproxy_process_current_connections", nil, G, 0},
		{"haproxy_process_connections_total", nil, C, 4},
		{"haproxy_process_uptime_seconds", nil, G, 90},
		{"haproxy_process_start_time_seconds", nil, G, float64(r.Start.Unix())},
		{"haproxy_process_dropped_logs_total", nil, C, 5},
		{"bareproxy_process_sent_logs_total", nil, C, 40},
		{"bareproxy_process_failed_logs_total", nil, C, 1},

		{"haproxy_frontend_status", with(fe, "state", "UP"), G, 1},
		{"haproxy_frontend_status", with(fe, "state", "DOWN"), G, 0},
		{"haproxy_frontend_current_sessions", fe, G, 0},
		{"haproxy_frontend_sessions_total", fe, C, 3},
		{"haproxy_frontend_connections_total", fe2, C, 1},
		{"haproxy_frontend_bytes_in_total", fe, C, 30},
		{"haproxy_frontend_bytes_out_total", fe, C, 30},
		{"haproxy_frontend_limit_sessions", fe, G, 100},
		{"haproxy_frontend_limit_sessions", fe2, G, 50},
		{"bareproxy_frontend_no_server_total", fe2, C, 0},

		{"haproxy_backend_status", with(be, "state", "UP"), G, 1},
		{"haproxy_backend_status", with(dead, "state", "UP"), G, 1},
		{"haproxy_backend_sessions_total", be, C, 3},
		{"haproxy_backend_sessions_total", dead, C, 0},
		{"haproxy_backend_bytes_in_total", be, C, 30},
		{"haproxy_backend_bytes_out_total", be, C, 30},
		{"haproxy_backend_connection_errors_total", dead, C, 2},
		{"haproxy_backend_retry_warnings_total", dead, C, 1},
		{"haproxy_backend_active_servers", be, G, 1},
		{"haproxy_backend_backup_servers", be, G, 1},
		{"haproxy_backend_weight", be, G, 3},

		{"haproxy_server_status", with(srv("be", "s1"), "state", "UP"), G, 1},
		{"haproxy_server_status", with(srv("be", "s1"), "state", "DOWN"), G, 0},
		{"haproxy_server_status", with(srv("be", "s3"), "state", "MAINT"), G, 1},
		{"haproxy_server_status", with(srv("be", "s3"), "state", "UP"), G, 0},
		{"haproxy_server_sessions_total", srv("be", "s1"), C, 3},
		{"haproxy_server_sessions_total", srv("be", "s2"), C, 0},
		{"haproxy_server_bytes_out_total", srv("be", "s1"), C, 30},
		{"haproxy_server_connection_errors_total", srv(hostile, "d1"), C, 2},
		{"haproxy_server_retry_warnings_total", srv(hostile, "d1"), C, 1},
		{"haproxy_server_weight", srv("be", "s1"), G, 3},
		{"haproxy_server_backup", srv("be", "s2"), G, 1},
		{"haproxy_server_active", srv("be", "s2"), G, 0},

		{"bareproxy_core_frames_received_total", map[string]string{"core": "1"}, C, 20},
		{"bareproxy_core_frames_transmitted_total", map[string]string{"core": "0"}, C, 11},
		{"bareproxy_core_steering_misses_total", map[string]string{"core": "1"}, C, 5},
		{"bareproxy_core_connections_accepted_total", map[string]string{"core": "0"}, C, 2},
		{"bareproxy_core_connections_dialled_total", map[string]string{"core": "0"}, C, 3},
		{"bareproxy_core_established_connections", map[string]string{"core": "0"}, G, 4},
		{"bareproxy_core_ports_exhausted_total", map[string]string{"core": "1"}, C, 7},
		{"bareproxy_core_tcp_retransmits_total", map[string]string{"core": "1"}, C, 8},
		{"bareproxy_core_tcp_timeouts_total", map[string]string{"core": "1"}, C, 9},
		{"bareproxy_core_spliced_bytes_total", map[string]string{"core": "1"}, C, 10},
		{"bareproxy_core_tso_segments_total", map[string]string{"core": "1"}, C, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, typ, n := find(fams, tt.name, tt.labels)
			if n != 1 {
				t.Fatalf("%d samples of %s%v; want 1", n, tt.name, tt.labels)
			}
			if typ != tt.typ {
				t.Errorf("type %v; want %v", typ, tt.typ)
			}
			if got != tt.want {
				t.Errorf("%s%v = %v; want %v", tt.name, tt.labels, got, tt.want)
			}
		})
	}

	// The per-core figures add up to the totals, whichever core the kernel
	// gave each connection to.
	var sum float64
	for k := range 2 {
		v, typ, n := find(fams, "bareproxy_frontend_core_sessions_total", map[string]string{"proxy": "fe", "core": string(rune('0' + k))})
		if n != 1 || typ != C {
			t.Fatalf("core %d: %d samples of type %v", k, n, typ)
		}
		sum += v
	}
	if sum != 3 {
		t.Errorf("per-core sessions of fe add up to %v; want 3", sum)
	}

	// Every family has help and a counter or gauge type; counters end in
	// _total.
	for name, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
		if f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		if f.GetType() != dto.MetricType_COUNTER && f.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s has type %v", name, f.GetType())
		}
	}
}

// TestPrometheusOrder checks that each family is one contiguous block
// (HELP, TYPE, samples) and that two renders of unchanged counters are
// byte for byte the same.
func TestPrometheusOrder(t *testing.T) {
	r := trafficRenderer(t)
	var a, b bytes.Buffer
	r.WritePrometheus(&a)
	r.WritePrometheus(&b)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two renders differ:\n%s\n---\n%s", a.Bytes(), b.Bytes())
	}
	seen := map[string]bool{}
	cur := ""
	for _, line := range strings.Split(strings.TrimSuffix(a.String(), "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name := strings.Fields(line)[2]
			if seen[name] {
				t.Errorf("family %s starts twice", name)
			}
			seen[name], cur = true, name
		case strings.HasPrefix(line, "# TYPE "):
			if name := strings.Fields(line)[2]; name != cur {
				t.Errorf("TYPE of %s inside family %s", name, cur)
			}
		default:
			name, _, _ := strings.Cut(line, "{")
			name, _, _ = strings.Cut(name, " ")
			if name != cur {
				t.Errorf("sample %q outside its family (in %s)", line, cur)
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) < 40 {
		t.Errorf("only %d families: %v", len(names), names)
	}
}

// TestPrometheusNoCores: without Cores and Logs the network and log
// families are absent and the rest still parses.
func TestPrometheusNoCores(t *testing.T) {
	p := startProxy(t, fill(`
frontend fe
    bind %s
    default_backend be
backend be
    server s1 %s
`, freeAddr(t), echoServer(t)), 1, nil)
	var buf bytes.Buffer
	if err := (&Renderer{Proxy: p}).WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	fams := parseProm(t, buf.Bytes())
	for _, absent := range []string{"bareproxy_core_frames_received_total", "haproxy_process_dropped_logs_total", "haproxy_process_uptime_seconds"} {
		if fams[absent] != nil {
			t.Errorf("%s present without its source", absent)
		}
	}
	if v, _, n := find(fams, "bareproxy_frontend_core_current_sessions", map[string]string{"proxy": "fe", "core": "0"}); n != 1 || v != 0 {
		t.Errorf("per-core current sessions: %d samples, value %v", n, v)
	}
}

func TestAppendValue(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {3, "3"}, {-2, "-2"}, {1 << 52, "4503599627370496"}, {0.5, "0.5"},
		{1e300, "1e+300"},
	}
	for _, tt := range tests {
		if got := string(appendValue(nil, tt.v)); got != tt.want {
			t.Errorf("appendValue(%v) = %q; want %q", tt.v, got, tt.want)
		}
	}
}
