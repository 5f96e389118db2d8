package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/internal/syncbuf"
	"github.com/bareproxy/bareproxy/proxy/config"
)

// testDefaults is the global and defaults sections of the mode tcp tests.
const testDefaults = `global
    log stdout local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s
`

// oneBackend is the proxy most tests run. Its config reads
//
//	frontend fe
//	    bind 127.0.0.1:<port>
//	    <fe lines>
//	    default_backend be
//	backend be
//	    <be lines>
//	    server <servers[0]>
//	    ...
type oneBackend struct {
	fe      []string // extra frontend lines, after the bind
	be      []string // extra backend lines, before the servers
	servers []string // each the rest of a server line: "s1 127.0.0.1:80 maxconn 1"
}

// config returns the frontend and backend sections, bound to port.
func (o oneBackend) config(port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nfrontend fe\n    bind 127.0.0.1:%d\n", port)
	for _, l := range o.fe {
		b.WriteString("    " + l + "\n")
	}
	b.WriteString("    default_backend be\nbackend be\n")
	for _, l := range o.be {
		b.WriteString("    " + l + "\n")
	}
	for _, s := range o.servers {
		b.WriteString("    server " + s + "\n")
	}
	return b.String()
}

// startTCP runs o after testDefaults on a free port.
func startTCP(t testing.TB, o oneBackend, cores []Network) *running {
	t.Helper()
	return startOn(t, testDefaults+o.config(freePort(t)), cores)
}

// benchDefaults is the defaults section of the benchmarks, which log
// nothing; mode "" leaves the mode unset (tcp).
func benchDefaults(mode string) string {
	s := "defaults\n"
	if mode != "" {
		s += "    mode " + mode + "\n"
	}
	return s + `    timeout connect 2s
    timeout client 30s
    timeout server 30s
`
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// backend starts a test server running serve on each connection and
// returns its address.
func backend(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// echo copies everything back and then half-closes.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
}

// named writes name and closes.
func named(name string) func(net.Conn) {
	return func(c net.Conn) { io.WriteString(c, name) }
}

// running is a proxy serving in the background.
type running struct {
	p    *Proxy
	addr string // the first bind of the first frontend
	log  *syncbuf.Buffer
}

// start parses src (with %s placeholders already filled), runs it on the
// given cores, and waits until its first bind accepts.
func start(t *testing.T, src string, cores []Network, opts ...Option) *running {
	t.Helper()
	return startOn(t, src, cores, opts...)
}

// startTB starts src on one host core for a benchmark.
func startTB(tb testing.TB, src string) *running {
	tb.Helper()
	return startOn(tb, src, host())
}

func startOn(t testing.TB, src string, cores []Network, opts ...Option) *running {
	t.Helper()
	cfg, _, err := config.Parse("test.cfg", []byte(src))
	if err != nil {
		t.Fatalf("config:\n%v\n%s", err, src)
	}
	lb := &syncbuf.Buffer{}
	p, err := New(cfg, cores, slog.New(NewLineHandler(lb)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	addr := cfg.Frontends[0].Binds[0].Addr.String()
	select {
	case <-p.Ready():
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	}
	return &running{p: p, addr: addr, log: lb}
}

// waitLog waits (bounded) until the log holds n lines containing sub.
func (r *running) waitLog(t *testing.T, sub string, n int) []string {
	t.Helper()
	for i := 0; ; i++ {
		var got []string
		for _, l := range strings.Split(r.log.String(), "\n") {
			if strings.Contains(l, sub) {
				got = append(got, l)
			}
		}
		if len(got) >= n {
			return got
		}
		if i > 1000 {
			t.Fatalf("log has %d lines with %q, want %d; log:\n%s", len(got), sub, n, r.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dial connects to addr and closes the connection when the test ends
// (closing it earlier is fine).
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialRead connects to addr, reads to EOF and closes.
func dialRead(t *testing.T, addr string) []byte {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	return readAll(t, c)
}

// eventually calls cond every interval until it holds, at most 2000 times
// after the first, and reports whether it held.
func eventually(every time.Duration, cond func() bool) bool {
	for i := 0; !cond(); i++ {
		if i > 2000 {
			return false
		}
		time.Sleep(every)
	}
	return true
}

// readAll reads c to EOF with a generous bound so a bug cannot hang the
// test.
func readAll(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !isReset(err) {
		t.Fatalf("read: %v", err)
	}
	return b
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "reset")
}

func host() []Network { return []Network{HostNetwork{}} }

// twoCores is two host cores sharing their listeners with SO_REUSEPORT.
func twoCores() []Network {
	return []Network{HostNetwork{ReusePort: true}, HostNetwork{ReusePort: true}}
}
