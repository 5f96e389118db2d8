//go:build linux

package hosted

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/bareproxy/bareproxy/percpu"
)

// txQueueLimit bounds the frames a queue holds for its writer; Transmit
// waits for room beyond it, as a driver waits for a full virtqueue.
const txQueueLimit = 4096

// yieldBelow is the batch size under which a woken writer yields once
// before it takes the batch. In mode http keep-alive, where each
// connection's goroutine transmits a frame or two at a time, the yield
// took the appliance from 53-60k to 62-65k req/s and its p99 from 2.6-2.8
// to 2.0-2.5 ms (alternating runs); mode tcp, whose frames come from the
// workers in batches, did not change.
const yieldBelow = 8

// maxSpare bounds the written frames' buffers a queue keeps for reuse:
// enough for the bursts of a busy core, while a burst of 64 KiB TSO
// frames that filled the queue does not stay allocated.
const maxSpare = 512

// minEthernetFrame is the length of an Ethernet header: the kernel refuses
// anything shorter (EINVAL), so Transmit refuses it at once.
const minEthernetFrame = 14

// txQueue holds a queue's outgoing frames for its writer goroutine, which
// plays the part a virtio device plays on bare metal: Transmit copies the
// frames in and returns, and the writer makes the write(2)s. A TAP write
// carries the frame through the kernel's bridge and into the receiving
// socket on the caller's thread, about 4 µs a frame here; done by the
// core's pinned worker, it made that thread the busiest on its CPU, the
// kernel's fair scheduler then made it wait behind the load generator and
// the backends, and mode tcp's p99 went from 2 to 10 ms. The writer is an
// ordinary goroutine that the Go scheduler runs on whichever thread is
// free. One writer per queue keeps the frames in Transmit's order.
type txQueue struct {
	mu      sync.Mutex
	ready   sync.Cond // the writer waits on it for frames
	room    sync.Cond // Transmit waits on it while the queue is full
	pending [][]byte  // copies, in order
	spare   [][]byte  // buffers of frames written, for reuse
	closed  bool
	dropped atomic.Uint64 // frames the kernel refused or Close discarded
	done    chan struct{} // closed when the writer returns
}

func (tq *txQueue) init() {
	tq.ready.L = &tq.mu
	tq.room.L = &tq.mu
	tq.done = make(chan struct{})
}

// enqueue copies frames into the queue and returns how many it took:
// all but those too short to be Ethernet frames. It waits while the queue
// is full and returns percpu.ErrClosed after close.
func (tq *txQueue) enqueue(frames [][]byte) (int, error) {
	tq.mu.Lock()
	defer tq.mu.Unlock()
	n := 0
	for _, f := range frames {
		if len(f) < minEthernetFrame {
			continue
		}
		for len(tq.pending) >= txQueueLimit && !tq.closed {
			tq.room.Wait()
		}
		if tq.closed {
			return n, percpu.ErrClosed
		}
		var b []byte
		if k := len(tq.spare); k > 0 {
			b = tq.spare[k-1]
			tq.spare[k-1] = nil
			tq.spare = tq.spare[:k-1]
		}
		tq.pending = append(tq.pending, append(b[:0], f...))
		n++
	}
	if n > 0 {
		tq.ready.Signal()
	}
	return n, nil
}

// run is the writer: it takes every pending frame at once and writes them
// with write, until close.
func (tq *txQueue) run(write func(frames [][]byte) (int, error)) {
	defer close(tq.done)
	var batch [][]byte
	tq.mu.Lock()
	for {
		for len(tq.pending) == 0 && !tq.closed {
			tq.ready.Wait()
		}
		if tq.closed {
			tq.dropped.Add(uint64(len(tq.pending)))
			tq.pending = nil
			tq.mu.Unlock()
			return
		}
		if len(tq.pending) < yieldBelow {
			// Woken for a few frames: let the goroutines that are
			// ready run first, so that their frames join this batch
			// (cheap when none is: Gosched comes straight back).
			tq.mu.Unlock()
			runtime.Gosched()
			tq.mu.Lock()
			if tq.closed {
				continue
			}
		}
		batch, tq.pending = tq.pending, batch[:0]
		tq.room.Broadcast()
		tq.mu.Unlock()
		sent, _ := write(batch) // a closed fd shows as closed below
		tq.dropped.Add(uint64(len(batch) - sent))
		tq.mu.Lock()
		keep := min(len(batch), maxSpare-len(tq.spare))
		tq.spare = append(tq.spare, batch[:max(keep, 0)]...)
		clear(batch)
	}
}

// stop makes enqueue fail and the writer return, discarding what it has
// not taken; a write in progress ends when the fd closes.
func (tq *txQueue) stop() {
	tq.mu.Lock()
	tq.closed = true
	tq.ready.Broadcast()
	tq.room.Broadcast()
	tq.mu.Unlock()
}
