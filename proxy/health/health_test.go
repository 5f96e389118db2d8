package health

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var testAddr = netip.MustParseAddrPort("10.0.0.2:8080")

// fakeDialer is an in-memory Dialer: each Dial runs serve on the far end
// of a pipe, or fails with err, or blocks until ctx is done when hang.
type fakeDialer struct {
	mu    sync.Mutex
	err   error
	hang  bool
	serve func(c net.Conn)
	dials atomic.Int64
	wg    sync.WaitGroup
}

func (d *fakeDialer) set(err error, hang bool, serve func(net.Conn)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err, d.hang, d.serve = err, hang, serve
}

func (d *fakeDialer) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	d.dials.Add(1)
	d.mu.Lock()
	err, hang, serve := d.err, d.hang, d.serve
	d.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ctx.Err()}
	}
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(addr), Err: err}
	}
	a, b := net.Pipe()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer b.Close()
		if serve != nil {
			serve(b)
		}
	}()
	return a, nil
}

// netDialer dials with the kernel.
type netDialer struct{}

func (netDialer) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp4", addr.String())
}

var refused = &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}

// answer reads the request head and writes resp.
func answer(resp string) func(net.Conn) {
	return func(c net.Conn) {
		readHead(c)
		io.WriteString(c, resp)
	}
}

func readHead(c net.Conn) string {
	br := bufio.NewReader(c)
	var sb strings.Builder
	for {
		l, err := br.ReadString('\n')
		sb.WriteString(l)
		if err != nil || l == "\r\n" {
			return sb.String()
		}
	}
}

func TestRecordRiseFall(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		seq        string // p = pass, f = fail
		want       string // u/d after each step
		wantTrans  uint64
		wantStatus string
	}{
		{"first failure takes a fresh server down", 2, 3, "f", "d", 1, "DOWN"},
		{"first pass makes a fresh server fully up", 2, 3, "p", "u", 0, "UP"},
		{"fall after full health", 2, 3, "pfff", "uuud", 1, "DOWN"},
		{"interrupted fall", 2, 3, "pffpff", "uuuuuu", 0, "UP 1/3"},
		{"rise needs consecutive passes", 2, 3, "fpfpp", "ddddu", 2, "UP"},
		{"rise 3", 3, 2, "fppp", "dddu", 2, "UP"},
		{"going up status", 3, 2, "fpp", "ddd", 1, "DOWN 2/3"},
		{"rise 1 fall 1 flaps", 1, 1, "fpfp", "dudu", 4, "UP"},
		{"failures while down stay down", 2, 3, "fffff", "ddddd", 1, "DOWN"},
		{"full cycle", 2, 2, "ppffpp", "uuuddu", 2, "UP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var changes []bool
			c, err := New(Config{Dialer: &fakeDialer{}, Rise: tt.rise, Fall: tt.fall,
				OnChange: func(up bool, _ Result) { changes = append(changes, up) }})
			if err != nil {
				t.Fatal(err)
			}
			if !c.Up() {
				t.Fatal("a fresh checker is down, want up")
			}
			var got strings.Builder
			for _, s := range tt.seq {
				r := Result{Code: L4OK}
				if s == 'f' {
					r = Result{Code: L4Conn}
				}
				c.Record(r)
				if c.Up() {
					got.WriteByte('u')
				} else {
					got.WriteByte('d')
				}
			}
			if got.String() != tt.want {
				t.Errorf("states %q, want %q", got.String(), tt.want)
			}
			st := c.Stats()
			if st.Transitions != tt.wantTrans || uint64(len(changes)) != tt.wantTrans {
				t.Errorf("transitions %d, callbacks %d, want %d", st.Transitions, len(changes), tt.wantTrans)
			}
			if st.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", st.Status, tt.wantStatus)
			}
			if st.Checks != uint64(len(tt.seq)) || st.Failed != uint64(strings.Count(tt.seq, "f")) {
				t.Errorf("checks %d failed %d, want %d %d", st.Checks, st.Failed, len(tt.seq), strings.Count(tt.seq, "f"))
			}
		})
	}
}

