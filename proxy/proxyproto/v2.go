package proxyproto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// AppendV2 appends the v2 binary header for h to dst (section 2.2):
//
//	signature[12] | 0x2<<4|command | proto | len (big endian) | addresses | TLVs
//
// Local headers carry no addresses (len covers only TLVs). Proxy headers
// with TCP4/UDP4 carry 12 address bytes, with TCP6/UDP6 36 (IPv4 addresses
// are sent IPv4-mapped); Unspec carries none. UNIX addresses are not
// supported for sending. h.TLVs is appended as is after checking its shape.
func AppendV2(dst []byte, h *Header) ([]byte, error) {
	if h.Command != Local && h.Command != Proxy {
		return dst, fmt.Errorf("proxyproto: invalid command %#x", uint8(h.Command))
	}
	if !validTLVs(h.TLVs) {
		return dst, fmt.Errorf("proxyproto: malformed tlvs %q", h.TLVs)
	}
	addrLen := 0
	if h.Command == Proxy {
		switch h.Proto {
		case TCP4, UDP4:
			if !h.Src.Addr().Unmap().Is4() || !h.Dst.Addr().Unmap().Is4() {
				return dst, fmt.Errorf("proxyproto: ipv4 protocol needs ipv4 addresses, have %q and %q", h.Src, h.Dst)
			}
			addrLen = addrLenInet
		case TCP6, UDP6:
			if !h.Src.IsValid() || !h.Dst.IsValid() {
				return dst, fmt.Errorf("proxyproto: ipv6 protocol needs addresses, have %q and %q", h.Src, h.Dst)
			}
			addrLen = addrLenInet6
		case Unspec:
		default:
			return dst, fmt.Errorf("proxyproto: cannot send protocol %#02x", uint8(h.Proto))
		}
	}
	n := addrLen + len(h.TLVs)
	if n > 0xffff {
		return dst, fmt.Errorf("proxyproto: header length %d over 65535", n)
	}
	proto := h.Proto
	if h.Command == Local {
		// Section 2.2: the sender should use UNSPEC with LOCAL.
		proto = Unspec
	}
	dst = append(dst, v2Sig[:]...)
	dst = append(dst, 0x20|byte(h.Command), byte(proto), byte(n>>8), byte(n))
	switch addrLen {
	case addrLenInet:
		s, d := h.Src.Addr().Unmap().As4(), h.Dst.Addr().Unmap().As4()
		dst = append(dst, s[:]...)
		dst = append(dst, d[:]...)
	case addrLenInet6:
		s, d := h.Src.Addr().As16(), h.Dst.Addr().As16()
		dst = append(dst, s[:]...)
		dst = append(dst, d[:]...)
	}
	if addrLen > 0 {
		dst = binary.BigEndian.AppendUint16(dst, h.Src.Port())
		dst = binary.BigEndian.AppendUint16(dst, h.Dst.Port())
	}
	return append(dst, h.TLVs...), nil
}

// readV2 reads a v2 header; br starts with the 12-byte signature.
func readV2(br *bufio.Reader, h *Header) error {
	p, err := br.Peek(v2HeaderLen)
	if err != nil {
		return truncated(err)
	}
	verCmd, proto := p[12], Proto(p[13])
	n := int(binary.BigEndian.Uint16(p[14:16]))
	// "As of this specification, it must always be sent as \x2 and the
	// receiver must only accept this value."
	if verCmd>>4 != 2 {
		return malformed("version not 2", p[12:13])
	}
	// "Receivers must drop connections presenting unexpected values here."
	cmd := Command(verCmd & 0xf)
	if cmd != Local && cmd != Proxy {
		return malformed("unknown command", p[12:13])
	}
	// Other families and protocols "must be rejected as invalid".
	fam, tp := byte(proto)>>4, byte(proto)&0xf
	if fam > famUnix || tp > 2 {
		return malformed("unknown family or protocol", p[13:14])
	}
	if n > MaxV2Len {
		return malformed("length over limit", p[14:16])
	}
	addrLen := 0
	if tp != 0 {
		switch fam {
		case famInet:
			addrLen = addrLenInet
		case famInet6:
			addrLen = addrLenInet6
		case famUnix:
			addrLen = addrLenUnix
		}
	}
	if n < addrLen {
		return malformed("length shorter than address block", p[12:16])
	}
	h.Version, h.Command, h.Proto = 2, cmd, proto
	if cmd == Local || addrLen == 0 {
		// LOCAL: "discard the protocol block including the family". UNSPEC:
		// the address layout is unknown, so the whole block is skipped.
		// "Receivers MUST always consider this field to skip the
		// appropriate number of bytes."
		_, err := br.Discard(v2HeaderLen)
		if err == nil {
			_, err = br.Discard(n)
		}
		return truncated(err)
	}
	p, err = br.Peek(v2HeaderLen + addrLen)
	if err != nil {
		return truncated(err)
	}
	a := p[v2HeaderLen:]
	switch fam {
	case famInet:
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), binary.BigEndian.Uint16(a[8:10]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[10:12]))
	case famInet6:
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])), binary.BigEndian.Uint16(a[32:34]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])), binary.BigEndian.Uint16(a[34:36]))
	}
	// UNIX addresses are skipped: the receiver falls back to UNSPEC for a
	// valid combination it does not implement (section 2.2).
	br.Discard(v2HeaderLen + addrLen)
	t := n - addrLen
	if cap(h.TLVs) < t {
		h.TLVs = make([]byte, t)
	}
	h.TLVs = h.TLVs[:t]
	if _, err := io.ReadFull(br, h.TLVs); err != nil {
		h.TLVs = h.TLVs[:0]
		return truncated(err)
	}
	if !validTLVs(h.TLVs) {
		return malformed("malformed tlv", h.TLVs)
	}
	return nil
}

// truncated maps EOF inside a header to io.ErrUnexpectedEOF: "the receiver
// must also reject incoming connections containing partial protocol
// headers".
func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
