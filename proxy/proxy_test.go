package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// TestEchoConcurrent echoes 100 connections at once, 1 B to ~100 KB each,
// and checks the bytes and the frontend and server counters.
func TestEchoConcurrent(t *testing.T) {
	r := startTCP(t, oneBackend{servers: []string{"s1 " + backend(t, echo)}}, host())
	const conns = 100
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	var total int64
	for i := range conns {
		size := 1 + i*997 // 1 B to ~100 KB, crossing buffer boundaries
		total += int64(size)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoOnce(r.addr, size)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	r.waitLog(t, " -- ", conns)
	st := r.p.Stats()
	fe, bs := st.Frontends[0], st.Backends[0]
	if fe.Conns != conns || fe.BytesIn != uint64(total) || fe.BytesOut != uint64(total) {
		t.Errorf("frontend counters = %+v; want %d conns, %d bytes each way", fe.Counters, conns, total)
	}
	if bs.Servers[0].Conns != conns || bs.Servers[0].BytesIn != uint64(total) {
		t.Errorf("server counters = %+v", bs.Servers[0].Counters)
	}
}

// echoOnce sends size random bytes, half-closes, and checks the echo.
func echoOnce(addr string, size int) error {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	msg := make([]byte, size)
	rand.Read(msg)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		c.(*net.TCPConn).CloseWrite()
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("size %d: read: %w", size, err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("size %d: write: %w", size, err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("size %d: echo differs (got %d bytes)", size, len(got))
	}
	return nil
}

// TestRoundRobinWeights checks how roundrobin and static-rr spread
// connections over weighted servers.
func TestRoundRobinWeights(t *testing.T) {
	tests := []struct {
		name    string
		balance string
		weights [2]int
		want    [2]int // connections per server out of the total
	}{
		{"equal", "roundrobin", [2]int{1, 1}, [2]int{12, 12}},
		{"two to one", "roundrobin", [2]int{2, 1}, [2]int{16, 8}},
		{"static-rr three to one", "static-rr", [2]int{3, 1}, [2]int{18, 6}},
		{"weight zero gets nothing", "roundrobin", [2]int{5, 0}, [2]int{24, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startTCP(t, oneBackend{
				be: []string{"balance " + tt.balance},
				servers: []string{
					fmt.Sprintf("a %s weight %d", backend(t, named("a")), tt.weights[0]),
					fmt.Sprintf("b %s weight %d", backend(t, named("b")), tt.weights[1]),
				},
			}, host())
			got := map[string]int{}
			for range tt.want[0] + tt.want[1] {
				got[string(dialRead(t, r.addr))]++
			}
			if got["a"] != tt.want[0] || got["b"] != tt.want[1] {
				t.Errorf("spread = %v, want a=%d b=%d", got, tt.want[0], tt.want[1])
			}
		})
	}
}

// TestFailover checks that retries move a connection off a dead server,
// and what the log and counters say when they do not.
func TestFailover(t *testing.T) {
	tests := []struct {
		name    string
		retries int
		wantOK  int // of 6 connections
	}{
		{"retries reach the live server", 3, 6},
		{"no retries: half fail", 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startTCP(t, oneBackend{
				be:      []string{fmt.Sprintf("retries %d", tt.retries)},
				servers: []string{"dead " + deadAddr(t), "live " + backend(t, named("live"))},
			}, host())
			ok := 0
			for range 6 {
				if string(dialRead(t, r.addr)) == "live" {
					ok++
				}
			}
			if ok != tt.wantOK {
				t.Errorf("%d of 6 reached the live server, want %d", ok, tt.wantOK)
			}
			st := r.p.Stats().Backends[0]
			if st.Servers[0].ConnectErrors != 3 {
				t.Errorf("dead server connect errors = %d, want 3", st.Servers[0].ConnectErrors)
			}
			if tt.wantOK < 6 {
				r.waitLog(t, "be/dead 0/-1/", 6-tt.wantOK)
				r.waitLog(t, " SC ", 6-tt.wantOK)
			} else {
				lines := r.waitLog(t, "be/live", 6)
				if n := strings.Count(strings.Join(lines, "\n"), "/1 0/0"); n != 3 {
					t.Errorf("%d lines show one retry, want 3:\n%s", n, strings.Join(lines, "\n"))
				}
			}
		})
	}
}

// TestNoServer checks that a backend without a usable server closes the
// connection, logs <NOSRV> and counts it.
func TestNoServer(t *testing.T) {
	r := startTCP(t, oneBackend{servers: []string{"s " + deadAddr(t) + " disabled"}}, host())
	if b := dialRead(t, r.addr); len(b) != 0 {
		t.Errorf("read %q from a backend without servers", b)
	}
	r.waitLog(t, "fe be/<NOSRV> 0/-1/", 1)
	if st := r.p.Stats().Backends[0]; st.NoServer != 1 {
		t.Errorf("no-server count = %d, want 1", st.NoServer)
	}
}

// TestIdleTimeouts checks that timeout client and timeout server close an
// idle connection with termination state cD or sD.
func TestIdleTimeouts(t *testing.T) {
	tests := []struct {
		name           string
		client, server string
		term           string
	}{
		{"client side idle", "300ms", "30s", " cD "},
		{"server side idle", "30s", "300ms", " sD "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startTCP(t, oneBackend{
				fe:      []string{"timeout client " + tt.client},
				be:      []string{"timeout server " + tt.server},
				servers: []string{"s " + backend(t, echo)},
			}, host())
			dialRead(t, r.addr) // returns once the proxy closes the idle connection
			r.waitLog(t, tt.term, 1)
		})
	}
}

