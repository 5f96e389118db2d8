// Package percpu is the per-core runtime: N workers, one per core, each
// owning one NIC queue and one network stack instance, moving frames between
// them in batches, and keeping per-core counters.
//
// A worker receives a batch from its queue, asks its stack which core owns
// each frame, delivers its own frames in one call, and forwards the rest to
// the owner's inbox. With the NIC steering right (RSS or hosted mode's eBPF
// program) forwarding never happens, and each forward is counted as a
// steering miss; without NIC steering it is the software fallback.
//
// The package knows nothing of TCP or HTTP: frames are opaque byte slices and
// the stack behind the Stack interface decides who owns them. It builds for
// Linux and for GOOS=tamago; only pinning differs between them.
package percpu

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Steering verdicts returned by Stack.Steer besides a core index.
const (
	// All marks a frame that every core must see, such as ARP.
	All = -1
	// Drop marks a malformed frame: it is counted and dropped.
	Drop = -2
)

// Queue is one NIC queue pair. A Queue is owned by one worker, which is the
// only caller of Receive; Transmit may be called from any goroutine.
type Queue interface {
	// Receive waits until at least one frame has arrived, copies up to
	// len(bufs) frames into bufs, stores their lengths in sizes, and
	// returns how many it copied. Each buffer holds at least MaxFrame
	// bytes (Runtime.FrameSize if larger).
	Receive(bufs [][]byte, sizes []int) (int, error)
	// Transmit sends frames in order, or queues them for the device to
	// send in order, and returns how many it took. The queue does not
	// keep the slices after it returns.
	Transmit(frames [][]byte) (int, error)
}

// Stack is the per-core network stack that a worker feeds.
type Stack interface {
	// Steer returns the core that owns frame, All, or Drop. It must not
	// keep frame.
	Steer(frame []byte) int
	// Deliver hands received frames to the stack, which copies what it
	// keeps. It may be called from the worker and from its inbox loop at
	// the same time.
	Deliver(frames [][]byte)
}

// MaxFrame is the size of each receive buffer: an Ethernet frame with a
// 1500-byte MTU, a VLAN tag and room to spare.
const MaxFrame = 1536

// BatchSize is how many frames a worker takes from its queue per wake-up.
const BatchSize = 64

// inboxDepth bounds the frames waiting to be forwarded to one core; beyond
// it forwards are dropped and counted, as a NIC drops on a full ring.
const inboxDepth = 1024

// Counters are one core's statistics. Each field is written by its own core
// (or by the stack running on it) and read by anyone, so the struct is
// padded to keep cores off each other's cache lines.
type Counters struct {
	FramesIn       atomic.Uint64 // frames received from this core's queue
	FramesOut      atomic.Uint64 // frames transmitted on this core's queue
	Drops          atomic.Uint64 // malformed frames, failed transmits, full inboxes
	Accepted       atomic.Uint64 // connections accepted by this core's stack
	Dialled        atomic.Uint64 // connections dialled from this core's stack
	SteeringMisses atomic.Uint64 // frames that arrived on this core but belong to another
	_              [16]byte
}

// Snapshot is a plain copy of Counters, for reporting.
type Snapshot struct {
	FramesIn, FramesOut, Drops, Accepted, Dialled, SteeringMisses uint64
}

// Snapshot reads every counter once.
func (c *Counters) Snapshot() Snapshot {
	return Snapshot{
		FramesIn:       c.FramesIn.Load(),
		FramesOut:      c.FramesOut.Load(),
		Drops:          c.Drops.Load(),
		Accepted:       c.Accepted.Load(),
		Dialled:        c.Dialled.Load(),
		SteeringMisses: c.SteeringMisses.Load(),
	}
}

// Runtime is a set of workers, one per queue.
type Runtime struct {
	workers []*worker
	// Pin, if set, binds the calling goroutine to core k. Hosted mode pins
	// each worker's OS thread; bare metal must not lock threads (TamaGo
	// has one M per core and panics when a locked goroutine blocks).
	Pin func(k int) error
	// FrameSize is the size of each worker's receive buffers. Zero, or
	// anything below MaxFrame, means MaxFrame. A NIC that hands over
	// frames larger than an Ethernet frame (a TAP with segmentation
	// offload: up to 64 KiB) needs more; set it before Run.
	FrameSize int
}

type worker struct {
	index    int
	queue    Queue
	stack    Stack
	rt       *Runtime
	counters Counters
	inbox    chan []byte
}

