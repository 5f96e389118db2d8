//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/internal/syncbuf"
)

// haproxyIP is where the baseline HAProxy listens: on the bridge of the
// hub namespace, so that its packets cross the same veths and bridge as the
// appliance's, minus the TAP.
const haproxyIP = "10.77.0.3"

// BenchmarkEndToEnd runs wrk from the client namespace through the appliance
// (with each TCP engine, -engine gvisor and -engine native) and through
// HAProxy 2.6 (2 threads) to nginx, in the same run, in mode tcp and mode
// http, with keep-alive and with one request per connection, and reports
// the ratios to HAProxy (and each p99 latency, from wrk --latency, as
// a metric in ms). Each engine's appliance is a sub-benchmark with
// its own topology; HAProxy runs in the first one, before the appliance.
// Run it with `make bench` (-benchtime 1x: each wrk run is its own timer).
func BenchmarkEndToEnd(b *testing.B) {
	for _, tool := range []string{"wrk", "haproxy", "nginx", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("skipping: %s is not installed (.ci/run installs it)", tool)
		}
	}
	if os.Geteuid() != 0 {
		b.Skip("skipping: needs root for network namespaces")
	}
	duration := envDuration("BP_BENCH_DURATION", 5*time.Second)
	conns := []struct {
		name      string
		closeEach bool
	}{{"keepalive", false}, {"close", true}}
	for _, mode := range []string{"tcp", "http"} {
		hap := make(map[string]wrkResult)
		bp := make(map[string]map[string]wrkResult) // engine, conn
		for _, engine := range engines {
			bp[engine] = make(map[string]wrkResult)
			b.Run(mode+"/engine="+engine, func(b *testing.B) {
				// A topology each: nginx's TIME_WAIT entries from one
				// engine's dials must not meet the next engine's SYNs
				// (the native engine sends no timestamps, so Linux
				// may answer such a SYN with an ACK, and the dial
				// then waits for its 1 s SYN retransmission).
				tp := newTopology(b)
				tuneLoadGenerator(b, tp)
				if len(hap) == 0 {
					startHAProxy(b, tp, mode)
					for _, conn := range conns {
						hap[conn.name] = runWrk(b, tp, haproxyIP+":80", duration, conn.closeEach)
					}
				}
				startAppliance(b, tp, benchConfig(mode, ":80"), 2, "-engine", engine)
				for _, conn := range conns {
					r := runWrk(b, tp, applianceIP+":80", duration, conn.closeEach)
					bp[engine][conn.name] = r
					b.ReportMetric(r.rps, conn.name+"-req/s")
					b.ReportMetric(hap[conn.name].rps, conn.name+"-haproxy-req/s")
					b.ReportMetric(r.rps/hap[conn.name].rps, conn.name+"-ratio")
					b.ReportMetric(r.p99, conn.name+"-p99-ms")
					b.ReportMetric(hap[conn.name].p99, conn.name+"-haproxy-p99-ms")
				}
			})
		}
		for _, conn := range conns {
			h := hap[conn.name]
			line := fmt.Sprintf("end-to-end mode %-4s %-9s", mode, conn.name)
			for _, engine := range engines {
				r := bp[engine][conn.name]
				line += fmt.Sprintf(" | %-6s %8.0f req/s p99 %6.2f ms (x%.2f)", engine, r.rps, r.p99, r.rps/h.rps)
			}
			fmt.Printf("%s | haproxy-2t %8.0f req/s p99 %6.2f ms\n", line, h.rps, h.p99)
		}
	}
}

// tuneLoadGenerator lets wrk's namespace reuse its TIME_WAIT ports, as
// load generators are set up. Where the client closes first (whenever a
// proxy's FIN trails the response it has read), its namespace holds one
// TIME_WAIT per connection for 60 s; past the 28k ports of the default
// range, connects fail and the rate falls twentyfold within seconds
// (HAProxy went from 18k to 800 req/s over 18 s of one request per
// connection in mode tcp). The figures would then measure the client.
func tuneLoadGenerator(b *testing.B, tp *topology) {
	b.Helper()
	out, err := exec.Command("ip", "netns", "exec", tp.client, "sysctl", "-q", "-w",
		"net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65535").CombinedOutput()
	if err != nil {
		b.Fatalf("tuning the client namespace: %v\n%s", err, out)
	}
}

// benchConfig proxies bind to nginx in mode, the same for the appliance and
// for HAProxy.
func benchConfig(mode, bind string) string {
	return fmt.Sprintf(`defaults
    mode %s
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend web
    bind %s
    default_backend nginx
backend nginx
    server web1 %s
`, mode, bind, backendAddr)
}

type wrkResult struct{ rps, p99 float64 }

// runWrk runs wrk from the client namespace against target for duration.
func runWrk(b *testing.B, tp *topology, target string, duration time.Duration, closeEach bool) wrkResult {
	args := []string{"netns", "exec", tp.client, "wrk", "-t2", "-c64", "-d" + duration.String(), "--latency"}
	if closeEach {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, "http://"+target+"/index.html")
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	return wrkResult{rps: wrkRequestsPerSec(b, out), p99: wrkP99(out)}
}

var (
	wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP   = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
)

func wrkRequestsPerSec(b *testing.B, out []byte) float64 {
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no Requests/sec in wrk output:\n%s", out)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
		fmt.Printf("wrk reported errors:\n%s", out)
	}
	return v
}

// wrkP99 returns the 99th percentile latency in milliseconds.
func wrkP99(out []byte) float64 {
	m := wrkP.FindSubmatch(out)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	switch string(m[2]) {
	case "us":
		v /= 1000
	case "s":
		v *= 1000
	}
	return v
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

// startHAProxy runs HAProxy with 2 threads in the hub namespace with the
// same configuration as the appliance's.
func startHAProxy(b *testing.B, tp *topology, mode string) {
	b.Helper()
	if out, err := exec.Command("ip", "-n", tp.hub, "addr", "add", haproxyIP+"/24", "dev", "br0").CombinedOutput(); err != nil {
		b.Fatalf("address for haproxy: %v\n%s", err, out)
	}
	cfg := "global\n    nbthread 2\n    maxconn 8000\n" + benchConfig(mode, haproxyIP+":80")
	path := filepath.Join(b.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	out := &syncbuf.Buffer{}
	cmd := exec.Command("ip", "netns", "exec", tp.hub, "haproxy", "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	err := inNetns(tp.client, func() error {
		var err error
		for range 100 {
			var c net.Conn
			if c, err = net.DialTimeout("tcp4", haproxyIP+":80", time.Second); err == nil {
				return c.Close()
			}
			time.Sleep(100 * time.Millisecond)
		}
		return err
	})
	if err != nil {
		b.Fatalf("haproxy never listened: %v\n%s", err, out.String())
	}
}
