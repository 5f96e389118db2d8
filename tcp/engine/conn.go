package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is one TCP connection of an engine. It implements net.Conn and is
// safe for concurrent use. The engine's lock (this core's only) guards the
// state, and blocking calls wait on conditions of that lock, which a
// connection holds by value: channels cost two allocations per connection,
// half of an engine's. As with the net package's connections, a deadline
// that has passed fails every call, even one that could go on without
// blocking.
type Conn struct {
	e             *Engine
	local, remote netip.AddrPort

	// readable wakes a waiting Read; writable a waiting Write or Dial.
	// Waiters check their condition under e.mu before each Wait, so a
	// wake-up with nobody waiting needs no memory.
	readable, writable sync.Cond

	// readMu and writeMu serialise Reads and Writes (net.Conn allows
	// concurrent calls), so that one Signal wakes the only waiter.
	// Lock order: these, then e.mu.
	readMu, writeMu sync.Mutex

	// closed is set under e.mu, and read without it by Set*Deadline.
	closed atomic.Bool

	// Deadlines are engine clock nanoseconds (0 for none, at least 1 when
	// set), in atomics so that moving one takes no lock: a proxy moves
	// four per connection. readWaits and writeWaits say a Read or Write
	// waits. A setter stores the deadline, then loads the flag and wakes
	// the waiter; a waiter stores the flag, then loads the deadline: one
	// of the two sees the other's store.
	rdDeadline, wrDeadline atomic.Int64
	readWaits, writeWaits  atomic.Bool

	// Guarded by e.mu.
	t                *tcb // nil once closed
	rdTimer, wrTimer deadlineTimer
	// dialed wakes a Dial whose context can end: it must select on the
	// context's Done too, which a Cond cannot (context.AfterFunc could,
	// at 0.8 µs and three allocations a dial).
	dialed chan struct{}
	sp     *splice // set while Splice runs
	// handler runs the connection instead of goroutines (see Handler);
	// inReady says it is queued for a call, wantWrite that a Write of
	// its returned ErrWouldBlock.
	handler   Handler
	inReady   bool
	wantWrite bool
}

var _ net.Conn = (*Conn)(nil)

// newConn makes t's Conn, reusing one a Handler closed (see
// runHandlers); e.mu must be held.
func (e *Engine) newConn(t *tcb) *Conn {
	var c *Conn
	if n := len(e.freeConns); n > 0 {
		c = e.freeConns[n-1]
		e.freeConns[n-1] = nil
		e.freeConns = e.freeConns[:n-1]
		*c = Conn{}
	} else {
		c = new(Conn)
	}
	c.e, c.t = e, t
	c.local, c.remote = netip.AddrPortFrom(e.cfg.Addr, t.lport), t.remote()
	c.readable.L = (*engineLock)(e)
	c.writable.L = (*engineLock)(e)
	t.handle = c
	return c
}

// engineLock is the Locker of a Conn's conditions: e.lock and e.unlock, so
// that a caller going to sleep first sends what its locked section queued.
type engineLock Engine

func (l *engineLock) Lock()   { (*Engine)(l).lock() }
func (l *engineLock) Unlock() { (*Engine)(l).unlock() }

// inputEnded tells c's splice, if any, and every waiter of c that c's
// receiving side ended: a FIN, or the connection's end.
func (e *Engine) inputEnded(c *Conn) {
	if c.sp != nil {
		e.spliceInput(c)
	}
	c.wakeAll()
}

func (c *Conn) wakeAll() {
	if c.handler != nil {
		c.e.markReady(c)
		return
	}
	c.readable.Broadcast()
	c.writable.Broadcast()
	if c.dialed != nil {
		select {
		case c.dialed <- struct{}{}:
		default:
		}
	}
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: net.TCPAddrFromAddrPort(c.local),
		Addr: net.TCPAddrFromAddrPort(c.remote), Err: err}
}

