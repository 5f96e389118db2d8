package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
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
	log  *lockedBuffer
}

// start parses src (with %s placeholders already filled), runs it on the
// given cores, and waits until its first bind accepts.
func start(t *testing.T, src string, cores []Network, opts ...Option) *running {
	t.Helper()
	return startOn(t, src, cores, opts...)
}

// startTB starts src on one host core for a benchmark.
func startTB(tb testing.TB, src string) *running { return startOn(tb, src, host()) }

func startOn(t testing.TB, src string, cores []Network, opts ...Option) *running {
	t.Helper()
	cfg, _, err := config.Parse("test.cfg", []byte(src))
	if err != nil {
		t.Fatalf("config:\n%v\n%s", err, src)
	}
	lb := &lockedBuffer{}
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
