package virtio

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/virtio/nethdr"
)

// Mode selects how Receive waits for frames.
type Mode int32

const (
	// Polling spins on the used ring, yielding with runtime.Gosched between
	// empty polls: TamaGo has no asynchronous preemption, so a loop that
	// never yields starves every other goroutine on its core. Every
	// pollParkEvery empty polls it parks for pollPark instead (see there).
	// Interrupts from the queue are suppressed. It is the zero Mode.
	Polling Mode = iota
	// Interrupts blocks an idle Receive until the board calls Interrupt
	// (or Device.HandleInterrupt) from its IRQ handler.
	Interrupts
)

// tcpCsumOffset is where TCP's checksum sits in its header, the
// csum_offset of a TCP frame's NEEDS_CSUM (Config.PartialTCP).
const tcpCsumOffset = 16

// Packet buffer geometry: every RX and TX descriptor owns one buffer holding
// the virtio_net_hdr and a whole frame.
const (
	bufSize   = NetHdrSize + percpu.MaxFrame
	bufStride = (bufSize + 63) &^ 63 // cache-line aligned buffers

	// txFullSpins bounds how many times Transmit yields waiting for the
	// device to return TX descriptors before it drops what is left.
	txFullSpins = 64

	// With HOST_TSO4, frames larger than a buffer go out through one of
	// txBigBuffers buffers of bigBufSize bytes, which a descriptor points
	// to for the frame's flight: an Ethernet header and the largest IPv4
	// packet.
	maxTSOFrame  = 14 + 65535
	bigBufSize   = NetHdrSize + maxTSOFrame
	bigBufStride = (bigBufSize + 63) &^ 63
	txBigBuffers = 16
)

// Counters are one queue pair's statistics. RX fields are written by the
// receiving worker, TX fields under the TX mutex, once per batch; anyone may
// read them.
type Counters struct {
	RxFrames        atomic.Uint64 // frames handed to Receive's caller
	RxBytes         atomic.Uint64 // bytes of those frames, without virtio_net_hdr
	RxDrops         atomic.Uint64 // well-formed frames not delivered: bad csum offsets, caller buffer too small
	RxMalformed     atomic.Uint64 // used entries the device got wrong: bad or duplicate id, length beyond the buffer or under the header
	RxRefills       atomic.Uint64 // RX descriptors given back to the device
	RxKicks         atomic.Uint64 // RX notifications sent to the device
	RxSleeps        atomic.Uint64 // times an idle Receive went to sleep (Interrupts mode)
	RxWakeups       atomic.Uint64 // times a sleeping Receive was woken
	RxCsumCompleted atomic.Uint64 // NEEDS_CSUM frames whose checksum was completed in software
	RxCsumValid     atomic.Uint64 // frames the device marked DATA_VALID
	RxCsumPartial   atomic.Uint64 // TCP NEEDS_CSUM frames passed on partial (Config.PartialTCP)
	_               [56]byte
	TxFrames        atomic.Uint64 // frames published to the device
	TxBytes         atomic.Uint64 // bytes of those frames, without virtio_net_hdr
	TxDrops         atomic.Uint64 // frames not sent: empty, larger than MaxFrame, or ring full
	TxMalformed     atomic.Uint64 // used entries with a bad or duplicate id
	TxReclaimed     atomic.Uint64 // TX descriptors the device returned
	TxKicks         atomic.Uint64 // TX notifications sent to the device
}

// CounterSnapshot is a plain copy of Counters.
type CounterSnapshot struct {
	RxFrames, RxBytes, RxDrops, RxMalformed, RxRefills, RxKicks   uint64
	RxSleeps, RxWakeups                                           uint64
	RxCsumCompleted, RxCsumValid, RxCsumPartial                   uint64
	TxFrames, TxBytes, TxDrops, TxMalformed, TxReclaimed, TxKicks uint64
}

// Snapshot reads every counter once.
func (c *Counters) Snapshot() CounterSnapshot {
	return CounterSnapshot{
		RxFrames: c.RxFrames.Load(), RxBytes: c.RxBytes.Load(), RxDrops: c.RxDrops.Load(),
		RxMalformed: c.RxMalformed.Load(), RxRefills: c.RxRefills.Load(), RxKicks: c.RxKicks.Load(),
		RxSleeps: c.RxSleeps.Load(), RxWakeups: c.RxWakeups.Load(), RxCsumCompleted: c.RxCsumCompleted.Load(),
		RxCsumValid: c.RxCsumValid.Load(), RxCsumPartial: c.RxCsumPartial.Load(),
		TxFrames: c.TxFrames.Load(), TxBytes: c.TxBytes.Load(), TxDrops: c.TxDrops.Load(),
		TxMalformed: c.TxMalformed.Load(), TxReclaimed: c.TxReclaimed.Load(), TxKicks: c.TxKicks.Load(),
	}
}

