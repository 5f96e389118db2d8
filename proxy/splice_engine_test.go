package proxy

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// engineConn is a client conn whose "engine" splices: it records what
// Splice was asked and answers with a fixed outcome.
type engineConn struct {
	net.Conn
	idle   [2]time.Duration
	peer   net.Conn
	moves  [][2]int // (dir, n) reported before returning
	moved  [2]int64
	side   int
	err    error
	closed bool
}

func (c *engineConn) Splice(peer net.Conn, idle [2]time.Duration, moves func(dir, n int)) ([2]int64, int, error) {
	c.peer, c.idle = peer, idle
	if errors.Is(c.err, errors.ErrUnsupported) {
		return [2]int64{}, 0, c.err
	}
	for _, m := range c.moves {
		moves(m[0], m[1])
	}
	return c.moved, c.side, c.err
}

func (c *engineConn) Close() error { c.closed = true; return nil }

func timeoutErr() error {
	return &net.OpError{Op: "splice", Net: "tcp", Err: os.ErrDeadlineExceeded}
}

// TestSpliceInEngine: when the client conn's engine can splice, Session.Splice
// hands it both conns and the idle limits, and turns its outcome into
// HAProxy's termination state, byte counts and counters.
func TestSpliceInEngine(t *testing.T) {
	tests := []struct {
		name   string
		tunnel time.Duration
		side   int
		err    error
		term   string
		closed bool
	}{
		{"both FINs", 0, 0, nil, "--", false},
		{"client reset", 0, 0, syscall.ECONNRESET, "CD", true},
		{"server reset", 0, 1, syscall.ECONNRESET, "SD", true},
		{"client idle", 0, 0, timeoutErr(), "cD", true},
		{"server idle", 0, 1, timeoutErr(), "sD", true},
		{"timeout tunnel", 7 * time.Second, 1, timeoutErr(), "sD", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := &Frontend{Config: &config.Frontend{Name: "fe", Settings: config.Settings{Timeouts: config.Timeouts{Client: 3 * time.Second}}},
				counters: make([]counters, 2)}
			be := &Backend{Config: &config.Backend{Name: "be", Settings: config.Settings{Timeouts: config.Timeouts{Server: 5 * time.Second, Tunnel: tt.tunnel}}},
				counters: make([]counters, 2)}
			srv := &Server{Config: &config.Server{Name: "s1"}, Backend: be, counters: make([]counters, 2)}
			client := &engineConn{moves: [][2]int{{0, 10}, {1, 400}, {0, 2}, {1, 600}}, moved: [2]int64{12, 1000}, side: tt.side, err: tt.err}
			server := &engineConn{}
			s := &Session{Proxy: &Proxy{}, Core: 1, Frontend: fe, Client: client}
			res := s.Splice(&Upstream{Conn: server, Server: srv, s: s})
			if got := string(res.Term[:]); got != tt.term {
				t.Errorf("Term = %q, want %q", got, tt.term)
			}
			if res.BytesIn != 12 || res.BytesOut != 1000 {
				t.Errorf("bytes in/out = %d/%d, want 12/1000", res.BytesIn, res.BytesOut)
			}
			want := [2]time.Duration{3 * time.Second, 5 * time.Second}
			if tt.tunnel > 0 {
				want = [2]time.Duration{tt.tunnel, tt.tunnel}
			}
			if client.peer != server || client.idle != want {
				t.Errorf("Splice(peer %v, idle %v), want the server conn and %v", client.peer, client.idle, want)
			}
			for name, c := range map[string]*counters{"frontend": &fe.counters[1], "backend": &be.counters[1], "server": &srv.counters[1]} {
				if in, out := c.bytesIn.Load(), c.bytesOut.Load(); in != 12 || out != 1000 {
					t.Errorf("%s counters: in %d out %d, want 12 and 1000", name, in, out)
				}
			}
			if client.closed != tt.closed || server.closed != tt.closed {
				t.Errorf("closed client %v server %v, want both %v", client.closed, server.closed, tt.closed)
			}
		})
	}
}
