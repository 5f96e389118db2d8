package dhcp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
)

// UDP ports (RFC 2131, 4.1).
const (
	ServerPort = 67
	ClientPort = 68
)

// Frame layout: Ethernet II, IPv4 without options, UDP (RFC 791, RFC 768).
const (
	ethHeaderLen  = 14
	ethTypeIPv4   = 0x0800
	ipv4HeaderLen = 20
	udpHeaderLen  = 8
	ipProtoUDP    = 17
	ipTTL         = 64
	ipFlagMF      = 0x2000
	ipOffsetMask  = 0x1fff

	// headersLen is every header before the DHCP message.
	headersLen = ethHeaderLen + ipv4HeaderLen + udpHeaderLen
)

// Broadcast is the limited broadcast address and Ethernet broadcast.
var (
	BroadcastAddr = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	BroadcastMAC  = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// Endpoints says who sends a frame to whom.
type Endpoints struct {
	SrcMAC, DstMAC   net.HardwareAddr
	SrcIP, DstIP     netip.Addr // zero Addr means 0.0.0.0
	SrcPort, DstPort uint16
}

// Errors ParseFrame returns; callers count them and drop the frame.
var (
	ErrNotDHCP  = errors.New("dhcp: not a UDP datagram to the wanted port")
	ErrFragment = errors.New("dhcp: fragmented IPv4 datagram")
	ErrChecksum = errors.New("dhcp: bad IPv4 or UDP checksum")
	ErrFraming  = errors.New("dhcp: bad Ethernet, IPv4 or UDP lengths")
)

// AppendFrame appends an Ethernet frame carrying payload in a UDP datagram
// from e.SrcIP:SrcPort to e.DstIP:DstPort, with both checksums computed.
func AppendFrame(b []byte, e Endpoints, payload []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, headersLen)...)
	b = append(b, payload...)
	f := b[start:]
	copy(f[0:6], e.DstMAC)
	copy(f[6:12], e.SrcMAC)
	binary.BigEndian.PutUint16(f[12:], ethTypeIPv4)

	ip := f[ethHeaderLen:]
	src, dst := as4(e.SrcIP), as4(e.DstIP)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(ipv4HeaderLen+udpHeaderLen+len(payload)))
	ip[8] = ipTTL
	ip[9] = ipProtoUDP
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(0, ip[:ipv4HeaderLen])))

	udp := ip[ipv4HeaderLen:]
	udpLen := udpHeaderLen + len(payload)
	binary.BigEndian.PutUint16(udp[0:], e.SrcPort)
	binary.BigEndian.PutUint16(udp[2:], e.DstPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	c := ^fold(pseudoSum(src, dst, udpLen) + sum(0, udp[:udpLen]))
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return b
}

// ParseFrame returns the UDP payload of an Ethernet frame carrying an
// unfragmented IPv4 UDP datagram to dstPort, and the frame's endpoints. The
// payload aliases frame. A non-zero UDP checksum is checked.
func ParseFrame(frame []byte, dstPort uint16) ([]byte, Endpoints, error) {
	var e Endpoints
	if len(frame) < headersLen {
		return nil, e, ErrNotDHCP
	}
	if binary.BigEndian.Uint16(frame[12:]) != ethTypeIPv4 {
		return nil, e, ErrNotDHCP
	}
	ip := frame[ethHeaderLen:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < ipv4HeaderLen || len(ip) < ihl+udpHeaderLen {
		return nil, e, ErrFraming
	}
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if total < ihl+udpHeaderLen || total > len(ip) {
		return nil, e, ErrFraming
	}
	if ip[9] != ipProtoUDP {
		return nil, e, ErrNotDHCP
	}
	if fo := binary.BigEndian.Uint16(ip[6:]); fo&(ipFlagMF|ipOffsetMask) != 0 {
		return nil, e, ErrFragment
	}
	if fold(sum(0, ip[:ihl])) != 0xffff {
		return nil, e, ErrChecksum
	}
	udp := ip[ihl:total]
	if binary.BigEndian.Uint16(udp[2:]) != dstPort {
		return nil, e, ErrNotDHCP
	}
	udpLen := int(binary.BigEndian.Uint16(udp[4:]))
	if udpLen < udpHeaderLen || udpLen > len(udp) {
		return nil, e, ErrFraming
	}
	udp = udp[:udpLen]
	src, dst := [4]byte(ip[12:16]), [4]byte(ip[16:20])
	if binary.BigEndian.Uint16(udp[6:]) != 0 && fold(pseudoSum(src, dst, udpLen)+sum(0, udp)) != 0xffff {
		return nil, e, ErrChecksum
	}
	e = Endpoints{
		DstMAC:  net.HardwareAddr(frame[0:6:6]),
		SrcMAC:  net.HardwareAddr(frame[6:12:12]),
		SrcIP:   netip.AddrFrom4(src),
		DstIP:   netip.AddrFrom4(dst),
		SrcPort: binary.BigEndian.Uint16(udp[0:]),
		DstPort: dstPort,
	}
	return udp[udpHeaderLen:], e, nil
}

func as4(a netip.Addr) [4]byte {
	if !a.IsValid() {
		return [4]byte{}
	}
	return a.As4()
}

// sum adds b as big-endian 16-bit words (RFC 1071), without folding.
func sum(acc uint32, b []byte) uint32 {
	for ; len(b) >= 2; b = b[2:] {
		acc += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

func pseudoSum(src, dst [4]byte, udpLen int) uint32 {
	return sum(sum(0, src[:]), dst[:]) + ipProtoUDP + uint32(udpLen)
}

// fold reduces a 32-bit one's complement sum to 16 bits.
func fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}
