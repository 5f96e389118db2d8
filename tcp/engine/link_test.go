package engine

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

// memLink carries frames from one engine to another in memory, with
// optional loss, reordering and duplication. Transmit queues copies; a
// linkWorker's goroutine delivers them in batches, so Transmit never calls
// into an engine.
type memLink struct {
	mu      sync.Mutex
	q       [][]byte
	held    []byte // a frame held back to reorder it after the next
	rng     *rand.Rand
	deliver func(frames [][]byte)
	w       *linkWorker
	batch   [][]byte // the worker's, between drains
	// free holds delivered frames' buffers for reuse, under mu: a
	// sync.Pool of *[]byte cost an allocation per frame, half of the
	// benchmark's allocations, none of them the engine's.
	free    [][]byte
	imp     impairment
	sent    atomic.Uint64
	dropped atomic.Uint64
	// tap, if set, sees every frame before impairment.
	tap func(frame []byte)
}

// impairment is a link's misbehaviour, as probabilities per frame.
type impairment struct {
	loss, reorder, dup float64
}

func newMemLink(seed uint64, imp impairment) *memLink {
	return &memLink{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), imp: imp}
}

func (l *memLink) start(to *Engine) {
	l.startFunc(func(frames [][]byte) { to.DeliverBatch(frames, nil) })
}

// startFunc starts delivering batches of frames to deliver, on a worker of
// the link's own.
func (l *memLink) startFunc(deliver func(frames [][]byte)) {
	l.deliver = deliver
	startWorker(l)
}

func (l *memLink) stop() { l.w.stop() }

// linkWorker delivers the frames of one or more links on one goroutine.
// Given both links of a pair, it is that pair's core worker: as a core's
// worker serves its NIC queue in both directions, a frame that one engine
// sends while handling a batch is delivered on the worker's next pass, with
// no goroutine woken for it.
type linkWorker struct {
	links  []*memLink
	notify chan struct{}
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// startWorker starts one worker for links, whose deliver funcs are set.
func startWorker(links ...*memLink) *linkWorker {
	w := &linkWorker{links: links, notify: make(chan struct{}, 1), done: make(chan struct{})}
	for _, l := range links {
		l.w = w
	}
	w.wg.Add(1)
	go w.run()
	return w
}

func (w *linkWorker) stop() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}

func (w *linkWorker) run() {
	defer w.wg.Done()
	for {
		select {
		case <-w.done:
			return
		case <-w.notify:
		}
		for busy := true; busy; {
			busy = false
			for _, l := range w.links {
				busy = l.drain() || busy
			}
		}
	}
}

// copyFrame copies f into a free buffer; l.mu must be held.
func (l *memLink) copyFrame(f []byte) []byte {
	var b []byte
	if n := len(l.free); n > 0 {
		b = l.free[n-1][:0]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
	} else {
		b = make([]byte, 0, max(len(f), 9100))
	}
	return append(b, f...)
}

// Transmit is a Config.Transmit.
func (l *memLink) Transmit(frames [][]byte) {
	l.mu.Lock()
	for _, f := range frames {
		if l.tap != nil {
			l.tap(f)
		}
		l.sent.Add(1)
		if l.imp.loss > 0 && l.rng.Float64() < l.imp.loss {
			l.dropped.Add(1)
			continue
		}
		c := l.copyFrame(f)
		if l.imp.dup > 0 && l.rng.Float64() < l.imp.dup {
			l.q = append(l.q, l.copyFrame(f))
		}
		if l.imp.reorder > 0 && l.held == nil && l.rng.Float64() < l.imp.reorder {
			l.held = c
			continue
		}
		l.q = append(l.q, c)
		if l.held != nil {
			l.q = append(l.q, l.held)
			l.held = nil
		}
	}
	l.mu.Unlock()
	select {
	case l.w.notify <- struct{}{}:
	default:
	}
}

// drain delivers the frames queued on l, if any, and reports whether there
// were any. Only l's worker calls it.
func (l *memLink) drain() bool {
	l.mu.Lock()
	batch := l.batch
	batch, l.q = l.q, batch[:0]
	if len(batch) == 0 && l.held != nil { // never strand a held frame
		batch = append(batch, l.held)
		l.held = nil
	}
	l.mu.Unlock()
	if len(batch) == 0 {
		l.batch = batch
		return false
	}
	l.deliver(batch)
	l.mu.Lock()
	l.free = append(l.free, batch...)
	l.mu.Unlock()
	clear(batch)
	l.batch = batch[:0]
	return true
}

// pair is two engines joined by two links.
type pair struct {
	a, b   *Engine
	ab, ba *memLink // a's frames to b, b's to a
	addrA  netip.Addr
	addrB  netip.Addr
	macA   [6]byte
	macB   [6]byte
}

var (
	testAddrA = netip.MustParseAddr("10.9.0.1")
	testAddrB = netip.MustParseAddr("10.9.0.2")
	testMACA  = [6]byte{0x02, 0, 0, 0, 0, 0xa}
	testMACB  = [6]byte{0x02, 0, 0, 0, 0, 0xb}
)

func newPair(t testing.TB, imp impairment, mod func(*Config)) *pair {
	t.Helper()
	p := &pair{addrA: testAddrA, addrB: testAddrB, macA: testMACA, macB: testMACB}
	p.ab = newMemLink(1, imp)
	p.ba = newMemLink(2, imp)
	ca := Config{Addr: p.addrA, MAC: p.macA, Transmit: p.ab.Transmit,
		Resolve: func(netip.Addr) ([6]byte, bool) { return p.macB, true }}
	cb := Config{Addr: p.addrB, MAC: p.macB, Transmit: p.ba.Transmit,
		Resolve: func(netip.Addr) ([6]byte, bool) { return p.macA, true }}
	// Unwanted segments get a RST, as they will from gVisor behind tcp.Core.
	ca.ResetUnknown, cb.ResetUnknown = true, true
	if mod != nil {
		mod(&ca)
		mod(&cb)
	}
	p.a, p.b = New(ca), New(cb)
	p.ab.deliver = func(frames [][]byte) { p.b.DeliverBatch(frames, nil) }
	p.ba.deliver = func(frames [][]byte) { p.a.DeliverBatch(frames, nil) }
	w := startWorker(p.ab, p.ba)
	t.Cleanup(func() {
		p.a.Close()
		p.b.Close()
		w.stop()
	})
	return p
}

// newPairListening is newPair with a listener on a's port 80.
func newPairListening(t testing.TB, imp impairment, mod func(*Config)) (*pair, *Listener) {
	t.Helper()
	p := newPair(t, imp, mod)
	l, err := p.a.Listen(80)
	if err != nil {
		t.Fatal(err)
	}
	return p, l
}

// states counts the engine's connections by state.
func (e *Engine) states() map[State]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := map[State]int{}
	for _, t := range e.conns {
		m[t.state]++
	}
	return m
}
