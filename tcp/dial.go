package tcp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	gtcp "gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// listenBacklog is each core's accept queue. A proxy accepts at once; when
// the queue overflows, gVisor falls back to SYN cookies.
const listenBacklog = 1024

// Listen listens for TCP connections on this core. The address may be
// unspecified (0.0.0.0:port). Every core that should accept must listen:
// the NIC steers each connection to one core, which accepts it only if it
// listens. The returned conns implement CloseWrite and CloseRead for
// half-closes.
func (c *Core) Listen(addr netip.AddrPort) (net.Listener, error) {
	if !addr.Addr().Is4() {
		return nil, opError("listen", "tcp", addr, fmt.Errorf("tcp: address %q is not IPv4", addr.Addr().String()))
	}
	if c.eng != nil {
		return c.listenNative(addr)
	}
	var full tcpip.FullAddress
	full.Port = addr.Port()
	if !addr.Addr().IsUnspecified() {
		full.Addr = addrFrom(addr.Addr())
	}
	wq := new(waiter.Queue)
	ep, terr := c.stack.NewEndpoint(gtcp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	if terr != nil {
		return nil, opError("listen", "tcp", addr, convertErr(terr))
	}
	if terr := ep.Bind(full); terr != nil {
		ep.Close()
		return nil, opError("bind", "tcp", addr, convertErr(terr))
	}
	if terr := ep.Listen(listenBacklog); terr != nil {
		ep.Close()
		return nil, opError("listen", "tcp", addr, convertErr(terr))
	}
	l := &listener{c: c, ep: ep, wq: wq, addr: net.TCPAddrFromAddrPort(addr)}
	if a, err := ep.GetLocalAddress(); err == nil {
		l.addr = tcpAddr(a)
	}
	l.acc.init(waiter.ReadableEvents | waiter.EventHUp | waiter.EventErr)
	wq.EventRegister(&l.acc.entry)
	return l, nil
}

// listener is a net.Listener over a listening endpoint. Like conn, it
// keeps one waiter entry registered for its life.
type listener struct {
	c    *Core
	ep   tcpip.Endpoint
	wq   *waiter.Queue
	addr *net.TCPAddr

	// acceptMu serialises Accept, so that one waiter at a time takes the
	// readiness token.
	acceptMu sync.Mutex
	acc      direction
	closed   atomic.Bool
}

// Accept implements net.Listener and counts what it accepts.
func (l *listener) Accept() (net.Conn, error) {
	l.acceptMu.Lock()
	defer l.acceptMu.Unlock()
	for {
		if l.closed.Load() {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
		}
		ep, wq, terr := l.ep.Accept(nil)
		switch terr.(type) {
		case nil:
			l.c.stats.accepted.Add(1)
			if l.c.counters != nil {
				l.c.counters.Accepted.Add(1)
			}
			return newConn(ep, wq), nil
		case *tcpip.ErrWouldBlock:
			<-l.acc.ready
		default:
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: convertErr(terr)}
		}
	}
}

// Close implements net.Listener: it closes the endpoint, which resets the
// connections not yet accepted, and unblocks Accept.
func (l *listener) Close() error {
	if l.closed.Swap(true) {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
	l.ep.Close()
	l.wq.EventUnregister(&l.acc.entry)
	l.acc.NotifyEvent(0)
	return nil
}

// Addr implements net.Listener.
func (l *listener) Addr() net.Addr { return l.addr }

// Dial connects to addr from this core. The source port is chosen so that
// the NIC steers the replies back to this core (Receive Flow Deliver): a
// port p with Steering.Core(Flow{addr, local, addr.Port(), p}) == Index().
// It binds p with ReuseAddress and connects; a port whose 4-tuple is taken
// is skipped. ctx bounds the handshake.
func (c *Core) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	if c.eng != nil {
		return c.dialNative(ctx, addr)
	}
	conn, err := c.dial(addr, func(p uint16) (net.Conn, error) { return c.dialTCP(ctx, p, addr) })
	if err != nil {
		return nil, opError("dial", "tcp", addr, err)
	}
	if c.counters != nil {
		c.counters.Dialled.Add(1)
	}
	return conn, nil
}

