package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hcBackend is a Go HTTP server whose /health answers 200 or 500 as
// healthy says, and whose other paths count as traffic and answer the
// server's name.
type hcBackend struct {
	name    string
	addr    string
	healthy atomic.Bool
	checks  atomic.Int64
	traffic atomic.Int64
}

// newHCBackend starts a healthy hcBackend answering name.
func newHCBackend(t *testing.T, name string) *hcBackend {
	t.Helper()
	b := &hcBackend{name: name}
	b.healthy.Store(true)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	mux := http.NewServeMux()
	health := func(w http.ResponseWriter, r *http.Request) {
		b.checks.Add(1)
		if !b.healthy.Load() {
			http.Error(w, "sick", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	}
	mux.HandleFunc("/health", health)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions { // plain "option httpchk"
			health(w, r)
			return
		}
		b.traffic.Add(1)
		io.WriteString(w, name)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return b
}

// fetch sends one HTTP/1.0 request through the L4 proxy and returns the
// response body; "" when the proxy closed without an answer.
func fetch(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	resp := string(readAll(t, c))
	if resp == "" {
		return ""
	}
	_, body, ok := strings.Cut(resp, "\r\n\r\n")
	if !ok {
		t.Fatalf("response without a head end: %q", resp)
	}
	return body
}

// waitState polls (bounded, generously) until the server's Up is want.
func waitState(t *testing.T, s *Server, want bool) {
	t.Helper()
	// 20s, against checks every 20ms.
	if !eventually(10*time.Millisecond, func() bool { return s.Up() == want }) {
		t.Fatalf("server %s: Up stayed %v, want %v (status %q)", s.Name(), s.Up(), want, s.Status())
	}
}

// TestCheckHTTPDownAndUp turns an httpchk server sick and well again and
// checks its state, the HAProxy-style log lines and the check stats.
func TestCheckHTTPDownAndUp(t *testing.T) {
	be := newHCBackend(t, "s1")
	other := newHCBackend(t, "s2")
	r := startTCP(t, oneBackend{
		be: []string{"option httpchk GET /health HTTP/1.1", "http-check expect status 200"},
		servers: []string{
			"s1 " + be.addr + " check inter 20ms rise 2 fall 3",
			"s2 " + other.addr + " check inter 20ms",
		},
	}, twoCores())
	s := r.p.Backend("be").Servers[0]
	if s.Check() == nil {
		t.Fatal("no checker for a server with check")
	}
	if !eventually(10*time.Millisecond, func() bool { return be.checks.Load() >= 3 }) {
		t.Fatal("no checks reached the backend")
	}
	if !s.Up() || s.Status() != "UP" {
		t.Fatalf("healthy server: up %v status %q", s.Up(), s.Status())
	}

	be.healthy.Store(false)
	waitState(t, s, false)
	r.waitLog(t, `Server be/s1 is DOWN, reason: Layer7 wrong status, code: 500, info: "Internal Server Error", check duration: `, 1)
	r.waitLog(t, `1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.`, 1)

	be.healthy.Store(true)
	waitState(t, s, true)
	r.waitLog(t, `Server be/s1 is UP, reason: Layer7 check passed, code: 200, info: "OK", check duration: `, 1)
	r.waitLog(t, `2 active and 0 backup servers online.`, 1)

	st := r.p.Stats().Backends[0].Servers[0]
	if st.Check == nil {
		t.Fatal("no check stats")
	}
	if st.Check.Downs != 1 || st.Check.Transitions != 2 || st.Check.Failed < 3 || st.Check.Checks < 5 {
		t.Errorf("check stats %+v", *st.Check)
	}
	if st.Check.Last.Code.String() != "L7OK" || st.Check.LastChange.IsZero() {
		t.Errorf("last %+v, last change %v", st.Check.Last, st.Check.LastChange)
	}
}

// TestCheckTCPDownAndUp checks a server whose listener closes and comes
// back on the same port.
func TestCheckTCPDownAndUp(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	go acceptAndClose(ln)
	r := startTCP(t, oneBackend{servers: []string{"s1 " + addr + " check inter 20ms fall 2 rise 2"}}, host())
	s := r.p.Backend("be").Servers[0]
	if !eventually(10*time.Millisecond, func() bool { return s.CheckStats() != nil && s.CheckStats().Checks >= 2 }) {
		t.Fatal("no checks ran")
	}
	if !s.Up() {
		t.Fatalf("listening server is down: %q", s.Status())
	}
	ln.Close()
	waitState(t, s, false)
	r.waitLog(t, `Server be/s1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: `, 1)
	r.waitLog(t, `backend be has no server available!`, 1)
	if got := s.Status(); got != "DOWN" && !strings.HasPrefix(got, "DOWN ") {
		t.Errorf("status %q, want DOWN", got)
	}

	ln2, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	t.Cleanup(func() { ln2.Close() })
	go acceptAndClose(ln2)
	waitState(t, s, true)
	r.waitLog(t, `Server be/s1 is UP, reason: Layer4 check passed, check duration: `, 1)
}

// acceptAndClose accepts and closes connections until ln is closed.
func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// TestDownServerGetsNoTraffic: a server failing its checks gets no
// connection, while its healthy peer takes them all.
func TestDownServerGetsNoTraffic(t *testing.T) {
	good, bad := newHCBackend(t, "good"), newHCBackend(t, "bad")
	bad.healthy.Store(false)
	r := startTCP(t, oneBackend{
		be:      []string{"balance roundrobin", "option httpchk GET /health"},
		servers: []string{"good " + good.addr + " check inter 20ms", "bad " + bad.addr + " check inter 20ms"},
	}, twoCores())
	waitState(t, r.p.Backend("be").Servers[1], false)
	for i := range 20 {
		if got := fetch(t, r.addr); got != "good" {
			t.Fatalf("request %d answered by %q, want good", i, got)
		}
	}
	if n := bad.traffic.Load(); n != 0 {
		t.Errorf("down server got %d requests, want 0", n)
	}
	if n := good.traffic.Load(); n != 20 {
		t.Errorf("up server got %d requests, want 20", n)
	}
}

// TestBackupOnlyWhenPrimariesDown: the backup takes traffic only while
// every primary is down, and gives it back when one recovers.
func TestBackupOnlyWhenPrimariesDown(t *testing.T) {
	p1, p2, b1 := newHCBackend(t, "p1"), newHCBackend(t, "p2"), newHCBackend(t, "b1")
	r := startTCP(t, oneBackend{
		be:      []string{"option httpchk GET /health", "default-server check inter 20ms rise 2 fall 2"},
		servers: []string{"p1 " + p1.addr, "p2 " + p2.addr, "b1 " + b1.addr + " backup"},
	}, host())
	srv := r.p.Backend("be").Servers
	count := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			got[fetch(t, r.addr)]++
		}
		return got
	}
	if got := count(10); got["b1"] != 0 || got["p1"]+got["p2"] != 10 {
		t.Errorf("all up: %v, want only primaries", got)
	}
	p1.healthy.Store(false)
	waitState(t, srv[0], false)
	if got := count(10); got["p2"] != 10 {
		t.Errorf("one primary down: %v, want all on p2", got)
	}
	p2.healthy.Store(false)
	waitState(t, srv[1], false)
	r.waitLog(t, `0 active and 1 backup servers left. Running on backup.`, 1)
	if got := count(10); got["b1"] != 10 {
		t.Errorf("primaries down: %v, want all on b1", got)
	}
	p1.healthy.Store(true)
	waitState(t, srv[0], true)
	if got := count(10); got["p1"] != 10 {
		t.Errorf("p1 back: %v, want all on p1", got)
	}
	if b1.traffic.Load() != 10 {
		t.Errorf("backup got %d requests, want 10", b1.traffic.Load())
	}
}

