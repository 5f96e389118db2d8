package dhcp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
)

// Conn is the raw link the client talks over: whole Ethernet frames.
type Conn interface {
	// WriteFrame sends one Ethernet frame. The Conn does not keep it.
	WriteFrame(frame []byte) error
	// ReadFrame waits until a frame arrives or deadline passes, copies
	// the frame into buf and returns its length. At the deadline it
	// returns an error wrapping os.ErrDeadlineExceeded. Frames of any
	// kind may come back; the client drops what is not its reply.
	ReadFrame(buf []byte, deadline time.Time) (int, error)
}

// Lease is what the server assigned.
type Lease struct {
	// Addr is the assigned address with the subnet's prefix length.
	Addr netip.Prefix
	// Router is the first router on the subnet; zero if none was given.
	Router netip.Addr
	// DNS are the name servers offered, if any.
	DNS []netip.Addr
	// Server is the server identifier (option 54).
	Server netip.Addr
	// Duration is the lease time; 0xffffffff seconds means infinite.
	Duration time.Duration
	// Renew and Rebind are T1 and T2 (RFC 2131, 4.4.5): the server's, or
	// 0.5 and 0.875 of Duration.
	Renew, Rebind time.Duration
	// Acquired is when the ACK arrived.
	Acquired time.Time
}

// Defaults for Client's zero fields.
const (
	// DefaultRetransmit is the first retransmission timeout. RFC 2131,
	// 4.1 asks for 4 s doubling to 64 s; a booting appliance on a LAN
	// starts at 1 s and doubles to MaxRetransmit.
	DefaultRetransmit = time.Second
	// MaxRetransmit caps the doubling.
	MaxRetransmit = 8 * time.Second
	// DefaultAttempts is how many times each message is sent before the
	// client starts over (REQUEST) or gives up (DISCOVER rounds).
	DefaultAttempts = 4
	// maxRestarts bounds NAKs and unanswered REQUESTs.
	maxRestarts = 4
)

// ErrNoLease is returned when no server answered or every offer failed.
var ErrNoLease = errors.New("dhcp: no lease")

// Stats count what the client sent and dropped, for the log. Fields are
// atomic. Client uses the first four; Renewer all of them.
type Stats struct {
	Sent      atomic.Uint64 // messages sent
	Ignored   atomic.Uint64 // frames that were not DHCP replies to us (other traffic, other xid)
	Malformed atomic.Uint64 // DHCP messages that did not parse, and ACKs without a usable lease
	Naks      atomic.Uint64 // NAKs received

	Renewals   atomic.Uint64 // ACKs that extended the lease in RENEWING or REBINDING
	Expiries   atomic.Uint64 // leases that ran out with no ACK
	SendErrors atomic.Uint64 // messages the Transport failed to send (retried at the next retransmission)
}

// Client acquires a lease over a Conn. Its zero fields take defaults; Conn
// and MAC are required.
type Client struct {
	// Conn carries the frames. Required.
	Conn Conn
	// MAC is the interface's hardware address. Required.
	MAC net.HardwareAddr
	// Hostname, if not empty, is sent as option 12.
	Hostname string
	// Retransmit is the first retransmission timeout; zero means
	// DefaultRetransmit.
	Retransmit time.Duration
	// Attempts is how many times each message is sent; zero means
	// DefaultAttempts.
	Attempts int
	// XID, if not nil, returns transaction IDs (tests); nil means random.
	XID func() uint32
	// Clock, if not nil, is the time source (tests): retransmission
	// deadlines and Lease.Acquired come from it. Nil means time.Now.
	Clock func() time.Time
	// Stats count dropped frames and NAKs.
	Stats Stats

	buf []byte // one frame, reused
	out []byte // one frame, reused
}

// Acquire runs DISCOVER, OFFER, REQUEST, ACK and returns the lease. A NAK or
// an unanswered REQUEST starts over from DISCOVER, up to a few times. ctx
// bounds the whole exchange.
func (c *Client) Acquire(ctx context.Context) (Lease, error) {
	if c.Conn == nil || len(c.MAC) != 6 {
		return Lease{}, fmt.Errorf("dhcp: client needs a Conn and a 6-byte MAC, have %q", c.MAC.String())
	}
	c.buf = make([]byte, 2048)
	start := c.now()
	var lastErr error
	for range maxRestarts {
		xid := c.xid()
		offer, err := c.exchange(ctx, start, xid, c.discover(xid), Offer)
		if err != nil {
			return Lease{}, err
		}
		server, _ := offer.Addr(OptServerID)
		ack, err := c.exchange(ctx, start, xid, c.request(xid, offer.YIAddr, server), Ack)
		switch {
		case errors.Is(err, errNak):
			c.Stats.Naks.Add(1)
			lastErr = fmt.Errorf("dhcp: server %s refused %s", server, offer.YIAddr)
			continue
		case errors.Is(err, ErrNoLease):
			lastErr = fmt.Errorf("dhcp: no ACK for %s from %s", offer.YIAddr, server)
			continue
		case err != nil:
			return Lease{}, err
		}
		lease, err := leaseFrom(ack, offer, c.now())
		if err != nil {
			lastErr = err
			continue
		}
		return lease, nil
	}
	return Lease{}, fmt.Errorf("%w: %v", ErrNoLease, lastErr)
}