// Read reads received bytes; it returns io.EOF after the peer's FIN, with
// the last bytes when the FIN had already arrived behind them.
func (c *Conn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	e := c.e
	e.lock()
	for {
		if c.closed.Load() {
			e.mu.Unlock()
			return 0, c.opError("read", net.ErrClosed)
		}
		if e.passed(c.rdDeadline.Load()) {
			e.mu.Unlock()
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		t := c.t
		if t.rcv.n > 0 {
			if len(p) == 0 {
				e.mu.Unlock()
				return 0, nil
			}
			n := t.rcv.read(p)
			e.rcvConsumed(t)
			// The FIN came behind the data: say so now, so that a
			// proxy can pass both on in one segment.
			eof := t.rcv.n == 0 && t.rcvClosed
			e.unlock()
			if eof {
				return n, io.EOF
			}
			return n, nil
		}
		switch {
		case t.rcvClosed:
			e.mu.Unlock()
			return 0, io.EOF
		case t.err != nil:
			err := t.err
			e.mu.Unlock()
			return 0, c.opError("read", err)
		case t.state == StateClosed:
			e.mu.Unlock()
			return 0, io.EOF
		case c.handler != nil:
			e.mu.Unlock()
			return 0, ErrWouldBlock
		}
		if c.wait(&c.readWaits, &c.rdDeadline, &c.rdTimer, &c.readable) {
			e.mu.Unlock()
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
	}
}

// Write queues p for sending, waiting for send-buffer space as needed.
func (c *Conn) Write(p []byte) (int, error) { return c.write(p, false) }

// WriteClose writes p and shuts down writing, as Write then CloseWrite
// would, but the FIN rides on p's last segment instead of following it
// in a segment of its own. A proxy that knows a response is the last
// thing it sends saves a segment per connection.
func (c *Conn) WriteClose(p []byte) (int, error) { return c.write(p, true) }

func (c *Conn) write(p []byte, fin bool) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	e := c.e
	e.lock()
	total := 0
	for {
		if c.closed.Load() {
			e.mu.Unlock()
			return total, c.opError("write", net.ErrClosed)
		}
		if e.passed(c.wrDeadline.Load()) {
			e.mu.Unlock()
			return total, c.opError("write", os.ErrDeadlineExceeded)
		}
		t := c.t
		switch {
		case t.err != nil:
			err := t.err
			e.mu.Unlock()
			return total, c.opError("write", err)
		case !t.sendOpen():
			e.mu.Unlock()
			return total, c.opError("write", syscall.EPIPE)
		}
		if total < len(p) {
			e.bufFor(&t.snd)
		}
		n := t.snd.write(p[total:])
		total += n
		if fin && total == len(p) {
			e.shutdownWrite(t) // before output, which then sends the FIN with the data
		}
		if n > 0 {
			e.outputLocked(t)
		}
		if total == len(p) {
			e.unlock()
			return total, nil
		}
		if c.handler != nil {
			c.wantWrite = true
			e.unlock()
			return total, ErrWouldBlock
		}
		if c.wait(&c.writeWaits, &c.wrDeadline, &c.wrTimer, &c.writable) {
			e.unlock()
			return total, c.opError("write", os.ErrDeadlineExceeded)
		}
	}
}

// CloseWrite sends a FIN after the queued data (shutdown(SHUT_WR)).
func (c *Conn) CloseWrite() error {
	e := c.e
	e.lock()
	if c.closed.Load() {
		e.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	e.shutdownWrite(c.t)
	e.unlock()
	return nil
}

// shutdownWrite queues the FIN (RFC 9293 3.10.4 CLOSE).
func (e *Engine) shutdownWrite(t *tcb) {
	if t.finQueued {
		return
	}
	switch t.state {
	case StateEstablished:
		t.state = StateFinWait1
	case StateCloseWait:
		t.state = StateLastAck
	default:
		return
	}
	t.finQueued = true
	e.schedule(t)
}

// Close closes the connection: a FIN after the queued data, or a RST when
// received data was left unread (RFC 2525 2.17) or the handshake is not
// done. The engine finishes the closing handshake on its own.
func (c *Conn) Close() error {
	e := c.e
	e.lock()
	if c.closed.Load() {
		e.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	e.closeConnLocked(c)
	e.unlock()
	return nil
}

func (e *Engine) closeConnLocked(c *Conn) {
	if c.sp != nil {
		e.spliceEnd(c.sp, c.sp.index(c), net.ErrClosed)
	}
	c.closed.Store(true)
	c.rdTimer.stop()
	c.wrTimer.stop()
	t := c.t
	c.t, t.handle = nil, nil
	c.wakeAll()
	switch {
	case t.state == StateClosed:
		e.recycle(t)
	case t.rcv.n > 0 || t.state == StateSynSent || t.state == StateSynRcvd:
		e.abortLocked(t, errReset, true)
	case t.state == StateTimeWait:
		e.releaseRcv(t)
	default:
		e.shutdownWrite(t)
		if t.state == StateFinWait2 {
			e.wheel.arm(t, e.clock()+int64(finWait2Timeout))
		}
	}
}

// LocalAddr returns the local address (a *net.TCPAddr).
func (c *Conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.local) }

// RemoteAddr returns the remote address (a *net.TCPAddr).
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }

// LocalAddrPort and RemoteAddrPort return the addresses without allocating.
func (c *Conn) LocalAddrPort() netip.AddrPort  { return c.local }
func (c *Conn) RemoteAddrPort() netip.AddrPort { return c.remote }

// State returns the connection's TCP state (CLOSED once Close was called).
func (c *Conn) State() State {
	c.e.lock()
	defer c.e.mu.Unlock()
	if c.t == nil {
		return StateClosed
	}
	return c.t.state
}

// passed reports whether deadline d (engine clock, 0 for none) has passed;
// e.mu must be held.
func (e *Engine) passed(d int64) bool { return d != 0 && e.clock() >= d }

// deadline converts d to the engine clock: 0 for the zero time, and at
// least 1 for any other, however long ago.
func (e *Engine) deadline(d time.Time) int64 {
	if d.IsZero() {
		return 0
	}
	return max(int64(d.Sub(e.epoch)), 1)
}

// wait sleeps on cond until it is signalled, with e.mu held on entry and
// on return, and the deadline's timer armed. It reports true, without
// sleeping, if the deadline passed meanwhile: it reads the deadline again
// once waits is set (see Conn).
func (c *Conn) wait(waits *atomic.Bool, deadline *atomic.Int64, timer *deadlineTimer, cond *sync.Cond) (passed bool) {
	waits.Store(true)
	defer waits.Store(false)
	if d := deadline.Load(); d != 0 {
		now := c.e.clock()
		if now >= d {
			return true
		}
		timer.arm(c.e, d, now, cond)
	}
	cond.Wait()
	return false
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(d time.Time) error {
	if err := c.SetReadDeadline(d); err != nil {
		return err
	}
	return c.SetWriteDeadline(d)
}

// SetReadDeadline sets the read deadline; the zero time clears it. A timer
// is armed only when a Read waits (see deadlineTimer). It takes the
// engine's lock only to wake a waiting Read.
func (c *Conn) SetReadDeadline(d time.Time) error {
	return c.setDeadline(d, &c.rdDeadline, &c.readWaits, &c.readable)
}

// SetWriteDeadline sets the write deadline; the zero time clears it.
func (c *Conn) SetWriteDeadline(d time.Time) error {
	return c.setDeadline(d, &c.wrDeadline, &c.writeWaits, &c.writable)
}

func (c *Conn) setDeadline(d time.Time, deadline *atomic.Int64, waits *atomic.Bool, cond *sync.Cond) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	deadline.Store(c.e.deadline(d))
	if waits.Load() {
		c.e.signal(cond) // the waiter arms its timer for d, or finds it passed
	}
	return nil
}

// signal wakes cond's waiter from outside the engine's lock, taking it:
// the waiter checks its deadline and then waits, both under the lock, so
// a signal sent between the two without it would be lost.
func (e *Engine) signal(cond *sync.Cond) {
	e.mu.Lock()
	cond.Signal()
	e.mu.Unlock()
}

// deadlineTimer wakes a waiting Read or Write at its deadline. It is armed
// only when a call is about to wait, and kept while it is due no later
// than the deadline: a proxy moves its deadlines on every request, and
// re-arming a runtime timer each time cost 4% of its CPU. A timer left
// due before a deadline that moved later wakes the waiter early, which
// checks the deadline and waits again.
type deadlineTimer struct {
	t  *time.Timer
	at int64 // engine clock when t fires; 0 if never armed
}

// arm makes sure cond is signalled (Engine.signal) by deadline d (engine
// clock, after now).
func (dt *deadlineTimer) arm(e *Engine, d, now int64, cond *sync.Cond) {
	if dt.at > now && dt.at <= d {
		return // due by d already
	}
	dt.at = d
	if dt.t == nil {
		dt.t = time.AfterFunc(time.Duration(d-now), func() { e.signal(cond) })
		return
	}
	dt.t.Reset(time.Duration(d - now))
}

func (dt *deadlineTimer) stop() {
	if dt.t != nil {
		dt.t.Stop()
	}
}

// Listener is a listening port of one engine.
type Listener struct {
	e      *Engine
	port   uint16
	accept chan *Conn // established, not yet accepted; cap = backlog
	done   chan struct{}

	// Guarded by e.mu.
	halfOpen int // connections in SYN-RECEIVED
	closed   bool
	handler  Handler // see Serve
}

// Listen listens on port of the engine's address.
func (e *Engine) Listen(port uint16) (*Listener, error) {
	e.lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if port == 0 {
		return nil, errors.New("engine: listen on port 0")
	}
	if _, ok := e.listeners[port]; ok {
		return nil, fmt.Errorf("engine: port %d: %w", port, syscall.EADDRINUSE)
	}
	l := &Listener{e: e, port: port, accept: make(chan *Conn, e.cfg.Backlog), done: make(chan struct{})}
	e.listeners[port] = l
	return l, nil
}

// Accept waits for the next established connection.
func (l *Listener) Accept() (*Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Addr returns the listening address (a *net.TCPAddr).
func (l *Listener) Addr() net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.e.cfg.Addr, l.port))
}