// QueuePair is receiveq k and transmitq k of a virtio-net device, driven as
// one percpu.Queue. All buffers are reserved when the device is set up; the
// hot paths allocate nothing.
//
// Receive must be called by one goroutine at a time (the queue's worker).
// Transmit may be called from any number of goroutines: tx.mu serialises
// them.
type QueuePair struct {
	index int
	t     Transport
	rxVQ  int
	txVQ  int

	mode   atomic.Int32
	closed atomic.Bool
	irq    chan struct{} // one pending wake-up from Interrupt or SetMode
	done   chan struct{} // closed by close

	// RX state, owned by the Receive caller.
	rxRing     *splitRing
	rxBufs     []byte // rxRing.size buffers of rxStride bytes
	rxBufSize  int    // bufSize, or bigBufSize with GUEST_TSO4
	rxStride   int
	rxPosted   []bool // rxPosted[id]: the device owns RX descriptor id
	guestCsum  bool   // NEEDS_CSUM frames may arrive
	hostCsum   bool   // the device finishes NEEDS_CSUM frames we send
	hostTSO    bool   // the device cuts GSO frames we send
	vnetHdr    bool   // Config.VnetHdr: frames carry a nethdr both ways
	partialTCP bool   // Config.PartialTCP

	_ [64]byte

	txMu sync.Mutex
	// txMu protects the TX state below.
	txRing     *splitRing
	txBufs     []byte   // txRing.size buffers of bufStride bytes
	txFree     []uint16 // free TX descriptor ids, used as a stack
	txInflight []bool   // txInflight[id]: the device owns TX descriptor id
	txAddr     uint64   // device address of txBufs
	// With hostTSO: the big buffers, the free ones, and which one (plus
	// one; 0 for none) descriptor id points to while in flight.
	txBig     []byte
	txBigAddr uint64
	txBigFree []uint16
	txBigOf   []uint16

	counters Counters
}

var _ percpu.Queue = (*QueuePair)(nil)

// newQueuePair allocates pair k's rings and buffers and posts every RX
// buffer (without notifying: the device is not live yet).
// The offloads follow the negotiated features f, which include HOST_TSO4
// and GUEST_TSO4 only with cfg.VnetHdr (newDevice).
func newQueuePair(t Transport, mem Memory, k, rxSize, txSize int, f Features, cfg Config) (*QueuePair, error) {
	q := &QueuePair{
		index:      k,
		t:          t,
		rxVQ:       2 * k,
		txVQ:       2*k + 1,
		irq:        make(chan struct{}, 1),
		done:       make(chan struct{}),
		guestCsum:  f.Has(NetGuestCsum),
		hostCsum:   f.Has(NetCsum),
		hostTSO:    f.Has(NetHostTSO4),
		vnetHdr:    cfg.VnetHdr,
		partialTCP: cfg.VnetHdr && cfg.PartialTCP,
	}
	eventIdx := f.Has(RingEventIdx)
	var err error
	if q.rxRing, err = newSplitRing(mem, rxSize, eventIdx); err != nil {
		return nil, err
	}
	if q.txRing, err = newSplitRing(mem, txSize, eventIdx); err != nil {
		return nil, err
	}
	q.rxBufSize, q.rxStride = bufSize, bufStride
	if f.Has(NetGuestTSO4) {
		q.rxBufSize, q.rxStride = bigBufSize, bigBufStride
	}
	rxb, err := mem.Alloc(rxSize*q.rxStride, 64)
	if err != nil {
		return nil, fmt.Errorf("virtio: allocate RX buffers: %w", err)
	}
	txb, err := mem.Alloc(txSize*bufStride, 64)
	if err != nil {
		return nil, fmt.Errorf("virtio: allocate TX buffers: %w", err)
	}
	q.rxBufs, q.txBufs = rxb.Bytes[:rxSize*q.rxStride], txb.Bytes[:txSize*bufStride]
	q.txAddr = txb.Addr
	if q.hostTSO {
		big, err := mem.Alloc(txBigBuffers*bigBufStride, 64)
		if err != nil {
			return nil, fmt.Errorf("virtio: allocate TSO buffers: %w", err)
		}
		q.txBig, q.txBigAddr = big.Bytes[:txBigBuffers*bigBufStride], big.Addr
		for i := range txBigBuffers {
			q.txBigFree = append(q.txBigFree, uint16(txBigBuffers-1-i))
		}
		q.txBigOf = make([]uint16, txSize)
	}
	q.rxPosted = make([]bool, rxSize)
	for i := range rxSize {
		q.rxRing.setDesc(uint16(i), rxb.Addr+uint64(i*q.rxStride), uint32(q.rxBufSize), descFWrite, 0)
		q.rxRing.push(uint16(i))
		q.rxPosted[i] = true
	}
	q.txInflight = make([]bool, txSize)
	q.txFree = make([]uint16, 0, txSize)
	for i := range txSize {
		// TX headers start zero (flags 0, GSO_NONE); only Config.VnetHdr
		// writes them.
		q.txRing.setDesc(uint16(i), txb.Addr+uint64(i*bufStride), NetHdrSize, 0, 0)
		q.txFree = append(q.txFree, uint16(txSize-1-i))
	}
	q.rxRing.publish()
	q.rxRing.suppress()
	q.txRing.suppress() // TX completions are reclaimed by Transmit, never by interrupt
	return q, nil
}

