package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// BOOTP/DHCP message layout (RFC 2131, 2, figure 1).
const (
	offOp     = 0
	offHType  = 1
	offHLen   = 2
	offHops   = 3
	offXID    = 4
	offSecs   = 8
	offFlags  = 10
	offCIAddr = 12
	offYIAddr = 16
	offSIAddr = 20
	offGIAddr = 24
	offCHAddr = 28  // 16 bytes
	offSName  = 44  // 64 bytes
	offFile   = 108 // 128 bytes
	offCookie = 236
	offOpts   = 240

	// MinMessageSize is the fixed part and the magic cookie.
	MinMessageSize = offOpts
	// MaxMessageSize is the largest message this package builds or
	// accepts: it fits a 1500-byte MTU with IPv4 and UDP headers.
	MaxMessageSize = 1500 - 20 - 8

	hTypeEthernet = 1
	magicCookie   = 0x63825363 // 99.130.83.99 (RFC 2131, 3)

	// FlagBroadcast asks the server to broadcast its replies (RFC 2131, 2).
	FlagBroadcast = 0x8000
)

// Op codes (RFC 2131, 2).
const (
	OpRequest = 1 // BOOTREQUEST
	OpReply   = 2 // BOOTREPLY
)

// MessageType is option 53 (RFC 2132, 9.6).
type MessageType byte

// Message types.
const (
	Discover MessageType = 1
	Offer    MessageType = 2
	Request  MessageType = 3
	Decline  MessageType = 4
	Ack      MessageType = 5
	Nak      MessageType = 6
	Release  MessageType = 7
	Inform   MessageType = 8
)

