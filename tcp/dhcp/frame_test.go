package dhcp

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestAppendFrameMatchesGopacket builds the same frame with gopacket and
// compares every byte, checksums included.
func TestAppendFrameMatchesGopacket(t *testing.T) {
	serverMAC := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	for _, tc := range []struct {
		name    string
		e       Endpoints
		payload []byte
	}{
		{name: "discover from 0.0.0.0", e: Endpoints{SrcMAC: testMAC, DstMAC: BroadcastMAC, DstIP: BroadcastAddr,
			SrcPort: ClientPort, DstPort: ServerPort}, payload: bytes.Repeat([]byte{0xab}, 300)},
		{name: "odd payload", e: Endpoints{SrcMAC: serverMAC, DstMAC: testMAC, SrcIP: netip.MustParseAddr("10.0.0.1"),
			DstIP: netip.MustParseAddr("10.0.0.50"), SrcPort: ServerPort, DstPort: ClientPort}, payload: []byte{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendFrame(nil, tc.e, tc.payload)
			src, dst := as4(tc.e.SrcIP), as4(tc.e.DstIP)
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ipTTL, Protocol: layers.IPProtocolUDP,
				SrcIP: net.IP(src[:]), DstIP: net.IP(dst[:])}
			udp := &layers.UDP{SrcPort: layers.UDPPort(tc.e.SrcPort), DstPort: layers.UDPPort(tc.e.DstPort)}
			udp.SetNetworkLayerForChecksum(ip)
			buf := gopacket.NewSerializeBuffer()
			err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
				&layers.Ethernet{SrcMAC: tc.e.SrcMAC, DstMAC: tc.e.DstMAC, EthernetType: layers.EthernetTypeIPv4},
				ip, udp, gopacket.Payload(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			// gopacket pads to the 60-byte Ethernet minimum; the NIC
			// does that, so AppendFrame does not.
			want := buf.Bytes()
			if len(want) > len(got) && !bytes.Equal(want[len(got):], make([]byte, len(want)-len(got))) {
				t.Errorf("gopacket padded with non-zero bytes %x", want[len(got):])
			}
			if want = want[:min(len(want), len(got))]; !bytes.Equal(got, want) {
				t.Errorf("frame differs from gopacket's\n got %x\nwant %x", got, want)
			}
			payload, e, err := ParseFrame(got, tc.e.DstPort)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(payload, tc.payload) || e.SrcPort != tc.e.SrcPort || !bytes.Equal(e.SrcMAC, tc.e.SrcMAC) {
				t.Errorf("ParseFrame = %x, %+v", payload, e)
			}
		})
	}
}

func TestParseFrameErrors(t *testing.T) {
	good := AppendFrame(nil, Endpoints{SrcMAC: testMAC, DstMAC: BroadcastMAC, SrcIP: netip.MustParseAddr("10.0.0.1"),
		DstIP: BroadcastAddr, SrcPort: ServerPort, DstPort: ClientPort}, make([]byte, 250))
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name string
		in   []byte
		port uint16
		want error
	}{
		{name: "good", in: good, port: ClientPort},
		{name: "other port", in: good, port: ServerPort, want: ErrNotDHCP},
		{name: "short", in: good[:40], port: ClientPort, want: ErrNotDHCP},
		{name: "arp", in: mutate(func(b []byte) []byte { b[12], b[13] = 0x08, 0x06; return b }), port: ClientPort, want: ErrNotDHCP},
		{name: "tcp", in: mutate(func(b []byte) []byte { b[14+9] = 6; return b }), port: ClientPort, want: ErrNotDHCP},
		{name: "ipv6 version", in: mutate(func(b []byte) []byte { b[14] = 0x65; return b }), port: ClientPort, want: ErrFraming},
		{name: "ihl 4", in: mutate(func(b []byte) []byte { b[14] = 0x44; return b }), port: ClientPort, want: ErrFraming},
		{name: "total past end", in: mutate(func(b []byte) []byte { b[16] = 0xff; return b }), port: ClientPort, want: ErrFraming},
		{name: "fragment", in: mutate(func(b []byte) []byte { b[20] = 0x20; return b }), port: ClientPort, want: ErrFragment},
		{name: "ip checksum", in: mutate(func(b []byte) []byte { b[14+8]--; return b }), port: ClientPort, want: ErrChecksum},
		{name: "udp checksum", in: mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), port: ClientPort, want: ErrChecksum},
		{name: "udp checksum zero is not checked", in: mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; b[40], b[41] = 0, 0; return b }), port: ClientPort},
		{name: "udp length past ip", in: mutate(func(b []byte) []byte { b[38] = 0xff; return b }), port: ClientPort, want: ErrFraming},
		{name: "ethernet padding after ip", in: append(append([]byte(nil), good...), 0, 0, 0, 0), port: ClientPort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseFrame(tc.in, tc.port)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("ParseFrame = %v, want %v", err, tc.want)
			}
		})
	}
}
