package tcp

import (
	"net/netip"

	"github.com/bareproxy/bareproxy/percpu"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Steer implements percpu.Stack: it returns the core that owns frame,
// percpu.All for ARP, or percpu.Drop for a frame it cannot parse, which it
// counts. It reads the frame through typed header views, checking each
// length before touching a field, and does not allocate.
//
// The owner is what the NIC computes: Steering.Core of the received 4-tuple.
// The exceptions:
//   - ARP goes to every core (see linkEndpoint.suppressARPReply).
//   - ICMP errors go to the core that owns the flow they quote (icmp.go).
//   - Other ICMP (echo) and IP protocols other than TCP and UDP go to core 0.
//   - IP fragments, first or not, are steered by their addresses alone, so
//     that every fragment of a datagram meets on one core for reassembly.
//     Only a NIC that hashes fragments the same way (RSS's IPv4 2-tuple
//     type) delivers them there directly; a reassembled TCP segment that
//     then belongs to another core is answered with a RST. TCP sets DF, so
//     this is rare.
//   - VLAN tags, IPv6 and other EtherTypes are dropped, and counted apart
//     from malformed frames: they are well formed, only not spoken here.
func (c *Core) Steer(frame []byte) int {
	off := c.link.frameOffset()
	if len(frame) < off {
		c.stats.malformed.Add(1)
		return percpu.Drop
	}
	frame = frame[off:]
	k := steerFrame(c.s.steering, frame)
	if k == percpu.Drop {
		if unsupported(frame) {
			c.stats.unsupported.Add(1)
		} else {
			c.stats.malformed.Add(1)
		}
	}
	return k
}

// unsupported reports whether frame is an Ethernet frame of a protocol the
// appliance does not speak.
func unsupported(frame []byte) bool {
	if len(frame) < ethHeaderLen {
		return false
	}
	t := header.Ethernet(frame).Type()
	return t != header.ARPProtocolNumber && t != header.IPv4ProtocolNumber
}

// steerFrame is Steer without the counting.
func steerFrame(s Steering, frame []byte) int {
	if len(frame) < ethHeaderLen {
		return percpu.Drop
	}
	payload := frame[ethHeaderLen:]
	switch header.Ethernet(frame).Type() {
	case header.ARPProtocolNumber:
		if !header.ARP(payload).IsValid() {
			return percpu.Drop
		}
		return percpu.All
	case header.IPv4ProtocolNumber:
		return steerIPv4(s, payload)
	default:
		return percpu.Drop
	}
}

// steerIPv4 steers an IPv4 packet.
func steerIPv4(s Steering, b []byte) int {
	ip, hlen, ok := parseIPv4(b, false)
	if !ok {
		return percpu.Drop
	}
	if ip.More() || ip.FragmentOffset() != 0 {
		return s.Core(Flow{Src: srcAddr(ip), Dst: dstAddr(ip)})
	}
	l4 := ip[hlen:]
	switch ip.Protocol() {
	case uint8(header.TCPProtocolNumber):
		if len(l4) < header.TCPMinimumSize {
			return percpu.Drop
		}
	case uint8(header.UDPProtocolNumber):
		if len(l4) < header.UDPMinimumSize {
			return percpu.Drop
		}
	case uint8(header.ICMPv4ProtocolNumber):
		return steerICMP(s, l4)
	default:
		return 0
	}
	src, dst := ports(l4)
	return s.Core(Flow{Src: srcAddr(ip), Dst: dstAddr(ip), SrcPort: src, DstPort: dst})
}

// parseIPv4 checks the IPv4 header at the start of b and returns it with
// its header length. Unless quoted is set, the packet is also checked
// against its total length and trimmed to it (Ethernet pads short frames).
// A quoted header, the one inside an ICMP error, may be cut short after
// its first 8 payload bytes (RFC 792).
func parseIPv4(b []byte, quoted bool) (header.IPv4, int, bool) {
	if len(b) < header.IPv4MinimumSize || header.IPVersion(b) != header.IPv4Version {
		return nil, 0, false
	}
	ip := header.IPv4(b)
	hlen := int(ip.HeaderLength())
	if hlen < header.IPv4MinimumSize || hlen > len(b) {
		return nil, 0, false
	}
	if quoted {
		return ip, hlen, true
	}
	total := int(ip.TotalLength())
	if total < hlen || total > len(b) {
		return nil, 0, false
	}
	return ip[:total], hlen, true
}

// ports returns the source and destination ports at the start of a TCP or
// UDP header, which the caller has checked holds at least 4 bytes.
func ports(l4 []byte) (src, dst uint16) {
	return uint16(l4[0])<<8 | uint16(l4[1]), uint16(l4[2])<<8 | uint16(l4[3])
}

func srcAddr(ip header.IPv4) netip.Addr { return netip.AddrFrom4([4]byte(ip.SourceAddressSlice())) }
func dstAddr(ip header.IPv4) netip.Addr {
	return netip.AddrFrom4([4]byte(ip.DestinationAddressSlice()))
}
