package tcp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// liveness bounds how long a test waits for the stacks before it gives up;
// it is not a performance assertion.
const liveness = 20 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or ctx ends.
func eventually(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Millisecond):
		}
	}
	return true
}

var request, response = bytes.Repeat([]byte("q"), 100), bytes.Repeat([]byte("r"), 100)

// accepted is one connection a server saw.
type accepted struct {
	core   int
	remote netip.AddrPort
	err    error
}

// serve accepts on l until it is closed; each connection reads the request,
// writes the response and closes.
func serve(l net.Listener, core int, out chan<- accepted) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			a := accepted{core: core, remote: conn.RemoteAddr().(*net.TCPAddr).AddrPort()}
			buf := make([]byte, len(request))
			if _, a.err = io.ReadFull(conn, buf); a.err == nil {
				_, a.err = conn.Write(response)
			}
			if out != nil {
				out <- a
			}
		}()
	}
}

// listenAll listens on port on every core of s.
func listenAll(t testing.TB, s *Stack, port uint16, out chan<- accepted) {
	t.Helper()
	for k := range s.Cores() {
		l, err := s.Core(k).Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), port))
		if err != nil {
			t.Fatalf("core %d: Listen: %v", k, err)
		}
		t.Cleanup(func() { l.Close() })
		go serve(l, k, out)
	}
}

// exchange dials from c, sends the request, reads the response and
// closes. It returns the local address used.
func exchange(ctx context.Context, c *Core, to netip.AddrPort) (netip.AddrPort, error) {
	conn, err := c.Dial(ctx, to)
	if err != nil {
		return netip.AddrPort{}, err
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.TCPAddr).AddrPort()
	if _, err := conn.Write(request); err != nil {
		return local, err
	}
	buf := make([]byte, len(response))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return local, err
	}
	if !bytes.Equal(buf, response) {
		return local, fmt.Errorf("response %q, want %q", buf, response)
	}
	return local, nil
}

// TestConnectionsSteered runs connections from every core of B to A and
// checks that each was accepted on the core A's hash names, that each dial
// picked a port whose replies come back to the dialling core, and that no
// segment reached a core without its connection (no resets). The engines
// are gVisor or native on either side.
func TestConnectionsSteered(t *testing.T) {
	tests := []struct {
		name   string
		sa, sb Steering
		ea, eb EngineKind
	}{
		{"toeplitz2-mix2", NewToeplitzSteering(2), MixSteering{N: 2}, EngineGVisor, EngineGVisor},
		{"mix2-toeplitz2", MixSteering{N: 2}, NewToeplitzSteering(2), EngineGVisor, EngineGVisor},
		{"mix3-toeplitz4", MixSteering{N: 3}, NewToeplitzSteering(4), EngineGVisor, EngineGVisor},
		{"toeplitz1-mix1", NewToeplitzSteering(1), MixSteering{N: 1}, EngineGVisor, EngineGVisor},
		{"native/toeplitz2-native/mix2", NewToeplitzSteering(2), MixSteering{N: 2}, EngineNative, EngineNative},
		{"native/mix3-native/toeplitz4", MixSteering{N: 3}, NewToeplitzSteering(4), EngineNative, EngineNative},
		{"native/mix2-gvisor/toeplitz2", MixSteering{N: 2}, NewToeplitzSteering(2), EngineNative, EngineGVisor},
		{"gvisor/toeplitz2-native/mix2", NewToeplitzSteering(2), MixSteering{N: 2}, EngineGVisor, EngineNative},
	}
	const perCore = 8
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			p := newPairMods(t, tt.sa, tt.sb,
				func(c *Config) { c.Engine = tt.ea }, func(c *Config) { c.Engine = tt.eb })
			server := netip.AddrPortFrom(ipA, 80)
			total := perCore * tt.sb.Cores()
			acc := make(chan accepted, total)
			listenAll(t, p.a, 80, acc)

			var wg sync.WaitGroup
			for k := range tt.sb.Cores() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range perCore {
						local, err := exchange(ctx, p.b.Core(k), server)
						if err != nil {
							t.Errorf("dial from core %d: %v", k, err)
							return
						}
						reply := Flow{Src: ipA, Dst: ipB, SrcPort: 80, DstPort: local.Port()}
						if got := tt.sb.Core(reply); got != k {
							t.Errorf("core %d dialled from port %d, whose replies steer to core %d", k, local.Port(), got)
						}
					}
				}()
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			perServerCore := make([]uint64, tt.sa.Cores())
			for range total {
				var a accepted
				select {
				case a = <-acc:
				case <-ctx.Done():
					t.Fatal("servers did not finish")
				}
				if a.err != nil {
					t.Errorf("server on core %d: %v", a.core, a.err)
				}
				in := Flow{Src: a.remote.Addr(), Dst: ipA, SrcPort: a.remote.Port(), DstPort: 80}
				if want := tt.sa.Core(in); a.core != want {
					t.Errorf("connection from %s accepted on core %d, want %d", a.remote, a.core, want)
				}
				perServerCore[a.core]++
			}
			for k := range tt.sa.Cores() {
				st := p.a.Core(k).Stats()
				if st.Accepted != perServerCore[k] || p.a.Core(k).counters.Accepted.Load() != perServerCore[k] {
					t.Errorf("A core %d: stats %d, counters %d accepted, want %d", k, st.Accepted, p.a.Core(k).counters.Accepted.Load(), perServerCore[k])
				}
			}
			for k := range tt.sb.Cores() {
				st := p.b.Core(k).Stats()
				if st.Dials != perCore || st.DialFailures != 0 || p.b.Core(k).counters.Dialled.Load() != perCore {
					t.Errorf("B core %d: %d dials, %d failures, counters %d, want %d, 0", k, st.Dials, st.DialFailures, p.b.Core(k).counters.Dialled.Load(), perCore)
				}
				if st.BindAttempts != perCore {
					t.Errorf("B core %d: %d bind attempts for %d dials", k, st.BindAttempts, perCore)
				}
			}
			for name, s := range map[string]*Stack{"A": p.a, "B": p.b} {
				for k := range s.Cores() {
					if st := s.Core(k).Stats(); st.ResetsSent != 0 || st.ResetsReceived != 0 || st.Malformed != 0 {
						t.Errorf("%s core %d: %d resets sent, %d received, %d malformed, want 0 (misrouted segments)",
							name, k, st.ResetsSent, st.ResetsReceived, st.Malformed)
					}
				}
			}
			t.Logf("accepted per A core: %v", perServerCore)
		})
	}
}

