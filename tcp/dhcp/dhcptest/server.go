// Package dhcptest is a small DHCPv4 server for tests of package dhcp and of
// the appliance: it hands out addresses from a pool, answers DISCOVER with
// OFFER and REQUEST with ACK or NAK, and records what it saw. It serves
// frames in memory (Pipe, ServeFrames) or UDP datagrams on a real network
// (ServeUDP). It is not a production server: no persistence, no relays.
package dhcptest

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/bareproxy/bareproxy/tcp/dhcp"
)

// Server hands out addresses. Set the exported fields before serving.
type Server struct {
	// ID is the server identifier and the source address of replies.
	ID netip.Addr
	// MAC is the source of reply frames (ServeFrames only).
	MAC net.HardwareAddr
	// Pool is the subnet; addresses are handed out from First upwards.
	Pool netip.Prefix
	// First is the first address handed out.
	First netip.Addr
	// Router is sent as option 3 when valid.
	Router netip.Addr
	// DNS is sent as option 6 when not empty.
	DNS []netip.Addr
	// Lease is the lease time; zero means one hour.
	Lease time.Duration
	// Renew and Rebind are sent as options 58 (T1) and 59 (T2) when not
	// zero; zero leaves the client to its defaults.
	Renew, Rebind time.Duration
	// OmitMask leaves option 1 out of replies.
	OmitMask bool
	// Drop, if not nil, is asked about every request; true drops it
	// unanswered (loss injection).
	Drop func(m *dhcp.Message) bool
	// Nak, if not nil, is asked about every REQUEST; true answers NAK.
	Nak func(m *dhcp.Message) bool

	mu sync.Mutex
	// mu protects leases, next and seen.
	leases map[string]netip.Addr
	next   netip.Addr
	seen   []dhcp.MessageType
}

// Seen returns the message types received so far, in order.
func (s *Server) Seen() []dhcp.MessageType {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dhcp.MessageType(nil), s.seen...)
}

// Leased returns the address leased to mac, if any.
func (s *Server) Leased(mac net.HardwareAddr) (netip.Addr, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.leases[string(mac)]
	return a, ok
}

// Handle answers one request, or returns nil when it gets no answer.
func (s *Server) Handle(req *dhcp.Message) *dhcp.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Op != dhcp.OpRequest {
		return nil
	}
	s.seen = append(s.seen, req.Type)
	if s.Drop != nil && s.Drop(req) {
		return nil
	}
	if s.leases == nil {
		s.leases = make(map[string]netip.Addr)
		s.next = s.First
	}
	addr, ok := s.leases[string(req.CHAddr)]
	if !ok {
		if !s.Pool.Contains(s.next) {
			return nil // pool exhausted
		}
		addr = s.next
		s.next = s.next.Next()
		s.leases[string(req.CHAddr)] = addr
	}
	reply := &dhcp.Message{
		Op:     dhcp.OpReply,
		XID:    req.XID,
		Flags:  req.Flags,
		GIAddr: req.GIAddr,
		CHAddr: append(net.HardwareAddr(nil), req.CHAddr...),
		YIAddr: addr,
	}
	switch req.Type {
	case dhcp.Discover:
		reply.Type = dhcp.Offer
	case dhcp.Request:
		// SELECTING and INIT-REBOOT name the address in option 50;
		// RENEWING and REBINDING in ciaddr (RFC 2131, 4.3.2).
		want, ok := req.Addr(dhcp.OptRequestedIP)
		if !ok {
			want = req.CIAddr
		}
		if id, ok := req.Addr(dhcp.OptServerID); ok && id != s.ID {
			return nil // the client chose another server
		}
		if want != addr || (s.Nak != nil && s.Nak(req)) {
			return &dhcp.Message{Op: dhcp.OpReply, XID: req.XID, Flags: req.Flags, CHAddr: reply.CHAddr,
				Type: dhcp.Nak, Options: []dhcp.Option{dhcp.AddrOption(dhcp.OptServerID, s.ID)}}
		}
		reply.Type = dhcp.Ack
	default:
		return nil
	}
	lease := s.Lease
	if lease == 0 {
		lease = time.Hour
	}
	reply.Options = append(reply.Options,
		dhcp.AddrOption(dhcp.OptServerID, s.ID),
		dhcp.SecondsOption(dhcp.OptLeaseTime, lease))
	if s.Renew != 0 {
		reply.Options = append(reply.Options, dhcp.SecondsOption(dhcp.OptRenewalT1, s.Renew))
	}
	if s.Rebind != 0 {
		reply.Options = append(reply.Options, dhcp.SecondsOption(dhcp.OptRebindingT2, s.Rebind))
	}
	if !s.OmitMask {
		bits := s.Pool.Bits()
		mask := net.CIDRMask(bits, 32)
		reply.Options = append(reply.Options, dhcp.Option{Code: dhcp.OptSubnetMask, Data: mask})
	}
	if s.Router.IsValid() {
		reply.Options = append(reply.Options, dhcp.AddrOption(dhcp.OptRouter, s.Router))
	}
	if len(s.DNS) > 0 {
		reply.Options = append(reply.Options, dhcp.AddrOption(dhcp.OptDNS, s.DNS...))
	}
	return reply
}