// Close stops listening and resets connections not yet accepted.
func (l *Listener) Close() error {
	e := l.e
	e.lock()
	if l.closed {
		e.mu.Unlock()
		return net.ErrClosed
	}
	e.closeListenerLocked(l)
	e.unlock()
	return nil
}

func (e *Engine) closeListenerLocked(l *Listener) {
	l.closed = true
	delete(e.listeners, l.port)
	close(l.done)
	for {
		select {
		case c := <-l.accept:
			if !c.closed.Load() {
				if c.t.state != StateClosed {
					e.abortLocked(c.t, errReset, true)
				}
				e.closeConnLocked(c)
			}
		default:
			return
		}
	}
}

// Dial opens a connection to remote. The local port comes from
// Config.PickPort, or the engine's ephemeral search.
func (e *Engine) Dial(ctx context.Context, remote netip.AddrPort) (*Conn, error) {
	return e.DialTimeout(ctx, remote, 0)
}

// DialTimeout is Dial giving up after timeout (none if 0), with an error
// matching context.DeadlineExceeded as a deadline in ctx would give. The
// limit lives in the engine's timer wheel: a proxy's dial then needs no
// context and runtime timer of its own, three allocations and 3% of its CPU
// with one request per connection.
func (e *Engine) DialTimeout(ctx context.Context, remote netip.AddrPort, timeout time.Duration) (*Conn, error) {
	c, err := e.startDial(remote, timeout)
	if err != nil {
		return nil, err
	}
	t := c.t
	done := ctx.Done()
	if done != nil {
		c.dialed = make(chan struct{}, 1)
	}
	for {
		switch {
		case c.closed.Load():
			e.unlock()
			return nil, net.ErrClosed
		case t.state == StateSynSent || t.state == StateSynRcvd:
			if done == nil {
				c.writable.Wait()
				continue
			}
			wake := c.dialed
			e.unlock()
			select {
			case <-wake:
				e.lock()
			case <-done:
				e.lock()
				if !c.closed.Load() {
					e.closeConnLocked(c)
				}
				e.unlock()
				return nil, ctx.Err()
			}
			continue
		case t.state == StateClosed:
			err := t.err
			e.closeConnLocked(c)
			e.unlock()
			if err == nil {
				err = errReset
			}
			return nil, fmt.Errorf("engine: dial %q: %w", remote.String(), err)
		}
		c.dialed = nil
		e.mu.Unlock()
		return c, nil
	}
}