// setup registers both rings with the device.
func (q *QueuePair) setup() error {
	for _, x := range []struct {
		vq int
		r  *splitRing
	}{{q.rxVQ, q.rxRing}, {q.txVQ, q.txRing}} {
		d, drv, dev := x.r.addrs()
		if err := q.t.SetupQueue(x.vq, int(x.r.mask)+1, d, drv, dev); err != nil {
			return err
		}
	}
	return nil
}

// Index returns the pair's number k (receiveq k+1 and transmitq k+1 in the
// spec's 1-based names).
func (q *QueuePair) Index() int { return q.index }

// Counters returns the pair's statistics.
func (q *QueuePair) Counters() *Counters { return &q.counters }

// SetMode switches how Receive waits; a Receive blocked in Interrupts mode
// wakes up and continues in the new mode.
func (q *QueuePair) SetMode(m Mode) {
	q.mode.Store(int32(m))
	q.Interrupt()
}

// Mode returns how Receive waits.
func (q *QueuePair) Mode() Mode { return Mode(q.mode.Load()) }

// Interrupt wakes a Receive blocked waiting for frames. The board calls it
// from the queue's IRQ handler (after acknowledging the interrupt, see
// Device.HandleInterrupt); it never blocks and is safe from any goroutine.
func (q *QueuePair) Interrupt() {
	select {
	case q.irq <- struct{}{}:
	default:
	}
}

// close makes Receive return percpu.ErrClosed.
func (q *QueuePair) close() {
	if q.closed.CompareAndSwap(false, true) {
		close(q.done)
	}
}

// Receive waits until at least one frame has arrived, copies up to len(bufs)
// frames into bufs (without virtio_net_hdr), stores their lengths in sizes,
// gives the buffers back to the device in one batch with at most one
// notification, and returns how many frames it copied. It returns
// percpu.ErrClosed once the device is closed. Frames marked NEEDS_CSUM have
// their checksum completed; malformed used entries are counted and skipped.
// With Config.VnetHdr each frame starts with a virtio_net_hdr whose only
// flag is DATA_VALID, for a checksum the device or the driver checked, or
// NEEDS_CSUM for a TCP checksum left partial (Config.PartialTCP).
func (q *QueuePair) Receive(bufs [][]byte, sizes []int) (int, error) {
	want := min(len(bufs), len(sizes))
	if want == 0 {
		return 0, nil
	}
	idle := 0
	for {
		if q.closed.Load() {
			return 0, percpu.ErrClosed
		}
		if n := q.poll(bufs[:want], sizes); n > 0 {
			return n, nil
		}
		if Mode(q.mode.Load()) == Interrupts {
			q.wait()
			continue
		}
		if idle++; idle%pollParkEvery == 0 {
			time.Sleep(pollPark)
		} else {
			runtime.Gosched()
		}
	}
}

// Parking in Polling mode. Gosched alone is not enough on TamaGo (measured
// on QEMU microvm, 2 vCPUs, 20 parallel proxied connections): Gosched puts
// the poller on the global run queue, so its core always finds work there
// and never steals from the other core's local queue. When the other core
// runs a loop that spins without yielding until some goroutine queued
// behind it runs (gVisor's TCP processor retries ep.mu.TryLock that way),
// both cores stay busy for ever and the appliance hangs. Parking briefly
// leaves the poller's core with nothing queued, so the scheduler steals the
// starved goroutine and the spin ends.
const (
	// pollParkEvery is how many empty polls go by between parks.
	pollParkEvery = 64
	// pollPark is how long the poller parks.
	pollPark = 20 * time.Microsecond
)

