package virtio

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Split virtqueue layout (virtio 1.2, 2.7).
const (
	descSize = 16 // struct virtq_desc: le64 addr, le32 len, le16 flags, le16 next

	descFNext  = 1 // VIRTQ_DESC_F_NEXT
	descFWrite = 2 // VIRTQ_DESC_F_WRITE: device writes, driver reads

	availFNoInterrupt = 1 // VIRTQ_AVAIL_F_NO_INTERRUPT
	usedFNoNotify     = 1 // VIRTQ_USED_F_NO_NOTIFY

	usedElemSize = 8 // struct virtq_used_elem: le32 id, le32 len

	// ringAlign aligns the whole ring allocation and the used ring within
	// it, keeping the driver-written and device-written areas on separate
	// cache lines.
	ringAlign = 64
	// maxQueueSize is the largest split queue (virtio 1.2, 2.7).
	maxQueueSize = 32768
	// eventSlack is how stale a suppressing used_event may become before
	// it is rewritten; see splitRing.suppress.
	eventSlack = 0x4000
)

// splitRing is the driver's side of one split virtqueue: a descriptor table,
// an available ring the driver writes, and a used ring the device writes, all
// in one DMA region.
//
// Memory ordering: the idx fields that hand entries between driver and device
// are read and written with sync/atomic (sequentially consistent in Go, a
// locked instruction or full barrier on every TamaGo target), so that every
// plain write to a descriptor, ring entry or buffer before the store of idx
// is visible to whoever loads idx. The atomics are 32-bit: avail's flags and
// idx, and used's flags and idx, share one aligned word each, written by one
// side only; used_event and avail_event are followed by two bytes of padding
// of our own, so their 32-bit accesses touch nothing the other side writes.
// This assumes a little-endian CPU, as are all of TamaGo's.
//
// A splitRing is not safe for concurrent use: a QueuePair's RX ring is used
// by the receiving worker only, its TX ring under the TX mutex.
type splitRing struct {
	size     uint16
	mask     uint16
	eventIdx bool // VIRTIO_F_EVENT_IDX negotiated
	region   Region

	desc  []byte // size descriptors
	avail []byte // flags, idx, ring[size], used_event
	used  []byte // flags, idx, ring[size], avail_event

	availWord  *uint32 // avail flags | idx<<16, written by the driver
	usedWord   *uint32 // used flags | idx<<16, written by the device
	usedEvent  *uint32 // used_event in the low half, padding above
	availEvent *uint32 // avail_event in the low half, padding above

	availFlags uint16 // flags last stored in availWord
	nextAvail  uint16 // avail idx including entries not yet published
	published  uint16 // avail idx last stored in availWord
	kicked     uint16 // avail idx when the device was last notified
	lastUsed   uint16 // next used entry to consume
	eventSet   uint16 // used_event value last stored
}

// ringLayout returns the offsets of the avail and used rings in a ring of n
// entries, and the total size to allocate.
func ringLayout(n int) (availOff, usedOff, total int) {
	availOff = descSize * n
	availEnd := availOff + 4 + 2*n + 2 + 2 // flags, idx, ring, used_event, padding
	usedOff = roundUp(availEnd, ringAlign)
	usedEnd := usedOff + 4 + usedElemSize*n + 2 + 2 // flags, idx, ring, avail_event, padding
	return availOff, usedOff, roundUp(usedEnd, ringAlign)
}

func roundUp(n, a int) int { return (n + a - 1) &^ (a - 1) }

// newSplitRing allocates a ring of n entries (a power of two) from mem.
func newSplitRing(mem Memory, n int, eventIdx bool) (*splitRing, error) {
	if n <= 0 || n > maxQueueSize || n&(n-1) != 0 {
		return nil, fmt.Errorf("virtio: queue size %d is not a power of two in [1, %d]", n, maxQueueSize)
	}
	availOff, usedOff, total := ringLayout(n)
	reg, err := mem.Alloc(total, 4096)
	if err != nil {
		return nil, fmt.Errorf("virtio: allocate ring of %d: %w", n, err)
	}
	if len(reg.Bytes) < total || uintptr(unsafe.Pointer(&reg.Bytes[0]))%ringAlign != 0 {
		return nil, fmt.Errorf("virtio: memory returned a bad ring region (%d bytes)", len(reg.Bytes))
	}
	b := reg.Bytes[:total]
	r := &splitRing{
		size:     uint16(n),
		mask:     uint16(n - 1),
		eventIdx: eventIdx,
		region:   reg,
		desc:     b[:availOff],
		avail:    b[availOff:usedOff],
		used:     b[usedOff:],
	}
	r.availWord = word(r.avail, 0)
	r.usedWord = word(r.used, 0)
	r.usedEvent = word(r.avail, 4+2*n)
	r.availEvent = word(r.used, 4+usedElemSize*n)
	return r, nil
}

