package tcp

import (
	"fmt"
	"net/netip"
	"testing"
)

func portSteerings() []Steering {
	var out []Steering
	for _, n := range []int{1, 2, 3, 4, 8} {
		out = append(out, MixSteering{N: n}, NewToeplitzSteering(n))
	}
	return out
}

// TestPortPicker checks Receive Flow Deliver: every port picked for core k
// steers the reply flow back to k, under both steerings and several core
// counts, and from several starting offsets.
func TestPortPicker(t *testing.T) {
	remotes := []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.9:80"),
		netip.MustParseAddrPort("192.168.7.200:8443"),
	}
	local := netip.MustParseAddr("10.0.0.2")
	for _, s := range portSteerings() {
		for _, remote := range remotes {
			t.Run(fmt.Sprintf("%T/cores=%d/%s", s, s.Cores(), remote), func(t *testing.T) {
				h := newPortHasher(fastSteering(s))
				flows := h.flows(remote, local)
				for k := range s.Cores() {
					for _, start := range []uint32{0, 1, 12345, ephemeralCount - 1, 1 << 31} {
						off := start
						for range 20 {
							p, after, _, ok := flows.next(k, off, ephemeralCount)
							if !ok {
								t.Fatalf("core %d: no port from offset %d", k, off)
							}
							if p < ephemeralFirst || p > ephemeralLast {
								t.Fatalf("core %d: port %d outside [%d, %d]", k, p, ephemeralFirst, ephemeralLast)
							}
							reply := Flow{Src: remote.Addr(), Dst: local, SrcPort: remote.Port(), DstPort: p}
							if got := s.Core(reply); got != k {
								t.Fatalf("core %d picked port %d, whose reply steers to core %d", k, p, got)
							}
							off = after
						}
					}
				}
			})
		}
	}
}

// TestPortHasherMatchesSteering checks the precomputed Toeplitz tables
// against the hash itself for every port in the range.
func TestPortHasherMatchesSteering(t *testing.T) {
	remote, local := netip.MustParseAddrPort("172.16.5.4:3306"), netip.MustParseAddr("10.0.0.2")
	for _, s := range []Steering{NewToeplitzSteering(3), MixSteering{N: 3}} {
		h := newPortHasher(fastSteering(s))
		flows := h.flows(remote, local)
		for p := ephemeralFirst; p <= ephemeralLast; p++ {
			reply := Flow{Src: remote.Addr(), Dst: local, SrcPort: remote.Port(), DstPort: uint16(p)}
			if got, want := flows.core(uint16(p)), s.Core(reply); got != want {
				t.Fatalf("%T: port %d: core %d, want %d", s, p, got, want)
			}
		}
	}
}

// TestPortPickerBounded checks that a search for a core no port reaches
// ends after one pass over the range.
func TestPortPickerBounded(t *testing.T) {
	h := newPortHasher(MixSteering{N: 2})
	flows := h.flows(netip.MustParseAddrPort("10.0.0.9:80"), netip.MustParseAddr("10.0.0.2"))
	if _, _, scanned, ok := flows.next(5, 0, ephemeralCount); ok || scanned != ephemeralCount {
		t.Errorf("next(core 5) = ok %v after %d ports, want not ok after %d", ok, scanned, ephemeralCount)
	}
}

func TestPortPickerAllocs(t *testing.T) {
	for _, s := range []Steering{NewToeplitzSteering(4), MixSteering{N: 4}} {
		h := newPortHasher(fastSteering(s))
		remote, local := netip.MustParseAddrPort("10.0.0.9:80"), netip.MustParseAddr("10.0.0.2")
		n := testing.AllocsPerRun(100, func() {
			flows := h.flows(remote, local)
			flows.next(3, 100, ephemeralCount)
		})
		if n != 0 {
			t.Errorf("%T: picking a port allocates %v times, want 0", s, n)
		}
	}
}

// BenchmarkPortPick measures one pick (prepare the dial's flows, find the
// next port for core 1 of 4).
func BenchmarkPortPick(b *testing.B) {
	remote, local := netip.MustParseAddrPort("10.0.0.9:80"), netip.MustParseAddr("10.0.0.2")
	for _, s := range []Steering{NewToeplitzSteering(4), MixSteering{N: 4}} {
		b.Run(fmt.Sprintf("%T", s), func(b *testing.B) {
			h := newPortHasher(fastSteering(s))
			b.ReportAllocs()
			var off uint32
			for b.Loop() {
				flows := h.flows(remote, local)
				_, off, _, _ = flows.next(1, off, ephemeralCount)
			}
		})
	}
}
