package tcp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/percpu"
)

// TestDialRefused checks that a RST to the SYN comes back as ErrRefused.
func TestDialRefused(t *testing.T) {
	ctx := testContext(t)
	p := newPair(t, NewToeplitzSteering(2), MixSteering{N: 2})
	_, err := p.b.Core(1).Dial(ctx, netip.AddrPortFrom(ipA, 81))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("Dial to a closed port: %v, want ErrRefused", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("error %v is not a dial *net.OpError", err)
	}
	if st := p.b.Core(1).Stats(); st.DialFailures != 1 {
		t.Errorf("DialFailures = %d, want 1", st.DialFailures)
	}
}

// TestDialCancelled checks that a dial to a host that never answers ends
// with its context.
func TestDialCancelled(t *testing.T) {
	p := newPair(t, MixSteering{N: 1}, MixSteering{N: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.b.Core(0).Dial(ctx, netip.MustParseAddrPort("10.0.0.77:80"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial to a silent host: %v, want context.DeadlineExceeded", err)
	}
}

// TestDialTimeout checks that DialTimeout ends a dial that gets no answer
// with an error matching context.DeadlineExceeded, on both engines: once
// the neighbour answers ARP but not the SYN, and once nothing answers ARP.
func TestDialTimeout(t *testing.T) {
	for _, engine := range []EngineKind{EngineGVisor, EngineNative} {
		for _, silent := range []string{"SYN", "ARP"} {
			t.Run(engine.String()+"/unanswered "+silent, func(t *testing.T) {
				p := newPairWith(t, MixSteering{N: 1}, MixSteering{N: 1}, func(c *Config) { c.Engine = engine })
				to := netip.MustParseAddrPort("10.0.0.77:80")
				if silent == "SYN" {
					listenAll(t, p.a, 80, nil)
					to = netip.AddrPortFrom(ipA, 80)
					if _, err := exchange(testContext(t), p.b.Core(0), to); err != nil {
						t.Fatalf("warm-up exchange: %v", err)
					}
					p.ba.to.Store(nil) // B's frames go nowhere from now on
				}
				start := time.Now()
				c, err := p.b.Core(0).DialTimeout(context.Background(), to, 50*time.Millisecond)
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("DialTimeout = %v, %v; want context.DeadlineExceeded", c, err)
				}
				if d := time.Since(start); d > 900*time.Millisecond {
					t.Errorf("DialTimeout took %v, with a limit of 50ms", d)
				}
			})
		}
	}
}

// TestDialUDPSteered sends a datagram from B's core 1 to a closed port on
// A. A answers with ICMP port unreachable, which quotes B's datagram, so B
// must steer it to core 1: the source port was picked for that.
func TestDialUDPSteered(t *testing.T) {
	ctx := testContext(t)
	p := newPair(t, NewToeplitzSteering(2), NewToeplitzSteering(2))
	conn, err := p.b.Core(1).DialUDP(netip.AddrPortFrom(ipA, 514))
	if err != nil {
		t.Fatalf("DialUDP: %v", err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	if got := p.b.steering.Core(Flow{Src: ipA, Dst: ipB, SrcPort: 514, DstPort: local.Port()}); got != 1 {
		t.Fatalf("DialUDP on core 1 picked port %d, whose replies steer to core %d", local.Port(), got)
	}
	if _, err := conn.Write([]byte("<14>hello")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !eventually(ctx, func() bool { return p.b.Core(1).Stats().ICMPErrors == 1 }) {
		t.Fatalf("B core 1 counted %d ICMP errors, want 1", p.b.Core(1).Stats().ICMPErrors)
	}
	if n := p.b.Core(0).Stats().ICMPErrors; n != 0 {
		t.Errorf("B core 0 counted %d ICMP errors, want 0", n)
	}
}

// TestSetAddress moves A to a new address, with each engine; a listener on
// 0.0.0.0 keeps accepting there (the native engine's listeners move to the
// engines rebuilt on the new address) and serves every core's dial.
func TestSetAddress(t *testing.T) {
	for _, engine := range []EngineKind{EngineGVisor, EngineNative} {
		t.Run(engine.String(), func(t *testing.T) {
			ctx := testContext(t)
			p := newPairWith(t, NewToeplitzSteering(2), NewToeplitzSteering(2), func(c *Config) { c.Engine = engine })
			listenAll(t, p.a, 80, nil)
			moved := netip.MustParsePrefix("10.0.0.3/24")
			if err := p.a.SetAddress(moved, netip.MustParseAddr("10.0.0.254")); err != nil {
				t.Fatalf("SetAddress: %v", err)
			}
			if got, gw := p.a.Address(); got != moved || gw != netip.MustParseAddr("10.0.0.254") {
				t.Errorf("Address() = %v, %v", got, gw)
			}
			for k := range p.b.Cores() {
				if _, err := exchange(ctx, p.b.Core(k), netip.AddrPortFrom(moved.Addr(), 80)); err != nil {
					t.Errorf("dial from core %d to the new address: %v", k, err)
				}
			}
			if err := p.a.SetAddress(moved, netip.MustParseAddr("192.168.1.1")); err == nil {
				t.Errorf("SetAddress with an off-subnet gateway succeeded")
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	links := []Link{newWire(1), newWire(1)}
	good := Config{Addr: addrA, MAC: macA, Steering: MixSteering{N: 2}, Links: links}
	tests := []struct {
		name string
		edit func(c *Config)
	}{
		{"no address", func(c *Config) { c.Addr = netip.Prefix{} }},
		{"ipv6 address", func(c *Config) { c.Addr = netip.MustParsePrefix("fd00::1/64") }},
		{"gateway off subnet", func(c *Config) { c.Gateway = netip.MustParseAddr("10.1.0.1") }},
		{"short MAC", func(c *Config) { c.MAC = macA[:4] }},
		{"tiny MTU", func(c *Config) { c.MTU = 100 }},
		{"huge MTU", func(c *Config) { c.MTU = maxMTU + 1 }},
		{"no steering", func(c *Config) { c.Steering = nil }},
		{"no links", func(c *Config) { c.Links = nil; c.Steering = MixSteering{N: 1} }},
		{"steering mismatch", func(c *Config) { c.Steering = MixSteering{N: 3} }},
		{"counters mismatch", func(c *Config) { c.Counters = []*percpu.Counters{{}} }},
		{"negative TIME_WAIT", func(c *Config) { c.TimeWait = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			s, err := New(cfg)
			if err == nil {
				s.Close()
				t.Fatalf("New accepted %+v", cfg)
			}
		})
	}
	s, err := New(good)
	if err != nil {
		t.Fatalf("New(good): %v", err)
	}
	s.Close()
	s.Close() // idempotent
}
