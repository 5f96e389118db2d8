package tcp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

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
// listens. The returned conns are *gonet.TCPConn today; callers needing a
// half-close use interface{ CloseWrite() error }.
func (c *Core) Listen(addr netip.AddrPort) (net.Listener, error) {
	if !addr.Addr().Is4() {
		return nil, opError("listen", "tcp", addr, fmt.Errorf("tcp: address %q is not IPv4", addr.Addr().String()))
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
	return &listener{TCPListener: gonet.NewTCPListener(c.stack, wq, ep), c: c}, nil
}

// listener counts what it accepts.
type listener struct {
	*gonet.TCPListener
	c *Core
}

// Accept implements net.Listener.
func (l *listener) Accept() (net.Conn, error) {
	conn, err := l.TCPListener.Accept()
	if err != nil {
		return nil, err
	}
	l.c.stats.accepted.Add(1)
	if l.c.counters != nil {
		l.c.counters.Accepted.Add(1)
	}
	return &timedConn{conn.(*gonet.TCPConn)}, nil
}

// timedConn stops a gonet.TCPConn's deadline timers when it is closed.
// gonet leaves them running, so each connection that had a deadline kept
// a live runtime timer (and itself) until the deadline passed: a proxy
// with 30 s timeouts accumulated hundreds of thousands of timers, and the
// runtime's timer heap maintenance (timers.adjust) walks them all.
type timedConn struct{ *gonet.TCPConn }

// Close implements net.Conn.
func (c *timedConn) Close() error {
	c.SetDeadline(time.Time{})
	return c.TCPConn.Close()
}

// Dial connects to addr from this core. The source port is chosen so that
// the NIC steers the replies back to this core (Receive Flow Deliver): a
// port p with Steering.Core(Flow{addr, local, addr.Port(), p}) == Index().
// It binds p with ReuseAddress and connects; a port whose 4-tuple is taken
// is skipped. ctx bounds the handshake.
func (c *Core) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
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
	entry, notify := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	terr = ep.Connect(tcpip.FullAddress{NIC: nicID, Addr: addrFrom(addr.Addr()), Port: addr.Port()})
	if _, started := terr.(*tcpip.ErrConnectStarted); started {
		select {
		case <-ctx.Done():
			ep.Close()
			return nil, ctx.Err()
		case <-notify:
		}
		terr = ep.LastError()
	}
	if terr != nil {
		ep.Close()
		switch terr.(type) {
		case *tcpip.ErrBadLocalAddress, *tcpip.ErrPortInUse: // 4-tuple taken
			return nil, errPortBusy
		}
		return nil, convertErr(terr)
	}
	return &timedConn{gonet.NewTCPConn(wq, ep)}, nil
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
