//go:build linux

package hosted

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/bareproxy/bareproxy/tcp"
)

// loadSteering loads the steering program or skips the test.
func loadSteering(t *testing.T) *ebpf.Program {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: loading eBPF programs needs root")
	}
	prog, err := newSteeringProgram()
	if errors.Is(err, unix.EPERM) || errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("skipping: kernel refuses eBPF socket filters: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

// runSteering runs prog on frame as the TAP device would. BPF_PROG_TEST_RUN
// pulls an Ethernet header off a socket filter's input before running it
// (net/bpf/test_run.c), while the TAP runs the program with skb->data at
// the Ethernet header; a dummy 14-byte header in front makes the two agree.
// Its type is the local experimental 0x88b5 (IEEE 802), since an IPv4 type
// makes the kernel insist on an IPv4 header behind it.
func runSteering(t *testing.T, prog *ebpf.Program, frame []byte) uint32 {
	t.Helper()
	in := make([]byte, 14+len(frame))
	in[12], in[13] = 0x88, 0xb5
	copy(in[14:], frame)
	ret, err := prog.Run(&ebpf.RunOptions{Data: in})
	if err != nil {
		t.Fatalf("run steering program: %v", err)
	}
	return ret
}

func flow(src, dst string, sport, dport uint16) tcp.Flow {
	return tcp.Flow{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sport, DstPort: dport}
}

// serialize builds a frame from gopacket layers.
func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSteeringProgramTable(t *testing.T) {
	prog := loadSteering(t)
	f1 := flow("10.0.0.1", "10.0.0.2", 40000, 80)
	f2 := flow("192.168.77.200", "172.16.5.9", 1, 65535)
	f3 := flow("255.255.255.255", "0.0.0.0", 65535, 0)
	syn := buildFrame(t, frameSpec{flow: f1, proto: layers.IPProtocolTCP})
	udpOpts := buildFrame(t, frameSpec{flow: f2, proto: layers.IPProtocolUDP, optWords: 1})

	eth := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: testApplianceMAC, DstMAC: testKernelMAC, EthernetType: typ}
	}
	arp := serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: testApplianceMAC, SourceProtAddress: net.IP{10, 0, 0, 1},
		DstHwAddress: make([]byte, 6), DstProtAddress: net.IP{10, 0, 0, 2},
	})
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
		SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
	tcp6 := &layers.TCP{SrcPort: 40000, DstPort: 80, SYN: true}
	tcp6.SetNetworkLayerForChecksum(ip6)
	ipv6 := serialize(t, eth(layers.EthernetTypeIPv6), ip6, tcp6)
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	udp4 := &layers.UDP{SrcPort: 1, DstPort: 2}
	udp4.SetNetworkLayerForChecksum(ip4)
	vlan := serialize(t, eth(layers.EthernetTypeDot1Q),
		&layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4}, ip4, udp4)
	badIHL := append([]byte(nil), syn...)
	badIHL[14] = 0x44 // IHL 4 is below the minimum
	badVersion := append([]byte(nil), syn...)
	badVersion[14] = 0x65

	tests := []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"tcp syn", syn, tcp.MixHash(f1)},
		{"udp", buildFrame(t, frameSpec{flow: f1, proto: layers.IPProtocolUDP}), tcp.MixHash(f1)},
		{"udp ihl 6", udpOpts, tcp.MixHash(f2)},
		{"tcp ihl 15", buildFrame(t, frameSpec{flow: f2, proto: layers.IPProtocolTCP, optWords: 10}), tcp.MixHash(f2)},
		{"udp all ones", buildFrame(t, frameSpec{flow: f3, proto: layers.IPProtocolUDP, optWords: 3}), tcp.MixHash(f3)},
		{"tcp dont fragment", buildFrame(t, frameSpec{flow: f1, proto: layers.IPProtocolTCP, flags: layers.IPv4DontFragment}), tcp.MixHash(f1)},
		{"first fragment", buildFrame(t, frameSpec{flow: f1, proto: layers.IPProtocolUDP, flags: layers.IPv4MoreFragments}), 0},
		{"later fragment", buildFrame(t, frameSpec{flow: f1, proto: layers.IPProtocolUDP, fragOffset: 185}), 0},
		{"last fragment", buildFrame(t, frameSpec{flow: f1, proto: layers.IPProtocolTCP, fragOffset: 1}), 0},
		{"icmp", buildFrame(t, frameSpec{flow: f1, proto: layers.IPProtocolICMPv4, payload: syn[14:42]}), 0},
		{"gre", buildFrame(t, frameSpec{flow: f1, proto: layers.IPProtocolGRE, payload: make([]byte, 8)}), 0},
		{"arp", arp, 0},
		{"ipv6 tcp", ipv6, 0},
		{"vlan udp", vlan, 0},
		{"ihl 4", badIHL, 0},
		{"version 6 in ipv4 ethertype", badVersion, 0},
		{"empty", nil, 0},
		{"ethernet only", syn[:14], 0},
		{"ip header cut", syn[:30], 0},
		{"no ports", syn[:34], 0},
		{"half the ports", syn[:36], 0},
		{"ports only", syn[:38], tcp.MixHash(f1)},
		{"options cut", udpOpts[:38], 0},
		{"ports after options cut", udpOpts[:41], 0},
		{"ports after options", udpOpts[:42], tcp.MixHash(f2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := modelHash(tt.frame); got != tt.want {
				t.Fatalf("modelHash = %#x, want %#x: the test's model is wrong", got, tt.want)
			}
			if got := runSteering(t, prog, tt.frame); got != tt.want {
				t.Errorf("program returned %#x, want %#x", got, tt.want)
			}
		})
	}
}

func TestSteeringProgramRandom(t *testing.T) {
	prog := loadSteering(t)
	rng := rand.New(rand.NewPCG(1, 2))
	protos := []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP}
	flagsFor := []layers.IPv4Flag{0, layers.IPv4DontFragment}
	const flows = 2000
	mismatches := 0
	for i := range flows {
		var src, dst [4]byte
		binary32(src[:], rng.Uint32())
		binary32(dst[:], rng.Uint32())
		f := tcp.Flow{
			Src: netip.AddrFrom4(src), Dst: netip.AddrFrom4(dst),
			SrcPort: uint16(rng.Uint32()), DstPort: uint16(rng.Uint32()),
		}
		spec := frameSpec{
			flow:     f,
			proto:    protos[rng.IntN(len(protos))],
			optWords: rng.IntN(11),
			flags:    flagsFor[rng.IntN(len(flagsFor))],
			payload:  make([]byte, rng.IntN(64)),
		}
		want := tcp.MixHash(f)
		if rng.IntN(10) == 0 { // a fragment now and then
			spec.fragOffset = uint16(1 + rng.IntN(0x1fff))
			want = 0
		}
		got := runSteering(t, prog, buildFrame(t, spec))
		if got != want {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("flow %d %+v (%s, %d option words): program %#x, want %#x", i, f, spec.proto, spec.optWords, got, want)
			}
		}
		// The kernel keeps the result as a u16 before the remainder
		// (tun_ebpf_select_queue): the queue must be MixSteering's core.
		for n := 1; n <= 8; n++ {
			if q, c := int(uint16(got)%uint16(n)), (tcp.MixSteering{N: n}).Core(f); want != 0 && q != c {
				t.Fatalf("flow %+v over %d queues: kernel queue %d, MixSteering core %d", f, n, q, c)
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d flows mismatched", mismatches, flows)
	}
}

func binary32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