// errNak ends a REQUEST exchange with a NAK.
var errNak = errors.New("dhcp: NAK")

func (c *Client) xid() uint32 { return newXID(c.XID) }

func (c *Client) now() time.Time { return clockNow(c.Clock) }

// newXID returns f's next transaction ID, or a random one when f is nil.
func newXID(f func() uint32) uint32 {
	if f != nil {
		return f()
	}
	return rand.Uint32()
}

// clockNow returns clock's time, or time.Now's when clock is nil.
func clockNow(clock func() time.Time) time.Time {
	if clock != nil {
		return clock()
	}
	return time.Now()
}

// exchange sends msg until a reply of type want (or a NAK, for REQUEST)
// with the same xid arrives, retransmitting with doubling timeouts.
func (c *Client) exchange(ctx context.Context, start time.Time, xid uint32, msg *Message, want MessageType) (*Message, error) {
	timeout := c.Retransmit
	if timeout <= 0 {
		timeout = DefaultRetransmit
	}
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	for range attempts {
		msg.Secs = secondsSince(c.now(), start)
		if err := c.send(msg); err != nil {
			return nil, err
		}
		deadline := c.now().Add(timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		reply, err := c.await(ctx, xid, want, deadline)
		if err == nil || errors.Is(err, errNak) {
			return reply, err
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, err
		}
		if err := ctxDone(ctx, c.now()); err != nil {
			return nil, fmt.Errorf("dhcp: waiting for %s: %w", want, err)
		}
		timeout = min(2*timeout, MaxRetransmit)
	}
	return nil, fmt.Errorf("%w: no %s after %d tries", ErrNoLease, want, attempts)
}

// secondsSince is the secs field (RFC 2131, 2): seconds since the client
// began the exchange, saturated.
func secondsSince(now, start time.Time) uint16 {
	return uint16(min(max(now.Sub(start), 0)/time.Second, 0xffff))
}

// ctxDone is ctx.Err, but also reports a deadline that has passed at now
// before ctx's own timer has fired.
func ctxDone(ctx context.Context, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !now.Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// await reads frames until the reply or the deadline.
func (c *Client) await(ctx context.Context, xid uint32, want MessageType, deadline time.Time) (*Message, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := c.Conn.ReadFrame(c.buf, deadline)
		if err != nil {
			return nil, err
		}
		payload, _, err := ParseFrame(c.buf[:n], ClientPort)
		if err != nil {
			c.Stats.Ignored.Add(1)
			continue
		}
		m, err := Parse(payload)
		if err != nil {
			c.Stats.Malformed.Add(1)
			continue
		}
		if m.Op != OpReply || m.XID != xid || string(m.CHAddr) != string(c.MAC) {
			c.Stats.Ignored.Add(1)
			continue
		}
		switch {
		case m.Type == want && m.YIAddr.IsValid():
			// Option data aliases c.buf, which the next read reuses.
			return m.clone(), nil
		case m.Type == Nak && want == Ack:
			return nil, errNak
		}
		c.Stats.Ignored.Add(1)
	}
}

// clone copies m so that it no longer aliases a receive buffer.
func (m *Message) clone() *Message {
	n := *m
	n.CHAddr = append(net.HardwareAddr(nil), m.CHAddr...)
	n.Options = make([]Option, len(m.Options))
	for i, o := range m.Options {
		n.Options[i] = Option{Code: o.Code, Data: append([]byte(nil), o.Data...)}
	}
	return &n
}

// paramList is option 55: what the client wants to hear about.
var paramList = []byte{OptSubnetMask, OptRouter, OptDNS, OptLeaseTime, OptServerID, OptRenewalT1, OptRebindingT2}

func (c *Client) common(xid uint32, t MessageType) *Message {
	return newMessage(c.MAC, c.Hostname, xid, t, FlagBroadcast)
}

// newMessage builds a client message with the options every one carries:
// client identifier, parameter list, maximum size and hostname.
func newMessage(mac net.HardwareAddr, hostname string, xid uint32, t MessageType, flags uint16) *Message {
	m := &Message{
		Op:     OpRequest,
		XID:    xid,
		Flags:  flags,
		CHAddr: mac,
		Type:   t,
		Options: []Option{
			{Code: OptClientID, Data: append([]byte{1}, mac...)},
			{Code: OptParamList, Data: paramList},
			{Code: OptMaxSize, Data: []byte{MaxMessageSize >> 8, MaxMessageSize & 0xff}},
		},
	}
	if hostname != "" && len(hostname) <= 255 {
		m.Options = append(m.Options, Option{Code: OptHostname, Data: []byte(hostname)})
	}
	return m
}

func (c *Client) discover(xid uint32) *Message { return c.common(xid, Discover) }

// request asks for addr from server, in the SELECTING state (RFC 2131,
// 4.3.2): ciaddr zero, requested address and server identifier set.
func (c *Client) request(xid uint32, addr, server netip.Addr) *Message {
	m := c.common(xid, Request)
	m.Options = append(m.Options, AddrOption(OptRequestedIP, addr))
	if server.IsValid() {
		m.Options = append(m.Options, AddrOption(OptServerID, server))
	}
	return m
}

// send broadcasts m from 0.0.0.0:68 to 255.255.255.255:67.
func (c *Client) send(m *Message) error {
	payload, err := m.Append(c.out[:0])
	if err != nil {
		return err
	}
	frame := AppendFrame(make([]byte, 0, headersLen+len(payload)), Endpoints{
		SrcMAC: c.MAC, DstMAC: BroadcastMAC,
		DstIP:   BroadcastAddr,
		SrcPort: ClientPort, DstPort: ServerPort,
	}, payload)
	c.out = payload[:0]
	c.Stats.Sent.Add(1)
	return c.Conn.WriteFrame(frame)
}

// leaseFrom builds the lease from the ACK, taking what the ACK lacks from
// the offer.
func leaseFrom(ack, offer *Message, now time.Time) (Lease, error) {
	get := func(code byte) (netip.Addr, bool) {
		if a, ok := ack.Addr(code); ok {
			return a, true
		}
		return offer.Addr(code)
	}
	addr := ack.YIAddr
	if !addr.Is4() || addr.IsUnspecified() || addr.IsMulticast() || addr == BroadcastAddr || addr.IsLoopback() {
		return Lease{}, fmt.Errorf("dhcp: assigned address %q is not a unicast IPv4 address", addr.String())
	}
	bits := 0
	if mask, ok := get(OptSubnetMask); ok {
		m := mask.As4()
		ones, size := net.IPMask(m[:]).Size()
		if size == 0 || ones == 0 {
			return Lease{}, fmt.Errorf("dhcp: subnet mask %q is not a prefix", mask.String())
		}
		bits = ones
	} else {
		bits = classfulBits(addr)
	}
	l := Lease{Addr: netip.PrefixFrom(addr, bits), Acquired: now}
	l.Server, _ = get(OptServerID)
	routers := ack.Addrs(OptRouter)
	if len(routers) == 0 {
		routers = offer.Addrs(OptRouter)
	}
	for _, r := range routers {
		if l.Addr.Masked().Contains(r) && r != addr {
			l.Router = r
			break
		}
	}
	if l.DNS = ack.Addrs(OptDNS); len(l.DNS) == 0 {
		l.DNS = offer.Addrs(OptDNS)
	}
	seconds := func(code byte) (time.Duration, bool) {
		if d, ok := ack.Seconds(code); ok {
			return d, true
		}
		return offer.Seconds(code)
	}
	var ok bool
	if l.Duration, ok = seconds(OptLeaseTime); !ok {
		return Lease{}, fmt.Errorf("dhcp: ACK for %s has no lease time", addr)
	}
	if l.Renew, ok = seconds(OptRenewalT1); !ok {
		l.Renew = l.Duration / 2
	}
	if l.Rebind, ok = seconds(OptRebindingT2); !ok {
		l.Rebind = l.Duration * 7 / 8
	}
	return l, nil
}

// classfulBits is the natural mask of addr, for servers that send no subnet
// mask (RFC 2131 leaves it to the client; RFC 1122, 3.3.1.1).
func classfulBits(a netip.Addr) int {
	switch b := a.As4()[0]; {
	case b < 128:
		return 8
	case b < 192:
		return 16
	default:
		return 24
	}
}
