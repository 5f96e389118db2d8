package proxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// Server connection pooling and request slots for mode http.
//
// Idle pools are per server and per core: a connection dialled on core k
// is only ever reused by a request served on core k, so its packets never
// change core (the stack that owns it is core k's). Reuse follows
// "http-reuse" (HAProxy configuration manual, section 4.2):
//   - never: a server connection serves only the client connection that
//     opened it (kept across that client's requests to the same server);
//   - safe (default): the first request of a client connection always gets
//     a fresh connection; later ones may take any idle one;
//   - aggressive: first requests may take idle connections that have
//     already been reused at least once;
//   - always: any request may take any idle connection.
//
// A pool keeps at most maxIdlePerCore connections per server and core and
// closes those idle for longer than poolIdleTimeout (HAProxy's default
// pool-purge-delay is 5s): a sweeper per backend and core, started with the
// first idle connection, closes them, and closes every idle connection of
// its core when the engine stops.
//
// Server maxconn counts requests being served, as HAProxy's does in mode
// http, over every core. A request finding every usable server full waits
// in its backend's queue on its own core (FIFO, at most maxQueuePerCore
// entries) for up to timeout queue (timeout connect when unset, as in
// HAProxy), then gets 503. A finishing request wakes the first waiter of
// its own core's queue, or of another core's when its own is empty: the
// only cross-core touch, and only while requests are queued.
const (
	maxIdlePerCore  = 128
	poolIdleTimeout = 5 * time.Second
	maxQueuePerCore = 4096
)

// backendHTTP is a backend's mode http state.
type backendHTTP struct {
	pools  [][]idlePool // [server index][core]
	queues []waitQueue  // per core
	// idle is how long a pooled connection may stay idle:
	// poolIdleTimeout, or a shorter time tests set.
	idle time.Duration
	// maxIdle bounds each pool: maxIdlePerCore, or what tests set.
	maxIdle int
}

// idlePool holds one server's idle connections on one core.
type idlePool struct {
	mu       sync.Mutex // mu protects conns and sweeping; only core k's sessions take it
	conns    []*serverConn
	sweeping bool
	_        [32]byte
}

// serverConn is a connection to a server with its read buffer.
type serverConn struct {
	tc     timedConn
	br     *bufio.Reader
	srv    *Server
	core   int
	uses   int       // requests sent over it
	idleAt time.Time // when it went idle
}

var serverReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

func newServerConn(c net.Conn, srv *Server, core int) *serverConn {
	sc := &serverConn{srv: srv, core: core}
	sc.tc.reset(c)
	sc.br = serverReaders.Get().(*bufio.Reader)
	sc.br.Reset(&sc.tc)
	return sc
}

// close closes the connection and recycles its buffer.
func (sc *serverConn) close() {
	sc.tc.c.Close()
	if sc.br != nil {
		sc.br.Reset(nil)
		serverReaders.Put(sc.br)
		sc.br = nil
	}
}

// initHTTP builds every backend's mode http state once; New calls the
// handler factories one after another, so no lock is needed.
func (p *Proxy) initHTTP() {
	n := len(p.cores)
	idle := poolIdleTimeout
	if p.opts.http.poolIdle > 0 {
		idle = p.opts.http.poolIdle
	}
	maxIdle := maxIdlePerCore
	if p.opts.http.poolMax > 0 {
		maxIdle = p.opts.http.poolMax
	}
	for _, b := range p.backends {
		if b.http != nil {
			continue
		}
		h := &backendHTTP{pools: make([][]idlePool, len(b.Servers)), queues: make([]waitQueue, n), idle: idle, maxIdle: maxIdle}
		for i := range h.pools {
			h.pools[i] = make([]idlePool, n)
		}
		b.http = h
	}
}

