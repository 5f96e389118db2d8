package tcp

import (
	"errors"
	"net"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Errors that callers branch on. They come wrapped in a *net.OpError; use
// errors.Is.
var (
	// ErrRefused means the peer answered the SYN with a RST.
	ErrRefused = errors.New("tcp: connection refused")
	// ErrUnreachable means there is no route to the peer, or an ICMP
	// error said it is unreachable.
	ErrUnreachable = errors.New("tcp: host unreachable")
	// ErrTimedOut means the peer did not answer in time.
	ErrTimedOut = errors.New("tcp: timed out")
	// ErrAddrInUse means a listener already holds the address.
	ErrAddrInUse = errors.New("tcp: address in use")
	// ErrPortsExhausted means no free source port steers replies back to
	// the dialling core: too many connections to one remote address and
	// port are open or in TIME_WAIT.
	ErrPortsExhausted = errors.New("tcp: no free source port steers to this core")
)

// errPortBusy tells a dial to try its next port. It never leaves the
// package.
var errPortBusy = errors.New("tcp: port busy")

// convertErr turns a tcpip.Error into a Go error at the package boundary.
func convertErr(err tcpip.Error) error {
	switch err.(type) {
	case nil:
		return nil
	case *tcpip.ErrConnectionRefused:
		return ErrRefused
	case *tcpip.ErrHostUnreachable, *tcpip.ErrNetworkUnreachable, *tcpip.ErrHostDown, *tcpip.ErrNoNet:
		return ErrUnreachable
	case *tcpip.ErrTimeout:
		return ErrTimedOut
	case *tcpip.ErrPortInUse:
		return ErrAddrInUse
	default:
		return errors.New("tcp: " + err.String())
	}
}

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