// TestARPOneReply dials from B's core 1 first, so that B's core 1 sends the
// ARP request for A. Every A core sees it, only core 0 answers, and the
// reply, delivered to all of B's cores, lets core 1's dial complete.
func TestARPOneReply(t *testing.T) {
	ctx := testContext(t)
	var requestsFromB, repliesFromA atomic.Int64
	p := &pair{ab: newWire(2), ba: newWire(2)}
	countAB := func(f []byte) {
		if arpOp(f) == layers.ARPReply {
			repliesFromA.Add(1)
		}
	}
	countBA := func(f []byte) {
		if arpOp(f) == layers.ARPRequest {
			requestsFromB.Add(1)
		}
	}
	p.ab.observe.Store(&countAB)
	p.ba.observe.Store(&countBA)
	p.a = newTestStack(t, addrA, macA, NewToeplitzSteering(2), p.ab)
	p.b = newTestStack(t, addrB, macB, NewToeplitzSteering(2), p.ba)
	p.ab.start(p.b)
	p.ba.start(p.a)
	t.Cleanup(func() { p.a.Close(); p.b.Close(); p.ab.stop(); p.ba.stop() })
	listenAll(t, p.a, 80, nil)

	if _, err := exchange(ctx, p.b.Core(1), netip.AddrPortFrom(ipA, 80)); err != nil {
		t.Fatalf("dial from core 1: %v", err)
	}
	req, rep := requestsFromB.Load(), repliesFromA.Load()
	if req < 1 || rep < 1 || rep > req {
		t.Errorf("B sent %d ARP requests and A %d replies, want at most one reply per request", req, rep)
	}
	// A's core 1 may still have the request queued: its delivery races
	// with core 0's reply.
	if !eventually(ctx, func() bool { return p.a.Core(1).Stats().ARPRepliesSuppressed >= 1 }) {
		t.Errorf("A core 1 suppressed %d ARP replies, want at least 1", p.a.Core(1).Stats().ARPRepliesSuppressed)
	}
	if n := p.a.Core(0).Stats().ARPRepliesSuppressed; n != 0 {
		t.Errorf("A core 0 suppressed %d ARP replies, want 0", n)
	}
}

