package dhcp_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/tcp/dhcp"
	"github.com/bareproxy/bareproxy/tcp/dhcp/dhcptest"
)

var clientMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

func newServer() *dhcptest.Server {
	return &dhcptest.Server{
		ID:     netip.MustParseAddr("10.77.0.1"),
		MAC:    net.HardwareAddr{2, 0, 0, 0, 0, 1},
		Pool:   netip.MustParsePrefix("10.77.0.0/24"),
		First:  netip.MustParseAddr("10.77.0.100"),
		Router: netip.MustParseAddr("10.77.0.1"),
		DNS:    []netip.Addr{netip.MustParseAddr("10.77.0.53")},
		Lease:  10 * time.Minute,
	}
}

// serve runs s on one end of a pipe and returns the other end.
func serve(t *testing.T, s *dhcptest.Server) *dhcptest.PipeConn {
	t.Helper()
	client, server := dhcptest.Pipe()
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- s.ServeFrames(server, done) }()
	t.Cleanup(func() {
		close(done)
		if err := <-errc; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return client
}

func TestAcquire(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(s *dhcptest.Server)
		wantAddr  string
		wantRoute string
		wantSeen  []dhcp.MessageType
		wantNaks  uint64
	}{
		{name: "four messages", wantAddr: "10.77.0.100/24", wantRoute: "10.77.0.1",
			wantSeen: []dhcp.MessageType{dhcp.Discover, dhcp.Request}},
		{name: "first discover lost", wantAddr: "10.77.0.100/24", wantRoute: "10.77.0.1",
			setup: func(s *dhcptest.Server) {
				n := 0
				s.Drop = func(m *dhcp.Message) bool { n++; return n == 1 }
			},
			wantSeen: []dhcp.MessageType{dhcp.Discover, dhcp.Discover, dhcp.Request}},
		{name: "first request lost", wantAddr: "10.77.0.100/24", wantRoute: "10.77.0.1",
			setup: func(s *dhcptest.Server) {
				n := 0
				s.Drop = func(m *dhcp.Message) bool {
					if m.Type == dhcp.Request {
						n++
					}
					return n == 1 && m.Type == dhcp.Request
				}
			},
			wantSeen: []dhcp.MessageType{dhcp.Discover, dhcp.Request, dhcp.Request}},
		{name: "nak starts over", wantAddr: "10.77.0.100/24", wantRoute: "10.77.0.1", wantNaks: 1,
			setup: func(s *dhcptest.Server) {
				n := 0
				s.Nak = func(*dhcp.Message) bool { n++; return n == 1 }
			},
			wantSeen: []dhcp.MessageType{dhcp.Discover, dhcp.Request, dhcp.Discover, dhcp.Request}},
		{name: "no mask: classful", wantAddr: "10.77.0.100/8", wantRoute: "10.77.0.1",
			setup:    func(s *dhcptest.Server) { s.OmitMask = true },
			wantSeen: []dhcp.MessageType{dhcp.Discover, dhcp.Request}},
		{name: "router off subnet is dropped", wantAddr: "10.77.0.100/24", wantRoute: "invalid IP",
			setup:    func(s *dhcptest.Server) { s.Router = netip.MustParseAddr("192.0.2.1") },
			wantSeen: []dhcp.MessageType{dhcp.Discover, dhcp.Request}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer()
			if tc.setup != nil {
				tc.setup(s)
			}
			c := &dhcp.Client{Conn: serve(t, s), MAC: clientMAC, Hostname: "bareproxy", Retransmit: 20 * time.Millisecond}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l, err := c.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Addr.String(); got != tc.wantAddr {
				t.Errorf("addr = %s, want %s", got, tc.wantAddr)
			}
			if got := l.Router.String(); got != tc.wantRoute {
				t.Errorf("router = %s, want %s", got, tc.wantRoute)
			}
			if l.Duration != 10*time.Minute || l.Renew != 5*time.Minute || l.Rebind != 10*time.Minute*7/8 {
				t.Errorf("times = %v %v %v", l.Duration, l.Renew, l.Rebind)
			}
			if l.Server != s.ID || len(l.DNS) != 1 || l.DNS[0] != s.DNS[0] {
				t.Errorf("server %v dns %v", l.Server, l.DNS)
			}
			if got := s.Seen(); !reflect.DeepEqual(got, tc.wantSeen) {
				t.Errorf("server saw %v, want %v", got, tc.wantSeen)
			}
			if got := c.Stats.Naks.Load(); got != tc.wantNaks {
				t.Errorf("naks = %d, want %d", got, tc.wantNaks)
			}
		})
	}
}

