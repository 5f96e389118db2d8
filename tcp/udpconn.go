package tcp

import (
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/bareproxy/bareproxy/tcp/internal/gvnet"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// udpConn is a UDP socket over a gVisor endpoint: a net.Conn when the
// endpoint is connected (DialUDP), a net.PacketConn either way (ListenUDP).
// It stands in for gonet.UDPConn, whose package links gVisor's TCP, and
// like tcp/gvisortcp's conn keeps its waiter entries registered for its
// life, so a blocked call allocates nothing.
//
// Each Read or ReadFrom returns one datagram, truncated to the buffer as a
// kernel socket would; each Write or WriteTo sends one. Errors are
// *net.OpError, with os.ErrDeadlineExceeded for a deadline and
// net.ErrClosed after Close.
type udpConn struct {
	ep tcpip.Endpoint
	wq *waiter.Queue

	gvnet.Sock

	// readMu serialises reads and protects rbuf.
	readMu sync.Mutex
	rbuf   tcpip.SliceWriter
	// writeMu serialises writes and protects wbuf and to.
	writeMu sync.Mutex
	wbuf    gvnet.Payload
	to      tcpip.FullAddress

	closed atomic.Bool
}

var (
	_ net.Conn       = (*udpConn)(nil)
	_ net.PacketConn = (*udpConn)(nil)
)

// newUDPConn wraps a bound (and perhaps connected) endpoint and registers
// its waiter entries.
func newUDPConn(ep tcpip.Endpoint, wq *waiter.Queue) *udpConn {
	c := &udpConn{ep: ep, wq: wq}
	c.Init(wq)
	if a, err := ep.GetLocalAddress(); err == nil {
		c.Local = gvnet.UDPAddr(a)
	}
	if a, err := ep.GetRemoteAddress(); err == nil {
		c.Remote = gvnet.UDPAddr(a)
	}
	return c
}

// Read implements net.Conn.
func (c *udpConn) Read(b []byte) (int, error) {
	n, _, err := c.read(b, false)
	return n, err
}

// ReadFrom implements net.PacketConn.
func (c *udpConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.read(b, true)
	if err != nil {
		return n, nil, err
	}
	return n, from, nil
}

// read waits for a datagram and copies it into b; with needFrom it also
// returns the sender.
func (c *udpConn) read(b []byte, needFrom bool) (int, *net.UDPAddr, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		if c.closed.Load() {
			return 0, nil, c.opError("read", nil, net.ErrClosed)
		}
		if c.Rd.Expired() {
			return 0, nil, c.opError("read", nil, os.ErrDeadlineExceeded)
		}
		c.rbuf = b
		res, err := c.ep.Read(&c.rbuf, tcpip.ReadOptions{NeedRemoteAddr: needFrom})
		c.rbuf = nil
		switch err.(type) {
		case nil:
			var from *net.UDPAddr
			if needFrom {
				from = gvnet.UDPAddr(res.RemoteAddr)
			}
			return res.Count, from, nil
		case *tcpip.ErrWouldBlock:
			<-c.Rd.Ready()
		case *tcpip.ErrClosedForReceive:
			return 0, nil, c.opError("read", nil, net.ErrClosed)
		default:
			return 0, nil, c.opError("read", nil, gvnet.ConvertErr(err))
		}
	}
}

// Write implements net.Conn: it sends b as one datagram to the connected
// peer.
func (c *udpConn) Write(b []byte) (int, error) { return c.write(b, nil) }

// WriteTo implements net.PacketConn: it sends b as one datagram to addr,
// which must be an IPv4 *net.UDPAddr.
func (c *udpConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, c.opError("write", addr, &net.AddrError{Err: "not a UDP address", Addr: addr.String()})
	}
	ap := ua.AddrPort()
	if !ap.Addr().Unmap().Is4() {
		return 0, c.opError("write", addr, &net.AddrError{Err: "not an IPv4 address", Addr: addr.String()})
	}
	return c.write(b, ua)
}

// write sends b to addr, or to the connected peer when addr is nil.
func (c *udpConn) write(b []byte, addr *net.UDPAddr) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	var opts tcpip.WriteOptions
	if addr != nil {
		ap := addr.AddrPort()
		c.to = tcpip.FullAddress{Addr: tcpip.AddrFrom4(ap.Addr().Unmap().As4()), Port: ap.Port()}
		opts.To = &c.to
	}
	var na net.Addr
	if addr != nil {
		na = addr
	}
	for {
		if c.closed.Load() {
			return 0, c.opError("write", na, net.ErrClosed)
		}
		if c.Wr.Expired() {
			return 0, c.opError("write", na, os.ErrDeadlineExceeded)
		}
		c.wbuf.B = b
		n, err := c.ep.Write(&c.wbuf, opts)
		c.wbuf.B = nil
		switch err.(type) {
		case nil:
			return int(n), nil
		case *tcpip.ErrWouldBlock:
			<-c.Wr.Ready()
		default:
			return 0, c.opError("write", na, gvnet.ConvertErr(err))
		}
	}
}

// Close implements net.Conn: it stops the deadline timers, closes the
// endpoint and wakes blocked calls, which return net.ErrClosed.
func (c *udpConn) Close() error {
	if c.closed.Swap(true) {
		return c.opError("close", nil, net.ErrClosed)
	}
	c.Rd.Stop()
	c.Wr.Stop()
	c.ep.Close()
	c.Rd.Unregister(c.wq)
	c.Wr.Unregister(c.wq)
	return nil
}

// opError wraps err as the net package does; addr, if not nil, is the
// peer of an unconnected write.
func (c *udpConn) opError(op string, addr net.Addr, err error) error {
	e := &net.OpError{Op: op, Net: "udp", Err: err}
	if c.Local != nil {
		e.Source = c.Local
	}
	switch {
	case addr != nil:
		e.Addr = addr
	case c.Remote != nil:
		e.Addr = c.Remote
	}
	return e
}