// TestPing sends an ICMP echo request to A as if from B and waits for the
// reply on the wire.
func TestPing(t *testing.T) {
	ctx := testContext(t)
	p := newPair(t, NewToeplitzSteering(2), NewToeplitzSteering(2))
	const id, seq = 0x4242, 7
	got := make(chan struct{}, 1)
	watch := func(f []byte) {
		pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.NoCopy)
		icmp, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if ok && icmp.TypeCode.Type() == layers.ICMPv4TypeEchoReply && icmp.Id == id && icmp.Seq == seq {
			select {
			case got <- struct{}{}:
			default:
			}
		}
	}
	p.ab.observe.Store(&watch)
	p.ba.Transmit([][]byte{icmpEcho(t, ipB, ipA, id, seq)})
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("no echo reply")
	}
}

// TestICMPErrorSteered opens a connection, then hands A an ICMP
// "fragmentation needed" quoting A's side of it, and checks that the core
// owning the connection, and only it, counted the error.
func TestICMPErrorSteered(t *testing.T) {
	ctx := testContext(t)
	p := newPair(t, NewToeplitzSteering(2), MixSteering{N: 2})
	listenAll(t, p.a, 80, nil)
	conn, err := p.b.Core(1).Dial(ctx, netip.AddrPortFrom(ipA, 80))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	bPort := conn.LocalAddr().(*net.TCPAddr).AddrPort().Port()
	owner := p.a.steering.Core(Flow{Src: ipB, Dst: ipA, SrcPort: bPort, DstPort: 80})

	before := make([]uint64, p.a.Cores())
	for k := range before {
		before[k] = p.a.Core(k).Stats().ICMPErrors
	}
	q := quote(t, netip.AddrPortFrom(ipA, 80), netip.AddrPortFrom(ipB, bPort), layers.IPProtocolTCP)
	frame := icmpError(t, ipB, ipA, layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded, q)
	k := p.a.Core(0).Steer(frame)
	if k != owner {
		t.Fatalf("Steer = %d, want owning core %d", k, owner)
	}
	p.a.Core(k).Deliver([][]byte{frame})
	for c := range before {
		want := before[c]
		if c == owner {
			want++
		}
		if got := p.a.Core(c).Stats().ICMPErrors; got != want {
			t.Errorf("core %d counted %d ICMP errors, want %d", c, got, want)
		}
	}
}

// TestMalformedDropped checks that garbage is steered to percpu.Drop and
// counted on the core that looked at it, through Steer and Deliver alike.
func TestMalformedDropped(t *testing.T) {
	p := newPair(t, NewToeplitzSteering(2), NewToeplitzSteering(2))
	c := p.a.Core(1)
	ipv4Garbage := append([]byte("garbage garb\x08\x00"), []byte("age garbage garbage garbage garbage")...)
	bad := [][]byte{nil, {1, 2, 3}, ipv4Garbage}
	for _, f := range bad {
		if k := c.Steer(f); k != percpu.Drop {
			t.Errorf("Steer(%q) = %d, want Drop", f, k)
		}
	}
	if got := c.Stats().Malformed; got != uint64(len(bad)) {
		t.Errorf("Malformed = %d after Steer, want %d", got, len(bad))
	}
	// Well-formed frames of other protocols are dropped but not malformed.
	ipv6 := append([]byte("\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x01\x86\xdd"), make([]byte, 40)...)
	if k := c.Steer(ipv6); k != percpu.Drop {
		t.Errorf("Steer(IPv6) = %d, want Drop", k)
	}
	if st := c.Stats(); st.Unsupported != 1 || st.Malformed != uint64(len(bad)) {
		t.Errorf("after an IPv6 frame: Unsupported = %d, Malformed = %d; want 1 and %d", st.Unsupported, st.Malformed, len(bad))
	}
	c.Deliver([][]byte{{1, 2, 3}})
	if got := c.Stats().Malformed; got != uint64(len(bad))+1 {
		t.Errorf("Malformed = %d after Deliver of a runt, want %d", got, len(bad)+1)
	}
	before := p.ab.steeredDrop.Load()
	p.ba.Transmit(bad) // through the switch, as a NIC would hand them over
	if got := p.ba.steeredDrop.Load(); got != uint64(len(bad)) {
		t.Errorf("switch dropped %d frames, want %d (before %d)", got, len(bad), before)
	}
}

// TestDeliverAfterClose checks frames delivered after Close are counted.
func TestDeliverAfterClose(t *testing.T) {
	p := newPair(t, MixSteering{N: 1}, MixSteering{N: 1})
	p.a.Close()
	p.a.Core(0).Deliver([][]byte{tcpFrame(t, netip.AddrPortFrom(ipB, 1000), netip.AddrPortFrom(ipA, 80))})
	if got := p.a.Core(0).Stats().DroppedDetached; got != 1 {
		t.Errorf("DroppedDetached = %d, want 1", got)
	}
}