// TestAllDownClosesAtOnce: with every server down, an L4 connection is
// closed without a byte and counted as "no server" (mode http answers
// 503 instead; that is the HTTP engine's).
func TestAllDownClosesAtOnce(t *testing.T) {
	be := newHCBackend(t, "s1")
	be.healthy.Store(false)
	r := startTCP(t, oneBackend{be: []string{"option httpchk"}, servers: []string{"s1 " + be.addr + " check inter 20ms"}}, host())
	waitState(t, r.p.Backend("be").Servers[0], false)
	if got := fetch(t, r.addr); got != "" {
		t.Errorf("got %q, want the connection closed", got)
	}
	r.waitLog(t, "be/<NOSRV>", 1)
	if be.traffic.Load() != 0 {
		t.Errorf("down server got %d requests", be.traffic.Load())
	}
	if n := r.p.Stats().Backends[0].NoServer; n != 1 {
		t.Errorf("backend NoServer = %d, want 1", n)
	}
}

// TestServerStatus checks Status and CheckStats of a checked, an
// unchecked and a disabled server.
func TestServerStatus(t *testing.T) {
	be := newHCBackend(t, "s1")
	r := startTCP(t, oneBackend{servers: []string{
		"checked " + be.addr + " check inter 20ms",
		"plain " + be.addr,
		"maint " + be.addr + " check disabled",
	}}, host())
	srv := r.p.Backend("be").Servers
	if !eventually(10*time.Millisecond, func() bool { return srv[0].CheckStats() != nil && srv[0].CheckStats().Checks != 0 }) {
		t.Fatal("no checks")
	}
	tests := []struct {
		s         *Server
		want      string
		wantCheck bool
	}{
		{srv[0], "UP", true},
		{srv[1], "no check", false},
		{srv[2], "MAINT", false},
	}
	for _, tt := range tests {
		if got := tt.s.Status(); got != tt.want {
			t.Errorf("%s: status %q, want %q", tt.s.Name(), got, tt.want)
		}
		if got := tt.s.CheckStats() != nil; got != tt.wantCheck {
			t.Errorf("%s: has check stats %v, want %v", tt.s.Name(), got, tt.wantCheck)
		}
	}
	if srv[2].Up() {
		t.Error("disabled server is up")
	}
}

// TestCheckersStopWithRun: checks stop when Run returns; a backend that
// counts checks sees none afterwards.
func TestCheckersStopWithRun(t *testing.T) {
	be := newHCBackend(t, "s1")
	t.Run("run", func(t *testing.T) {
		startTCP(t, oneBackend{be: []string{"option httpchk"}, servers: []string{"s1 " + be.addr + " check inter 10ms"}}, host())
		if !eventually(10*time.Millisecond, func() bool { return be.checks.Load() >= 2 }) {
			t.Fatal("no checks")
		}
	}) // the subtest's cleanup stops Run, which waits for the checkers
	n := be.checks.Load()
	time.Sleep(100 * time.Millisecond)
	if m := be.checks.Load(); m != n {
		t.Errorf("%d checks after Run returned", m-n)
	}
}