// TryReceive is Receive without the wait: it copies the frames that have
// already arrived, possibly none. A board uses it before the worker owns the
// queue, for example to run DHCP on raw frames with its own timeouts.
func (q *QueuePair) TryReceive(bufs [][]byte, sizes []int) (int, error) {
	if q.closed.Load() {
		return 0, percpu.ErrClosed
	}
	want := min(len(bufs), len(sizes))
	if want == 0 {
		return 0, nil
	}
	return q.poll(bufs[:want], sizes), nil
}

// wait arms the RX interrupt and sleeps until Interrupt or close, unless
// frames arrived while arming.
func (q *QueuePair) wait() {
	r := q.rxRing
	if r.arm() {
		r.suppress()
		return
	}
	q.counters.RxSleeps.Add(1)
	select {
	case <-q.irq:
	case <-q.done:
	}
	r.suppress()
	q.counters.RxWakeups.Add(1)
}

// poll takes up to len(bufs) used RX entries, copies their frames out and
// reposts the buffers.
func (q *QueuePair) poll(bufs [][]byte, sizes []int) int {
	r := q.rxRing
	used := r.usedIdx()
	if used == r.lastUsed {
		return 0
	}
	var n, refills, malformed, drops, bytes, csumDone, csumValid, csumPartial int
	room := 0 // the caller's header
	if q.vnetHdr {
		room = nethdr.Size
	}
	for r.lastUsed != used && n < len(bufs) {
		id, length := r.usedElem(r.lastUsed)
		r.lastUsed++
		if id >= uint32(len(q.rxPosted)) || !q.rxPosted[id] {
			malformed++ // not ours to repost
			continue
		}
		buf := q.rxBufs[int(id)*q.rxStride:][:q.rxBufSize]
		switch {
		case length < NetHdrSize || int(length) > q.rxBufSize:
			malformed++
		case room+int(length)-NetHdrSize > len(bufs[n]):
			drops++
		default:
			frame := bufs[n][room : room+copy(bufs[n][room:], buf[NetHdrSize:length])]
			ok := true
			h := nethdr.Parse(buf)
			out := nethdr.Hdr{Flags: h.Flags & nethdr.DataValid} // the caller's header
			switch {
			case h.Flags&nethdr.NeedsCsum != 0 && q.guestCsum && q.partialTCP && h.CsumOffset == tcpCsumOffset:
				out = nethdr.Hdr{Flags: nethdr.NeedsCsum, CsumStart: h.CsumStart, CsumOffset: h.CsumOffset}
				csumPartial++
			case h.Flags&nethdr.NeedsCsum != 0 && q.guestCsum:
				if ok = completeChecksum(frame, int(h.CsumStart), int(h.CsumOffset)); ok {
					csumDone++
				}
				out.Flags = nethdr.DataValid
			case h.Flags&nethdr.DataValid != 0:
				csumValid++
			}
			if ok {
				if room > 0 {
					out.Put(bufs[n])
				}
				sizes[n] = room + len(frame)
				bytes += len(frame)
				n++
			} else {
				drops++
			}
		}
		// Give the buffer back; RX descriptors never change.
		r.push(uint16(id))
		refills++
	}
	if refills > 0 {
		r.publish()
		if r.kick() {
			q.t.Notify(q.rxVQ)
			q.counters.RxKicks.Add(1)
		}
		q.counters.RxRefills.Add(uint64(refills))
	}
	r.suppress()
	c := &q.counters
	if n > 0 {
		c.RxFrames.Add(uint64(n))
		c.RxBytes.Add(uint64(bytes))
	}
	if malformed > 0 {
		c.RxMalformed.Add(uint64(malformed))
	}
	if drops > 0 {
		c.RxDrops.Add(uint64(drops))
	}
	if csumDone > 0 {
		c.RxCsumCompleted.Add(uint64(csumDone))
	}
	if csumValid > 0 {
		c.RxCsumValid.Add(uint64(csumValid))
	}
	if csumPartial > 0 {
		c.RxCsumPartial.Add(uint64(csumPartial))
	}
	return n
}