// takeIdle returns an idle connection to srv on core that the request may
// use under the backend's http-reuse mode, or nil.
func (b *Backend) takeIdle(srv *Server, core int, first bool) *serverConn {
	mode := b.Config.HTTPReuse
	if mode == config.ReuseNever || first && mode == config.ReuseSafe {
		return nil
	}
	pl := &b.http.pools[srv.Index][core]
	now := time.Now()
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for i := len(pl.conns) - 1; i >= 0; i-- {
		sc := pl.conns[i]
		if now.Sub(sc.idleAt) > b.http.idle {
			continue // the sweeper closes it
		}
		if first && mode == config.ReuseAggressive && sc.uses < 2 {
			continue
		}
		copy(pl.conns[i:], pl.conns[i+1:])
		pl.conns[len(pl.conns)-1] = nil
		pl.conns = pl.conns[:len(pl.conns)-1]
		return sc
	}
	return nil
}

// putIdle parks a connection that finished a response cleanly. ctx is the
// core's context, which bounds the sweeper.
func (b *Backend) putIdle(ctx context.Context, sc *serverConn) {
	if ctx.Err() != nil {
		sc.close()
		return
	}
	sc.idleAt = time.Now()
	sc.tc.readIdle(0)
	sc.tc.writeIdle(0)
	pl := &b.http.pools[sc.srv.Index][sc.core]
	pl.mu.Lock()
	if len(pl.conns) >= b.http.maxIdle {
		pl.mu.Unlock()
		sc.close()
		return
	}
	pl.conns = append(pl.conns, sc)
	start := !pl.sweeping
	pl.sweeping = true
	pl.mu.Unlock()
	if start {
		go sweepIdle(ctx, pl, b.http.idle)
	}
}

// poolFull reports whether srv's idle pool on core has no room: a new
// connection would be closed after its response instead of parked.
func (b *Backend) poolFull(srv *Server, core int) bool {
	pl := &b.http.pools[srv.Index][core]
	pl.mu.Lock()
	full := len(pl.conns) >= b.http.maxIdle
	pl.mu.Unlock()
	return full
}

// sweepIdle closes pl's connections once idle for longer than idle, and
// all of them when ctx ends.
func sweepIdle(ctx context.Context, pl *idlePool, idle time.Duration) {
	t := time.NewTicker(idle / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			pl.mu.Lock()
			old := pl.conns
			pl.conns = nil
			pl.mu.Unlock()
			for _, sc := range old {
				sc.close()
			}
			return
		case <-t.C:
		}
		now := time.Now()
		var dead []*serverConn
		pl.mu.Lock()
		k := 0
		for _, sc := range pl.conns {
			if now.Sub(sc.idleAt) > idle {
				dead = append(dead, sc)
				continue
			}
			pl.conns[k] = sc
			k++
		}
		clear(pl.conns[k:])
		pl.conns = pl.conns[:k]
		pl.mu.Unlock()
		for _, sc := range dead {
			sc.close()
		}
	}
}

// idleCount returns how many idle connections srv has on core (tests).
func (b *Backend) idleCount(srv *Server, core int) int {
	pl := &b.http.pools[srv.Index][core]
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return len(pl.conns)
}

// waitQueue is one backend's queue of requests waiting for a server slot on
// one core.
type waitQueue struct {
	mu      sync.Mutex // mu protects waiters
	waiters []*waiter
	n       atomic.Int32 // len(waiters), read by releasers without mu
	_       [24]byte
}

// waiter is one queued request; a client connection keeps one for reuse.
type waiter struct{ ch chan struct{} }

func (q *waitQueue) push(w *waiter) (pos int, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiters) >= maxQueuePerCore {
		return 0, false
	}
	q.waiters = append(q.waiters, w)
	q.n.Store(int32(len(q.waiters)))
	return len(q.waiters) - 1, true
}

