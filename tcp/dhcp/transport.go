package dhcp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// transportQueue is how many datagrams UDPTransport holds for Receive.
const transportQueue = 16

// UDPTransport is a Transport over UDP sockets bound to port 68. It sends
// through the first socket and receives from all of them: the appliance
// binds port 68 on every core (tcp.Core.ListenUDP), because the NIC hashes
// the server's answer to whichever core its ports pick. One goroutine per
// socket reads into a shared queue; a full queue drops, as a socket buffer
// does. The sockets must allow sending to 255.255.255.255.
type UDPTransport struct {
	conns []net.PacketConn
	in    chan []byte
	done  chan struct{}
	// dead is closed when every reader has stopped (its socket closed).
	dead  chan struct{}
	alive atomic.Int32
	wg    sync.WaitGroup

	closeOnce sync.Once

	// Dropped counts datagrams dropped because the queue was full.
	Dropped atomic.Uint64
}

var _ Transport = (*UDPTransport)(nil)

// NewUDPTransport starts reading conns, which must be non-empty and bound
// to port 68. The transport owns them: Close closes them.
func NewUDPTransport(conns ...net.PacketConn) (*UDPTransport, error) {
	if len(conns) == 0 {
		return nil, errors.New("dhcp: a UDP transport needs at least one socket")
	}
	t := &UDPTransport{
		conns: conns,
		in:    make(chan []byte, transportQueue),
		done:  make(chan struct{}),
		dead:  make(chan struct{}),
	}
	t.alive.Store(int32(len(conns)))
	for _, c := range conns {
		t.wg.Add(1)
		go t.readLoop(c)
	}
	return t, nil
}

// readLoop queues what c receives until c fails (is closed).
func (t *UDPTransport) readLoop(c net.PacketConn) {
	defer t.wg.Done()
	defer func() {
		if t.alive.Add(-1) == 0 {
			close(t.dead)
		}
	}()
	buf := make([]byte, MaxMessageSize+1)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		// One copy per datagram: only DHCP comes to port 68, a few
		// a day.
		d := append([]byte(nil), buf[:n]...)
		select {
		case t.in <- d:
		case <-t.done:
			return
		default:
			t.Dropped.Add(1)
		}
	}
}

// Send implements Transport.
func (t *UDPTransport) Send(payload []byte, dst netip.Addr) error {
	_, err := t.conns[0].WriteTo(payload, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, ServerPort)))
	return err
}

// Receive implements Transport. It returns net.ErrClosed once Close was
// called or every socket has failed.
func (t *UDPTransport) Receive(ctx context.Context, buf []byte, deadline time.Time) (int, error) {
	select {
	case d := <-t.in:
		return copy(buf, d), nil
	default:
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case d := <-t.in:
		return copy(buf, d), nil
	case <-timer.C:
		return 0, os.ErrDeadlineExceeded
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-t.done:
		return 0, net.ErrClosed
	case <-t.dead:
		return 0, net.ErrClosed
	}
}

// Close closes the sockets and waits for the readers. It is idempotent.
func (t *UDPTransport) Close() error {
	t.closeOnce.Do(func() {
		close(t.done)
		for _, c := range t.conns {
			c.Close()
		}
		t.wg.Wait()
	})
	return nil
}
