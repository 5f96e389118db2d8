package tcp

import (
	"net"
	"net/netip"

	"github.com/bareproxy/bareproxy/tcp/internal/gvnet"
)

// Errors that callers branch on. They come wrapped in a *net.OpError; use
// errors.Is.
var (
	// ErrRefused means the peer answered the SYN with a RST.
	ErrRefused = gvnet.ErrRefused
	// ErrUnreachable means there is no route to the peer, or an ICMP
	// error said it is unreachable.
	ErrUnreachable = gvnet.ErrUnreachable
	// ErrTimedOut means the peer did not answer in time.
	ErrTimedOut = gvnet.ErrTimedOut
	// ErrAddrInUse means a listener already holds the address.
	ErrAddrInUse = gvnet.ErrAddrInUse
	// ErrPortsExhausted means no free source port steers replies back to
	// the dialling core: too many connections to one remote address and
	// port are open or in TIME_WAIT.
	ErrPortsExhausted = gvnet.ErrPortsExhausted
)

// opError wraps err as the net package does, so that callers can log it
// as they would a kernel socket's error.
func opError(op, network string, addr netip.AddrPort, err error) error {
	var a net.Addr
	if network == "udp" {
		a = net.UDPAddrFromAddrPort(addr)
	} else {
		a = net.TCPAddrFromAddrPort(addr)
	}
	return &net.OpError{Op: op, Net: network, Addr: a, Err: err}
}