// Transmit copies frames into free TX buffers, publishes them in one batch
// with at most one notification (none if the device's avail_event says it is
// still busy), and returns how many it sent. Completed descriptors are
// reclaimed in a batch first. Empty frames and frames over MaxFrame are
// skipped; when the ring stays full for txFullSpins yields the rest are
// dropped. Both count as TxDrops and make the count fall short of
// len(frames). The queue keeps no reference to frames.
//
// TX checksums are left to the stack: frames go out with a zero
// virtio_net_hdr (no NEEDS_CSUM, no GSO), unless Config.VnetHdr gives each
// frame its own.
func (q *QueuePair) Transmit(frames [][]byte) (int, error) {
	if q.closed.Load() {
		return 0, percpu.ErrClosed
	}
	q.txMu.Lock()
	defer q.txMu.Unlock()
	r := q.txRing
	q.reclaimLocked()
	var sent, bytes, drops, kicks int
	for i, f := range frames {
		var h nethdr.Hdr
		limit := percpu.MaxFrame
		if q.vnetHdr {
			if len(f) < nethdr.Size {
				drops++
				continue
			}
			h, f = nethdr.Parse(f), f[nethdr.Size:]
			if h.GSOType != nethdr.GSONone {
				if !q.hostTSO || h.GSOType != nethdr.GSOTCPv4 {
					drops++
					continue
				}
				limit = maxTSOFrame
			}
		}
		if len(f) == 0 || len(f) > limit {
			drops++
			continue
		}
		big := len(f) > percpu.MaxFrame
		for spins := 0; len(q.txFree) == 0 || big && len(q.txBigFree) == 0; spins++ {
			if spins == txFullSpins {
				drops += len(frames) - i
				goto out
			}
			r.publish()
			if r.kick() {
				q.t.Notify(q.txVQ)
				kicks++
			}
			runtime.Gosched()
			q.reclaimLocked()
		}
		id := q.txFree[len(q.txFree)-1]
		q.txFree = q.txFree[:len(q.txFree)-1]
		var slot []byte
		if big {
			b := q.txBigFree[len(q.txBigFree)-1]
			q.txBigFree = q.txBigFree[:len(q.txBigFree)-1]
			q.txBigOf[id] = b + 1
			slot = q.txBig[int(b)*bigBufStride:][:NetHdrSize+len(f)]
			r.setDesc(id, q.txBigAddr+uint64(b)*bigBufStride, uint32(len(slot)), 0, 0)
		} else {
			slot = q.txBufs[int(id)*bufStride:][:NetHdrSize+len(f)]
		}
		copy(slot[NetHdrSize:], f)
		if q.vnetHdr {
			if h.Flags&nethdr.NeedsCsum != 0 && !q.hostCsum {
				if !completeChecksum(slot[NetHdrSize:], int(h.CsumStart), int(h.CsumOffset)) {
					q.releaseTx(id)
					drops++
					continue
				}
				h.Flags &^= nethdr.NeedsCsum
			}
			if h.GSOType == nethdr.GSONone {
				h.HdrLen, h.GSOSize = 0, 0
			}
			h.Put(slot)
		}
		r.setDescLen(id, uint32(len(slot)))
		r.push(id)
		q.txInflight[id] = true
		sent++
		bytes += len(f)
	}
out:
	r.publish()
	if r.kick() {
		q.t.Notify(q.txVQ)
		kicks++
	}
	c := &q.counters
	if sent > 0 {
		c.TxFrames.Add(uint64(sent))
		c.TxBytes.Add(uint64(bytes))
	}
	if drops > 0 {
		c.TxDrops.Add(uint64(drops))
	}
	if kicks > 0 {
		c.TxKicks.Add(uint64(kicks))
	}
	return sent, nil
}

// releaseTx returns TX descriptor id to the free stack, and the large
// buffer it pointed to, if any, to theirs. The caller holds txMu.
func (q *QueuePair) releaseTx(id uint16) {
	if q.txBigOf != nil && q.txBigOf[id] != 0 {
		q.txBigFree = append(q.txBigFree, q.txBigOf[id]-1)
		q.txBigOf[id] = 0
		q.txRing.setDesc(id, q.txAddr+uint64(id)*bufStride, NetHdrSize, 0, 0)
	}
	q.txFree = append(q.txFree, id)
}

// reclaimLocked returns every TX descriptor the device has used to the free
// stack. The caller holds txMu.
func (q *QueuePair) reclaimLocked() {
	r := q.txRing
	used := r.usedIdx()
	if used == r.lastUsed {
		return
	}
	var got, malformed int
	for ; r.lastUsed != used; r.lastUsed++ {
		id, _ := r.usedElem(r.lastUsed)
		if id >= uint32(len(q.txInflight)) || !q.txInflight[id] {
			malformed++
			continue
		}
		q.txInflight[id] = false
		q.releaseTx(uint16(id))
		got++
	}
	r.suppress()
	q.counters.TxReclaimed.Add(uint64(got))
	if malformed > 0 {
		q.counters.TxMalformed.Add(uint64(malformed))
	}
}
