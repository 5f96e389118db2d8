package tcp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/tcp/dhcp"
	"github.com/bareproxy/bareproxy/tcp/dhcp/dhcptest"
)

// listenUDPAll binds port on every core of s and closes the sockets when
// the test ends.
func listenUDPAll(t *testing.T, s *Stack, port uint16) []net.PacketConn {
	t.Helper()
	var conns []net.PacketConn
	for k := range s.Cores() {
		c, err := s.Core(k).ListenUDP(port)
		if err != nil {
			t.Fatalf("core %d: ListenUDP(%d): %v", k, port, err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	return conns
}

// TestListenUDP sends unicast and limited broadcast both ways between a
// one-core and a two-core stack, and checks the datagrams arrive on the
// core the NIC's hash picks.
func TestListenUDP(t *testing.T) {
	p := newPair(t, NewToeplitzSteering(2), NewToeplitzSteering(1))
	client := listenUDPAll(t, p.a, dhcp.ClientPort)
	server := listenUDPAll(t, p.b, dhcp.ServerPort)[0]
	if _, err := p.a.Core(0).ListenUDP(dhcp.ClientPort); !errors.Is(err, ErrAddrInUse) {
		t.Errorf("second ListenUDP on one core: %v, want ErrAddrInUse", err)
	}
	if _, err := p.a.Core(0).ListenUDP(0); err == nil {
		t.Errorf("ListenUDP(0) succeeded")
	}
	bcast := netip.AddrFrom4([4]byte{255, 255, 255, 255})
	for _, tc := range []struct {
		name string
		// toServer and toClient are where each side sends.
		toServer, toClient netip.Addr
	}{{"unicast", addrB.Addr(), addrA.Addr()}, {"broadcast", bcast, bcast}} {
		t.Run(tc.name, func(t *testing.T) {
			// Client to server: from core 1, which is not where the
			// answer need land.
			if _, err := client[1].WriteTo([]byte("ping"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(tc.toServer, dhcp.ServerPort))); err != nil {
				t.Fatalf("client WriteTo: %v", err)
			}
			buf := make([]byte, 64)
			server.SetReadDeadline(time.Now().Add(liveness))
			n, from, err := server.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "ping" {
				t.Fatalf("server ReadFrom: %q, %v", buf[:n], err)
			}
			if got := from.(*net.UDPAddr).AddrPort(); got != netip.AddrPortFrom(addrA.Addr(), dhcp.ClientPort) {
				t.Errorf("server saw the datagram from %s, want %s:68", got, addrA.Addr())
			}
			// Server to client, on the core the hash picks.
			if _, err := server.WriteTo([]byte("pong"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(tc.toClient, dhcp.ClientPort))); err != nil {
				t.Fatalf("server WriteTo: %v", err)
			}
			want := p.a.steering.Core(Flow{Src: addrB.Addr(), Dst: tc.toClient, SrcPort: dhcp.ServerPort, DstPort: dhcp.ClientPort})
			client[want].SetReadDeadline(time.Now().Add(liveness))
			n, _, err = client[want].ReadFrom(buf)
			if err != nil || string(buf[:n]) != "pong" {
				t.Fatalf("client core %d ReadFrom: %q, %v", want, buf[:n], err)
			}
		})
	}
}

// TestDHCPRenewOverStacks runs dhcp.Renewer on a two-core stack against
// dhcptest serving UDP on another stack, with two-second leases, so that
// renewals go through real stacks, ARP and RSS steering.
func TestDHCPRenewOverStacks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(s *dhcptest.Server)
		want  []dhcp.EventKind
		// wantAddr is the address the client ends on.
		wantAddr netip.Prefix
	}{{
		// The first renewal is lost, so the second goes out at T2 by
		// broadcast; the one after is plain unicast.
		name: "renew lost, rebind, renew",
		setup: func(s *dhcptest.Server) {
			var renewals atomic.Int32
			s.Drop = func(m *dhcp.Message) bool {
				return m.Type == dhcp.Request && m.CIAddr.IsValid() && renewals.Add(1) == 1
			}
		},
		want:     []dhcp.EventKind{dhcp.EventRenewing, dhcp.EventRebinding, dhcp.EventRenewed, dhcp.EventRenewing, dhcp.EventRenewed},
		wantAddr: addrA,
	}, {
		// The server has another address for the client: it refuses
		// the renewal, and DISCOVER (broadcast both ways) moves the
		// stack to the new address, which the next renewal uses.
		name:     "NAK, DISCOVER, new address, renew",
		setup:    func(s *dhcptest.Server) { s.First = netip.MustParseAddr("10.0.0.7") },
		want:     []dhcp.EventKind{dhcp.EventRenewing, dhcp.EventNak, dhcp.EventAcquired, dhcp.EventRenewing, dhcp.EventRenewed},
		wantAddr: netip.MustParsePrefix("10.0.0.7/24"),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, NewToeplitzSteering(2), NewToeplitzSteering(1))
			srv := &dhcptest.Server{ID: addrB.Addr(), Pool: addrB.Masked(), First: addrA.Addr(), Lease: 2 * time.Second}
			tc.setup(srv)
			srvConn := listenUDPAll(t, p.b, dhcp.ServerPort)[0]
			served := make(chan error, 1)
			go func() { served <- srv.ServeUDP(srvConn) }()
			t.Cleanup(func() {
				srvConn.Close()
				if err := <-served; err != nil {
					t.Errorf("server: %v", err)
				}
			})

			tr, err := dhcp.NewUDPTransport(listenUDPAll(t, p.a, dhcp.ClientPort)...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tr.Close() })
			events := make(chan dhcp.Event, 16)
			r := &dhcp.Renewer{
				Transport: tr, MAC: macA,
				OnEvent: func(e dhcp.Event) {
					if e.Kind == dhcp.EventAcquired || e.Kind == dhcp.EventRenewed {
						if err := p.a.SetAddress(e.Lease.Addr, netip.Addr{}); err != nil {
							t.Errorf("SetAddress(%s): %v", e.Lease.Addr, err)
						}
					}
					select {
					case events <- e:
					default:
					}
				},
			}
			ctx, cancel := context.WithTimeout(context.Background(), liveness)
			ran := make(chan error, 1)
			go func() {
				ran <- r.Run(ctx, dhcp.Lease{Addr: addrA, Server: addrB.Addr(), Duration: 2 * time.Second, Acquired: time.Now()})
			}()
			var got []dhcp.EventKind
			var last dhcp.Event
			for len(got) < len(tc.want) {
				select {
				case e := <-events:
					got = append(got, e.Kind)
					last = e
				case err := <-ran:
					cancel()
					t.Fatalf("Run ended after events %v: %v", got, err)
				}
			}
			cancel()
			if err := <-ran; !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v, want context.Canceled", err)
			}
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Fatalf("events %v, want %v", got, tc.want)
				}
			}
			if last.Lease.Addr != tc.wantAddr {
				t.Errorf("lease address %s, want %s", last.Lease.Addr, tc.wantAddr)
			}
			if a, _ := p.a.Address(); a != tc.wantAddr {
				t.Errorf("stack address %s, want %s", a, tc.wantAddr)
			}
			if n := r.Stats.Malformed.Load() + r.Stats.SendErrors.Load(); n != 0 {
				t.Errorf("%d malformed replies or send errors", n)
			}
		})
	}
}
