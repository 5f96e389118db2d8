package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// TestSchedule checks the smooth weighted round-robin order of server
// indexes, reduced by the weights' gcd and leaving backups out.
func TestSchedule(t *testing.T) {
	tests := []struct {
		weights []int
		backup  []bool
		want    []int32
	}{
		{[]int{1, 1, 1}, nil, []int32{0, 1, 2}},
		{[]int{2, 1}, nil, []int32{0, 1, 0}},
		{[]int{5, 1, 1}, nil, []int32{0, 0, 1, 0, 2, 0, 0}}, // smooth: no run of five
		{[]int{4, 2}, nil, []int32{0, 1, 0}},                // divided by the gcd
		{[]int{0, 3}, nil, []int32{1}},
		{[]int{1, 1, 1}, []bool{false, true, false}, []int32{0, 2}},
	}
	for _, tt := range tests {
		var servers []*Server
		for i, w := range tt.weights {
			c := &config.Server{Weight: w}
			if tt.backup != nil {
				c.Backup = tt.backup[i]
			}
			servers = append(servers, &Server{Config: c, Index: i})
		}
		if got := schedule(servers, false); !slices.Equal(got, tt.want) {
			t.Errorf("schedule(%v) = %v, want %v", tt.weights, got, tt.want)
		}
	}
}

// TestPick covers balancing decisions without the network.
func TestPick(t *testing.T) {
	mk := func(alg config.Algorithm, servers ...config.Server) *Backend {
		bc := &config.Backend{Name: "b", Settings: config.Settings{Balance: config.Balance{Algorithm: alg}}}
		bc.Servers = servers
		b := &Backend{Config: bc}
		for i := range bc.Servers {
			s := &Server{Config: &bc.Servers[i], Backend: b, Index: i, counters: make([]counters, 2)}
			s.up.Store(!bc.Servers[i].Disabled)
			b.Servers = append(b.Servers, s)
		}
		b.initBalancers(2)
		return b
	}
	srv := func(name string, w int) config.Server { return config.Server{Name: name, Weight: w} }
	names := func(b *Backend, core, n int, key uint64, hasKey bool) string {
		var out []string
		for range n {
			s := b.pick(core, key, hasKey, nil)
			if s == nil {
				out = append(out, "-")
				continue
			}
			out = append(out, s.Name())
		}
		return strings.Join(out, " ")
	}
	t.Run("cores start at different offsets", func(t *testing.T) {
		b := mk(config.RoundRobin, srv("a", 1), srv("b", 1))
		if got0, got1 := names(b, 0, 2, 0, false), names(b, 1, 2, 0, false); got0 != "a b" || got1 != "b a" {
			t.Errorf("core 0 %q, core 1 %q", got0, got1)
		}
	})
	t.Run("down servers are skipped, backups used last", func(t *testing.T) {
		bk := srv("bk", 1)
		bk.Backup = true
		b := mk(config.RoundRobin, srv("a", 1), srv("b", 1), bk)
		b.Servers[0].SetUp(false)
		if got := names(b, 0, 3, 0, false); got != "b b b" {
			t.Errorf("got %q, want b b b", got)
		}
		b.Servers[1].SetUp(false)
		if got := names(b, 0, 2, 0, false); got != "bk bk" {
			t.Errorf("got %q, want bk bk", got)
		}
		b.Servers[2].SetUp(false)
		if got := names(b, 0, 1, 0, false); got != "-" {
			t.Errorf("got %q, want no server", got)
		}
	})
	t.Run("maxconn full servers are skipped", func(t *testing.T) {
		a := srv("a", 1)
		a.MaxConn = 1
		b := mk(config.RoundRobin, a, srv("b", 1))
		b.Servers[0].counters[1].cur.Add(1) // one open on the other core
		if got := names(b, 0, 2, 0, false); got != "b b" {
			t.Errorf("got %q, want b b", got)
		}
	})
	t.Run("leastconn", func(t *testing.T) {
		b := mk(config.LeastConn, srv("a", 1), srv("b", 1), srv("c", 2))
		b.Servers[0].counters[0].cur.Add(3)
		b.Servers[1].counters[0].cur.Add(1)
		b.Servers[2].counters[0].cur.Add(3) // (3+1)/2 = 2 per weight
		if got := names(b, 0, 1, 0, false); got != "b" {
			t.Errorf("got %q, want b", got)
		}
	})
	t.Run("first", func(t *testing.T) {
		a := srv("a", 1)
		a.MaxConn = 2
		b := mk(config.First, a, srv("b", 1))
		if got := names(b, 0, 1, 0, false); got != "a" {
			t.Errorf("got %q, want a", got)
		}
		b.Servers[0].counters[0].cur.Add(2)
		if got := names(b, 0, 1, 0, false); got != "b" {
			t.Errorf("got %q, want b once a is full", got)
		}
	})
	t.Run("source hashing is stable across cores", func(t *testing.T) {
		b := mk(config.Source, srv("a", 1), srv("b", 1), srv("c", 1))
		for _, key := range []string{"10.0.0.1", "10.0.0.2", "192.168.7.9"} {
			h := hashKey([]byte(key))
			if x, y := names(b, 0, 3, h, true), names(b, 1, 1, h, true); x != strings.Repeat(y+" ", 3)[:len(x)] {
				t.Errorf("key %s: core 0 %q, core 1 %q", key, x, y)
			}
		}
	})
	t.Run("retry avoids the tried server", func(t *testing.T) {
		b := mk(config.RoundRobin, srv("a", 1), srv("b", 1))
		first := b.pick(0, 0, false, nil)
		if again := b.pick(0, 0, false, []*Server{first}); again == first {
			t.Errorf("retry picked %s again", first.Name())
		}
		if only := mk(config.RoundRobin, srv("a", 1)); only.pick(0, 0, false, []*Server{only.Servers[0]}) != only.Servers[0] {
			t.Errorf("a lone server is not retried")
		}
	})
}

