package tcp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/bareproxy/bareproxy/tcp/internal/gvnet"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Listen listens for TCP connections on this core. The address may be
// unspecified (0.0.0.0:port). Every core that should accept must listen:
// the NIC steers each connection to one core, which accepts it only if it
// listens. The returned conns implement CloseWrite and CloseRead for
// half-closes.
func (c *Core) Listen(addr netip.AddrPort) (net.Listener, error) {
	if !addr.Addr().Is4() {
		return nil, opError("listen", "tcp", addr, fmt.Errorf("tcp: address %q is not IPv4", addr.Addr().String()))
	}
	if c.native {
		return c.listenNative(addr)
	}
	l, err := c.gtcp.Listen(c.stack, addr)
	if err != nil {
		return nil, err
	}
	return &countingListener{Listener: l, c: c}, nil
}

// countingListener counts what a gVisor listener accepts.
type countingListener struct {
	net.Listener
	c *Core
}

// Accept implements net.Listener.
func (l *countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.c.stats.accepted.Add(1)
	if l.c.counters != nil {
		l.c.counters.Accepted.Add(1)
	}
	return conn, nil
}

// Dial connects to addr from this core. The source port is chosen so that
// the NIC steers the replies back to this core (Receive Flow Deliver): a
// port p with Steering.Core(Flow{addr, local, addr.Port(), p}) == Index().
// It binds p with ReuseAddress and connects; a port whose 4-tuple is taken
// is skipped. ctx bounds the handshake.
func (c *Core) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	if c.native {
		return c.dialNative(ctx, addr, 0)
	}
	conn, err := c.dial(addr, func(p uint16) (net.Conn, error) {
		return c.gtcp.Connect(ctx, c.stack, nicID, p, addr)
	})
	if err != nil {
		return nil, opError("dial", "tcp", addr, err)
	}
	if c.counters != nil {
		c.counters.Dialled.Add(1)
	}
	return conn, nil
}

// DialTimeout is Dial giving up after timeout (none if 0), with an error
// matching context.DeadlineExceeded, as a deadline in ctx would. The
// native engine keeps the limit in its timer wheel, so that a dial needs
// no context and runtime timer of its own; gVisor gets a context.
func (c *Core) DialTimeout(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	if c.native {
		return c.dialNative(ctx, addr, timeout)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return c.Dial(ctx, addr)
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
// core until try succeeds or fails with something other than
// gvnet.ErrPortBusy.
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
		if err == gvnet.ErrPortBusy {
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

// dialUDP connects a UDP socket from local port p, or returns errPortBusy.
func (c *Core) dialUDP(p uint16, addr netip.AddrPort) (net.Conn, error) {
	wq := new(waiter.Queue)
	ep, terr := c.stack.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	if terr != nil {
		return nil, gvnet.ConvertErr(terr)
	}
	if terr := ep.Bind(tcpip.FullAddress{Port: p}); terr != nil {
		ep.Close()
		if _, busy := terr.(*tcpip.ErrPortInUse); busy {
			return nil, gvnet.ErrPortBusy
		}
		return nil, gvnet.ConvertErr(terr)
	}
	if terr := ep.Connect(tcpip.FullAddress{NIC: nicID, Addr: addrFrom(addr.Addr()), Port: addr.Port()}); terr != nil {
		ep.Close()
		return nil, gvnet.ConvertErr(terr)
	}
	return newUDPConn(ep, wq), nil
}