func TestInterval(t *testing.T) {
	c, _ := New(Config{Dialer: &fakeDialer{}, Inter: 4 * time.Second, FastInter: time.Second, DownInter: 8 * time.Second})
	steps := []struct {
		pass bool
		want time.Duration
	}{
		{true, 4 * time.Second},  // fully up
		{false, time.Second},     // going down
		{false, time.Second},     // still going down (health 1 of 3)
		{false, 8 * time.Second}, // fully down
		{true, time.Second},      // going up
		{true, 4 * time.Second},  // up again
	}
	if got := c.interval(); got != time.Second {
		t.Errorf("before the first check: %v, want fastinter", got)
	}
	for i, s := range steps {
		r := Result{Code: L4OK}
		if !s.pass {
			r.Code = L4Conn
		}
		c.Record(r)
		if got := c.interval(); got != s.want {
			t.Errorf("step %d: interval %v, want %v", i, got, s.want)
		}
	}
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name     string
		http     *HTTPCheck
		err      error
		hang     bool
		serve    func(net.Conn)
		want     Code
		wantCode int
		wantInfo string
	}{
		{name: "tcp ok", want: L4OK},
		{name: "tcp refused", err: refused, want: L4Conn, wantInfo: "Connection refused"},
		{name: "tcp timeout", hang: true, want: L4Timeout},
		{name: "http 200", http: &HTTPCheck{}, serve: answer("HTTP/1.0 200 OK\r\n\r\n"), want: L7OK, wantCode: 200, wantInfo: "OK"},
		{name: "http 302 default", http: &HTTPCheck{}, serve: answer("HTTP/1.1 302 Found\r\n\r\n"), want: L7OK, wantCode: 302, wantInfo: "Found"},
		{name: "http 500", http: &HTTPCheck{}, serve: answer("HTTP/1.1 500 Internal Server Error\r\n\r\n"), want: L7Status, wantCode: 500, wantInfo: "Internal Server Error"},
		{name: "http 404 default", http: &HTTPCheck{}, serve: answer("HTTP/1.1 404 Not Found\r\n\r\n"), want: L7Status, wantCode: 404, wantInfo: "Not Found"},
		{name: "expect 204 got 200", http: &HTTPCheck{Statuses: [][2]int{{204, 204}}}, serve: answer("HTTP/1.1 200 OK\r\n\r\n"), want: L7Status, wantCode: 200, wantInfo: "OK"},
		{name: "expect range", http: &HTTPCheck{Statuses: [][2]int{{200, 204}, {404, 404}}}, serve: answer("HTTP/1.1 404 Nope\r\n\r\n"), want: L7OK, wantCode: 404, wantInfo: "Nope"},
		{name: "expect ! 503", http: &HTTPCheck{Negate: true, Statuses: [][2]int{{503, 503}}}, serve: answer("HTTP/1.1 500 x\r\n\r\n"), want: L7OK, wantCode: 500, wantInfo: "x"},
		{name: "expect ! 503 got 503", http: &HTTPCheck{Negate: true, Statuses: [][2]int{{503, 503}}}, serve: answer("HTTP/1.1 503 x\r\n\r\n"), want: L7Status, wantCode: 503, wantInfo: "x"},
		{name: "no reason", http: &HTTPCheck{}, serve: answer("HTTP/1.1 200\r\n\r\n"), want: L7OK, wantCode: 200},
		{name: "string match", http: &HTTPCheck{String: "alive"}, serve: answer("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nI'm alive"), want: L7OK, wantCode: 200, wantInfo: "OK"},
		{name: "string mismatch", http: &HTTPCheck{String: "alive"}, serve: answer("HTTP/1.1 200 OK\r\n\r\ndead"), want: L7Response, wantCode: 200, wantInfo: "response body does not match"},
		{name: "garbage", http: &HTTPCheck{}, serve: answer("SSH-2.0-OpenSSH\r\n"), want: L7Response, wantInfo: "invalid or missing HTTP status line"},
		{name: "closed without answer", http: &HTTPCheck{}, serve: func(c net.Conn) { readHead(c) }, want: L7Response, wantInfo: "invalid or missing HTTP status line"},
		{name: "no answer", http: &HTTPCheck{}, serve: func(c net.Conn) { readHead(c); time.Sleep(time.Second) }, want: L7Timeout},
		{name: "http refused", http: &HTTPCheck{}, err: refused, want: L4Conn, wantInfo: "Connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDialer{err: tt.err, hang: tt.hang, serve: tt.serve}
			t.Cleanup(d.wg.Wait)
			c, err := New(Config{Backend: "be", Server: "s1", Addr: testAddr, Dialer: d, Inter: 200 * time.Millisecond, HTTP: tt.http})
			if err != nil {
				t.Fatal(err)
			}
			r := c.Check(context.Background())
			if r.Code != tt.want || r.HTTPStatus != tt.wantCode || r.Info != tt.wantInfo {
				t.Errorf("got %v code %d info %q, want %v code %d info %q", r.Code, r.HTTPStatus, r.Info, tt.want, tt.wantCode, tt.wantInfo)
			}
			if r.End.IsZero() || r.Duration < 0 {
				t.Errorf("end %v duration %v", r.End, r.Duration)
			}
		})
	}
}

