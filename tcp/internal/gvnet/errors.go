package gvnet

import (
	"errors"
	"net"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// The errors package tcp exports, defined here so that tcp/gvisortcp
// returns the same values. Package tcp documents them.
var (
	ErrRefused        = errors.New("tcp: connection refused")
	ErrUnreachable    = errors.New("tcp: host unreachable")
	ErrTimedOut       = errors.New("tcp: timed out")
	ErrAddrInUse      = errors.New("tcp: address in use")
	ErrPortsExhausted = errors.New("tcp: no free source port steers to this core")
)

// ErrPortBusy tells a dial's port search to try its next port. It never
// leaves package tcp.
var ErrPortBusy = errors.New("tcp: port busy")

// ConvertErr turns a tcpip.Error into a Go error at the package boundary.
func ConvertErr(err tcpip.Error) error {
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

// TCPAddr converts a gVisor address to a *net.TCPAddr.
func TCPAddr(a tcpip.FullAddress) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IP(a.Addr.AsSlice()), Port: int(a.Port)}
}

// UDPAddr converts a gVisor address to a *net.UDPAddr.
func UDPAddr(a tcpip.FullAddress) *net.UDPAddr {
	return &net.UDPAddr{IP: net.IP(a.Addr.AsSlice()), Port: int(a.Port)}
}
