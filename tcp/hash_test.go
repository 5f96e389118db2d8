package tcp

import (
	"net/netip"
	"testing"
)

// The vectors are from Microsoft's "Verifying the RSS Hash Calculation",
// IPv4 with TCP ports, for the default key.
func TestToeplitzVerificationVectors(t *testing.T) {
	tests := []struct {
		src, dst string
		want     uint32
	}{
		{"66.9.149.187:2794", "161.142.100.80:1766", 0x51ccc178},
		{"199.92.111.2:14230", "65.69.140.83:4739", 0xc626b0ea},
		{"24.19.198.95:12898", "12.22.207.184:38024", 0x5c2b394a},
		{"38.27.205.30:48228", "209.142.163.6:2217", 0xafc7327f},
		{"153.39.163.191:44251", "202.188.127.2:1303", 0x10e828a2},
	}
	s := NewToeplitzSteering(1)
	for _, tt := range tests {
		src, dst := netip.MustParseAddrPort(tt.src), netip.MustParseAddrPort(tt.dst)
		f := Flow{Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port()}
		if got := s.Hash(f); got != tt.want {
			t.Errorf("Hash(%s -> %s) = %#08x, want %#08x", tt.src, tt.dst, got, tt.want)
		}
	}
}

// Linux's connect picks even source ports, so a hash that ignores bit 0 of
// the port, or in which the port reaches only high bits, leaves queues idle.
func TestMixSteeringSpreadsEvenSourcePorts(t *testing.T) {
	for _, n := range []int{2, 3, 4} {
		counts := make([]int, n)
		s := MixSteering{N: n}
		for port := uint16(32768); port < 32768+2000; port += 2 {
			f := Flow{Src: netip.MustParseAddr("10.77.0.10"), Dst: netip.MustParseAddr("10.77.0.2"), SrcPort: port, DstPort: 80}
			counts[s.Core(f)]++
		}
		for core, c := range counts {
			if share := float64(c) / 1000; share < 0.8/float64(n) {
				t.Errorf("N=%d: core %d got %d of 1000 flows from even ports, want about %d", n, core, c, 1000/n)
			}
		}
	}
}