// startDial sends a SYN to remote from a new connection, which it returns
// with e.mu held.
func (e *Engine) startDial(remote netip.AddrPort, timeout time.Duration) (*Conn, error) {
	if !remote.Addr().Is4() || remote.Port() == 0 {
		return nil, fmt.Errorf("engine: dial %q: not an IPv4 address and port", remote.String())
	}
	var mac [6]byte
	ok := false
	if e.cfg.Resolve != nil {
		mac, ok = e.cfg.Resolve(remote.Addr())
	}
	if !ok {
		return nil, fmt.Errorf("engine: dial %q: %w", remote.String(), ErrNoNeighbour)
	}
	rip := remote.Addr().As4()
	e.lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	port, ok := e.pickPort(remote, rip)
	if !ok {
		e.mu.Unlock()
		return nil, fmt.Errorf("engine: dial %q: %w", remote.String(), syscall.EADDRNOTAVAIL)
	}
	t := e.newTCB(rip, remote.Port(), port, mac)
	now := e.clock()
	t.iss = e.isn(port, rip, remote.Port(), now)
	t.sndUna, t.sndNxt, t.sndMax = t.iss, t.iss+1, t.iss+1
	t.state = StateSynSent
	if timeout > 0 {
		t.dialBy = now + int64(timeout)
	}
	e.insert(t)
	c := e.newConn(t)
	e.sendSyn(t)
	t.rttTiming, t.rttSeq, t.rttStart = true, t.iss, now
	e.wheel.arm(t, t.synDue(now))
	return c, nil
}

// pickPort finds a local port whose 4-tuple with remote is free.
func (e *Engine) pickPort(remote netip.AddrPort, rip [4]byte) (uint16, bool) {
	const lo, n = 32768, 28232 // Linux's default ephemeral range
	for i := 0; i < n; i++ {
		var port uint16
		if e.cfg.PickPort != nil {
			if i == maxPortPicks {
				return 0, false
			}
			p, ok := e.cfg.PickPort(remote)
			if !ok {
				return 0, false
			}
			port = p
		} else {
			port = e.portNext
			e.portNext++
			if e.portNext >= lo+n {
				e.portNext = lo
			}
		}
		if port == 0 {
			continue
		}
		if _, used := e.conns[connKey(rip, remote.Port(), port)]; !used {
			return port, true
		}
	}
	return 0, false
}
