package tcp

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestFastToeplitz checks the table-driven hash against the bitwise one on
// random flows, keys and table sizes.
func TestFastToeplitz(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 4, 8} {
		s := NewToeplitzSteering(n)
		if n == 3 {
			for i := range s.Key {
				s.Key[i] = byte(r.Uint32())
			}
		}
		f := newFastToeplitz(s)
		for range 2000 {
			fl := Flow{
				Src:     netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}),
				Dst:     netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}),
				SrcPort: uint16(r.Uint32()),
				DstPort: uint16(r.Uint32()),
			}
			if got, want := f.hash(fl), s.Hash(fl); got != want {
				t.Fatalf("cores=%d %+v: hash %#08x, want %#08x", n, fl, got, want)
			}
			if got, want := f.Core(fl), s.Core(fl); got != want {
				t.Fatalf("cores=%d %+v: core %d, want %d", n, fl, got, want)
			}
		}
		if f.Cores() != s.Cores() {
			t.Errorf("Cores() = %d, want %d", f.Cores(), s.Cores())
		}
	}
}
