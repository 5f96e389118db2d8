//go:build linux

package hosted

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/bareproxy/bareproxy/tcp"
)

// frameSpec describes an Ethernet/IPv4 frame for the tests to build.
type frameSpec struct {
	flow       tcp.Flow
	proto      layers.IPProtocol // TCP, UDP or anything else
	optWords   int               // IPv4 option words: IHL is 5+optWords
	flags      layers.IPv4Flag
	fragOffset uint16
	srcMAC     net.HardwareAddr // zero means 02:00:00:00:00:02
	dstMAC     net.HardwareAddr // zero means 02:00:00:00:00:01
	payload    []byte
	icmpEcho   bool // with proto ICMPv4: an echo request
}

var (
	testApplianceMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	testKernelMAC    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
)

// buildFrame serialises s with correct lengths and checksums.
func buildFrame(t testing.TB, s frameSpec) []byte {
	t.Helper()
	src, dst := s.srcMAC, s.dstMAC
	if src == nil {
		src = testApplianceMAC
	}
	if dst == nil {
		dst = testKernelMAC
	}
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{
		Version:    4,
		TTL:        64,
		Protocol:   s.proto,
		Flags:      s.flags,
		FragOffset: s.fragOffset,
		SrcIP:      s.flow.Src.AsSlice(),
		DstIP:      s.flow.Dst.AsSlice(),
	}
	for range s.optWords {
		// Router Alert (RFC 2113): 4 bytes, so any count fits the IHL.
		ip.Options = append(ip.Options, layers.IPv4Option{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}})
	}
	ls := []gopacket.SerializableLayer{eth, ip}
	switch s.proto {
	case layers.IPProtocolTCP:
		l4 := &layers.TCP{SrcPort: layers.TCPPort(s.flow.SrcPort), DstPort: layers.TCPPort(s.flow.DstPort), SYN: true, Seq: 1, Window: 1024}
		l4.SetNetworkLayerForChecksum(ip)
		ls = append(ls, l4)
	case layers.IPProtocolUDP:
		l4 := &layers.UDP{SrcPort: layers.UDPPort(s.flow.SrcPort), DstPort: layers.UDPPort(s.flow.DstPort)}
		l4.SetNetworkLayerForChecksum(ip)
		ls = append(ls, l4)
	case layers.IPProtocolICMPv4:
		typ := uint8(layers.ICMPv4TypeDestinationUnreachable)
		if s.icmpEcho {
			typ = layers.ICMPv4TypeEchoRequest
		}
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: 7, Seq: 1})
	}
	ls = append(ls, gopacket.Payload(s.payload))
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize %+v: %v", s, err)
	}
	return buf.Bytes()
}

// modelHash is what the steering program must return for frame, written
// from the specification rather than from the program: the IPv4 TCP or UDP
// flow's tcp.MixHash when its ports are inside the frame, otherwise 0.
func modelHash(frame []byte) uint32 {
	if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
		return 0
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	switch {
	case ip[0]>>4 != 4, ihl < 20:
		return 0
	case binary.BigEndian.Uint16(ip[6:])&0x3fff != 0: // MF or offset
		return 0
	case ip[9] != 6 && ip[9] != 17:
		return 0
	case len(ip) < ihl+4:
		return 0
	}
	return tcp.MixHash(tcp.Flow{
		Src:     netip.AddrFrom4([4]byte(ip[12:16])),
		Dst:     netip.AddrFrom4([4]byte(ip[16:20])),
		SrcPort: binary.BigEndian.Uint16(ip[ihl:]),
		DstPort: binary.BigEndian.Uint16(ip[ihl+2:]),
	})
}

// parseUDP returns the flow of an Ethernet/IPv4/UDP frame.
func parseUDP(frame []byte) (tcp.Flow, bool) {
	f, proto, ok := parseFlow(frame)
	return f, ok && proto == layers.IPProtocolUDP
}

// parseFlow returns the flow and protocol of an Ethernet/IPv4 TCP or UDP
// frame.
func parseFlow(frame []byte) (tcp.Flow, layers.IPProtocol, bool) {
	if len(frame) < 14+20+8 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
		return tcp.Flow{}, 0, false
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	proto := layers.IPProtocol(ip[9])
	if (proto != layers.IPProtocolUDP && proto != layers.IPProtocolTCP) || ihl < 20 || len(ip) < ihl+8 {
		return tcp.Flow{}, 0, false
	}
	return tcp.Flow{
		Src:     netip.AddrFrom4([4]byte(ip[12:16])),
		Dst:     netip.AddrFrom4([4]byte(ip[16:20])),
		SrcPort: binary.BigEndian.Uint16(ip[ihl:]),
		DstPort: binary.BigEndian.Uint16(ip[ihl+2:]),
	}, proto, true
}
