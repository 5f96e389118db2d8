package tcp

import (
	"errors"
	"net/netip"
	"testing"
)

// TestNativeConfig checks what New refuses, that
// SetAddress may change the gateway alone, and the engine names.
func TestNativeConfig(t *testing.T) {
	native := func(c *Config) { c.Engine = EngineNative }
	if _, err := New(Config{Addr: addrA, MAC: macA, Steering: MixSteering{N: 1}, Links: []Link{newWire(1)}, Engine: 7}); err == nil {
		t.Error("New accepted engine 7")
	}
	p := newPairWith(t, MixSteering{N: 2}, MixSteering{N: 2}, native)
	gw := netip.MustParseAddr("10.0.0.254")
	if err := p.a.SetAddress(addrA, gw); err != nil {
		t.Errorf("SetAddress(same address, gateway %v): %v", gw, err)
	}
	for _, tt := range []struct {
		name string
		want EngineKind
		ok   bool
	}{{"gvisor", EngineGVisor, true}, {"native", EngineNative, true}, {"lwip", 0, false}} {
		got, err := ParseEngineKind(tt.name)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseEngineKind(%q) = %v, %v", tt.name, got, err)
		}
		if tt.ok && got.String() != tt.name {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

// TestNativeRefused dials a port nobody listens on: the engine answers the
// SYN with a RST of its own (engine.Config.ResetUnknown: the core's gVisor
// stack has no TCP) and the dial fails with ErrRefused.
func TestNativeRefused(t *testing.T) {
	ctx := testContext(t)
	native := func(c *Config) { c.Engine = EngineNative }
	p := newPairWith(t, MixSteering{N: 2}, MixSteering{N: 2}, native)
	_, err := p.b.Core(1).Dial(ctx, netip.AddrPortFrom(ipA, 81))
	if !errors.Is(err, ErrRefused) {
		t.Errorf("dial to a closed port: %v, want ErrRefused", err)
	}
	if st := p.b.Core(1).Stats(); st.Dials != 1 || st.DialFailures != 1 {
		t.Errorf("B core 1: %d dials, %d failures, want 1, 1", st.Dials, st.DialFailures)
	}
}