// TestAcquireIgnoresOtherTraffic: replies for another xid or MAC and junk
// frames are counted and skipped.
func TestAcquireIgnoresOtherTraffic(t *testing.T) {
	s := newServer()
	conn := serve(t, s)
	// Put junk in the client's inbox before it starts: an ARP frame, a
	// truncated DHCP frame and an OFFER for somebody else.
	other, _ := (&dhcp.Message{Op: dhcp.OpReply, XID: 1, CHAddr: net.HardwareAddr{2, 2, 2, 2, 2, 2}, Type: dhcp.Offer,
		YIAddr: netip.MustParseAddr("10.77.0.9")}).Append(nil)
	ep := dhcp.Endpoints{SrcMAC: s.MAC, DstMAC: dhcp.BroadcastMAC, SrcIP: s.ID, DstIP: dhcp.BroadcastAddr,
		SrcPort: dhcp.ServerPort, DstPort: dhcp.ClientPort}
	frames := [][]byte{
		append(make([]byte, 12), 0x08, 0x06, 0, 1),
		dhcp.AppendFrame(nil, ep, other[:100]),
		dhcp.AppendFrame(nil, ep, other),
	}
	for _, f := range frames {
		if err := conn.Inject(f); err != nil {
			t.Fatal(err)
		}
	}
	c := &dhcp.Client{Conn: conn, MAC: clientMAC, Retransmit: 20 * time.Millisecond, XID: func() uint32 { return 42 }}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Stats.Ignored.Load() < 2 || c.Stats.Malformed.Load() != 1 {
		t.Errorf("ignored %d malformed %d, want >= 2 and 1", c.Stats.Ignored.Load(), c.Stats.Malformed.Load())
	}
}

func TestAcquireFails(t *testing.T) {
	t.Run("no server", func(t *testing.T) {
		client, _ := dhcptest.Pipe()
		c := &dhcp.Client{Conn: client, MAC: clientMAC, Retransmit: time.Millisecond, Attempts: 2}
		_, err := c.Acquire(context.Background())
		if !errors.Is(err, dhcp.ErrNoLease) {
			t.Errorf("err = %v, want ErrNoLease", err)
		}
	})
	t.Run("always nak", func(t *testing.T) {
		s := newServer()
		s.Nak = func(*dhcp.Message) bool { return true }
		c := &dhcp.Client{Conn: serve(t, s), MAC: clientMAC, Retransmit: 20 * time.Millisecond}
		_, err := c.Acquire(context.Background())
		if !errors.Is(err, dhcp.ErrNoLease) || c.Stats.Naks.Load() == 0 {
			t.Errorf("err = %v naks %d, want ErrNoLease after NAKs", err, c.Stats.Naks.Load())
		}
	})
	t.Run("context", func(t *testing.T) {
		client, _ := dhcptest.Pipe()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		c := &dhcp.Client{Conn: client, MAC: clientMAC}
		if _, err := c.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("bad mac", func(t *testing.T) {
		client, _ := dhcptest.Pipe()
		c := &dhcp.Client{Conn: client, MAC: clientMAC[:3]}
		if _, err := c.Acquire(context.Background()); err == nil {
			t.Error("Acquire accepted a 3-byte MAC")
		}
	})
}