func TestCheckTimeoutSplitsConnectAndRead(t *testing.T) {
	// With timeout check, connect is bounded by min(timeout connect,
	// inter) and the read by timeout check: a read slower than inter but
	// within timeout check passes.
	d := &fakeDialer{serve: func(c net.Conn) {
		readHead(c)
		time.Sleep(150 * time.Millisecond)
		io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\n")
	}}
	t.Cleanup(d.wg.Wait)
	c, _ := New(Config{Dialer: d, Addr: testAddr, HTTP: &HTTPCheck{}, Inter: 50 * time.Millisecond, CheckTimeout: 5 * time.Second, ConnectTimeout: time.Hour})
	if r := c.Check(context.Background()); r.Code != L7OK {
		t.Errorf("with timeout check: %v %q, want L7OK", r.Code, r.Info)
	}
	c, _ = New(Config{Dialer: d, Addr: testAddr, HTTP: &HTTPCheck{}, Inter: 50 * time.Millisecond})
	if r := c.Check(context.Background()); r.Code != L7Timeout {
		t.Errorf("without timeout check: %v %q, want L7TOUT (inter bounds the check)", r.Code, r.Info)
	}
}

func TestRequest(t *testing.T) {
	tests := []struct {
		name string
		h    HTTPCheck
		want string
		err  bool
	}{
		{"defaults", HTTPCheck{}, "OPTIONS / HTTP/1.0\r\nConnection: close\r\n\r\n", false},
		{"get 1.1 adds host", HTTPCheck{Method: "GET", URI: "/health", Version: "HTTP/1.1"},
			"GET /health HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nConnection: close\r\n\r\n", false},
		{"old style host", HTTPCheck{Method: "GET", URI: "/h", Version: "HTTP/1.1\r\nHost: www"},
			"GET /h HTTP/1.1\r\nHost: www\r\nConnection: close\r\n\r\n", false},
		{"old style two headers", HTTPCheck{Method: "HEAD", URI: "/", Version: "HTTP/1.0\r\nUser-Agent: hc\r\nX-A: b"},
			"HEAD / HTTP/1.0\r\nUser-Agent: hc\r\nX-A: b\r\nConnection: close\r\n\r\n", false},
		{"blank in uri", HTTPCheck{URI: "/a b"}, "", true},
		{"bad version", HTTPCheck{Version: "SPDY/3"}, "", true},
		{"bad header", HTTPCheck{Version: "HTTP/1.1\r\nnocolon"}, "", true},
		{"bare lf in header", HTTPCheck{Version: "HTTP/1.1\r\nA: b\nc: d"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			d := &fakeDialer{serve: func(c net.Conn) {
				got = readHead(c)
				io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\n")
			}}
			c, err := New(Config{Dialer: d, Addr: testAddr, HTTP: &tt.h, Inter: time.Second})
			if tt.err {
				if err == nil {
					t.Fatalf("New accepted %+v", tt.h)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.Check(context.Background())
			d.wg.Wait()
			if got != tt.want {
				t.Errorf("request %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	got := make(chan string, 1)
	d := &fakeDialer{serve: func(c net.Conn) {
		b := make([]byte, 15)
		io.ReadFull(c, b)
		got <- string(b)
	}}
	t.Cleanup(d.wg.Wait)
	c, _ := New(Config{Dialer: d, Addr: testAddr, Prefix: []byte("PROXY UNKNOWN\r\n")})
	if r := c.Check(context.Background()); r.Code != L4OK {
		t.Errorf("got %v %q", r.Code, r.Info)
	}
	if s := <-got; s != "PROXY UNKNOWN\r\n" {
		t.Errorf("server read %q", s)
	}
}

func TestAppendReason(t *testing.T) {
	tests := []struct {
		r    Result
		want string
	}{
		{Result{Code: L4Conn, Info: "Connection refused"}, `, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms`},
		{Result{Code: L4Timeout, Duration: 2001 * time.Millisecond}, `, reason: Layer4 timeout, check duration: 2001ms`},
		{Result{Code: L7Status, HTTPStatus: 500, Info: "Internal Server Error", Duration: 3 * time.Millisecond},
			`, reason: Layer7 wrong status, code: 500, info: "Internal Server Error", check duration: 3ms`},
		{Result{Code: L7OK, HTTPStatus: 200, Info: "OK"}, `, reason: Layer7 check passed, code: 200, info: "OK", check duration: 0ms`},
		{Result{Code: L7Response, Info: "a\"b\x01"}, `, reason: Layer7 invalid response, info: "a\"b\x01", check duration: 0ms`},
	}
	for _, tt := range tests {
		if got := string(tt.r.AppendReason(nil)); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func TestErrInfo(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: refused}, "Connection refused"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("tcp: host unreachable")}, "Host unreachable"},
		{io.EOF, "EOF"},
	}
	for _, tt := range tests {
		if got := errInfo(tt.err); got != tt.want {
			t.Errorf("errInfo(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in     string
		status int
		reason string
		body   string
		ok     bool
	}{
		{"HTTP/1.1 200 OK\r\n\r\nbody", 200, "OK", "body", true},
		{"HTTP/1.0 503 Service Unavailable\r\n", 503, "Service Unavailable", "", true},
		{"HTTP/1.1 204\r\n", 204, "", "", true},
		{"HTTP/1.1 200 OK\n\nlf", 200, "OK", "lf", true},
		{"HTTP/1.1 200 OK", 0, "", "", false}, // no end of line yet
		{"HTTP/1.1 20 OK\r\n", 0, "", "", false},
		{"HTTP/1.1 2000 OK\r\n", 0, "", "", false},
		{"HTTP/1.1 099 x\r\n", 0, "", "", false},
		{"HTTP/11 200 OK\r\n", 0, "", "", false},
		{"http/1.1 200 OK\r\n", 0, "", "", false},
		{"\r\n", 0, "", "", false},
		{"", 0, "", "", false},
	}
	for _, tt := range tests {
		st, reason, body, ok := parseStatus([]byte(tt.in))
		if st != tt.status || reason != tt.reason || string(body) != tt.body || ok != tt.ok {
			t.Errorf("parseStatus(%q) = %d %q %q %v, want %d %q %q %v", tt.in, st, reason, body, ok, tt.status, tt.reason, tt.body, tt.ok)
		}
	}
}

// TestRun drives a checker with its own schedule against a fake server
// that fails and recovers: it goes down and comes back, with one callback
// each way. Waits are bounded polls, not timing assertions.
func TestRun(t *testing.T) {
	d := &fakeDialer{}
	var mu sync.Mutex
	var changes []bool
	c, err := New(Config{Backend: "be", Server: "s1", Addr: testAddr, Dialer: d, Inter: 5 * time.Millisecond, Rise: 2, Fall: 2,
		OnChange: func(up bool, r Result) {
			mu.Lock()
			changes = append(changes, up)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 0) }()
	t.Cleanup(func() { cancel(); <-done; d.wg.Wait() })

	waitFor(t, "first checks", func() bool { return c.Stats().Checks >= 3 })
	if !c.Up() {
		t.Fatal("down while the server answers")
	}
	d.set(refused, false, nil)
	waitFor(t, "down", func() bool { return !c.Up() })
	d.set(nil, false, nil)
	waitFor(t, "up", func() bool { return c.Up() })
	mu.Lock()
	got := append([]bool(nil), changes...)
	mu.Unlock()
	if len(got) != 2 || got[0] || !got[1] {
		t.Errorf("changes %v, want [false true]", got)
	}
	st := c.Stats()
	if st.Downs != 1 || st.Transitions != 2 || st.Failed < 2 || st.Downtime <= 0 {
		t.Errorf("stats %+v", st)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 2000 {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewNeedsDialer(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a dialer succeeded")
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.0 503\r\n", "HTTP/1.1 2", "", "\n", "HTTP/9.9 999 \r\n\r\n\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, _, body, ok := parseStatus(b)
		if ok && (st < 100 || st > 999 || len(body) > len(b)) {
			t.Fatalf("status %d body %d of %d", st, len(body), len(b))
		}
	})
}
