package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// Transport carries DHCP messages as UDP payloads once the appliance has an
// address and its stacks run: from client port 68 to server port 67 and
// back. UDPTransport is the one the appliance uses.
type Transport interface {
	// Send sends payload from port 68 to dst port 67. dst is the server
	// (RENEWING) or BroadcastAddr (REBINDING, and DISCOVER after a NAK or
	// an expiry). The Transport does not keep payload.
	Send(payload []byte, dst netip.Addr) error
	// Receive waits until a datagram to port 68 arrives, deadline passes
	// or ctx ends, and copies the datagram into buf. At the deadline it
	// returns an error wrapping os.ErrDeadlineExceeded, and when ctx ends
	// ctx's error. Datagrams of any content may come back; the Renewer
	// drops what is not its reply.
	Receive(ctx context.Context, buf []byte, deadline time.Time) (int, error)
}

// Infinite is the lease time 0xffffffff seconds, which never expires (RFC
// 2131, 3.3).
const Infinite = 0xffffffff * time.Second

// Defaults for Renewer's zero fields.
const (
	// DefaultMinRetransmit is the floor between REQUEST retransmissions
	// in RENEWING and REBINDING (RFC 2131, 4.4.5: half the time left
	// until T2 or expiry, "down to a minimum of 60 seconds").
	DefaultMinRetransmit = 60 * time.Second
	// DefaultRestartBackoff is the wait after a failed DISCOVER round
	// (following a NAK or an expiry) before the next; it doubles up to
	// MaxRestartBackoff.
	DefaultRestartBackoff = 10 * time.Second
	// MaxRestartBackoff caps the doubling.
	MaxRestartBackoff = 5 * time.Minute
	// minLease stops a server's zero lease time from spinning the client.
	minLease = time.Second
)

// EventKind says what happened to the lease.
type EventKind int

// Events, in the order a lease meets them (RFC 2131, 4.4.5, figure 5).
const (
	// EventRenewing: T1 passed; REQUESTs go to the server by unicast.
	EventRenewing EventKind = iota + 1
	// EventRebinding: T2 passed with no ACK; REQUESTs are broadcast.
	EventRebinding
	// EventRenewed: an ACK extended the lease. Event.Lease is the new
	// one, whose address or router may differ from the old.
	EventRenewed
	// EventNak: a server refused the lease. The Renewer starts over
	// from DISCOVER.
	EventNak
	// EventExpired: the lease ran out with no ACK. The Renewer starts
	// over from DISCOVER.
	EventExpired
	// EventAcquired: DISCOVER after a NAK or an expiry found a lease,
	// Event.Lease; its address may differ from the old one.
	EventAcquired
	// EventRestartFailed: a DISCOVER round found no lease (Event.Err);
	// the Renewer tries again after a backoff.
	EventRestartFailed
)

var eventNames = [...]string{"", "renewing", "rebinding", "renewed", "nak", "expired", "acquired", "restart failed"}

// String returns a lowercase name such as "rebinding".
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is one step of lease maintenance.
type Event struct {
	Kind EventKind
	// At is when it happened, by the Renewer's clock.
	At time.Time
	// Lease is the new lease for EventRenewed and EventAcquired, and the
	// lease in force (or that was) for the others.
	Lease Lease
	// Err says why, for EventNak and EventRestartFailed.
	Err error
}

// Renewer keeps a lease alive once the appliance runs (RFC 2131, 4.4.5):
// at T1 it unicasts REQUESTs to the server, at T2 it broadcasts them, and
// an ACK extends the lease. A NAK or an expiry sends it back to DISCOVER
// over the same Transport, for ever, with a backoff. Its zero fields take
// defaults; Transport and MAC are required. Run it on one goroutine.
type Renewer struct {
	// Transport carries the messages. Required.
	Transport Transport
	// MAC is the interface's hardware address. Required.
	MAC net.HardwareAddr
	// Hostname, if not empty, is sent as option 12.
	Hostname string
	// Clock, if not nil, is the time source (tests); it must agree with
	// the deadlines the Transport keeps. Nil means time.Now.
	Clock func() time.Time
	// XID, if not nil, returns transaction IDs (tests); nil means random.
	XID func() uint32
	// MinRetransmit is the floor between retransmissions; zero means
	// DefaultMinRetransmit.
	MinRetransmit time.Duration
	// RestartBackoff is the first wait after a failed DISCOVER round;
	// zero means DefaultRestartBackoff.
	RestartBackoff time.Duration
	// OnEvent, if not nil, is called on Run's goroutine for every event,
	// e.g. to log it or to move the stack to a new address.
	OnEvent func(Event)
	// Stats count messages and what was dropped.
	Stats Stats

	buf []byte // one datagram, reused
	out []byte // one message, reused
}

// errExpired ends one lease's maintenance when no ACK came in time; a NAK
// ends it with an error wrapping errNak.
var errExpired = errors.New("dhcp: lease expired")