// ServeFrames answers DHCP frames read from c until ReadFrame fails with
// something other than a deadline, or done is closed. Replies are broadcast
// (Ethernet and IPv4), as RFC 2131, 4.1 asks when the BROADCAST flag is set.
func (s *Server) ServeFrames(c dhcp.Conn, done <-chan struct{}) error {
	buf := make([]byte, 2048)
	for {
		select {
		case <-done:
			return nil
		default:
		}
		n, err := c.ReadFrame(buf, time.Now().Add(50*time.Millisecond))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return err
		}
		payload, _, err := dhcp.ParseFrame(buf[:n], dhcp.ServerPort)
		if err != nil {
			continue
		}
		req, err := dhcp.Parse(payload)
		if err != nil {
			continue
		}
		reply := s.Handle(req)
		if reply == nil {
			continue
		}
		out, err := reply.Append(nil)
		if err != nil {
			return err
		}
		frame := dhcp.AppendFrame(nil, dhcp.Endpoints{
			SrcMAC: s.MAC, DstMAC: dhcp.BroadcastMAC,
			SrcIP: s.ID, DstIP: dhcp.BroadcastAddr,
			SrcPort: dhcp.ServerPort, DstPort: dhcp.ClientPort,
		}, out)
		if err := c.WriteFrame(frame); err != nil {
			return err
		}
	}
}

// ServeUDP answers requests arriving on conn (bound to :67, with
// SO_BROADCAST and bound to the serving interface), until conn is closed.
// As RFC 2131, 4.1 asks, an OFFER or ACK to a client that filled in ciaddr
// (RENEWING, REBINDING) is unicast to ciaddr:68; everything else, NAKs
// included, is broadcast to 255.255.255.255:68. It returns nil once conn
// is closed.
func (s *Server) ServeUDP(conn net.PacketConn) error {
	buf := make([]byte, 2048)
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcp.ClientPort}
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			// gVisor's sockets (tcp.Core.ListenUDP) say io.EOF
			// once closed.
			if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		req, err := dhcp.Parse(buf[:n])
		if err != nil {
			continue
		}
		reply := s.Handle(req)
		if reply == nil {
			continue
		}
		out, err := reply.Append(nil)
		if err != nil {
			return err
		}
		to := bcast
		if reply.Type != dhcp.Nak && req.CIAddr.IsValid() && !req.GIAddr.IsValid() {
			to = net.UDPAddrFromAddrPort(netip.AddrPortFrom(req.CIAddr, dhcp.ClientPort))
		}
		if _, err := conn.WriteTo(out, to); err != nil {
			return err
		}
	}
}
