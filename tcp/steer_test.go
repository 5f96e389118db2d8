package tcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/google/gopacket/layers"
)

type steerCase struct {
	name  string
	frame []byte
	want  func(s Steering) int
}

func fixed(k int) func(Steering) int { return func(Steering) int { return k } }

func flowOf(src, dst netip.AddrPort) func(Steering) int {
	return func(s Steering) int {
		return s.Core(Flow{Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port()})
	}
}

// mutate returns a copy of b changed by f.
func mutate(b []byte, f func(b []byte) []byte) []byte {
	return f(append([]byte(nil), b...))
}

func steerCases(t testing.TB) []steerCase {
	peer := netip.AddrPortFrom(ipB, 40123)
	us := netip.AddrPortFrom(ipA, 80)
	syn := tcpFrame(t, peer, us)
	ipOff := ethHeaderLen
	return []steerCase{
		{"arp request", arpFrame(t, layers.ARPRequest, macB, ipB, ipA), fixed(percpu.All)},
		{"arp reply", arpFrame(t, layers.ARPReply, macB, ipB, ipA), fixed(percpu.All)},
		{"arp truncated", arpFrame(t, layers.ARPRequest, macB, ipB, ipA)[:ethHeaderLen+20], fixed(percpu.Drop)},
		{"tcp", syn, flowOf(peer, us)},
		{"tcp other ports", tcpFrame(t, netip.AddrPortFrom(ipB, 5), netip.AddrPortFrom(ipA, 65535)),
			flowOf(netip.AddrPortFrom(ipB, 5), netip.AddrPortFrom(ipA, 65535))},
		{"tcp padded frame", append(append([]byte(nil), syn...), make([]byte, 30)...), flowOf(peer, us)},
		{"udp", udpFrame(t, peer, netip.AddrPortFrom(ipA, 514)), flowOf(peer, netip.AddrPortFrom(ipA, 514))},
		{"icmp echo", icmpEcho(t, ipB, ipA, 7, 1), fixed(0)},
		{"icmp error quoting tcp",
			icmpError(t, ipB, ipA, layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded, quote(t, us, peer, layers.IPProtocolTCP)),
			flowOf(peer, us)},
		{"icmp error quoting udp",
			icmpError(t, netip.MustParseAddr("10.0.0.254"), ipA, layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort, quote(t, netip.AddrPortFrom(ipA, 33333), peer, layers.IPProtocolUDP)),
			flowOf(peer, netip.AddrPortFrom(ipA, 33333))},
		{"icmp time exceeded quoting tcp",
			icmpError(t, netip.MustParseAddr("10.0.0.254"), ipA, layers.ICMPv4TypeTimeExceeded, 0, quote(t, us, peer, layers.IPProtocolTCP)),
			flowOf(peer, us)},
		{"icmp parameter problem quoting tcp",
			icmpError(t, ipB, ipA, layers.ICMPv4TypeParameterProblem, 0, quote(t, us, peer, layers.IPProtocolTCP)),
			flowOf(peer, us)},
		{"icmp source quench quoting tcp",
			icmpError(t, ipB, ipA, layers.ICMPv4TypeSourceQuench, 0, quote(t, us, peer, layers.IPProtocolTCP)),
			flowOf(peer, us)},
		{"icmp error quoting icmp",
			icmpError(t, ipB, ipA, layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeHost, quote(t, us, peer, layers.IPProtocolICMPv4)),
			fixed(0)},
		{"icmp error quote cut in ports",
			icmpError(t, ipB, ipA, layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeHost, quote(t, us, peer, layers.IPProtocolTCP)[:22]),
			fixed(percpu.Drop)},
		{"icmp error quote cut in header",
			icmpError(t, ipB, ipA, layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeHost, quote(t, us, peer, layers.IPProtocolTCP)[:12]),
			fixed(percpu.Drop)},
		{"icmp error quote not ipv4",
			icmpError(t, ipB, ipA, layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeHost, make([]byte, 28)),
			fixed(percpu.Drop)},
		{"icmp truncated", icmpEcho(t, ipB, ipA, 7, 1)[:ethHeaderLen+20+4], fixed(percpu.Drop)},
		{"first fragment", mutate(syn, func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[ipOff+6:], 0x2000) // MF, offset 0
			return b
		}), flowOf(netip.AddrPortFrom(ipB, 0), netip.AddrPortFrom(ipA, 0))},
		{"later fragment", mutate(syn, func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[ipOff+6:], 185) // offset 1480
			return b
		}), flowOf(netip.AddrPortFrom(ipB, 0), netip.AddrPortFrom(ipA, 0))},
		{"other ip protocol", mutate(syn, func(b []byte) []byte { b[ipOff+9] = 47; return b }), fixed(0)},
		{"empty", nil, fixed(percpu.Drop)},
		{"runt", syn[:10], fixed(percpu.Drop)},
		{"ethernet only", syn[:ethHeaderLen], fixed(percpu.Drop)},
		{"ip header truncated", syn[:ethHeaderLen+19], fixed(percpu.Drop)},
		{"tcp truncated", syn[:ethHeaderLen+20+19], fixed(percpu.Drop)},
		{"total length beyond frame", mutate(syn, func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[ipOff+2:], 1500)
			return b
		}), fixed(percpu.Drop)},
		{"total length below header", mutate(syn, func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[ipOff+2:], 12)
			return b
		}), fixed(percpu.Drop)},
		{"tcp cut by total length", mutate(syn, func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[ipOff+2:], 30)
			return b
		}), fixed(percpu.Drop)},
		{"ihl too small", mutate(syn, func(b []byte) []byte { b[ipOff] = 0x44; return b }), fixed(percpu.Drop)},
		{"ihl beyond frame", mutate(syn, func(b []byte) []byte { b[ipOff] = 0x4f; return b[:ethHeaderLen+40] }), fixed(percpu.Drop)},
		{"ip version 6 in ipv4 frame", mutate(syn, func(b []byte) []byte { b[ipOff] = 0x65; return b }), fixed(percpu.Drop)},
		{"ipv6 ethertype", mutate(syn, func(b []byte) []byte { b[12], b[13] = 0x86, 0xdd; return b }), fixed(percpu.Drop)},
		{"vlan tag", mutate(syn, func(b []byte) []byte { b[12], b[13] = 0x81, 0x00; return b }), fixed(percpu.Drop)},
		{"garbage", []byte("this is not an ethernet frame at all, honestly"), fixed(percpu.Drop)},
		{"garbage with ipv4 type", mutate(syn, func(b []byte) []byte {
			for i := ipOff; i < len(b); i++ {
				b[i] = 0xff
			}
			return b
		}), fixed(percpu.Drop)},
	}
}

