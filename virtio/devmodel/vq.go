package devmodel

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Split virtqueue constants (virtio 1.2, 2.7), kept apart from the driver's
// so that the model checks the driver against the spec, not against itself.
const (
	descSize          = 16
	descFNext         = 1
	descFWrite        = 2
	descFIndirect     = 4
	availFNoInterrupt = 1
)

// Chain errors, counted in Stats.BadChains.
var (
	errBadHead  = errors.New("descriptor head out of range")
	errBadNext  = errors.New("descriptor next out of range")
	errLoop     = errors.New("descriptor chain longer than the ring")
	errBadAddr  = errors.New("descriptor address outside driver memory")
	errIndirect = errors.New("indirect descriptor not negotiated")
	errOrder    = errors.New("device-readable descriptor after a device-writable one")
)

// segment is one descriptor of a chain, translated to bytes.
type segment struct {
	b     []byte
	write bool
}

// vq is the device's side of one split virtqueue.
type vq struct {
	index int
	mem   *Memory

	mu sync.Mutex
	// mu protects everything below.
	ready     bool
	size      int
	eventIdx  bool
	desc      []byte
	avail     []byte
	used      []byte
	lastAvail uint16
	usedIdx   uint16
	segs      []segment // scratch for walk
	scratch   []byte    // scratch for gathering a chain

	notifies   atomic.Uint64
	interrupts atomic.Uint64
}

// setup maps the three areas of a ring of size n.
func (q *vq) setup(n int, desc, driver, device uint64, eventIdx bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	// used_event and avail_event are read as 32-bit words; the driver
	// pads each with two bytes.
	d, ok1 := q.mem.Slice(desc, descSize*n)
	a, ok2 := q.mem.Slice(driver, 4+2*n+4)
	u, ok3 := q.mem.Slice(device, 4+8*n+4)
	if !ok1 || !ok2 || !ok3 || device%4 != 0 || driver%2 != 0 || desc%16 != 0 {
		return false
	}
	q.size, q.desc, q.avail, q.used, q.eventIdx = n, d, a, u, eventIdx
	q.lastAvail, q.usedIdx, q.ready = 0, 0, true
	q.segs = make([]segment, 0, n)
	q.scratch = make([]byte, 64<<10)
	return true
}

func word(b []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// availIdx loads the driver's avail idx (acquire).
func (q *vq) availIdx() uint16 { return uint16(atomic.LoadUint32(word(q.avail, 0)) >> 16) }

// availFlags loads the driver's avail flags.
func (q *vq) availFlags() uint16 { return uint16(atomic.LoadUint32(word(q.avail, 0))) }

// usedEvent loads the driver's used_event.
func (q *vq) usedEvent() uint16 { return uint16(atomic.LoadUint32(word(q.avail, 4+2*q.size))) }

// setAvailEvent stores avail_event, asking to be notified once the driver's
// avail idx passes v.
func (q *vq) setAvailEvent(v uint16) { atomic.StoreUint32(word(q.used, 4+8*q.size), uint32(v)) }

// pending returns how many avail entries the device has not taken. A driver
// that claims more than the ring holds is clamped.
func (q *vq) pending() int {
	return min(int(q.availIdx()-q.lastAvail), q.size)
}

// pop takes the next available head.
func (q *vq) pop() (uint16, bool) {
	if q.pending() == 0 {
		return 0, false
	}
	h := binary.LittleEndian.Uint16(q.avail[4+2*(int(q.lastAvail)%q.size):])
	q.lastAvail++
	return h, true
}

// walk translates the chain starting at head into q.segs, checking it as
// virtio 1.2, 2.7.4-2.7.5 requires: indices in range, no loops, readable
// descriptors before writable ones, addresses inside driver memory.
func (q *vq) walk(head uint16) ([]segment, error) {
	q.segs = q.segs[:0]
	if int(head) >= q.size {
		return nil, errBadHead
	}
	i, seenWrite := head, false
	for n := 0; ; n++ {
		if n == q.size {
			return nil, errLoop
		}
		d := q.desc[int(i)*descSize:][:descSize]
		addr := binary.LittleEndian.Uint64(d[0:])
		length := binary.LittleEndian.Uint32(d[8:])
		flags := binary.LittleEndian.Uint16(d[12:])
		next := binary.LittleEndian.Uint16(d[14:])
		if flags&descFIndirect != 0 {
			return nil, errIndirect
		}
		b, ok := q.mem.Slice(addr, int(length))
		if !ok {
			return nil, errBadAddr
		}
		w := flags&descFWrite != 0
		if seenWrite && !w {
			return nil, errOrder
		}
		seenWrite = seenWrite || w
		q.segs = append(q.segs, segment{b: b, write: w})
		if flags&descFNext == 0 {
			return q.segs, nil
		}
		if int(next) >= q.size {
			return nil, errBadNext
		}
		i = next
	}
}

// gather copies the readable part of segs into q.scratch.
func (q *vq) gather(segs []segment) []byte {
	n := 0
	for _, s := range segs {
		if s.write {
			break
		}
		n += copy(q.scratch[n:], s.b)
	}
	return q.scratch[:n]
}

// putUsed writes one used element without publishing it.
func (q *vq) putUsed(id, length uint32) {
	e := q.used[4+8*(int(q.usedIdx)%q.size):][:8]
	binary.LittleEndian.PutUint32(e[0:], id)
	binary.LittleEndian.PutUint32(e[4:], length)
	q.usedIdx++
}

// publish stores used idx (release) and reports whether the driver wants an
// interrupt for the entries since old (virtio 1.2, 2.7.7 and 2.7.10).
func (q *vq) publish(old uint16) bool {
	if old == q.usedIdx {
		return false
	}
	atomic.StoreUint32(word(q.used, 0), uint32(q.usedIdx)<<16)
	if q.eventIdx {
		ev := q.usedEvent()
		return q.usedIdx-ev-1 < q.usedIdx-old
	}
	return q.availFlags()&availFNoInterrupt == 0
}