// Run maintains lease until ctx ends, and returns ctx's error. It returns
// early only when the Transport's Receive fails with something other than
// its deadline (the Transport is closed). It never gives up on the network
// otherwise: a NAK or an expiry is an event, followed by DISCOVER rounds
// until one succeeds. An infinite lease needs no maintenance; Run then
// waits for ctx.
func (r *Renewer) Run(ctx context.Context, lease Lease) error {
	if r.Transport == nil || len(r.MAC) != 6 {
		return fmt.Errorf("dhcp: renewer needs a Transport and a 6-byte MAC, have %q", r.MAC.String())
	}
	r.buf = make([]byte, 2048)
	for {
		if lease.Duration >= Infinite {
			<-ctx.Done()
			return ctx.Err()
		}
		next, err := r.maintain(ctx, lease)
		switch {
		case err == nil:
			r.Stats.Renewals.Add(1)
			r.event(EventRenewed, next, nil)
			lease = next
			continue
		case errors.Is(err, errNak):
			r.event(EventNak, lease, err)
		case errors.Is(err, errExpired):
			r.Stats.Expiries.Add(1)
			r.event(EventExpired, lease, nil)
		default:
			return err
		}
		if lease, err = r.restart(ctx, lease); err != nil {
			return err
		}
	}
}

// maintain runs one lease through BOUND, RENEWING and REBINDING. It returns
// the lease an ACK gave, or an error wrapping errNak or errExpired, or the
// Transport's or ctx's error.
func (r *Renewer) maintain(ctx context.Context, l Lease) (Lease, error) {
	t1, t2, expiry := leaseTimes(l)
	if err := r.idle(ctx, t1); err != nil {
		return Lease{}, err
	}
	state, limit, dst := EventRenewing, t2, l.Server
	if !dst.IsValid() {
		dst = BroadcastAddr // no server identifier to unicast to
	}
	r.event(EventRenewing, l, nil)
	xid, start := newXID(r.XID), r.now()
	for {
		now := r.now()
		if !now.Before(limit) {
			if state == EventRebinding {
				return Lease{}, errExpired
			}
			state, limit, dst = EventRebinding, expiry, BroadcastAddr
			xid, start = newXID(r.XID), now
			r.event(EventRebinding, l, nil)
			continue
		}
		r.send(r.renewal(xid, l.Addr.Addr(), secondsSince(now, start)), dst)
		// RFC 2131, 4.4.5: retransmit after half the time left, at
		// least MinRetransmit, but move on at the state's limit.
		deadline := now.Add(max(limit.Sub(now)/2, r.minRetransmit()))
		if deadline.After(limit) {
			deadline = limit
		}
		// The lease counts from the transaction's first REQUEST (RFC
		// 2131, 4.4.1 counts from the one answered; earlier is safe).
		next, err := r.await(ctx, xid, deadline, l, start)
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return next, err
		}
	}
}

// restart runs DISCOVER rounds after a NAK or an expiry until one finds a
// lease, waiting between rounds. It returns the new lease, or ctx's or the
// Transport's error.
func (r *Renewer) restart(ctx context.Context, old Lease) (Lease, error) {
	backoff := r.RestartBackoff
	if backoff <= 0 {
		backoff = DefaultRestartBackoff
	}
	for {
		c := &Client{
			Conn:     &transportConn{ctx: ctx, t: r.Transport},
			MAC:      r.MAC,
			Hostname: r.Hostname,
			XID:      r.XID,
			Clock:    r.Clock,
		}
		lease, err := c.Acquire(ctx)
		r.Stats.Sent.Add(c.Stats.Sent.Load())
		r.Stats.Ignored.Add(c.Stats.Ignored.Load())
		r.Stats.Malformed.Add(c.Stats.Malformed.Load())
		r.Stats.Naks.Add(c.Stats.Naks.Load())
		if err == nil {
			r.event(EventAcquired, lease, nil)
			return lease, nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return Lease{}, cerr
		}
		r.event(EventRestartFailed, old, err)
		if err := r.idle(ctx, r.now().Add(backoff)); err != nil {
			return Lease{}, err
		}
		backoff = min(2*backoff, MaxRestartBackoff)
	}
}

// idle drains datagrams until the clock reaches until: in BOUND, and
// between DISCOVER rounds, nothing to port 68 is for us.
func (r *Renewer) idle(ctx context.Context, until time.Time) error {
	for r.now().Before(until) {
		_, err := r.Transport.Receive(ctx, r.buf, until)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		case err != nil:
			return err
		}
		r.Stats.Ignored.Add(1)
	}
	return nil
}

// await reads datagrams until an ACK or a NAK for xid, or the deadline. An
// ACK becomes the renewed lease, counted from start.
func (r *Renewer) await(ctx context.Context, xid uint32, deadline time.Time, old Lease, start time.Time) (Lease, error) {
	for {
		n, err := r.Transport.Receive(ctx, r.buf, deadline)
		if err != nil {
			return Lease{}, err
		}
		m, err := Parse(r.buf[:n])
		switch {
		case err != nil:
			r.Stats.Malformed.Add(1)
		case m.Op != OpReply || m.XID != xid || string(m.CHAddr) != string(r.MAC):
			r.Stats.Ignored.Add(1)
		case m.Type == Nak:
			r.Stats.Naks.Add(1)
			server, _ := m.Addr(OptServerID)
			if text, ok := m.Option(OptMessage); ok && len(text) > 0 {
				return Lease{}, fmt.Errorf("%w from %s for %s: %q", errNak, server, old.Addr.Addr(), text)
			}
			return Lease{}, fmt.Errorf("%w from %s for %s", errNak, server, old.Addr.Addr())
		case m.Type == Ack:
			l, err := renewedLease(old, m, start)
			if err == nil {
				return l, nil
			}
			r.Stats.Malformed.Add(1)
		default:
			r.Stats.Ignored.Add(1)
		}
		if !r.now().Before(deadline) {
			return Lease{}, os.ErrDeadlineExceeded
		}
	}
}

