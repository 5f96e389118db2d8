package gvisortcp

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bareproxy/bareproxy/tcp/internal/gvnet"
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

	gvnet.Sock

	// readMu serialises Read and protects rbuf.
	readMu sync.Mutex
	rbuf   tcpip.SliceWriter
	// writeMu serialises Write and protects wbuf.
	writeMu sync.Mutex
	wbuf    gvnet.Payload

	closed atomic.Bool
}

var (
	_ net.Conn                                    = (*conn)(nil)
	_ interface{ CloseWrite() error }             = (*conn)(nil)
	_ interface{ CloseRead() error }              = (*conn)(nil)
	_ interface{ SetLinger(sec int) error }       = (*conn)(nil)
	_ interface{ SetDeadline(t time.Time) error } = (*conn)(nil)
)

// newConn wraps a connected endpoint and registers its waiter entries.
func newConn(ep tcpip.Endpoint, wq *waiter.Queue) *conn {
	c := &conn{ep: ep, wq: wq}
	c.Init(wq)
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
		c.Local = gvnet.TCPAddr(a)
	}
	if a, err := c.ep.GetRemoteAddress(); err == nil {
		c.Remote = gvnet.TCPAddr(a)
	} else if info, ok := c.ep.Info().(*stack.TransportEndpointInfo); ok && info.ID.RemotePort != 0 {
		c.Remote = gvnet.TCPAddr(tcpip.FullAddress{Addr: info.ID.RemoteAddress, Port: info.ID.RemotePort})
	}
}

// Read implements net.Conn.
func (c *conn) Read(b []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		if c.closed.Load() {
			return 0, c.opError("read", net.ErrClosed)
		}
		if c.Rd.Expired() {
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
			<-c.Rd.Ready()
		case *tcpip.ErrClosedForReceive:
			return 0, io.EOF
		default:
			return 0, c.opError("read", gvnet.ConvertErr(err))
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
		if c.Wr.Expired() {
			return n, c.opError("write", os.ErrDeadlineExceeded)
		}
		if n == len(b) {
			return n, nil
		}
		c.wbuf.B = b[n:]
		m, err := c.ep.Write(&c.wbuf, tcpip.WriteOptions{})
		c.wbuf.B = nil
		n += int(m)
		switch err.(type) {
		case nil:
		case *tcpip.ErrWouldBlock:
			<-c.Wr.Ready()
		default:
			return n, c.opError("write", gvnet.ConvertErr(err))
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
	c.Rd.Stop()
	c.Wr.Stop()
	c.ep.Close()
	c.Rd.Unregister(c.wq)
	c.Wr.Unregister(c.wq)
	return nil
}

// CloseWrite shuts down the sending direction (a FIN after queued data).
func (c *conn) CloseWrite() error { return c.shutdown(tcpip.ShutdownWrite) }

// CloseRead shuts down the receiving direction.
func (c *conn) CloseRead() error { return c.shutdown(tcpip.ShutdownRead) }

// SetLinger sets what Close does with unsent data, as *net.TCPConn's
// SetLinger does; 0 makes Close reset the connection.
func (c *conn) SetLinger(sec int) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	opt := tcpip.LingerOption{Enabled: sec >= 0, Timeout: time.Duration(max(sec, 0)) * time.Second}
	c.ep.SocketOptions().SetLinger(opt)
	return nil
}

func (c *conn) shutdown(how tcpip.ShutdownFlags) error {
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	if err := c.ep.Shutdown(how); err != nil {
		return c.opError("close", gvnet.ConvertErr(err))
	}
	return nil
}

func (c *conn) opError(op string, err error) error {
	e := &net.OpError{Op: op, Net: "tcp", Err: err}
	if c.Local != nil {
		e.Source = c.Local
	}
	if c.Remote != nil {
		e.Addr = c.Remote
	}
	return e
}