// TestTCPLogFormat checks "option tcplog" lines against literal ones.
func TestTCPLogFormat(t *testing.T) {
	fc := &config.Frontend{Name: "fe"}
	bc := &config.Backend{Name: "be"}
	p := &Proxy{global: make([]counters, 2)}
	fe := &Frontend{Config: fc, counters: make([]counters, 2)}
	be := &Backend{Config: bc, counters: make([]counters, 2)}
	srv := &Server{Config: &config.Server{Name: "s1"}, Backend: be, counters: make([]counters, 2)}
	p.global[0].cur.Add(3)
	p.global[1].cur.Add(2)
	fe.counters[1].cur.Add(4)
	be.counters[0].cur.Add(2)
	srv.counters[0].cur.Add(1)
	acc := time.Date(2026, time.November, 3, 9, 5, 7, 123456789, time.UTC)
	s := &Session{Proxy: p, Frontend: fe, Src: netip.MustParseAddrPort("10.0.0.1:34567"), Accepted: acc}
	tests := []struct {
		name string
		e    connLog
		want string
	}{
		{"normal", connLog{s: s, be: be, srv: srv, tc: 1500 * time.Microsecond, connected: true, bytesIn: 10, bytesOut: 1234, term: [2]byte{'-', '-'}},
			"10.0.0.1:34567 [03/Nov/2026:09:05:07.123] fe be/s1 0/1/120 1234 -- 5/4/2/1/0 0/0"},
		{"connect failed after retries", connLog{s: s, be: be, srv: srv, retries: 3, term: [2]byte{'S', 'C'}},
			"10.0.0.1:34567 [03/Nov/2026:09:05:07.123] fe be/s1 0/-1/120 0 SC 5/4/2/1/3 0/0"},
		{"no server", connLog{s: s, be: be, term: [2]byte{'S', 'C'}},
			"10.0.0.1:34567 [03/Nov/2026:09:05:07.123] fe be/<NOSRV> 0/-1/120 0 SC 5/4/2/0/0 0/0"},
		{"no backend", connLog{s: s, term: [2]byte{'P', 'R'}},
			"10.0.0.1:34567 [03/Nov/2026:09:05:07.123] fe fe/<NOSRV> -1/-1/120 0 PR 5/4/0/0/0 0/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendTCPLog(nil, &tt.e, acc.Add(120*time.Millisecond))); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestEvalCondition evaluates the rules' conditions (ACL names, anonymous
// ACLs, or, negation, unless, predefined ACLs) on samples.
func TestEvalCondition(t *testing.T) {
	src := `frontend f
    bind :80
    acl api path_beg /api
    acl host hdr(host) -i Example.COM
    acl dom hdr_dom(host) example.com
    acl img path_end .png .jpg
    acl re path_reg ^/v[0-9]+/
    acl lan src 10.0.0.0/8
    acl web dst_port 80 443
    acl get method GET
    acl dir path_dir images
    http-request deny if api host
    http-request deny if !api or lan
    http-request deny unless img
    http-request deny if re dom
    http-request deny if { src 10.1.0.0/16 } web
    http-request deny if METH_GET dir
    http-request deny if TRUE !FALSE
    default_backend b
backend b
    server s 10.0.0.1:80
`
	cfg, _, err := config.Parse("t.cfg", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	fe := cfg.Frontends[0]
	hdr := func(kv ...string) func(string) []string {
		return func(name string) []string {
			var out []string
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == name {
					out = append(out, kv[i+1])
				}
			}
			return out
		}
	}
	httpSmp := func(path string, kv ...string) *Sample {
		return &Sample{Src: netip.MustParseAddr("192.0.2.1"), DstPort: 8080, HTTP: true, Method: "GET", Path: path, URL: path, Header: hdr(kv...)}
	}
	tests := []struct {
		rule int
		smp  *Sample
		want bool
	}{
		{0, httpSmp("/api/x", "host", "example.com"), true},
		{0, httpSmp("/api/x", "host", "other.com"), false},
		{0, httpSmp("/web", "host", "example.com"), false},
		{1, httpSmp("/web"), true},
		{1, &Sample{Src: netip.MustParseAddr("10.2.3.4")}, true}, // L4: !api (no sample) is true
		{1, &Sample{Src: netip.MustParseAddr("192.0.2.1"), HTTP: true, Path: "/api"}, false},
		{2, httpSmp("/a.png"), false},
		{2, httpSmp("/a.gif"), true},
		{3, httpSmp("/v2/x", "host", "www.example.com"), true},
		{3, httpSmp("/v2/x", "host", "notexample.com"), false},
		{3, httpSmp("/vx/x", "host", "example.com"), false},
		{4, &Sample{Src: netip.MustParseAddr("10.1.2.3"), DstPort: 443}, true},
		{4, &Sample{Src: netip.MustParseAddr("10.1.2.3"), DstPort: 8443}, false},
		{4, &Sample{Src: netip.MustParseAddr("10.2.2.3"), DstPort: 80}, false},
		{5, httpSmp("/static/images/a.png"), true},
		{5, httpSmp("/static/imagesx/a.png"), false},
		{6, &Sample{}, true},
	}
	for _, tt := range tests {
		r := fe.HTTPRequest[tt.rule]
		if got := EvalCondition(r.Cond, fe.ACLs, tt.smp); got != tt.want {
			t.Errorf("rule %d (line %d) on %+v = %v, want %v", tt.rule, r.Line, *tt.smp, got, tt.want)
		}
	}
	if !EvalCondition(nil, nil, &Sample{}) {
		t.Error("nil condition is not true")
	}
}

// addrConn answers RemoteAddr and LocalAddr only.
type addrConn struct {
	net.Conn
	remote, local net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }
func (c addrConn) LocalAddr() net.Addr  { return c.local }

// addrPortConn also gives its addresses as AddrPorts, which must win.
type addrPortConn struct {
	addrConn
	remote, local netip.AddrPort
}

func (c addrPortConn) RemoteAddrPort() netip.AddrPort { return c.remote }
func (c addrPortConn) LocalAddrPort() netip.AddrPort  { return c.local }

func TestConnAddrs(t *testing.T) {
	client := netip.MustParseAddrPort("10.0.0.1:40000")
	server := netip.MustParseAddrPort("10.0.0.2:80")
	mapped := func(ap netip.AddrPort) net.Addr {
		return &net.TCPAddr{IP: net.IP(ap.Addr().AsSlice()).To16(), Port: int(ap.Port())}
	}
	tests := []struct {
		name                string
		conn                net.Conn
		wantRemote, wantLoc netip.AddrPort
	}{
		{"net.Addr, IPv4-mapped", addrConn{remote: mapped(client), local: mapped(server)}, client, server},
		{"no addresses", addrConn{}, netip.AddrPort{}, netip.AddrPort{}},
		{"AddrPorts first", addrPortConn{addrConn{remote: mapped(server), local: mapped(client)}, client, server}, client, server},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote, local := connAddrs(tt.conn)
			if remote != tt.wantRemote || local != tt.wantLoc {
				t.Errorf("connAddrs = %v, %v; want %v, %v", remote, local, tt.wantRemote, tt.wantLoc)
			}
		})
	}
}

// dialRecorder is a Network that records how it was asked to dial.
type dialRecorder struct {
	deadline time.Time // of Dial's context; zero if none
	dialled  bool
}

func (n *dialRecorder) Listen(netip.AddrPort) (net.Listener, error) {
	return nil, errors.ErrUnsupported
}

func (n *dialRecorder) Dial(ctx context.Context, _ netip.AddrPort) (net.Conn, error) {
	n.dialled = true
	n.deadline, _ = ctx.Deadline()
	return nil, errors.ErrUnsupported
}

// timeoutRecorder also takes the limit directly, which must win.
type timeoutRecorder struct {
	dialRecorder
	timeout time.Duration
	called  bool
}

func (n *timeoutRecorder) DialTimeout(_ context.Context, _ netip.AddrPort, d time.Duration) (net.Conn, error) {
	n.called, n.timeout = true, d
	return nil, errors.ErrUnsupported
}

func TestSessionDialTimeout(t *testing.T) {
	addr := netip.MustParseAddrPort("10.0.0.20:80")
	for _, limit := range []time.Duration{0, 5 * time.Second} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			plain := &dialRecorder{}
			s := &Session{Net: plain, ctx: context.Background()}
			start := time.Now()
			s.dialTimeout(addr, limit)
			switch {
			case !plain.dialled:
				t.Errorf("plain Network: Dial not called")
			case limit == 0 && !plain.deadline.IsZero():
				t.Errorf("plain Network: context has a deadline %v without a limit", plain.deadline)
			case limit > 0 && (plain.deadline.Before(start.Add(limit)) || plain.deadline.After(time.Now().Add(limit))):
				t.Errorf("plain Network: context deadline %v, want %v from the call", plain.deadline, limit)
			}
			direct := &timeoutRecorder{}
			s.Net = direct
			s.dialTimeout(addr, limit)
			if !direct.called || direct.dialled || direct.timeout != limit {
				t.Errorf("timeout Network: DialTimeout called %v with %v, Dial called %v; want DialTimeout with %v only",
					direct.called, direct.timeout, direct.dialled, limit)
			}
		})
	}
}

func TestExtendDeadline(t *testing.T) {
	const idle = 8 * time.Second
	now := time.Now()
	tests := []struct {
		name string
		idle time.Duration
		dead time.Time
		set  bool
	}{
		{"no timeout", 0, time.Time{}, false},
		{"first call", idle, time.Time{}, true},
		{"fresh deadline", idle, now.Add(idle), false},
		{"less than an eighth behind", idle, now.Add(idle - idle/16), false},
		{"more than an eighth behind", idle, now.Add(idle - idle/4), true},
		{"passed", idle, now.Add(-time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dead := tt.dead
			var got time.Time
			calls := 0
			extendDeadline(tt.idle, &dead, func(d time.Time) error { got = d; calls++; return nil })
			if (calls == 1) != tt.set || calls > 1 {
				t.Fatalf("set called %d times, want set=%v", calls, tt.set)
			}
			if tt.set && (got != dead || got.Before(now.Add(idle)) || got.After(time.Now().Add(idle))) {
				t.Errorf("deadline set to %v (kept %v), want now+%v", got, dead, idle)
			}
		})
	}
}
