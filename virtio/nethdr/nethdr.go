// Package nethdr is the layout of struct virtio_net_hdr (virtio 1.2
// section 5.1.6), the header in front of every frame that a virtio-net
// device and its driver exchange, and that a Linux TAP opened with
// IFF_VNET_HDR reads and writes (include/uapi/linux/virtio_net.h). The
// virtio driver, its device model, and the TCP stacks that talk to a TAP
// with offloads all read and write it through this package.
//
// It owns the layout only and imports nothing of the project, so that
// every one of them may use it.
package nethdr

import "encoding/binary"

// Size is the header's size without num_buffers: Linux's TAP format. With
// VIRTIO_NET_F_VERSION_1 a device's header is 2 bytes longer (num_buffers
// follows the fields here).
const Size = 10

// Flags and GSO types. Fields are little-endian.
const (
	// NeedsCsum (VIRTIO_NET_HDR_F_NEEDS_CSUM): the checksum at
	// CsumStart+CsumOffset holds only the pseudo-header sum, for the
	// receiver to finish.
	NeedsCsum = 1
	// DataValid (VIRTIO_NET_HDR_F_DATA_VALID): the device validated the
	// checksum.
	DataValid = 2

	// GSONone (VIRTIO_NET_HDR_GSO_NONE): the frame is one segment.
	GSONone = 0
	// GSOTCPv4 (VIRTIO_NET_HDR_GSO_TCPV4): cut the frame into
	// GSOSize-byte TCP segments.
	GSOTCPv4 = 1
)

// Offsets of the fields.
const (
	offFlags      = 0 // u8
	offGSOType    = 1 // u8
	offHdrLen     = 2 // le16
	offGSOSize    = 4 // le16
	offCsumStart  = 6 // le16
	offCsumOffset = 8 // le16
)

// Hdr is a virtio_net_hdr's fields.
type Hdr struct {
	Flags, GSOType                         uint8
	HdrLen, GSOSize, CsumStart, CsumOffset uint16
}

// Put writes h into b[:Size].
func (h *Hdr) Put(b []byte) {
	b[offFlags] = h.Flags
	b[offGSOType] = h.GSOType
	binary.LittleEndian.PutUint16(b[offHdrLen:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[offGSOSize:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[offCsumStart:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[offCsumOffset:], h.CsumOffset)
}

// Parse reads a header from b[:Size].
func Parse(b []byte) Hdr {
	le := binary.LittleEndian
	return Hdr{
		Flags: b[offFlags], GSOType: b[offGSOType],
		HdrLen: le.Uint16(b[offHdrLen:]), GSOSize: le.Uint16(b[offGSOSize:]),
		CsumStart: le.Uint16(b[offCsumStart:]), CsumOffset: le.Uint16(b[offCsumOffset:]),
	}
}