// DialUDP returns a connected UDP socket to addr, e.g. for syslog. Its
// source port is picked as Dial's is, so that answers reach this core.
func (c *Core) DialUDP(addr netip.AddrPort) (net.Conn, error) {
	conn, err := c.dial(addr, func(p uint16) (net.Conn, error) { return c.dialUDP(p, addr) })
	if err != nil {
		return nil, opError("dial", "udp", addr, err)
	}
	return conn, nil
}

// dial runs the port search: it tries ports whose replies steer to this
// core until try succeeds or fails with something other than errPortBusy.
func (c *Core) dial(addr netip.AddrPort, try func(p uint16) (net.Conn, error)) (net.Conn, error) {
	c.stats.dials.Add(1)
	if !addr.Addr().Is4() {
		c.stats.dialFailures.Add(1)
		return nil, fmt.Errorf("tcp: address %q is not IPv4", addr.Addr().String())
	}
	prefix, _ := c.s.Address()
	flows := c.s.ports.flows(addr, prefix.Addr())
	for attempts, scannedAll := 0, 0; attempts < maxBindAttempts && scannedAll < ephemeralCount; {
		// Claim the port by moving the cursor past it, so that dials
		// running at once on this core try different ports.
		off := c.cursor.Load()
		p, after, scanned, ok := flows.next(c.index, off, ephemeralCount-scannedAll)
		scannedAll += scanned
		if !ok {
			break
		}
		if !c.cursor.CompareAndSwap(off, after) {
			continue
		}
		attempts++
		c.stats.bindAttempts.Add(1)
		conn, err := try(p)
		if err == errPortBusy {
			continue
		}
		if err != nil {
			c.stats.dialFailures.Add(1)
		}
		return conn, err
	}
	c.stats.dialFailures.Add(1)
	c.stats.portsExhausted.Add(1)
	return nil, ErrPortsExhausted
}

// dialTCP connects from local port p, or returns errPortBusy.
func (c *Core) dialTCP(ctx context.Context, p uint16, addr netip.AddrPort) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wq := new(waiter.Queue)
	ep, terr := c.stack.NewEndpoint(gtcp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	if terr != nil {
		return nil, convertErr(terr)
	}
	// ReuseAddress lets dials to different peers share a source port;
	// gVisor still refuses a duplicate 4-tuple at Connect.
	ep.SocketOptions().SetReuseAddress(true)
	if terr := ep.Bind(tcpip.FullAddress{Port: p}); terr != nil {
		ep.Close()
		if _, busy := terr.(*tcpip.ErrPortInUse); busy {
			return nil, errPortBusy
		}
		return nil, convertErr(terr)
	}
	// The conn's entries are registered before Connect, so that its
	// write side's wake-up serves for the handshake too.
	conn := newConn(ep, wq)
	terr = ep.Connect(tcpip.FullAddress{NIC: nicID, Addr: addrFrom(addr.Addr()), Port: addr.Port()})
	if _, started := terr.(*tcpip.ErrConnectStarted); started {
		for ep.Readiness(waiter.WritableEvents|waiter.EventHUp|waiter.EventErr) == 0 {
			select {
			case <-ctx.Done():
				conn.Close()
				return nil, ctx.Err()
			case <-conn.wr.ready:
			}
		}
		terr = ep.LastError()
	}
	if terr != nil {
		conn.Close()
		switch terr.(type) {
		case *tcpip.ErrBadLocalAddress, *tcpip.ErrPortInUse: // 4-tuple taken
			return nil, errPortBusy
		}
		return nil, convertErr(terr)
	}
	conn.readAddresses()
	return conn, nil
}

// dialUDP connects a UDP socket from local port p, or returns errPortBusy.
func (c *Core) dialUDP(p uint16, addr netip.AddrPort) (net.Conn, error) {
	wq := new(waiter.Queue)
	ep, terr := c.stack.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	if terr != nil {
		return nil, convertErr(terr)
	}
	if terr := ep.Bind(tcpip.FullAddress{Port: p}); terr != nil {
		ep.Close()
		if _, busy := terr.(*tcpip.ErrPortInUse); busy {
			return nil, errPortBusy
		}
		return nil, convertErr(terr)
	}
	if terr := ep.Connect(tcpip.FullAddress{NIC: nicID, Addr: addrFrom(addr.Addr()), Port: addr.Port()}); terr != nil {
		ep.Close()
		return nil, convertErr(terr)
	}
	return gonet.NewUDPConn(wq, ep), nil
}
