package engine

import (
	"errors"
	"net/netip"
	"time"
)

// A Handler runs connections to completion on their core, with no
// goroutine of their own (mTCP's event model, and the Fastsocket paper's
// point that a connection should never leave its core). The engine calls
// Ready on the goroutine that processed the core's frames (the core's
// worker, in Deliver and DeliverBatch) or its timers, after that batch and
// outside the core's lock, once for each connection with news since its
// last call (Engine.Close calls it too, for the connections it ends, and
// so must not be called from a handler):
//   - it was established (a served listener's first call, or a
//     DialHandler dial's);
//   - bytes or the peer's FIN arrived;
//   - a Write that returned ErrWouldBlock can go on;
//   - it failed: a RST, a refused or timed-out dial, a retransmission
//     timeout.
//
// Calls for one engine never overlap. Ready must not block: on a handled
// connection, Read and Write return ErrWouldBlock where they would wait,
// and deadlines do not apply. Read reports a failure as it would to a
// goroutine. A handler owns its connections as Accept's caller does and
// must Close each; no call follows Close. Close also gives the Conn back:
// the engine reuses it for a later connection, as a kernel reuses a
// closed file descriptor, so a handler must keep no reference to a Conn
// it has closed, nor let anything else use one.
//
// A goroutine per connection costs scheduler wake-ups that grow with the
// cores (runtime.wakep takes the scheduler's lock when no thread spins);
// a Handler costs none. See BenchmarkServe.
type Handler interface {
	Ready(c *Conn)
}

// HandlerFunc is a func used as a Handler.
type HandlerFunc func(c *Conn)

// Ready calls f(c).
func (f HandlerFunc) Ready(c *Conn) { f(c) }

// ErrWouldBlock is what Read and Write on a connection with a Handler
// return, with what they did, instead of waiting. The handler hears again
// when the call can go on. It is returned bare, like io.EOF, because it is
// not a failure and is returned often.
var ErrWouldBlock = errors.New("engine: operation would block")

// Serve makes l hand every connection it accepts to h instead of
// queueing it for Accept, which then returns only when l closes.
// Connections already queued go to h too, with the core's next batch or
// timer tick: Serve calls no handler itself, so that a handler may call it.
func (l *Listener) Serve(h Handler) {
	e := l.e
	e.lock()
	l.handler = h
	for queued := true; queued; {
		select {
		case c := <-l.accept:
			c.handler = h
			e.markReady(c)
		default:
			queued = false
		}
	}
	e.unlock()
}

// DialHandler starts a dial to remote whose connection h runs: it returns
// as soon as the SYN is queued, and h hears when the dial succeeds or
// fails (a refused or unanswered SYN, or timeout, if not 0). Errors
// returned are those found before any segment is sent.
func (e *Engine) DialHandler(remote netip.AddrPort, timeout time.Duration, h Handler) (*Conn, error) {
	c, err := e.startDial(remote, timeout)
	if err != nil {
		return nil, err
	}
	c.handler = h
	e.unlock()
	return c, nil
}

// markReady queues c's handler call; e.mu must be held.
func (e *Engine) markReady(c *Conn) {
	if c.inReady {
		return
	}
	c.inReady = true
	e.ready = append(e.ready, c)
}

// runHandlers calls the handlers of connections with news, until there is
// none: what a handler does (a Write, a Close, a dial) may bring more. It
// runs without e.mu, so that handlers use Conn's methods; callers go
// through unlockAndHandle.
func (e *Engine) runHandlers() {
	e.handlerMu.Lock()
	defer e.handlerMu.Unlock()
	for {
		e.mu.Lock()
		e.ready, e.handling = e.handling[:0], e.ready
		for i, c := range e.handling {
			c.inReady = false
			// A closed Conn is here for the last time: closing
			// queued it, and nothing queues it again.
			if c.closed.Load() {
				e.handling[i] = nil
				if len(e.freeConns) < maxFreeTCBs {
					e.freeConns = append(e.freeConns, c)
				}
			}
		}
		e.mu.Unlock()
		if len(e.handling) == 0 {
			return
		}
		for i, c := range e.handling {
			e.handling[i] = nil
			if c != nil && !c.closed.Load() {
				c.handler.Ready(c)
			}
		}
	}
}

// readNews tells c's reader that bytes arrived; e.mu must be held.
func (e *Engine) readNews(c *Conn) {
	if c.handler != nil {
		e.markReady(c)
		return
	}
	c.readable.Signal()
}

// writeNews tells c's writer that its send buffer has room; e.mu must be
// held. A handler hears only if a Write of its returned ErrWouldBlock:
// most ACKs free room that nobody is waiting for.
func (e *Engine) writeNews(c *Conn) {
	if c.handler != nil {
		if c.wantWrite {
			c.wantWrite = false
			e.markReady(c)
		}
		return
	}
	c.writable.Signal()
}
