package metrics

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/bareproxy/bareproxy/proxy"
	"github.com/bareproxy/bareproxy/proxy/config"
)

// benchRenderer is an engine (not running) with 10 frontends and 10
// backends of 10 servers on 2 cores, with network counters for 2 cores.
func benchRenderer(b *testing.B) *Renderer {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("defaults\n    mode tcp\n")
	for i := range 10 {
		fmt.Fprintf(&sb, "frontend fe%d\n    bind 127.0.0.1:%d\n    default_backend be%d\n", i, 20000+i, i)
		fmt.Fprintf(&sb, "backend be%d\n", i)
		for j := range 10 {
			fmt.Fprintf(&sb, "    server s%d 127.0.0.1:%d\n", j, 30000+j)
		}
	}
	cfg, _, err := config.Parse("bench.cfg", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	p, err := proxy.New(cfg, []proxy.Network{proxy.HostNetwork{}, proxy.HostNetwork{}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	cores := []CoreSample{{FramesIn: 1}, {FramesIn: 2}}
	return &Renderer{Proxy: p, Cores: func() []CoreSample { return cores }}
}

type countWriter struct{ n int }

func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

func BenchmarkWritePrometheus(b *testing.B) {
	r := benchRenderer(b)
	var w countWriter
	b.ReportAllocs()
	for b.Loop() {
		w.n = 0
		r.WritePrometheus(&w)
	}
	b.ReportMetric(float64(w.n), "bytes/render")
}

func BenchmarkWriteHTML(b *testing.B) {
	r := benchRenderer(b)
	var w countWriter
	b.ReportAllocs()
	for b.Loop() {
		w.n = 0
		r.WriteHTML(&w)
	}
	b.ReportMetric(float64(w.n), "bytes/render")
}
