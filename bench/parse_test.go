package main

import (
	"maps"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		line    string
		ok      bool
		name    string
		metrics map[string]float64
	}{
		{"BenchmarkConnect/cores=1-2         	  254583	      9441 ns/op	    105923 conns/s	      18 allocs/op",
			true, "BenchmarkConnect/cores=1", map[string]float64{"ns/op": 9441, "conns/s": 105923, "allocs/op": 18}},
		{"BenchmarkReceive/64B 	61573711	        38.15 ns/op	  26214429 pkts/s",
			true, "BenchmarkReceive/64B", map[string]float64{"ns/op": 38.15, "pkts/s": 26214429}},
		{"BenchmarkEndToEnd/tcp/engine=native-2 1 6173382512 ns/op 0.6156 close-ratio",
			true, "BenchmarkEndToEnd/tcp/engine=native", map[string]float64{"ns/op": 6173382512, "close-ratio": 0.6156}},
		{"BenchmarkEndToEnd/tcp/engine=native-2", false, "", nil}, // name printed before the benchmark's own output
		{"BenchmarkX-2 many 1 ns/op", false, "", nil},
		{"BenchmarkX-2 1 fast ns/op", false, "", nil},
		{"BenchmarkX-2 1 1 ns/op 2", false, "", nil},
		{"end-to-end mode tcp  keepalive | gvisor 31367 req/s", false, "", nil},
		{"ok  	github.com/bareproxy/bareproxy/image	38.475s", false, "", nil},
		{"", false, "", nil},
	} {
		r, ok := parseLine(tc.line)
		if ok != tc.ok || r.name != tc.name || (ok && !maps.Equal(r.metrics, tc.metrics)) {
			t.Errorf("parseLine(%q) = %q %v %v, want %q %v %v", tc.line, r.name, r.metrics, ok, tc.name, tc.metrics, tc.ok)
		}
	}
}

// sample is a shortened `make bench` log: two packages with the same
// benchmark name, one of them run three times (the table takes medians),
// and a wrk dump in between.
const sample = `goos: linux
pkg: github.com/bareproxy/bareproxy/tcp
BenchmarkConnect/cores=1-2   23991   111677 ns/op   8954 conns/s   168 allocs/op
BenchmarkConnect/cores=2-2   37798    65960 ns/op  15161 conns/s   166 allocs/op
ok  	github.com/bareproxy/bareproxy/tcp	19.317s
pkg: github.com/bareproxy/bareproxy/tcp/engine
BenchmarkConnect/cores=1-2  254583     9441 ns/op 100000 conns/s    18 allocs/op
BenchmarkConnect/cores=2-2  341041     6320 ns/op 160000 conns/s    18 allocs/op
BenchmarkConnect/cores=1-2  254583     9441 ns/op  70000 conns/s    18 allocs/op
BenchmarkConnect/cores=2-2  341041     6320 ns/op 150000 conns/s    18 allocs/op
BenchmarkConnect/cores=1-2  254583     9441 ns/op 110000 conns/s    18 allocs/op
BenchmarkConnect/cores=2-2  341041     6320 ns/op 170000 conns/s    18 allocs/op
BenchmarkServe/cores=1-2    907506     2539 ns/op 390000 conns/s     2 allocs/op
BenchmarkServe/cores=2-2   1581459     1496 ns/op 741000 conns/s     2 allocs/op
pkg: github.com/bareproxy/bareproxy/image
wrk reported errors:
  Non-2xx or 3xx responses: 1
BenchmarkEndToEnd/tcp/engine=native-2  1  6173382512 ns/op  16000 close-haproxy-req/s  24000 close-req/s  2.5 keepalive-p99-ms  2.0 keepalive-haproxy-p99-ms
`

func TestSummarize(t *testing.T) {
	rows := summarize(parse(strings.NewReader(sample)), 6_209_711, "")
	want := map[string]row{
		"stack conn/s on 1 core, gvisor (./tcp BenchmarkConnect)":        {measured: "9.0k", met: "ref"},
		"stack conn/s on 1 core, native (./tcp/engine BenchmarkConnect)": {measured: "100.0k", met: "yes"},
		"stack allocs/conn (both ends), native":                          {measured: "18", met: "yes"},
		"per-core scaling 2 vs 1 core, native":                           {measured: "x1.60 (160.0k vs 100.0k)", met: "no"},
		"per-core scaling 2 vs 1 core, native run to completion":         {measured: "x1.90 (741.0k vs 390.0k)", met: "yes"},
		"stack allocs/conn (both ends), native run to completion":        {measured: "2", met: "yes"},
		"tcp 1 req/conn req/s vs HAProxy, native":                        {measured: "x1.50 (24.0k vs 16.0k)", met: "yes"},
		"tcp keep-alive p99, native":                                     {measured: "2.50 ms vs 2.00 ms", met: "no"},
		"tcp keep-alive req/s vs HAProxy, native":                        {measured: "not measured", met: "?"},
		"driver allocs/packet":                                           {measured: "not measured", met: "?"},
		"image size, stripped":                                           {measured: "6,209,711 B", met: "no"},
	}
	for _, r := range rows {
		w, ok := want[r.figure]
		if !ok {
			continue
		}
		delete(want, r.figure)
		if r.measured != w.measured || r.met != w.met {
			t.Errorf("%s: measured %q met %q, want %q %q", r.figure, r.measured, r.met, w.measured, w.met)
		}
	}
	for figure := range want {
		t.Errorf("no row %q", figure)
	}
}
