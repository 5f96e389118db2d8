package tcp

import (
	"github.com/bareproxy/bareproxy/percpu"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// isICMPErrorType reports whether t is an ICMP error that quotes the packet
// which caused it (RFC 792): destination unreachable, source quench, time
// exceeded, parameter problem.
func isICMPErrorType(t header.ICMPv4Type) bool {
	switch t {
	case header.ICMPv4DstUnreachable, header.ICMPv4SrcQuench, header.ICMPv4TimeExceeded, header.ICMPv4ParamProblem:
		return true
	}
	return false
}

// steerICMP steers an ICMP message. Errors carry no ports of their own, so
// they go to the core that owns the flow they quote. The quoted packet is
// one this appliance sent (source us, destination the peer), so its
// received flow is the quote with both ends swapped. Everything else, echo
// requests included, goes to core 0: every core has the address, so any
// fixed core can answer.
func steerICMP(s Steering, b []byte) int {
	if len(b) < header.ICMPv4MinimumSize {
		return percpu.Drop
	}
	if !isICMPErrorType(header.ICMPv4(b).Type()) {
		return 0
	}
	ip, hlen, ok := parseIPv4(b[header.ICMPv4MinimumSize:], true)
	if !ok {
		return percpu.Drop
	}
	peer, us := dstAddr(ip), srcAddr(ip)
	if ip.FragmentOffset() != 0 {
		return s.Core(Flow{Src: peer, Dst: us})
	}
	switch ip.Protocol() {
	case uint8(header.TCPProtocolNumber), uint8(header.UDPProtocolNumber):
	default:
		return 0
	}
	if len(ip) < hlen+4 {
		return percpu.Drop
	}
	ourPort, peerPort := ports(ip[hlen:])
	return s.Core(Flow{Src: peer, Dst: us, SrcPort: peerPort, DstPort: ourPort})
}

// isICMPError reports whether an Ethernet frame carries an ICMP error. It is
// Deliver's cheap check for counting; Steer has validated the frame.
func isICMPError(frame []byte) bool {
	if len(frame) < ethHeaderLen+header.IPv4MinimumSize ||
		header.Ethernet(frame).Type() != header.IPv4ProtocolNumber {
		return false
	}
	ip := header.IPv4(frame[ethHeaderLen:])
	hlen := int(ip.HeaderLength())
	if ip.Protocol() != uint8(header.ICMPv4ProtocolNumber) || hlen < header.IPv4MinimumSize ||
		len(ip) <= hlen || ip.FragmentOffset() != 0 {
		return false
	}
	return isICMPErrorType(header.ICMPv4Type(ip[hlen]))
}