var typeNames = [...]string{"", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM"}

// String returns the RFC name, such as "OFFER".
func (t MessageType) String() string {
	if int(t) < len(typeNames) && t != 0 {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", byte(t))
}

// Option codes (RFC 2132).
const (
	OptPad         = 0
	OptSubnetMask  = 1
	OptRouter      = 3
	OptDNS         = 6
	OptHostname    = 12
	OptRequestedIP = 50
	OptLeaseTime   = 51
	OptMessageType = 53
	OptServerID    = 54
	OptParamList   = 55
	OptMessage     = 56
	OptMaxSize     = 57
	OptRenewalT1   = 58
	OptRebindingT2 = 59
	OptClientID    = 61
	OptEnd         = 255
)

// Option is one option's code and data.
type Option struct {
	Code byte
	Data []byte
}

// Message is a DHCP message. Addresses are IPv4; the zero netip.Addr stands
// for 0.0.0.0.
type Message struct {
	Op     byte
	XID    uint32
	Secs   uint16
	Flags  uint16
	CIAddr netip.Addr // client's current address (RENEWING, BOUND)
	YIAddr netip.Addr // "your" address, offered or assigned
	SIAddr netip.Addr // next server (boot), unused here
	GIAddr netip.Addr // relay agent
	CHAddr net.HardwareAddr
	// Type is option 53; zero means absent (plain BOOTP).
	Type MessageType
	// Options are the other options in order, without pad and end. Parse
	// makes Data slices of its input.
	Options []Option
}

// Errors Parse returns; callers count them and drop the message.
var (
	ErrShort     = errors.New("dhcp: message shorter than 240 bytes")
	ErrCookie    = errors.New("dhcp: no magic cookie")
	ErrTruncated = errors.New("dhcp: option runs past the end of the message")
	ErrHardware  = errors.New("dhcp: not an Ethernet hardware address")
)

// Parse decodes a DHCP message. Option data and CHAddr alias b.
func Parse(b []byte) (*Message, error) {
	if len(b) < MinMessageSize {
		return nil, ErrShort
	}
	if binary.BigEndian.Uint32(b[offCookie:]) != magicCookie {
		return nil, ErrCookie
	}
	if b[offHType] != hTypeEthernet || b[offHLen] != 6 {
		return nil, ErrHardware
	}
	m := &Message{
		Op:     b[offOp],
		XID:    binary.BigEndian.Uint32(b[offXID:]),
		Secs:   binary.BigEndian.Uint16(b[offSecs:]),
		Flags:  binary.BigEndian.Uint16(b[offFlags:]),
		CIAddr: addrAt(b, offCIAddr),
		YIAddr: addrAt(b, offYIAddr),
		SIAddr: addrAt(b, offSIAddr),
		GIAddr: addrAt(b, offGIAddr),
		CHAddr: net.HardwareAddr(b[offCHAddr : offCHAddr+6 : offCHAddr+6]),
	}
	opts := b[offOpts:]
	for len(opts) > 0 {
		code := opts[0]
		if code == OptEnd {
			break
		}
		if code == OptPad {
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			return nil, ErrTruncated
		}
		data := opts[2 : 2+int(opts[1]) : 2+int(opts[1])]
		opts = opts[2+len(data):]
		if code == OptMessageType {
			if len(data) == 1 {
				m.Type = MessageType(data[0])
			}
			continue
		}
		m.Options = append(m.Options, Option{Code: code, Data: data})
	}
	return m, nil
}

// addrAt reads an IPv4 address; 0.0.0.0 becomes the zero Addr.
func addrAt(b []byte, off int) netip.Addr {
	a := netip.AddrFrom4([4]byte(b[off : off+4]))
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// Append encodes m after b: the fixed part, the magic cookie, option 53 when
// Type is set, the options and an end option. It fails when an option's data
// exceeds 255 bytes, CHAddr is not 6 bytes, an address is not IPv4 or the
// message would exceed MaxMessageSize.
func (m *Message) Append(b []byte) ([]byte, error) {
	if len(m.CHAddr) != 6 {
		return b, fmt.Errorf("dhcp: hardware address %q is not 6 bytes", m.CHAddr.String())
	}
	start := len(b)
	b = append(b, make([]byte, offOpts)...)
	p := b[start:]
	p[offOp] = m.Op
	p[offHType] = hTypeEthernet
	p[offHLen] = 6
	binary.BigEndian.PutUint32(p[offXID:], m.XID)
	binary.BigEndian.PutUint16(p[offSecs:], m.Secs)
	binary.BigEndian.PutUint16(p[offFlags:], m.Flags)
	for _, f := range []struct {
		off  int
		addr netip.Addr
	}{{offCIAddr, m.CIAddr}, {offYIAddr, m.YIAddr}, {offSIAddr, m.SIAddr}, {offGIAddr, m.GIAddr}} {
		if !f.addr.IsValid() {
			continue
		}
		if !f.addr.Is4() {
			return b[:start], fmt.Errorf("dhcp: address %q is not IPv4", f.addr.String())
		}
		a := f.addr.As4()
		copy(p[f.off:], a[:])
	}
	copy(p[offCHAddr:], m.CHAddr)
	binary.BigEndian.PutUint32(p[offCookie:], magicCookie)
	if m.Type != 0 {
		b = append(b, OptMessageType, 1, byte(m.Type))
	}
	for _, o := range m.Options {
		if len(o.Data) > 255 {
			return b[:start], fmt.Errorf("dhcp: option %d has %d bytes, more than 255", o.Code, len(o.Data))
		}
		b = append(b, o.Code, byte(len(o.Data)))
		b = append(b, o.Data...)
	}
	b = append(b, OptEnd)
	if len(b)-start > MaxMessageSize {
		return b[:start], fmt.Errorf("dhcp: message of %d bytes exceeds %d", len(b)-start, MaxMessageSize)
	}
	return b, nil
}

// Option returns the data of the first option with code, and whether there
// is one.
func (m *Message) Option(code byte) ([]byte, bool) {
	for _, o := range m.Options {
		if o.Code == code {
			return o.Data, true
		}
	}
	return nil, false
}

// Addr returns the first IPv4 address in option code (subnet mask, router,
// server identifier, requested address).
func (m *Message) Addr(code byte) (netip.Addr, bool) {
	d, ok := m.Option(code)
	if !ok || len(d) < 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(d[:4])), true
}

// Addrs returns every IPv4 address in option code (routers, DNS servers).
func (m *Message) Addrs(code byte) []netip.Addr {
	d, _ := m.Option(code)
	var out []netip.Addr
	for ; len(d) >= 4; d = d[4:] {
		out = append(out, netip.AddrFrom4([4]byte(d[:4])))
	}
	return out
}

// Seconds returns option code as a duration of seconds (lease time, T1,
// T2). 0xffffffff (infinity, RFC 2131, 3.3) is returned as is.
func (m *Message) Seconds(code byte) (time.Duration, bool) {
	d, ok := m.Option(code)
	if !ok || len(d) != 4 {
		return 0, false
	}
	return time.Duration(binary.BigEndian.Uint32(d)) * time.Second, true
}

// AddrOption returns an option holding addresses.
func AddrOption(code byte, addrs ...netip.Addr) Option {
	d := make([]byte, 0, 4*len(addrs))
	for _, a := range addrs {
		b := a.As4()
		d = append(d, b[:]...)
	}
	return Option{Code: code, Data: d}
}

// SecondsOption returns an option holding a duration in whole seconds.
func SecondsOption(code byte, d time.Duration) Option {
	return Option{Code: code, Data: binary.BigEndian.AppendUint32(nil, uint32(d/time.Second))}
}