func TestSteer(t *testing.T) {
	steerings := []Steering{MixSteering{N: 3}, NewToeplitzSteering(4), MixSteering{N: 1}}
	for _, s := range steerings {
		fast := fastSteering(s)
		for _, tt := range steerCases(t) {
			t.Run(fmt.Sprintf("%T/%d/%s", s, s.Cores(), tt.name), func(t *testing.T) {
				want := tt.want(s)
				if got := steerFrame(fast, tt.frame); got != want {
					t.Errorf("steerFrame = %d, want %d", got, want)
				}
			})
		}
	}
}

// TestSteerSpreads guards the table above against a steering that sends
// everything to one core, which would make the flow cases vacuous.
func TestSteerSpreads(t *testing.T) {
	s := NewToeplitzSteering(4)
	seen := map[int]bool{}
	for p := range uint16(64) {
		seen[steerFrame(s, tcpFrame(t, netip.AddrPortFrom(ipB, 40000+p), netip.AddrPortFrom(ipA, 80)))] = true
	}
	if len(seen) != 4 {
		t.Errorf("64 flows reached cores %v, want all 4", seen)
	}
}

func TestSteerAllocs(t *testing.T) {
	s := fastSteering(NewToeplitzSteering(4))
	frames := [][]byte{
		tcpFrame(t, netip.AddrPortFrom(ipB, 40000), netip.AddrPortFrom(ipA, 80)),
		icmpError(t, ipB, ipA, layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeHost,
			quote(t, netip.AddrPortFrom(ipA, 80), netip.AddrPortFrom(ipB, 40000), layers.IPProtocolTCP)),
		arpFrame(t, layers.ARPRequest, macB, ipB, ipA),
	}
	for _, f := range frames {
		if n := testing.AllocsPerRun(100, func() { steerFrame(s, f) }); n != 0 {
			t.Errorf("steerFrame allocates %v times per frame, want 0", n)
		}
	}
}

func FuzzSteer(f *testing.F) {
	for _, tt := range steerCases(f) {
		f.Add(tt.frame)
	}
	s := NewToeplitzSteering(4)
	f.Fuzz(func(t *testing.T, frame []byte) {
		got := steerFrame(s, frame)
		if got != percpu.All && got != percpu.Drop && (got < 0 || got >= s.Cores()) {
			t.Fatalf("steerFrame = %d, want a core, All or Drop", got)
		}
		if got == percpu.All && (len(frame) < ethHeaderLen || frame[12] != 0x08 || frame[13] != 0x06) {
			t.Fatalf("steerFrame = All for a frame that is not ARP")
		}
	})
}

func BenchmarkSteer(b *testing.B) {
	frame := tcpFrame(b, netip.AddrPortFrom(ipB, 40000), netip.AddrPortFrom(ipA, 80))
	for _, s := range []Steering{MixSteering{N: 2}, NewToeplitzSteering(2), fastSteering(NewToeplitzSteering(2))} {
		b.Run(fmt.Sprintf("%T", s), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				steerFrame(s, frame)
			}
		})
	}
}
