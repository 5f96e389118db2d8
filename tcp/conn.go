package tcp

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/waiter"
)

// conn is a net.Conn driven directly over a gVisor TCP endpoint, in place of
// gonet.TCPConn. It exists for the cost per connection and per call:
//   - the two waiter entries are registered once, for the connection's
//     life, and wake a one-slot channel each, where gonet allocates a
//     channel and an entry per blocking call;
//   - a deadline is one reusable runtime timer per direction (Reset, not a
//     new AfterFunc per SetDeadline), stopped on Close, where gonet leaves
//     its timers running after Close;
//   - the reader and writer handed to the endpoint live in the struct, so
//     Read and Write allocate nothing;
//   - the addresses are read once, at creation.
//
// Reads are serialised with each other, and so are writes, as with Go's
// own sockets. Errors are *net.OpError, with os.ErrDeadlineExceeded for a
// deadline and net.ErrClosed after Close, as the net package reports them.
type conn struct {
	ep tcpip.Endpoint
	wq *waiter.Queue

	rd, wr direction

	// readMu serialises Read and protects rbuf.
	readMu sync.Mutex
	rbuf   tcpip.SliceWriter
	// writeMu serialises Write and protects wbuf.
	writeMu sync.Mutex
	wbuf    payload

	local, remote *net.TCPAddr
	closed        atomic.Bool
}

var (
	_ net.Conn                                    = (*conn)(nil)
	_ interface{ CloseWrite() error }             = (*conn)(nil)
	_ interface{ CloseRead() error }              = (*conn)(nil)
	_ waiter.EventListener                        = (*direction)(nil)
	_ tcpip.Payloader                             = (*payload)(nil)
	_ interface{ SetDeadline(t time.Time) error } = (*conn)(nil)
)

// newConn wraps a connected endpoint and registers its waiter entries.
func newConn(ep tcpip.Endpoint, wq *waiter.Queue) *conn {
	c := &conn{ep: ep, wq: wq}
	c.rd.init(waiter.ReadableEvents | waiter.EventHUp | waiter.EventErr)
	c.wr.init(waiter.WritableEvents | waiter.EventHUp | waiter.EventErr)
	wq.EventRegister(&c.rd.entry)
	wq.EventRegister(&c.wr.entry)
	c.readAddresses()
	return c
}

// readAddresses caches the endpoint's addresses; a dial calls it again
// once connected. An accepted connection that the peer reset while it
// waited in the accept queue is no longer connected, so gVisor reports no
// remote address for it; its endpoint ID still holds the 4-tuple, which is
// used then, so that the conn always has a peer to log and balance by.
func (c *conn) readAddresses() {
	if a, err := c.ep.GetLocalAddress(); err == nil {
		c.local = tcpAddr(a)
	}
	if a, err := c.ep.GetRemoteAddress(); err == nil {
		c.remote = tcpAddr(a)
	} else if info, ok := c.ep.Info().(*stack.TransportEndpointInfo); ok && info.ID.RemotePort != 0 {
		c.remote = tcpAddr(tcpip.FullAddress{Addr: info.ID.RemoteAddress, Port: info.ID.RemotePort})
	}
}

func tcpAddr(a tcpip.FullAddress) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IP(a.Addr.AsSlice()), Port: int(a.Port)}
}

// Read implements net.Conn.
func (c *conn) Read(b []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		if c.closed.Load() {
			return 0, c.opError("read", net.ErrClosed)
		}
		if c.rd.expired() {
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		if len(b) == 0 {
			return 0, nil
		}
		c.rbuf = b
		res, err := c.ep.Read(&c.rbuf, tcpip.ReadOptions{})
		c.rbuf = nil
		switch err.(type) {
		case nil:
			if res.Count > 0 {
				c.ep.ModerateRecvBuf(res.Count)
			}
			return res.Count, nil
		case *tcpip.ErrWouldBlock:
			<-c.rd.ready
		case *tcpip.ErrClosedForReceive:
			return 0, io.EOF
		default:
			return 0, c.opError("read", convertErr(err))
		}
	}
}

// Write implements net.Conn. It returns once all of b is queued on the
// endpoint, or with the count written so far and an error.
func (c *conn) Write(b []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	n := 0
	for {
		if c.closed.Load() {
			return n, c.opError("write", net.ErrClosed)
		}
		if c.wr.expired() {
			return n, c.opError("write", os.ErrDeadlineExceeded)
		}
		if n == len(b) {
			return n, nil
		}
		c.wbuf.b = b[n:]
		m, err := c.ep.Write(&c.wbuf, tcpip.WriteOptions{})
		c.wbuf.b = nil
		n += int(m)
		switch err.(type) {
		case nil:
		case *tcpip.ErrWouldBlock:
			<-c.wr.ready
		default:
			return n, c.opError("write", convertErr(err))
		}
	}
}

