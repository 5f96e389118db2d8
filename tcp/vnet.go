package tcp

import (
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/bareproxy/bareproxy/virtio/nethdr"
)

// VnetHdrLen is the size of the virtio_net_hdr that starts every frame
// when Config.VnetHdr is set (package nethdr has its layout).
const VnetHdrLen = nethdr.Size

// MaxVnetFrame is the largest frame with Config.TSO: the header, an
// Ethernet header and a 64 KiB IPv4 packet (a TSO or GRO segment).
const MaxVnetFrame = VnetHdrLen + ethHeaderLen + 65535

// gsoMaxSize is what the link endpoint offers gVisor as its GSO limit. The
// sender keeps a segment's payload under gsoMaxSize minus the largest
// headers (snd.go), so the IPv4 total length stays under 65535.
const gsoMaxSize = 1 << 16

// putVnetHdr writes the header for pkt into b[:VnetHdrLen]. Packets gVisor
// built for host GSO (every segment of a connection once the route
// offers it) have a partial checksum to finish, and those longer than one
// MSS are to be segmented; everything else (ARP, ICMP, handshake replies
// of a listener) is complete and gets an all-zero header.
func putVnetHdr(b []byte, pkt *stack.PacketBuffer) {
	var h nethdr.Hdr
	if gso := &pkt.GSOOptions; gso.Type != stack.GSONone {
		h.HdrLen = uint16(pkt.HeaderSize())
		if gso.NeedsCsum {
			h.Flags = nethdr.NeedsCsum
			h.CsumStart = uint16(ethHeaderLen + int(gso.L3HdrLen))
			h.CsumOffset = gso.CsumOffset
		}
		if gso.Type == stack.GSOTCPv4 && pkt.Data().Size() > int(gso.MSS) {
			h.GSOType = nethdr.GSOTCPv4
			h.GSOSize = gso.MSS
		}
	}
	h.Put(b)
}

// GSOMaxSize implements stack.GSOEndpoint: 64 KiB with Config.TSO, else
// 0.
func (e *linkEndpoint) GSOMaxSize() uint32 {
	if e.tso {
		return gsoMaxSize
	}
	return 0
}

// SupportedGSO implements stack.GSOEndpoint: the device segments and
// checksums (host GSO) with Config.TSO; nothing otherwise.
func (e *linkEndpoint) SupportedGSO() stack.SupportedGSO {
	if e.tso {
		return stack.HostGSOSupported
	}
	return stack.GSONotSupported
}

var _ stack.GSOEndpoint = (*linkEndpoint)(nil)

// frameOffset is where the Ethernet header starts in a frame.
func (e *linkEndpoint) frameOffset() int {
	if e.vnetHdr {
		return VnetHdrLen
	}
	return 0
}

// maxFrame is the largest frame the endpoint sends or takes.
func (e *linkEndpoint) maxFrame() int {
	switch {
	case e.tso:
		return MaxVnetFrame
	case e.vnetHdr:
		return VnetHdrLen + maxPlainFrame
	}
	return maxPlainFrame
}
