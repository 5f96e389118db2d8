package virtio

import (
	"encoding/binary"

	"github.com/bareproxy/bareproxy/virtio/nethdr"
)

// NetHdrSize is the size of struct virtio_net_hdr with VERSION_1, which
// always includes num_buffers after the fields of package nethdr (virtio
// 1.2, 5.1.6).
const NetHdrSize = nethdr.Size + 2

// completeChecksum finishes a NEEDS_CSUM frame as the device would have
// (virtio 1.2, 5.1.6.4): the 16-bit field at start+offset already holds the
// pseudo-header sum, so the ones' complement of the sum from start to the end
// of the frame is the checksum. It reports false, leaving frame alone, if the
// offsets do not fit the frame.
func completeChecksum(frame []byte, start, offset int) bool {
	if start >= len(frame) || start+offset+2 > len(frame) {
		return false
	}
	s := onesSum(frame[start:])
	binary.BigEndian.PutUint16(frame[start+offset:], ^s)
	return true
}

// onesSum is the folded 16-bit ones' complement sum of b (RFC 1071).
func onesSum(b []byte) uint16 {
	var s uint64
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		s += v>>48 + v>>32&0xffff + v>>16&0xffff + v&0xffff
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