// New returns a runtime with one worker per queue. It starts nothing.
func New(queues []Queue) *Runtime {
	rt := &Runtime{}
	for i, q := range queues {
		rt.workers = append(rt.workers, &worker{
			index: i,
			queue: q,
			rt:    rt,
			inbox: make(chan []byte, inboxDepth),
		})
	}
	return rt
}

// Cores returns the number of workers.
func (rt *Runtime) Cores() int { return len(rt.workers) }

// Counters returns core k's counters.
func (rt *Runtime) Counters(k int) *Counters { return &rt.workers[k].counters }

// Link returns core k's transmit side, which counts what it sends. The stack
// on core k transmits through it.
func (rt *Runtime) Link(k int) *Link { return &Link{w: rt.workers[k]} }

// Run feeds stacks[k] from queue k until ctx is done or a queue fails. It
// returns the first queue error, or nil when ctx ended the run.
func (rt *Runtime) Run(ctx context.Context, stacks []Stack) error {
	if len(stacks) != len(rt.workers) {
		return fmt.Errorf("percpu: %d stacks for %d queues", len(stacks), len(rt.workers))
	}
	for i, s := range stacks {
		rt.workers[i].stack = s
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(rt.workers))
	for _, w := range rt.workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := w.receiveLoop(ctx); err != nil {
				errs <- err
				cancel()
			}
		}()
		go func() {
			defer wg.Done()
			w.inboxLoop(ctx)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// receiveLoop is worker k's main loop. It returns nil once ctx is done; a
// blocked Receive is unblocked by the board closing its queues.
func (w *worker) receiveLoop(ctx context.Context) error {
	if w.rt.Pin != nil {
		if err := w.rt.Pin(w.index); err != nil {
			return fmt.Errorf("percpu: pin worker %d: %w", w.index, err)
		}
	}
	bufs := make([][]byte, BatchSize)
	for i := range bufs {
		bufs[i] = make([]byte, max(w.rt.FrameSize, MaxFrame))
	}
	sizes := make([]int, BatchSize)
	local := make([][]byte, 0, BatchSize)
	for ctx.Err() == nil {
		n, err := w.queue.Receive(bufs, sizes)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return nil
			}
			return fmt.Errorf("percpu: queue %d: %w", w.index, err)
		}
		w.counters.FramesIn.Add(uint64(n))
		local = local[:0]
		for i := range n {
			frame := bufs[i][:sizes[i]]
			switch core := w.stack.Steer(frame); {
			case core == w.index:
				local = append(local, frame)
			case core == All:
				local = append(local, frame)
				for _, other := range w.rt.workers {
					if other != w {
						w.forward(other, frame)
					}
				}
			case core >= 0 && core < len(w.rt.workers):
				w.counters.SteeringMisses.Add(1)
				w.forward(w.rt.workers[core], frame)
			default:
				w.counters.Drops.Add(1)
			}
		}
		if len(local) > 0 {
			w.stack.Deliver(local)
		}
	}
	return nil
}

// forward copies frame into other's inbox. The copy is the price of a
// steering miss; the steady state has none.
func (w *worker) forward(other *worker, frame []byte) {
	select {
	case other.inbox <- append([]byte(nil), frame...):
	default:
		w.counters.Drops.Add(1)
	}
}

// inboxLoop delivers frames forwarded by other cores.
func (w *worker) inboxLoop(ctx context.Context) {
	batch := make([][]byte, 0, BatchSize)
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-w.inbox:
			batch = append(batch[:0], f)
		drain:
			for len(batch) < BatchSize {
				select {
				case f := <-w.inbox:
					batch = append(batch, f)
				default:
					break drain
				}
			}
			w.stack.Deliver(batch)
		}
	}
}

// ErrClosed is returned by a Queue's Receive after the board closed it; a
// worker takes it as the end of its run.
var ErrClosed = errors.New("percpu: queue closed")

// Link is one core's transmit side: it sends on the core's queue and counts
// frames out and failed transmits.
type Link struct {
	w *worker
}

// Transmit sends frames on the core's queue. Frames the queue could not send
// are counted as drops and are not retried.
func (l *Link) Transmit(frames [][]byte) (int, error) {
	n, err := l.w.queue.Transmit(frames)
	l.w.counters.FramesOut.Add(uint64(n))
	if n < len(frames) {
		l.w.counters.Drops.Add(uint64(len(frames) - n))
	}
	return n, err
}
