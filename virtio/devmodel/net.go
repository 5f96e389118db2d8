package devmodel

import (
	"encoding/binary"
	"fmt"

	"github.com/bareproxy/bareproxy/virtio"
	"github.com/bareproxy/bareproxy/virtio/nethdr"
)

// Hdr is the virtio_net_hdr the model sets on a received frame.
type Hdr = nethdr.Hdr

func errorf(format string, args ...any) error {
	return fmt.Errorf("devmodel: "+format, args...)
}

// Deliver receives frame from the network: it picks the RX queue by RSS
// (see Steer) and writes the frame there. It returns the queue pair and
// whether the frame was written (false: no buffer, counted in RxNoBuffer).
func (d *Device) Deliver(frame []byte) (int, bool) {
	pair := d.Steer(frame)
	return pair, d.DeliverTo(pair, Hdr{}, frame)
}

// DeliverTo writes frame, preceded by a virtio_net_hdr carrying h, into the
// next RX buffer of queue pair pair, and raises an interrupt if the driver
// asked for one.
func (d *Device) DeliverTo(pair int, h Hdr, frame []byte) bool {
	q := d.data[2*pair]
	q.mu.Lock()
	old := q.usedIdx
	ok := d.deliverLocked(q, h, frame)
	irq := q.publish(old)
	q.mu.Unlock()
	if irq {
		q.interrupts.Add(1)
		d.interrupt(1)
	}
	return ok
}

// DeliverBatch writes frames into queue pair pair's RX buffers, publishing
// them with one used idx store and at most one interrupt, and returns how
// many it wrote.
func (d *Device) DeliverBatch(pair int, frames [][]byte) int {
	q := d.data[2*pair]
	q.mu.Lock()
	old := q.usedIdx
	n := 0
	for _, f := range frames {
		if !d.deliverLocked(q, Hdr{}, f) {
			break
		}
		n++
	}
	irq := q.publish(old)
	q.mu.Unlock()
	if irq {
		q.interrupts.Add(1)
		d.interrupt(1)
	}
	return n
}

// deliverLocked takes one RX chain and scatters the header and frame into
// its writable descriptors. Without a chain big enough the frame is dropped
// and the chain is not consumed; with EVENT_IDX the device then asks to be
// notified when the driver adds buffers.
func (d *Device) deliverLocked(q *vq, h Hdr, frame []byte) bool {
	if !q.ready {
		d.stats.RxNoBuffer.Add(1)
		return false
	}
	head, ok := q.pop()
	if !ok {
		q.setAvailEvent(q.lastAvail)
		d.stats.RxNoBuffer.Add(1)
		return false
	}
	segs, err := q.walk(head)
	if err != nil {
		d.stats.BadChains.Add(1)
		q.putUsed(uint32(head), 0)
		return false
	}
	var hdr [virtio.NetHdrSize]byte
	h.Put(hdr[:])
	binary.LittleEndian.PutUint16(hdr[nethdr.Size:], 1) // num_buffers
	need := len(hdr) + len(frame)
	room := 0
	for _, s := range segs {
		if s.write {
			room += len(s.b)
		}
	}
	if room < need {
		q.lastAvail-- // leave the chain to the driver
		d.stats.RxNoBuffer.Add(1)
		return false
	}
	src := [2][]byte{hdr[:], frame}
	part := 0
	for _, s := range segs {
		b := s.b
		for len(b) > 0 && part < 2 {
			n := copy(b, src[part])
			b, src[part] = b[n:], src[part][n:]
			if len(src[part]) == 0 {
				part++
			}
		}
	}
	q.putUsed(uint32(head), uint32(need))
	d.stats.RxDelivered.Add(1)
	return true
}

// ProcessTX takes every pending TX buffer of queue pair pair, hands each
// frame (without virtio_net_hdr) to fn, and returns them used. It returns how
// many frames it took.
func (d *Device) ProcessTX(pair int, fn func(pair int, frame []byte)) int {
	return d.processTX(pair, func(pair int, _ Hdr, frame []byte) { fn(pair, frame) })
}

// ProcessTXHdr is ProcessTX that also passes each frame's virtio_net_hdr.
func (d *Device) ProcessTXHdr(pair int, fn func(pair int, h Hdr, frame []byte)) int {
	return d.processTX(pair, fn)
}

func (d *Device) processTX(pair int, fn func(pair int, h Hdr, frame []byte)) int {
	q := d.data[2*pair+1]
	q.mu.Lock()
	if !q.ready {
		q.mu.Unlock()
		return 0
	}
	old := q.usedIdx
	n := 0
	for {
		head, ok := q.pop()
		if !ok {
			break
		}
		segs, err := q.walk(head)
		if err != nil || (len(segs) > 0 && segs[len(segs)-1].write) {
			d.stats.BadChains.Add(1)
			q.putUsed(uint32(head), 0)
			continue
		}
		pkt := q.gather(segs)
		if len(pkt) >= virtio.NetHdrSize {
			fn(pair, nethdr.Parse(pkt), pkt[virtio.NetHdrSize:])
			n++
		} else {
			d.stats.BadChains.Add(1)
		}
		q.putUsed(uint32(head), 0)
	}
	// Ask to be notified of the next buffer, as a device that has gone
	// idle does.
	q.setAvailEvent(q.lastAvail)
	irq := q.publish(old)
	q.mu.Unlock()
	d.stats.TxFrames.Add(uint64(n))
	if irq {
		q.interrupts.Add(1)
		d.interrupt(1)
	}
	return n
}

// PendingTX returns how many TX buffers queue pair pair has published that
// the device has not taken.
func (d *Device) PendingTX(pair int) int {
	q := d.data[2*pair+1]
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.ready {
		return 0
	}
	return q.pending()
}

// InjectUsed writes a used element the driver never offered, as a buggy or
// hostile device might, to virtqueue vq, and publishes it.
func (d *Device) InjectUsed(vq int, id, length uint32) {
	q, _ := d.lookup(vq)
	if q == nil {
		return
	}
	q.mu.Lock()
	old := q.usedIdx
	q.putUsed(id, length)
	irq := q.publish(old)
	q.mu.Unlock()
	if irq {
		q.interrupts.Add(1)
		d.interrupt(1)
	}
}

// CorruptNextRX makes the next RX element of queue pair pair carry length
// (for example beyond the buffer) while consuming the real chain.
func (d *Device) CorruptNextRX(pair int, length uint32) bool {
	q := d.data[2*pair]
	q.mu.Lock()
	old := q.usedIdx
	head, ok := q.pop()
	if ok {
		q.putUsed(uint32(head), length)
	}
	irq := q.publish(old)
	q.mu.Unlock()
	if irq {
		q.interrupts.Add(1)
		d.interrupt(1)
	}
	return ok
}