// remove takes w out of the queue and wakes the next waiter, so that a
// slot freed while w was leaving is not lost.
func (q *waitQueue) remove(w *waiter) {
	q.mu.Lock()
	for i, x := range q.waiters {
		if x == w {
			copy(q.waiters[i:], q.waiters[i+1:])
			q.waiters[len(q.waiters)-1] = nil
			q.waiters = q.waiters[:len(q.waiters)-1]
			break
		}
	}
	q.n.Store(int32(len(q.waiters)))
	q.wakeLocked()
	q.mu.Unlock()
	select { // drop a wake-up that arrived too late to be used
	case <-w.ch:
	default:
	}
}

func (q *waitQueue) wakeLocked() {
	if len(q.waiters) > 0 {
		select {
		case q.waiters[0].ch <- struct{}{}:
		default:
		}
	}
}

// wake signals the first waiter of the core's queue, or of another core's
// queue if the core has none waiting.
func (b *Backend) wake(core int) {
	qs := b.http.queues
	for i := range qs {
		q := &qs[(core+i)%len(qs)]
		if q.n.Load() == 0 {
			continue
		}
		q.mu.Lock()
		q.wakeLocked()
		q.mu.Unlock()
		return
	}
}

// reserve takes a request slot on srv for core, honouring the server's
// maxconn over every core. It reports false when the server is full.
func (srv *Server) reserve(core int) bool {
	c := &srv.counters[core]
	c.cur.Add(1)
	if m := srv.Config.MaxConn; m > 0 && sumCur(srv.counters) > int64(m) {
		c.cur.Add(-1)
		return false
	}
	return true
}

// release frees the slot reserve took and wakes a queued request.
func (srv *Server) release(core int) {
	srv.counters[core].cur.Add(-1)
	if srv.Config.MaxConn > 0 {
		srv.Backend.wake(core)
	}
}

// anyUp reports whether some server could take traffic once it has a
// free slot: up and with a weight.
func (b *Backend) anyUp() bool {
	for _, s := range b.Servers {
		if s.Up() && s.Config.Weight > 0 {
			return true
		}
	}
	return false
}

// errQueueFull and errQueueTimeout end a request that could not get a
// server slot (503, termination state sQ).
var (
	errQueueFull    = errors.New("backend queue full")
	errQueueTimeout = errors.New("timeout queue")
)

// pickSlot chooses a server and reserves a slot on it, queueing while every
// usable server is full. It returns the time spent queued and the request's
// position in the queue when it entered.
func (cc *clientConn) pickSlot(be *Backend, key uint64, hasKey bool, tried []*Server) (srv *Server, queued time.Duration, pos int, err error) {
	core := cc.s.Core
	try := func() *Server {
		s := be.pick(core, key, hasKey, tried)
		if s != nil && s.reserve(core) {
			return s
		}
		return nil
	}
	if s := try(); s != nil {
		return s, 0, 0, nil
	}
	if !be.anyUp() {
		return nil, 0, 0, ErrNoServer
	}
	q := &be.http.queues[core]
	w := &cc.waiter
	pos, ok := q.push(w)
	if !ok {
		return nil, 0, 0, errQueueFull
	}
	bc := &be.counters[core]
	if n := bc.queueCur.Add(1); n > bc.queueMax.Load() {
		bc.queueMax.Store(n)
	}
	defer bc.queueCur.Add(-1)
	defer q.remove(w)
	start := time.Now()
	limit := be.Config.Timeouts.Queue
	if limit == 0 {
		limit = be.Config.Timeouts.Connect
	}
	var expire <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		expire = t.C
	}
	for {
		if s := try(); s != nil {
			return s, time.Since(start), pos, nil
		}
		if !be.anyUp() {
			return nil, time.Since(start), pos, ErrNoServer
		}
		select {
		case <-w.ch:
		case <-expire:
			bc.queueTmo.Add(1)
			return nil, time.Since(start), pos, errQueueTimeout
		case <-cc.s.ctx.Done():
			return nil, time.Since(start), pos, cc.s.ctx.Err()
		}
	}
}