// Close implements net.Conn: it stops the deadline timers, closes the
// endpoint (which finishes the connection gracefully, or resets it if
// unread data is left) and wakes blocked calls, which return net.ErrClosed.
func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return c.opError("close", net.ErrClosed)
	}
	c.rd.stop()
	c.wr.stop()
	c.ep.Close()
	c.wq.EventUnregister(&c.rd.entry)
	c.wq.EventUnregister(&c.wr.entry)
	c.rd.NotifyEvent(0)
	c.wr.NotifyEvent(0)
	return nil
}

// CloseWrite shuts down the sending direction (a FIN after queued data).
func (c *conn) CloseWrite() error { return c.shutdown(tcpip.ShutdownWrite) }

// CloseRead shuts down the receiving direction.
func (c *conn) CloseRead() error { return c.shutdown(tcpip.ShutdownRead) }

func (c *conn) shutdown(how tcpip.ShutdownFlags) error {
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	if err := c.ep.Shutdown(how); err != nil {
		return c.opError("close", convertErr(err))
	}
	return nil
}

// LocalAddr implements net.Conn.
func (c *conn) LocalAddr() net.Addr {
	if c.local == nil {
		return nil
	}
	return c.local
}

// RemoteAddr implements net.Conn.
func (c *conn) RemoteAddr() net.Addr {
	if c.remote == nil {
		return nil
	}
	return c.remote
}

// SetDeadline implements net.Conn.
func (c *conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wr.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline implements net.Conn.
func (c *conn) SetWriteDeadline(t time.Time) error { c.wr.set(t); return nil }

func (c *conn) opError(op string, err error) error {
	e := &net.OpError{Op: op, Net: "tcp", Err: err}
	if c.local != nil {
		e.Source = c.local
	}
	if c.remote != nil {
		e.Addr = c.remote
	}
	return e
}

// direction is the waiting state of one direction of a conn: the endpoint's
// events and the deadline timer both put a token in ready, and a blocked
// call takes it and retries. The registration is permanent, so no event
// between a failed attempt and the wait is lost: it leaves a token.
type direction struct {
	ready chan struct{} // capacity 1
	entry waiter.Entry

	// deadline is when calls start failing, in monotonic nanoseconds
	// since clockBase; 0 means none.
	deadline atomic.Int64

	// mu protects timer.
	mu    sync.Mutex
	timer *time.Timer
}

func (d *direction) init(mask waiter.EventMask) {
	d.ready = make(chan struct{}, 1)
	d.entry.Init(d, mask)
}

// NotifyEvent implements waiter.EventListener.
func (d *direction) NotifyEvent(waiter.EventMask) {
	select {
	case d.ready <- struct{}{}:
	default:
	}
}

// clockBase anchors deadlines to the monotonic clock, so that a step of the
// wall clock neither fires nor postpones them.
var clockBase = time.Now()

func monotonic(t time.Time) int64 {
	n := int64(t.Sub(clockBase))
	if n <= 0 {
		n = 1 // 0 means no deadline; anything this early has passed.
	}
	return n
}

// expired reports whether the deadline has passed.
func (d *direction) expired() bool {
	dl := d.deadline.Load()
	return dl != 0 && int64(time.Since(clockBase)) >= dl
}

// set sets the deadline; the zero time clears it. The timer is created on
// first use and reset afterwards.
func (d *direction) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.IsZero() {
		d.deadline.Store(0)
		if d.timer != nil {
			d.timer.Stop()
		}
		return
	}
	d.deadline.Store(monotonic(t))
	wait := time.Until(t)
	if wait <= 0 {
		if d.timer != nil {
			d.timer.Stop()
		}
		d.NotifyEvent(0)
		return
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(wait, d.fire)
		return
	}
	d.timer.Reset(wait)
}

// fire is the deadline timer's function: it wakes a blocked call, which
// then sees the deadline passed.
func (d *direction) fire() { d.NotifyEvent(0) }

// stop stops the timer for good.
func (d *direction) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deadline.Store(0)
	if d.timer != nil {
		d.timer.Stop()
	}
}

// payload is the tcpip.Payloader a conn's Write hands the endpoint.
type payload struct{ b []byte }

// Read implements io.Reader.
func (p *payload) Read(b []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.b)
	p.b = p.b[n:]
	return n, nil
}

// Len implements tcpip.Payloader.
func (p *payload) Len() int { return len(p.b) }