// word returns the 32-bit word at b[off:], which must be 4-byte aligned.
func word(b []byte, off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&b[off]))
}

// addrs returns the device addresses of the three areas, for SetupQueue.
func (r *splitRing) addrs() (desc, driver, device uint64) {
	base := r.region.Addr
	return base, base + uint64(len(r.desc)), base + uint64(len(r.desc)+len(r.avail))
}

// setDesc writes descriptor i.
func (r *splitRing) setDesc(i uint16, addr uint64, length uint32, flags, next uint16) {
	d := r.desc[int(i)*descSize:][:descSize]
	binary.LittleEndian.PutUint64(d[0:], addr)
	binary.LittleEndian.PutUint32(d[8:], length)
	binary.LittleEndian.PutUint16(d[12:], flags)
	binary.LittleEndian.PutUint16(d[14:], next)
}

// setDescLen rewrites only the length of descriptor i.
func (r *splitRing) setDescLen(i uint16, length uint32) {
	binary.LittleEndian.PutUint32(r.desc[int(i)*descSize+8:], length)
}

// push appends head to the available ring without publishing it.
func (r *splitRing) push(head uint16) {
	binary.LittleEndian.PutUint16(r.avail[4+2*int(r.nextAvail&r.mask):], head)
	r.nextAvail++
}

// publish makes every pushed entry visible to the device (release).
func (r *splitRing) publish() {
	r.published = r.nextAvail
	atomic.StoreUint32(r.availWord, uint32(r.availFlags)|uint32(r.published)<<16)
}

// kick reports whether the device must be notified of entries published
// since the last kick: with EVENT_IDX when the new entries cross the
// device's avail_event (virtio 1.2, 2.7.10), otherwise unless the device set
// VIRTQ_USED_F_NO_NOTIFY. The store in publish is a full barrier, so the
// device's event index is read after the new idx is visible.
func (r *splitRing) kick() bool {
	old, cur := r.kicked, r.published
	if old == cur {
		return false
	}
	r.kicked = cur
	if r.eventIdx {
		return needEvent(uint16(atomic.LoadUint32(r.availEvent)), cur, old)
	}
	return uint16(atomic.LoadUint32(r.usedWord))&usedFNoNotify == 0
}

// needEvent is vring_need_event: whether moving an index from old to cur
// passes event (virtio 1.2, 2.7.10.1).
func needEvent(event, cur, old uint16) bool {
	return cur-event-1 < cur-old
}

// usedIdx returns the device's used idx (acquire).
func (r *splitRing) usedIdx() uint16 {
	return uint16(atomic.LoadUint32(r.usedWord) >> 16)
}

// usedElem returns used ring entry i (an index modulo the ring size).
func (r *splitRing) usedElem(i uint16) (id, length uint32) {
	e := r.used[4+usedElemSize*int(i&r.mask):][:usedElemSize]
	return binary.LittleEndian.Uint32(e[0:]), binary.LittleEndian.Uint32(e[4:])
}

// arm asks the device to interrupt on the next used entry, and reports
// whether entries are already waiting (then the caller must not sleep: the
// device may have added them before it saw the request).
func (r *splitRing) arm() bool {
	if r.eventIdx {
		r.eventSet = r.lastUsed
		atomic.StoreUint32(r.usedEvent, uint32(r.lastUsed))
	} else {
		r.availFlags &^= availFNoInterrupt
		atomic.StoreUint32(r.availWord, uint32(r.availFlags)|uint32(r.published)<<16)
	}
	return r.usedIdx() != r.lastUsed
}

// suppress asks the device not to interrupt. With EVENT_IDX it puts
// used_event just behind lastUsed, which the device cannot pass until the
// driver has consumed 64k entries more; it is rewritten only when it falls
// eventSlack behind, so a busy queue pays almost nothing for it.
func (r *splitRing) suppress() {
	if r.eventIdx {
		if d := r.lastUsed - r.eventSet; d >= 1 && d <= eventSlack {
			return
		}
		r.eventSet = r.lastUsed - 1
		atomic.StoreUint32(r.usedEvent, uint32(r.eventSet))
		return
	}
	if r.availFlags&availFNoInterrupt == 0 {
		r.availFlags |= availFNoInterrupt
		atomic.StoreUint32(r.availWord, uint32(r.availFlags)|uint32(r.published)<<16)
	}
}
