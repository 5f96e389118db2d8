package dhcptest

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/bareproxy/bareproxy/tcp/dhcp"
)

// PipeConn is one end of an in-memory Ethernet link made by Pipe.
type PipeConn struct {
	in   chan []byte
	peer *PipeConn

	mu sync.Mutex
	// mu protects drop.
	drop func(frame []byte) bool
}

var _ dhcp.Conn = (*PipeConn)(nil)

// Pipe returns the two ends of a link: what one writes the other reads.
func Pipe() (*PipeConn, *PipeConn) {
	a := &PipeConn{in: make(chan []byte, 64)}
	b := &PipeConn{in: make(chan []byte, 64)}
	a.peer, b.peer = b, a
	return a, b
}

// DropWrites makes WriteFrame discard frames for which f is true.
func (p *PipeConn) DropWrites(f func(frame []byte) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop = f
}

// WriteFrame implements dhcp.Conn.
func (p *PipeConn) WriteFrame(frame []byte) error {
	p.mu.Lock()
	drop := p.drop
	p.mu.Unlock()
	if drop != nil && drop(frame) {
		return nil
	}
	select {
	case p.peer.in <- append([]byte(nil), frame...):
		return nil
	default:
		return fmt.Errorf("dhcptest: pipe full")
	}
}

// ReadFrame implements dhcp.Conn.
func (p *PipeConn) ReadFrame(buf []byte, deadline time.Time) (int, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case f := <-p.in:
		return copy(buf, f), nil
	case <-t.C:
		return 0, os.ErrDeadlineExceeded
	}
}

// Inject queues frame for this end's next ReadFrame, as if the peer had
// written it.
func (p *PipeConn) Inject(frame []byte) error {
	return p.peer.WriteFrame(frame)
}
