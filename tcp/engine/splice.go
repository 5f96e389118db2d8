package engine

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// splice joins two connections of one engine whose received bytes the
// engine moves into the other's send buffer itself, in the receive path:
// an L4 proxy's byte stream then costs no goroutine wake-up per message
// and one copy instead of two. Direction i runs from conns[i] to
// conns[1-i]. Guarded by e.mu.
type splice struct {
	conns [2]*Conn
	moved [2]int64
	eof   [2]bool // direction i's end of stream was passed on as a FIN
	idle  [2]time.Duration
	last  int64 // engine clock of the last byte moved either way
	ended bool
	side  int   // the conn whose failure or timeout ended the splice
	err   error // nil when both directions ended with FINs
	done  chan struct{}
	moves func(dir, n int)
}

// Splice moves bytes both ways between c and peer, another *Conn of the
// same engine, without the caller: whatever either receives is copied
// into the other's send buffer as it arrives, on the core's receive path,
// and an end of stream is passed on as a FIN once every byte before it
// has been. Bytes already received when Splice is called go first.
// Backpressure is TCP's own: a full send buffer leaves bytes in the other
// connection's receive buffer and closes its window.
//
// Splice returns when both directions have ended, when either connection
// fails (a RST, a retransmission timeout, or Close from another
// goroutine), or when no byte has moved either way for idle[i] while
// direction i (from c for 0, from peer for 1) is still open; zero means no
// limit. moved counts the bytes each direction carried. err is nil after
// two FINs; otherwise side says which conn ended the splice (0 for c, 1
// for peer), and err is that conn's error or, after idle, a timeout
// (os.ErrDeadlineExceeded). The caller then closes both conns, as after
// any splice. moves, if not nil, is told of every move as it happens
// (dir as for idle, n bytes), so that byte counters stay live without
// waking the caller; it runs under the engine's lock and must only count.
//
// If peer is not a Conn of this engine, Splice returns at once, having
// moved nothing, with an error matching errors.ErrUnsupported. Neither
// conn may be read from or written to while the splice runs.
func (c *Conn) Splice(peer net.Conn, idle [2]time.Duration, moves func(dir, n int)) (moved [2]int64, side int, err error) {
	p, ok := peer.(*Conn)
	if !ok || p.e != c.e || p == c {
		return moved, 0, fmt.Errorf("engine: splice with %T of another engine: %w", peer, errors.ErrUnsupported)
	}
	// No Read or Write may run now; holding both directions' locks for
	// the duration keeps a stray one waiting instead of racing the engine.
	for _, x := range [2]*Conn{c, p} {
		x.readMu.Lock()
		defer x.readMu.Unlock()
		x.writeMu.Lock()
		defer x.writeMu.Unlock()
	}
	e := c.e
	sp := &splice{conns: [2]*Conn{c, p}, idle: idle, done: make(chan struct{}, 1), moves: moves}
	e.lock()
	for i, x := range sp.conns {
		if x.closed.Load() || x.sp != nil {
			e.mu.Unlock()
			return moved, i, x.opError("splice", net.ErrClosed)
		}
	}
	c.sp, p.sp = sp, sp
	sp.last = e.clock()
	e.stats.splices.Add(1)
	for i := range sp.conns {
		e.spliceMove(sp, i)
	}
	var timer *time.Timer
	for {
		now := e.clock()
		expiry, who := sp.expiry()
		if !sp.ended && expiry != 0 && now >= expiry {
			e.spliceEnd(sp, who, os.ErrDeadlineExceeded)
		}
		if sp.ended {
			c.sp, p.sp = nil, nil
			moved, side, err = sp.moved, sp.side, sp.err
			e.unlock()
			if timer != nil {
				timer.Stop()
			}
			if err != nil {
				err = sp.conns[side].opError("splice", err)
			}
			return moved, side, err
		}
		e.unlock()
		var wake <-chan time.Time
		if expiry != 0 {
			// Woken early only by the end: a busy splice that moved
			// bytes meanwhile just waits again, for its new expiry.
			if timer == nil {
				timer = time.NewTimer(time.Duration(expiry - now))
			} else {
				timer.Reset(time.Duration(expiry - now))
			}
			wake = timer.C
		}
		select {
		case <-sp.done:
		case <-wake:
		}
		e.lock()
	}
}

// expiry returns when the splice goes idle (engine clock, 0 for never) and
// the side whose limit that is: the earliest limit of an open direction.
func (sp *splice) expiry() (int64, int) {
	var at int64
	who := 0
	for i := range sp.conns {
		d := sp.idle[i]
		if sp.eof[i] || d <= 0 {
			continue
		}
		if t := sp.last + int64(d); at == 0 || t < at {
			at, who = t, i
		}
	}
	return at, who
}

// spliceMove moves what direction i can move now and passes its end of
// stream on when everything before it has gone.
func (e *Engine) spliceMove(sp *splice, i int) {
	if sp.ended {
		return
	}
	src, dst := sp.conns[i].t, sp.conns[1-i].t
	if src.err != nil {
		e.spliceEnd(sp, i, src.err)
		return
	}
	if dst.err != nil {
		e.spliceEnd(sp, 1-i, dst.err)
		return
	}
	if sp.eof[i] {
		return
	}
	if src.rcv.n > 0 && !dst.sendOpen() {
		e.spliceEnd(sp, 1-i, syscall.EPIPE)
		return
	}
	if n := min(src.rcv.n, dst.snd.free()); n > 0 {
		p1, p2 := src.rcv.peek(0, n)
		e.bufFor(&dst.snd)
		dst.snd.write(p1)
		dst.snd.write(p2)
		src.rcv.discard(n)
		e.rcvConsumed(src)
		sp.moved[i] += int64(n)
		sp.last = e.clock()
		if sp.moves != nil {
			sp.moves(i, n)
		}
		e.stats.splicedBytes.Add(uint64(n))
		e.schedule(dst)
	}
	if src.rcv.n == 0 && src.rcvClosed {
		sp.eof[i] = true
		e.shutdownWrite(dst)
		if sp.eof[1-i] {
			e.spliceEnd(sp, 0, nil)
		}
	}
}

// spliceEnd ends sp, blaming side for err, and wakes the waiting Splice.
func (e *Engine) spliceEnd(sp *splice, side int, err error) {
	if sp.ended {
		return
	}
	sp.ended, sp.side, sp.err = true, side, err
	select {
	case sp.done <- struct{}{}:
	default:
	}
}

// spliceInput is called when c's receive buffer, its FIN or its
// connection's end changed; spliceOutput when c's send buffer has room.
func (e *Engine) spliceInput(c *Conn) {
	sp := c.sp
	e.spliceMove(sp, sp.index(c))
}

func (e *Engine) spliceOutput(c *Conn) {
	sp := c.sp
	e.spliceMove(sp, 1-sp.index(c))
}

func (sp *splice) index(c *Conn) int {
	if sp.conns[0] == c {
		return 0
	}
	return 1
}
