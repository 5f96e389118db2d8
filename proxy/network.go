package proxy

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// Network is one core's view of the network. The engine listens and dials
// through the core's own Network, so a connection accepted on core k is
// served and dialled on core k. tcp.Core implements it on the appliance;
// HostNetwork implements it with kernel sockets.
type Network interface {
	// Listen opens a listener on addr; 0.0.0.0 means every address. Each
	// core owns its own listen table, so every core listens on the same
	// addresses.
	Listen(addr netip.AddrPort) (net.Listener, error)
	// Dial connects to addr, giving up when ctx is done.
	Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
}

// timeoutDialer is implemented by Networks that take a dial's time limit
// directly, with an error matching context.DeadlineExceeded when it
// passes (package tcp's native engine keeps it in its timer wheel): a dial
// then needs no context and runtime timer of its own.
type timeoutDialer interface {
	DialTimeout(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (net.Conn, error)
}

// closeWriter is implemented by connections that can half-close
// (*net.TCPConn, gVisor's gonet.TCPConn).
type closeWriter interface {
	CloseWrite() error
}

// finalWriter is implemented by connections that can send their last
// bytes and their FIN in one segment (package tcp's native engine): one
// segment fewer per connection than Write followed by CloseWrite.
type finalWriter interface {
	WriteClose(p []byte) (int, error)
}

// engineSplicer is implemented by connections whose TCP engine can move
// bytes between two of its connections itself, on the core's receive path
// (package tcp's native engine): a splice then wakes no goroutine per
// message. Splice returns an error matching errors.ErrUnsupported, having
// moved nothing, when peer is not a connection of the same engine. idle[0]
// bounds the idle time while the direction from the receiver is open,
// idle[1] while the one from peer is; moves hears of every move as it
// happens, under the engine's lock (dir 0 from the receiver, 1 from
// peer); side says which connection ended a splice that err says failed
// (0 the receiver, 1 peer).
type engineSplicer interface {
	Splice(peer net.Conn, idle [2]time.Duration, moves func(dir, n int)) (moved [2]int64, side int, err error)
}

// addrPorter is implemented by connections that give their addresses
// without allocating (package tcp's native engine): RemoteAddr and
// LocalAddr build a *net.TCPAddr each, two allocations per session.
type addrPorter interface {
	LocalAddrPort() netip.AddrPort
	RemoteAddrPort() netip.AddrPort
}

// connAddrs returns c's remote and local addresses.
func connAddrs(c net.Conn) (remote, local netip.AddrPort) {
	if a, ok := c.(addrPorter); ok {
		return a.RemoteAddrPort(), a.LocalAddrPort()
	}
	return addrPort(c.RemoteAddr()), addrPort(c.LocalAddr())
}

// addrPort converts a net.Addr to an AddrPort; the zero value if it cannot.
func addrPort(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.TCPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case nil:
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
