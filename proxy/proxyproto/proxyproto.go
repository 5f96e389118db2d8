// Package proxyproto encodes and decodes the PROXY protocol header, versions
// 1 (text) and 2 (binary), as specified by HAProxy's doc/proxy-protocol.txt
// (revision 2020/03/05). The proxy sends it to servers configured with
// send-proxy or send-proxy-v2 and reads it from clients on binds configured
// with accept-proxy.
//
// It owns the header's bytes only: the engine decides when a header is
// expected (the specification forbids guessing, section 5), applies the
// read timeout, and uses the addresses. It must not touch sockets.
//
// Read needs a *bufio.Reader whose buffer holds at least MinReaderSize bytes
// (the default 4096 does). A decoded Header is reused with Reset; decoding
// and encoding allocate nothing once its TLV slice has grown.
//
// Standard library: bufio for peeking at the signature and line without
// consuming what follows it, net/netip for addresses (a value type, no
// allocation), encoding/binary for big-endian fields, strconv for port
// numbers when encoding. IPv4 text and ports are parsed by hand: the
// specification forbids leading zeros and exact single spaces, which is
// stricter than strconv.Atoi.
package proxyproto

import (
	"errors"
	"net/netip"
)

// Command is the v2 command, the low nibble of the 13th byte.
type Command uint8

// Commands (section 2.2).
const (
	// Local: the sender opened the connection itself (a health check); the
	// receiver uses the real connection endpoints.
	Local Command = 0x0
	// Proxy: the connection is relayed for the client in Src.
	Proxy Command = 0x1
)

// Proto is the v2 transport protocol and address family byte (the 14th
// byte): family in the high nibble, protocol in the low one.
type Proto uint8

// Protocol bytes (section 2.2, "In practice, the following protocol bytes
// are expected").
const (
	Unspec     Proto = 0x00
	TCP4       Proto = 0x11
	UDP4       Proto = 0x12
	TCP6       Proto = 0x21
	UDP6       Proto = 0x22
	UnixStream Proto = 0x31
	UnixDgram  Proto = 0x32
)

// Family nibbles and address block lengths (section 2.2).
const (
	famUnspec = 0x0
	famInet   = 0x1
	famInet6  = 0x2
	famUnix   = 0x3

	addrLenInet  = 2*4 + 2*2
	addrLenInet6 = 2*16 + 2*2
	addrLenUnix  = 2 * 108
)

// Sizes.
const (
	// MaxV1Len is the longest v1 line including CRLF (section 2.1, "worst
	// case": PROXY UNKNOWN with two full IPv6 addresses and ports).
	MaxV1Len = 107
	// MaxV2Len bounds the v2 length field (address block plus TLVs) this
	// receiver accepts. The field itself allows 65535; the specification
	// expects the whole header to fit one 536-byte segment, and cloud load
	// balancers add TLVs of some tens of bytes.
	MaxV2Len = 2048
	// MinReaderSize is the smallest bufio.Reader buffer Read works with:
	// the v2 fixed part plus a UNIX address block.
	MinReaderSize = v2HeaderLen + addrLenUnix
	v2HeaderLen   = 16
)

// v2Sig is the 12-byte v2 signature (section 2.2).
var v2Sig = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// TLV types registered in section 2.2.
const (
	TypeALPN      = 0x01
	TypeAuthority = 0x02
	TypeCRC32C    = 0x03
	TypeNoop      = 0x04
	TypeUniqueID  = 0x05
	TypeSSL       = 0x20
	TypeNetNS     = 0x30
)

// Errors. Malformed headers wrap ErrMalformed with detail; the connection
// must then be aborted (section 2.1).
var (
	// ErrNotProxy: the connection does not start with either signature.
	ErrNotProxy = errors.New("proxyproto: no proxy protocol signature")
	// ErrMalformed: a header that does not exactly match the protocol.
	ErrMalformed = errors.New("proxyproto: malformed header")
)

// Header is one PROXY protocol header.
type Header struct {
	// Version is 1 or 2: which format Read found. The encoders ignore it.
	Version int
	// Command is Proxy or Local. A v1 header is always Proxy.
	Command Command
	// Proto is the transport and family. A v1 "UNKNOWN" reads as Unspec.
	Proto Proto
	// Src and Dst are the client and the address it connected to; valid
	// only for Proxy with TCP4, UDP4, TCP6 or UDP6.
	Src, Dst netip.AddrPort
	// TLVs holds the raw v2 TLV vectors after the address block (section
	// 2.2); Read reuses its memory. AppendV2 sends it as is.
	TLVs []byte
}

// Reset clears the header, keeping the TLV memory.
func (h *Header) Reset() { *h = Header{TLVs: h.TLVs[:0]} }

// NewTCP builds a Proxy header for a TCP connection from src to dst: TCP4
// when both are IPv4 (or IPv4-mapped), else TCP6 with IPv4 addresses mapped.
func NewTCP(src, dst netip.AddrPort) Header {
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	if s.Is4() && d.Is4() {
		return Header{Command: Proxy, Proto: TCP4,
			Src: netip.AddrPortFrom(s, src.Port()), Dst: netip.AddrPortFrom(d, dst.Port())}
	}
	return Header{Command: Proxy, Proto: TCP6,
		Src: netip.AddrPortFrom(netip.AddrFrom16(s.As16()), src.Port()),
		Dst: netip.AddrPortFrom(netip.AddrFrom16(d.As16()), dst.Port())}
}

// Addrs returns the relayed endpoints, and ok only when the header carries
// them (Proxy over TCP or UDP); otherwise the receiver uses the real
// connection's endpoints (sections 2.1 and 2.2).
func (h *Header) Addrs() (src, dst netip.AddrPort, ok bool) {
	if h.Command != Proxy {
		return src, dst, false
	}
	switch h.Proto {
	case TCP4, UDP4, TCP6, UDP6:
		return h.Src, h.Dst, true
	}
	return src, dst, false
}

// TLV returns the value of the first TLV of type typ.
func (h *Header) TLV(typ byte) ([]byte, bool) {
	for b := h.TLVs; len(b) >= 3; {
		n := int(b[1])<<8 | int(b[2])
		if len(b) < 3+n {
			return nil, false
		}
		if b[0] == typ {
			return b[3 : 3+n], true
		}
		b = b[3+n:]
	}
	return nil, false
}

// validTLVs reports whether b is a whole number of well-formed TLVs.
func validTLVs(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 3 {
			return false
		}
		n := int(b[1])<<8 | int(b[2])
		if len(b) < 3+n {
			return false
		}
		b = b[3+n:]
	}
	return true
}

// AppendTLV appends one TLV vector to dst, for building Header.TLVs.
func AppendTLV(dst []byte, typ byte, value []byte) []byte {
	return append(append(dst, typ, byte(len(value)>>8), byte(len(value))), value...)
}
