package proxy

import (
	"context"
	"net"
	"net/netip"
	"syscall"
)

// soReusePort is SO_REUSEPORT (asm-generic/socket.h: 15 on x86 and arm64),
// which the frozen syscall package lacks.
const soReusePort = 0xf

// HostNetwork is a Network on the Linux kernel's sockets, for tests, hosted
// runs and comparisons with the appliance's own stack.
type HostNetwork struct {
	// ReusePort sets SO_REUSEPORT on listeners, so that several cores
	// (several HostNetworks) can listen on the same address and the kernel
	// spreads connections over them. False means one listener per address.
	ReusePort bool
}

var _ Network = HostNetwork{}

// Listen opens a kernel TCP listener on addr.
func (h HostNetwork) Listen(addr netip.AddrPort) (net.Listener, error) {
	lc := net.ListenConfig{}
	if h.ReusePort {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	return lc.Listen(context.Background(), "tcp4", addr.String())
}

// Dial opens a kernel TCP connection to addr.
func (h HostNetwork) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp4", addr.String())
}