// TestActiveNotIdle checks that traffic one way keeps a connection open
// even though the other way is silent for longer than its timeout.
func TestActiveNotIdle(t *testing.T) {
	const ticks = 8
	be := backend(t, func(c net.Conn) {
		for range ticks {
			time.Sleep(150 * time.Millisecond)
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
		}
	})
	r := startTCP(t, oneBackend{
		fe:      []string{"timeout client 600ms"},
		be:      []string{"timeout server 30s"},
		servers: []string{"s " + be},
	}, host())
	if got := dialRead(t, r.addr); len(got) != ticks {
		t.Errorf("read %d bytes, want %d: the silent client side timed out an active connection", len(got), ticks)
	}
}

// TestHalfClose checks that the client's end of stream reaches the server
// while the server's answer still comes back.
func TestHalfClose(t *testing.T) {
	// The server answers only after the client's end of stream reaches it.
	be := backend(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "got %d", n)
	})
	r := startTCP(t, oneBackend{servers: []string{"s " + be}}, host())
	c := dial(t, r.addr)
	c.Write(make([]byte, 100000))
	c.(*net.TCPConn).CloseWrite()
	if got := string(readAll(t, c)); got != "got 100000" {
		t.Errorf("reply = %q, want %q", got, "got 100000")
	}
	r.waitLog(t, " 10 -- ", 1)
}

// TestUseBackendBySource routes by src ACLs in mode tcp.
func TestUseBackendBySource(t *testing.T) {
	a, b := backend(t, named("a")), backend(t, named("b"))
	port := freePort(t)
	r := start(t, testDefaults+fmt.Sprintf(`
frontend fe
    bind 127.0.0.1:%d
    acl local src 127.0.0.0/8
    acl other src 10.0.0.0/8
    use_backend ba if other
    use_backend bb if local !other
    default_backend ba
backend ba
    server a %s
backend bb
    server b %s
`, port, a, b), host())
	if got := string(dialRead(t, r.addr)); got != "b" {
		t.Errorf("routed to %q, want b", got)
	}
}

// TestMultiCoreReusePort serves one bind on two SO_REUSEPORT cores and
// checks the per-core counters add up.
func TestMultiCoreReusePort(t *testing.T) {
	r := startTCP(t, oneBackend{servers: []string{"s " + backend(t, echo)}}, twoCores())
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := echoOnce(r.addr, 1000+i); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r.waitLog(t, " -- ", 40)
	fe := r.p.Stats().Frontends[0]
	if fe.Conns != 40 || len(fe.PerCore) != 2 || fe.PerCore[0].Conns+fe.PerCore[1].Conns != 40 {
		t.Errorf("frontend counters = %+v per core %+v", fe.Counters, fe.PerCore)
	}
}

// TestShutdownClosesSessions checks that cancelling Run closes open
// sessions and that a Proxy runs only once.
func TestShutdownClosesSessions(t *testing.T) {
	be := backend(t, echo)
	port := freePort(t)
	cfg, _, err := config.Parse("t.cfg", []byte(testDefaults+oneBackend{servers: []string{"s " + be}}.config(port)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, host(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-p.Ready()
	c := dial(t, fmt.Sprintf("127.0.0.1:%d", port))
	c.Write([]byte("hi"))
	buf := make([]byte, 2)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return with a session open")
	}
	if _, err := c.Read(buf); err == nil {
		t.Error("session still open after shutdown")
	}
	if err := p.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
}

// TestNewRejects checks that New refuses what it cannot run.
func TestNewRejects(t *testing.T) {
	base := func(extra string) string {
		return `frontend fe
    bind :18080` + extra + `
    default_backend be
backend be
    mode ` + map[bool]string{true: "http", false: "tcp"}[strings.Contains(extra, "mode http")] + `
    server s 10.0.0.1:80
`
	}
	tests := []struct {
		name  string
		src   string
		cores []Network
		want  string
	}{
		{"no cores", base(""), nil, "no cores"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := config.Parse("t.cfg", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(cfg, tt.cores, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := New(nil, host(), nil); err == nil {
		t.Error("New(nil config) succeeded")
	}
}

// TestHandlerPlugin checks that another mode's handler plugs in and can
// use the engine's Connect and Splice.
func TestHandlerPlugin(t *testing.T) {
	be := backend(t, echo)
	port := freePort(t)
	factory := func(p *Proxy, fe *Frontend) (Handler, error) { return pluginHandler{}, nil }
	r := start(t, fmt.Sprintf(`defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    server s %s
`, port, be), host(), WithHandler(config.ModeHTTP, factory))
	if err := echoOnce(r.addr, 5000); err != nil {
		t.Fatal(err)
	}
}

type pluginHandler struct{}

func (pluginHandler) Serve(s *Session) {
	defer s.Client.Close()
	up, err := s.Connect(s.Frontend.Default, []byte("key"))
	if err != nil {
		return
	}
	defer up.Close()
	s.Splice(up)
}
