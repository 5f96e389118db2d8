package gvnet

import (
	"net"
	"time"

	"gvisor.dev/gvisor/pkg/waiter"
)

// Sock is what a net.Conn over a gVisor endpoint keeps besides the
// endpoint itself: each direction's wake-ups and deadline, and the
// addresses read when the conn was made. It provides net.Conn's address
// and deadline methods to the conns that embed it.
type Sock struct {
	Rd, Wr Direction
	// Local and Remote are nil until known; Remote stays nil for an
	// unconnected UDP socket.
	Local, Remote net.Addr
}

// Init registers both directions' waiter entries with wq.
func (s *Sock) Init(wq *waiter.Queue) {
	s.Rd.Init(wq, waiter.ReadableEvents|waiter.EventHUp|waiter.EventErr)
	s.Wr.Init(wq, waiter.WritableEvents|waiter.EventHUp|waiter.EventErr)
}

// LocalAddr implements net.Conn.
func (s *Sock) LocalAddr() net.Addr { return s.Local }

// RemoteAddr implements net.Conn.
func (s *Sock) RemoteAddr() net.Addr { return s.Remote }

// SetDeadline implements net.Conn.
func (s *Sock) SetDeadline(t time.Time) error {
	s.Rd.Set(t)
	s.Wr.Set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (s *Sock) SetReadDeadline(t time.Time) error { s.Rd.Set(t); return nil }

// SetWriteDeadline implements net.Conn.
func (s *Sock) SetWriteDeadline(t time.Time) error { s.Wr.Set(t); return nil }
