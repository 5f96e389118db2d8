package gvnet

import (
	"context"
	"net"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// TCP is gVisor's TCP as a core of package tcp uses it (tcp.EngineGVisor).
// tcp/gvisortcp implements it; package tcp holds no reference to gVisor's
// TCP transport of its own, so that a binary which does not import
// tcp/gvisortcp does not link it.
type TCP interface {
	// Protocol is the transport protocol added to every core's stack.
	Protocol() stack.TransportProtocolFactory
	// Tune pins the protocol's options on a core's stack, once, before
	// any endpoint exists.
	Tune(st *stack.Stack, timeWait time.Duration) error
	// Listen listens on addr (which may be unspecified) on st. Errors
	// are *net.OpError.
	Listen(st *stack.Stack, addr netip.AddrPort) (net.Listener, error)
	// Connect connects from local port port of st's NIC nic to addr,
	// bounded by ctx. It returns ErrPortBusy when the port or the
	// 4-tuple is taken, so that the caller tries another port; other
	// errors are unwrapped (package tcp wraps them).
	Connect(ctx context.Context, st *stack.Stack, nic tcpip.NICID, port uint16, addr netip.AddrPort) (net.Conn, error)
}

// registered is the TCP that Register installed, nil until then.
var registered TCP

// Register installs gVisor's TCP. tcp/gvisortcp calls it from its init; a
// second call panics, as a misconfiguration at init.
func Register(t TCP) {
	if registered != nil {
		panic("gvnet: gVisor's TCP registered twice")
	}
	registered = t
}

// Registered returns what Register installed, or nil.
func Registered() TCP { return registered }
