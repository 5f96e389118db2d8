package engine

import "encoding/binary"

// The virtio_net_hdr that starts every frame with Config.VnetHdr: VIRTIO
// 1.x section 5.1.6 "struct virtio_net_hdr" without num_buffers, Linux's
// TAP format with IFF_VNET_HDR (include/uapi/linux/virtio_net.h). Fields
// are little-endian.
const (
	// VnetHdrLen is the header's size.
	VnetHdrLen = 10

	vnetFlags      = 0 // u8 flags
	vnetGSOType    = 1 // u8 gso_type
	vnetHdrLenOff  = 2 // le16 hdr_len
	vnetGSOSize    = 4 // le16 gso_size
	vnetCsumStart  = 6 // le16 csum_start
	vnetCsumOffset = 8 // le16 csum_offset

	// VnetNeedsCsum (VIRTIO_NET_HDR_F_NEEDS_CSUM) says that the checksum
	// at csum_start+csum_offset holds only the pseudo-header sum, for the
	// device to finish.
	VnetNeedsCsum = 1
	// VnetGSOTCPv4 (VIRTIO_NET_HDR_GSO_TCPV4) asks the device to cut the
	// frame into gso_size-byte TCP segments.
	VnetGSOTCPv4 = 1

	// tcpCsumOffset is the checksum field's offset in the TCP header.
	tcpCsumOffset = 16
)

// VnetHdr is a virtio_net_hdr's fields.
type VnetHdr struct {
	Flags, GSOType                         uint8
	HdrLen, GSOSize, CsumStart, CsumOffset uint16
}

// Put writes h into b[:VnetHdrLen].
func (h *VnetHdr) Put(b []byte) {
	b[vnetFlags] = h.Flags
	b[vnetGSOType] = h.GSOType
	binary.LittleEndian.PutUint16(b[vnetHdrLenOff:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[vnetGSOSize:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[vnetCsumStart:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[vnetCsumOffset:], h.CsumOffset)
}

// maxTSOLen bounds a TSO segment's IPv4 total length (RFC 791's 16 bits).
const maxTSOLen = 65535

// ParseVnetHdr reads a header from b[:VnetHdrLen].
func ParseVnetHdr(b []byte) VnetHdr {
	le := binary.LittleEndian
	return VnetHdr{
		Flags: b[vnetFlags], GSOType: b[vnetGSOType],
		HdrLen: le.Uint16(b[vnetHdrLenOff:]), GSOSize: le.Uint16(b[vnetGSOSize:]),
		CsumStart: le.Uint16(b[vnetCsumStart:]), CsumOffset: le.Uint16(b[vnetCsumOffset:]),
	}
}
