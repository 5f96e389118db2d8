package syslog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/internal/syncbuf"
	"github.com/bareproxy/bareproxy/proxy/config"
)

// listenUDP opens a loopback syslog server for the test.
func listenUDP(t *testing.T) (*net.UDPConn, netip.AddrPort) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// recv reads one datagram, with a generous bound so a bug cannot hang
// the test.
func recv(t *testing.T, c *net.UDPConn) string {
	t.Helper()
	buf := make([]byte, 70000)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no datagram: %v", err)
	}
	return string(buf[:n])
}

// noMore checks that nothing else arrives within a short grace period.
func noMore(t *testing.T, c *net.UDPConn) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(buf); err == nil {
		t.Errorf("unexpected datagram %q", buf[:n])
	}
}

func udpTarget(ap netip.AddrPort, facility, level int) config.LogTarget {
	return config.LogTarget{Kind: config.LogUDP, Addr: ap, Facility: facility, Level: level}
}

var rfc3164Line = regexp.MustCompile(`^<(\d+)>[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d lb1 haproxy\[42\]: (.*)$`)

// TestUDPRFC3164 sends records of each level through a local0 target
// that takes up to info and checks PRI, header and message of each
// datagram.
func TestUDPRFC3164(t *testing.T) {
	srv, ap := listenUDP(t)
	h := New([]config.LogTarget{udpTarget(ap, 16, sevInfo)}, Options{Hostname: "lb1", Tag: "haproxy", PID: 42})
	defer h.Close()
	log := slog.New(h)
	log.Debug("not sent")
	log.Info("10.0.0.1:1234 [23/Nov/2026:12:00:00.000] fe be/s1 0/1/2 30 -- 1/1/0/0/0 0/0")
	log.Warn("server down", "server", "be/s1")
	log.Error("listen failed", "err", errors.New("address in use"))
	want := []struct {
		pri int
		msg string
	}{
		{134, "10.0.0.1:1234 [23/Nov/2026:12:00:00.000] fe be/s1 0/1/2 30 -- 1/1/0/0/0 0/0"},
		{132, "server down server=be/s1"},
		{131, "listen failed err=address in use"},
	}
	for _, w := range want {
		got := recv(t, srv)
		m := rfc3164Line.FindStringSubmatch(got)
		if m == nil {
			t.Fatalf("datagram %q is not RFC 3164 with host and tag", got)
		}
		if m[1] != itoa(w.pri) || m[2] != w.msg {
			t.Errorf("got <%s> %q; want <%d> %q", m[1], m[2], w.pri, w.msg)
		}
	}
	noMore(t, srv)
	if st := h.Stats(); st.Sent != 3 || st.Dropped != 0 || st.Errors != 0 {
		t.Errorf("stats %+v; want 3 sent", st)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestTargets: per-target level filter, minimum level clamp, format,
// length and console targets.
func TestTargets(t *testing.T) {
	a, apA := listenUDP(t)
	b, apB := listenUDP(t)
	var out, errw syncbuf.Buffer
	tA := udpTarget(apA, 16, sevNotice) // local0 notice: info is filtered
	tA.Format = FormatRFC5424
	tB := udpTarget(apB, 17, sevDebug) // local1 debug warning: err is sent as warning
	tB.MinLevel = sevWarning
	tB.MaxLen = 80
	tB.Format = FormatPriority
	h := New([]config.LogTarget{
		tA, tB,
		{Kind: config.LogStdout, Facility: 16, Level: sevInfo},
		{Kind: config.LogStderr, Facility: 16, Level: sevErr, Format: FormatShort},
		{Kind: config.LogUnix, Path: "/dev/log", Facility: 16, Level: sevDebug},
	}, Options{Stdout: &out, Stderr: &errw, Tag: "haproxy"})
	log := slog.New(h)
	log.Info("info line")
	log.Error(strings.Repeat("e", 100))
	log.Debug("debug line")
	h.Close()

	got := recv(t, a)
	if !regexp.MustCompile(`^<131>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d) - haproxy - - - e{100}$`).MatchString(got) {
		t.Errorf("rfc5424 target got %q", got)
	}
	noMore(t, a)
	for _, want := range []string{"<142>info line", "<140>" + strings.Repeat("e", 75), "<143>debug line"} {
		if got := recv(t, b); got != want {
			t.Errorf("clamped target got %q; want %q", got, want)
		}
	}
	if want := "info line\n" + strings.Repeat("e", 100) + "\n"; out.String() != want {
		t.Errorf("stdout = %q; want %q", out.String(), want)
	}
	if want := "<3>" + strings.Repeat("e", 100) + "\n"; errw.String() != want {
		t.Errorf("stderr = %q; want %q", errw.String(), want)
	}
	if st := h.Stats(); st.Sent != 7 || st.Dropped != 0 || st.Errors != 0 {
		t.Errorf("stats %+v; want 7 sent", st)
	}
}

// blockConn is a UDP socket whose writes wait until release is closed.
type blockConn struct {
	net.Conn
	release chan struct{}
	mu      sync.Mutex
	writes  int
}

func (c *blockConn) Write(p []byte) (int, error) {
	<-c.release
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return len(p), nil
}

func (c *blockConn) Close() error { return nil }

// TestQueueFull: with the only target stuck, Handle neither blocks nor
// grows the queue; it drops and counts. Once the target moves again, what
// was queued is sent.
func TestQueueFull(t *testing.T) {
	bc := &blockConn{release: make(chan struct{})}
	dial := func(netip.AddrPort) (net.Conn, error) { return bc, nil }
	tg := udpTarget(netip.MustParseAddrPort("127.0.0.1:514"), 16, sevInfo)
	h := New([]config.LogTarget{tg}, Options{Dial: dial, QueueLen: 4})
	log := slog.New(h)
	for i := range 20 {
		log.Info("line", "i", i)
	}
	if st := h.Stats(); st.Dropped != 16 {
		t.Errorf("dropped %d; want 16 (4 entries: 1 being written, 3 queued)", st.Dropped)
	}
	close(bc.release)
	h.Close()
	if st := h.Stats(); st.Sent != 4 || bc.writes != 4 {
		t.Errorf("after release: %+v, %d writes; want 4 sent", st, bc.writes)
	}
	log.Info("after close")
	if st := h.Stats(); st.Dropped != 17 {
		t.Errorf("after close: dropped %d; want 17", st.Dropped)
	}
}

// TestDialFailure: a target whose socket cannot be opened counts errors
// and is not redialled for every line.
func TestDialFailure(t *testing.T) {
	dials := 0
	dial := func(netip.AddrPort) (net.Conn, error) { dials++; return nil, errors.New("no route") }
	h := New([]config.LogTarget{udpTarget(netip.MustParseAddrPort("10.0.0.1:514"), 16, sevInfo)}, Options{Dial: dial})
	log := slog.New(h)
	for range 5 {
		log.Info("x")
	}
	h.Close()
	if st := h.Stats(); st.Errors != 5 || st.Sent != 0 {
		t.Errorf("stats %+v; want 5 errors", st)
	}
	if dials != 1 {
		t.Errorf("%d dials for 5 lines within a second; want 1", dials)
	}
}

// TestNoTargets: a handler without targets takes nothing.
func TestNoTargets(t *testing.T) {
	h := New(nil, Options{})
	defer h.Close()
	if h.Enabled(context.Background(), slog.LevelError) {
		t.Error("enabled without targets")
	}
	slog.New(h).Error("x")
	if st := h.Stats(); st != (Stats{}) {
		t.Errorf("stats %+v", st)
	}
}

func TestWithAttrsAndGroup(t *testing.T) {
	var out syncbuf.Buffer
	h := New([]config.LogTarget{{Kind: config.LogStdout, Level: sevDebug}}, Options{Stdout: &out})
	log := slog.New(h).With("core", 1).WithGroup("g")
	log.Info("msg", "k", "v")
	h.Close()
	if got, want := out.String(), "msg core=1 g.k=v\n"; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

func TestTargetsOfConfig(t *testing.T) {
	cfg, _, err := config.Parse("t.cfg", []byte(`
global
    log 127.0.0.1:514 local0
    log stdout format raw local1 info
defaults
    log global
frontend a
    bind 127.0.0.1:8080
    default_backend b
frontend c
    bind 127.0.0.1:8081
    log 127.0.0.1:514 local0
    log 127.0.0.1:1514 len 200 local2 notice
    default_backend b
backend b
    server s 127.0.0.1:80
`))
	if err != nil {
		t.Fatal(err)
	}
	got := Targets(cfg)
	var s []string
	for _, tg := range got {
		s = append(s, tg.Addr.String()+"/"+itoa(tg.Facility)+"/"+itoa(tg.Level)+"/"+itoa(tg.MaxLen))
	}
	want := "127.0.0.1:514/16/7/0 invalid AddrPort/17/6/0 127.0.0.1:1514/18/5/200"
	if strings.Join(s, " ") != want {
		t.Errorf("targets %v; want %s", s, want)
	}
}

// TestHandleAllocs: queuing a line allocates nothing once the handler
// runs, the drain goroutine included.
func TestHandleAllocs(t *testing.T) {
	h := New([]config.LogTarget{{Kind: config.LogStdout, Level: sevInfo, Format: FormatRFC3164}}, Options{Stdout: io.Discard})
	defer h.Close()
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "10.0.0.1:1234 [23/Nov/2026:12:00:00.000] fe be/s1 0/1/2 30 -- 1/1/0/0/0 0/0", 0)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() { h.Handle(ctx, r) })
	if allocs != 0 {
		t.Errorf("%v allocations per line; want 0", allocs)
	}
}

func BenchmarkHandle(b *testing.B) {
	h := New([]config.LogTarget{{Kind: config.LogStdout, Level: sevInfo}}, Options{Stdout: io.Discard, QueueLen: 4096})
	defer h.Close()
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "10.0.0.1:1234 [23/Nov/2026:12:00:00.000] fe be/s1 0/1/2 30 -- 1/1/0/0/0 0/0", 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.Handle(ctx, r)
	}
}
