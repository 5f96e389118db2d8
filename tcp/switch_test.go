package tcp

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bareproxy/bareproxy/percpu"
)

// wire carries frames from one stack's links to another stack, like a NIC
// with RSS: it steers each frame with the receiver's Steer and queues it
// for the owning core (every core for percpu.All). One goroutine per
// receiving core delivers, so Transmit never calls into a stack, and a
// full queue drops as a NIC ring does.
type wire struct {
	to      atomic.Pointer[Stack]
	queues  []chan *[]byte
	observe atomic.Pointer[func(frame []byte)]

	delivered, dropped, steeredDrop atomic.Uint64

	done chan struct{}
	wg   sync.WaitGroup
}

var framePool = sync.Pool{New: func() any { b := make([]byte, percpu.MaxFrame); return &b }}

func newWire(cores int) *wire {
	w := &wire{done: make(chan struct{})}
	for range cores {
		w.queues = append(w.queues, make(chan *[]byte, 4096))
	}
	return w
}

// start delivers into to.
func (w *wire) start(to *Stack) {
	w.to.Store(to)
	for k := range w.queues {
		w.wg.Add(1)
		go w.deliverLoop(k)
	}
}

func (w *wire) stop() {
	close(w.done)
	w.wg.Wait()
}

// link returns a Link that transmits onto the wire.
func (w *wire) link() Link { return w }

// Transmit implements Link.
func (w *wire) Transmit(frames [][]byte) (int, error) {
	to := w.to.Load()
	for _, f := range frames {
		if obs := w.observe.Load(); obs != nil {
			(*obs)(f)
		}
		if to == nil {
			w.dropped.Add(1)
			continue
		}
		switch k := to.Core(0).Steer(f); k {
		case percpu.Drop:
			w.steeredDrop.Add(1)
		case percpu.All:
			for q := range w.queues {
				w.enqueue(q, f)
			}
		default:
			w.enqueue(k, f)
		}
	}
	return len(frames), nil
}

func (w *wire) enqueue(k int, f []byte) {
	b := framePool.Get().(*[]byte)
	*b = append((*b)[:0], f...)
	select {
	case w.queues[k] <- b:
	default:
		w.dropped.Add(1)
		framePool.Put(b)
	}
}

// deliverLoop is receiving core k's worker.
func (w *wire) deliverLoop(k int) {
	defer w.wg.Done()
	core := w.to.Load().Core(k)
	var bufs []*[]byte
	var batch [][]byte
	for {
		select {
		case <-w.done:
			return
		case b := <-w.queues[k]:
			bufs = append(bufs[:0], b)
		more:
			for len(bufs) < percpu.BatchSize {
				select {
				case b := <-w.queues[k]:
					bufs = append(bufs, b)
				default:
					break more
				}
			}
			batch = batch[:0]
			for _, b := range bufs {
				batch = append(batch, *b)
			}
			core.Deliver(batch)
			w.delivered.Add(uint64(len(batch)))
			for _, b := range bufs {
				framePool.Put(b)
			}
		}
	}
}

// pair is two stacks joined by wires: ab carries A's frames to B.
type pair struct {
	a, b   *Stack
	ab, ba *wire
}

// newPair builds A (10.0.0.1) and B (10.0.0.2) with the given steerings and
// closes both when the test ends. observeAB and observeBA, if not nil, see
// every frame on the wires before traffic starts.
func newPair(t testing.TB, sa, sb Steering) *pair {
	return newPairWith(t, sa, sb, nil)
}

// newPairWith is newPair with mod, if not nil, applied to both stacks'
// configurations.
func newPairWith(t testing.TB, sa, sb Steering, mod func(*Config)) *pair {
	return newPairMods(t, sa, sb, mod, mod)
}

// newPairMods is newPair with modA and modB, if not nil, applied to A's
// and B's configurations.
func newPairMods(t testing.TB, sa, sb Steering, modA, modB func(*Config)) *pair {
	t.Helper()
	p := &pair{ab: newWire(sb.Cores()), ba: newWire(sa.Cores())}
	p.a = newTestStack(t, addrA, macA, sa, p.ab, modA)
	p.b = newTestStack(t, addrB, macB, sb, p.ba, modB)
	p.ab.start(p.b)
	p.ba.start(p.a)
	t.Cleanup(func() {
		p.a.Close()
		p.b.Close()
		p.ab.stop()
		p.ba.stop()
	})
	return p
}

func newTestStack(t testing.TB, addr netip.Prefix, mac []byte, s Steering, out *wire, mods ...func(*Config)) *Stack {
	t.Helper()
	links := make([]Link, s.Cores())
	counters := make([]*percpu.Counters, s.Cores())
	for k := range links {
		links[k] = out.link()
		counters[k] = new(percpu.Counters)
	}
	cfg := Config{Addr: addr, MAC: mac, Steering: s, Links: links, Counters: counters}
	for _, mod := range mods {
		if mod != nil {
			mod(&cfg)
		}
	}
	st, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return st
}
