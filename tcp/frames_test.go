package tcp

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Test addresses: stack A is 10.0.0.1, stack B is 10.0.0.2.
var (
	macA  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	addrA = netip.MustParsePrefix("10.0.0.1/24")
	addrB = netip.MustParsePrefix("10.0.0.2/24")
	ipA   = addrA.Addr()
	ipB   = addrB.Addr()
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return bytes.Clone(buf.Bytes())
}

func eth(src, dst net.HardwareAddr, typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: typ}
}

func ip4(src, dst netip.Addr, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// tcpFrame is a SYN from src to dst.
func tcpFrame(t testing.TB, src, dst netip.AddrPort) []byte {
	t.Helper()
	ip := ip4(src.Addr(), dst.Addr(), layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), SYN: true, Seq: 1, Window: 65535}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, eth(macB, macA, layers.EthernetTypeIPv4), ip, tcp)
}

func udpFrame(t testing.TB, src, dst netip.AddrPort) []byte {
	t.Helper()
	ip := ip4(src.Addr(), dst.Addr(), layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, eth(macB, macA, layers.EthernetTypeIPv4), ip, udp, gopacket.Payload("hello"))
}

func icmpEcho(t testing.TB, src, dst netip.Addr, id, seq uint16) []byte {
	t.Helper()
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: id, Seq: seq}
	return serialize(t, eth(macB, macA, layers.EthernetTypeIPv4), ip4(src, dst, layers.IPProtocolICMPv4), icmp, gopacket.Payload("ping"))
}

// quote is the start of a packet this appliance sent, as an ICMP error
// quotes it: the IPv4 header and the first 8 bytes of its payload.
func quote(t testing.TB, src, dst netip.AddrPort, proto layers.IPProtocol) []byte {
	t.Helper()
	ip := ip4(src.Addr(), dst.Addr(), proto)
	var l4 gopacket.SerializableLayer
	switch proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), ACK: true, Seq: 7, Window: 100}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		l4 = tcp
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		_ = udp.SetNetworkLayerForChecksum(ip)
		l4 = udp
	default:
		l4 = &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: 1}
	}
	b := serialize(t, ip, l4, gopacket.Payload("0123456789abcdef"))
	return b[:20+8]
}

// icmpError is an ICMP error from router to dst quoting q.
func icmpError(t testing.TB, router, dst netip.Addr, typ, code uint8, q []byte) []byte {
	t.Helper()
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
	if typ == layers.ICMPv4TypeDestinationUnreachable && code == layers.ICMPv4CodeFragmentationNeeded {
		icmp.Seq = 1400 // next-hop MTU (RFC 1191)
	}
	return serialize(t, eth(macB, macA, layers.EthernetTypeIPv4), ip4(router, dst, layers.IPProtocolICMPv4), icmp, gopacket.Payload(q))
}

func arpFrame(t testing.TB, op uint16, srcMAC net.HardwareAddr, src, target netip.Addr) []byte {
	t.Helper()
	dst := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	a := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
		SourceHwAddress: srcMAC, SourceProtAddress: src.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice(),
	}
	return serialize(t, eth(srcMAC, dst, layers.EthernetTypeARP), a)
}

// arpOp returns the ARP operation of frame, or 0 if it is not ARP.
func arpOp(frame []byte) uint16 {
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.NoCopy)
	if a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
		return a.Operation
	}
	return 0
}