// renewedLease builds the lease an ACK in RENEWING or REBINDING gives,
// keeping from old what the ACK leaves out: the prefix length (when the
// address stays), the router, the DNS servers and the server identifier.
func renewedLease(old Lease, ack *Message, start time.Time) (Lease, error) {
	l, err := leaseFrom(ack, ack, start)
	if err != nil {
		return l, err
	}
	if _, ok := ack.Option(OptSubnetMask); !ok && l.Addr.Addr() == old.Addr.Addr() {
		l.Addr = old.Addr
	}
	if _, ok := ack.Option(OptRouter); !ok && l.Addr.Masked().Contains(old.Router) {
		l.Router = old.Router
	}
	if len(l.DNS) == 0 {
		l.DNS = old.DNS
	}
	if !l.Server.IsValid() {
		l.Server = old.Server
	}
	return l, nil
}

// leaseTimes returns T1, T2 and the expiry of l, repairing what a server
// got wrong: RFC 2131, 4.4.5 wants T1 <= T2 <= the lease time, and gives
// 0.5 and 0.875 of it as defaults.
func leaseTimes(l Lease) (t1, t2, expiry time.Time) {
	d := max(l.Duration, minLease)
	rebind := l.Rebind
	if rebind <= 0 || rebind > d {
		rebind = d * 7 / 8
	}
	renew := l.Renew
	if renew <= 0 || renew > rebind {
		renew = min(d/2, rebind)
	}
	return l.Acquired.Add(renew), l.Acquired.Add(rebind), l.Acquired.Add(d)
}

// renewal is a REQUEST in RENEWING or REBINDING (RFC 2131, 4.3.2 and table
// 5): ciaddr is the leased address; no requested address, no server
// identifier; the BROADCAST flag is clear, as the client can now receive
// unicast.
func (r *Renewer) renewal(xid uint32, addr netip.Addr, secs uint16) *Message {
	m := newMessage(r.MAC, r.Hostname, xid, Request, 0)
	m.CIAddr = addr
	m.Secs = secs
	return m
}

// send encodes and sends m, counting a failure: the next retransmission is
// the retry.
func (r *Renewer) send(m *Message, dst netip.Addr) {
	payload, err := m.Append(r.out[:0])
	if err != nil {
		r.Stats.SendErrors.Add(1)
		return
	}
	r.out = payload[:0]
	r.Stats.Sent.Add(1)
	if err := r.Transport.Send(payload, dst); err != nil {
		r.Stats.SendErrors.Add(1)
	}
}

func (r *Renewer) now() time.Time { return clockNow(r.Clock) }

func (r *Renewer) minRetransmit() time.Duration {
	if r.MinRetransmit > 0 {
		return r.MinRetransmit
	}
	return DefaultMinRetransmit
}

func (r *Renewer) event(k EventKind, l Lease, err error) {
	if r.OnEvent != nil {
		r.OnEvent(Event{Kind: k, At: r.now(), Lease: l, Err: err})
	}
}

// transportConn is a Conn over a Transport, so that Client.Acquire can run
// DISCOVER on the running stack after a NAK or an expiry: it sends the UDP
// payload of each frame Acquire builds, and wraps each datagram received
// in a frame for Acquire to take apart.
type transportConn struct {
	ctx     context.Context
	t       Transport
	payload []byte
}

var _ Conn = (*transportConn)(nil)

// WriteFrame implements Conn.
func (c *transportConn) WriteFrame(frame []byte) error {
	payload, e, err := ParseFrame(frame, ServerPort)
	if err != nil {
		return err
	}
	return c.t.Send(payload, e.DstIP)
}

// ReadFrame implements Conn.
func (c *transportConn) ReadFrame(buf []byte, deadline time.Time) (int, error) {
	if len(buf) <= headersLen {
		return 0, fmt.Errorf("dhcp: frame buffer of %d bytes is too small", len(buf))
	}
	if len(c.payload) != len(buf)-headersLen {
		c.payload = make([]byte, len(buf)-headersLen)
	}
	n, err := c.t.Receive(c.ctx, c.payload, deadline)
	if err != nil {
		return 0, err
	}
	frame := AppendFrame(buf[:0], Endpoints{
		DstMAC: BroadcastMAC, SrcMAC: BroadcastMAC,
		DstIP:   BroadcastAddr,
		SrcPort: ServerPort, DstPort: ClientPort,
	}, c.payload[:n])
	return len(frame), nil
}
