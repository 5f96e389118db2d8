package dhcp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/tcp/dhcp"
	"github.com/bareproxy/bareproxy/tcp/dhcp/dhcptest"
)

// epoch is the fake clock's start, when the test lease was acquired.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	renewServer = netip.MustParseAddr("10.0.0.10")
	renewAddr   = netip.MustParsePrefix("10.0.0.50/24")
)

// fakeNet is a Transport and a clock in one: Send hands each request to a
// dhcptest.Server at once and queues its answer; Receive returns what is
// queued, or moves the clock to the deadline when nothing is. Time passes
// only while the Renewer waits, so every test runs at once and the same
// way each time.
type fakeNet struct {
	t     *testing.T
	now   time.Time
	srv   *dhcptest.Server
	inbox [][]byte
	sent  []string
	reqs  []*dhcp.Message
	// inject, if not nil, returns datagrams queued before the server's
	// answer to req.
	inject func(req *dhcp.Message) [][]byte
	// horizon ends a test that runs away.
	horizon time.Time
}

func (f *fakeNet) clock() time.Time { return f.now }

// Send implements dhcp.Transport and records "TYPE dst @offset".
func (f *fakeNet) Send(payload []byte, dst netip.Addr) error {
	m, err := dhcp.Parse(append([]byte(nil), payload...))
	if err != nil {
		f.t.Errorf("client sent a message that does not parse: %v", err)
		return nil
	}
	to := "server"
	if dst == dhcp.BroadcastAddr {
		to = "broadcast"
	} else if dst != renewServer {
		to = dst.String()
	}
	f.sent = append(f.sent, fmt.Sprintf("%s %s @%v", m.Type, to, f.now.Sub(epoch)))
	f.reqs = append(f.reqs, m)
	if f.inject != nil {
		f.inbox = append(f.inbox, f.inject(m)...)
	}
	if reply := f.srv.Handle(m); reply != nil {
		b, err := reply.Append(nil)
		if err != nil {
			f.t.Fatalf("server reply: %v", err)
		}
		f.inbox = append(f.inbox, b)
	}
	return nil
}

var errHorizon = errors.New("fake clock passed the test's horizon")

// Receive implements dhcp.Transport.
func (f *fakeNet) Receive(ctx context.Context, buf []byte, deadline time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(f.inbox) > 0 {
		d := f.inbox[0]
		f.inbox = f.inbox[1:]
		return copy(buf, d), nil
	}
	if deadline.After(f.horizon) {
		return 0, errHorizon
	}
	if deadline.After(f.now) {
		f.now = deadline
	}
	return 0, os.ErrDeadlineExceeded
}

func testLease() dhcp.Lease {
	return dhcp.Lease{
		Addr:     renewAddr,
		Router:   netip.MustParseAddr("10.0.0.1"),
		Server:   renewServer,
		Duration: time.Hour,
		Renew:    30 * time.Minute,
		Rebind:   52*time.Minute + 30*time.Second,
		Acquired: epoch,
	}
}

func renewTestServer() *dhcptest.Server {
	return &dhcptest.Server{
		ID:     renewServer,
		Pool:   netip.MustParsePrefix("10.0.0.0/24"),
		First:  renewAddr.Addr(),
		Router: netip.MustParseAddr("10.0.0.1"),
		Lease:  time.Hour,
	}
}

// ackFor builds a reply to req of type t, with a one-hour lease unless
// noLease.
func ackFor(t *testing.T, req *dhcp.Message, typ dhcp.MessageType, xid uint32, mac net.HardwareAddr, noLease bool) []byte {
	t.Helper()
	m := &dhcp.Message{Op: dhcp.OpReply, XID: xid, CHAddr: mac, YIAddr: req.CIAddr, Type: typ}
	if !noLease {
		m.Options = append(m.Options, dhcp.SecondsOption(dhcp.OptLeaseTime, time.Hour))
	}
	b, err := m.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRenewer(t *testing.T) {
	before := func(f *fakeNet, d time.Duration) func(*dhcp.Message) bool {
		return func(*dhcp.Message) bool { return f.now.Before(epoch.Add(d)) }
	}
	t2 := 52*time.Minute + 30*time.Second
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *fakeNet)
		// stop cancels the run at the n-th event of this kind.
		stop       dhcp.EventKind
		stopN      int
		wantEvents []string
		wantSent   []string
		// wantAddr is the last lease's address.
		wantAddr       string
		wantMalformed  uint64
		wantIgnored    uint64
		wantRenewals   uint64
		wantExpiries   uint64
		checkFirstSent bool
	}{{
		name: "ACK at T1, server's T1 for the next",
		setup: func(_ *testing.T, f *fakeNet) {
			f.srv.Renew = 20 * time.Minute
		},
		stop: dhcp.EventRenewing, stopN: 2,
		wantEvents:     []string{"renewing @30m0s", "renewed @30m0s 10.0.0.50/24", "renewing @50m0s"},
		wantSent:       []string{"REQUEST server @30m0s", "REQUEST server @50m0s"},
		wantAddr:       "10.0.0.50/24",
		wantRenewals:   1,
		checkFirstSent: true,
	}, {
		name: "silent until T2, retransmits halve to 60 s, rebind ACK",
		setup: func(_ *testing.T, f *fakeNet) {
			f.srv.Drop = before(f, t2)
		},
		stop: dhcp.EventRenewed, stopN: 1,
		wantEvents: []string{"renewing @30m0s", "rebinding @52m30s", "renewed @52m30s 10.0.0.50/24"},
		wantSent: []string{
			"REQUEST server @30m0s", "REQUEST server @41m15s", "REQUEST server @46m52.5s",
			"REQUEST server @49m41.25s", "REQUEST server @51m5.625s", "REQUEST server @52m5.625s",
			"REQUEST broadcast @52m30s",
		},
		wantAddr:     "10.0.0.50/24",
		wantRenewals: 1,
	}, {
		name: "silent until expiry, then DISCOVER",
		setup: func(_ *testing.T, f *fakeNet) {
			f.srv.Drop = before(f, time.Hour)
		},
		stop: dhcp.EventAcquired, stopN: 1,
		wantEvents: []string{"renewing @30m0s", "rebinding @52m30s", "expired @1h0m0s", "acquired @1h0m0s 10.0.0.50/24"},
		wantSent: []string{
			"REQUEST server @30m0s", "REQUEST server @41m15s", "REQUEST server @46m52.5s",
			"REQUEST server @49m41.25s", "REQUEST server @51m5.625s", "REQUEST server @52m5.625s",
			"REQUEST broadcast @52m30s", "REQUEST broadcast @56m15s", "REQUEST broadcast @58m7.5s",
			"REQUEST broadcast @59m7.5s",
			"DISCOVER broadcast @1h0m0s", "REQUEST broadcast @1h0m0s",
		},
		wantAddr:     "10.0.0.50/24",
		wantExpiries: 1,
	}, {
		name: "NAK at T1 restarts on a new address",
		setup: func(_ *testing.T, f *fakeNet) {
			// The server has another address for this MAC, so it
			// refuses the renewal of ours.
			f.srv.First = netip.MustParseAddr("10.0.0.60")
		},
		stop: dhcp.EventAcquired, stopN: 1,
		wantEvents: []string{"renewing @30m0s", "nak @30m0s", "acquired @30m0s 10.0.0.60/24"},
		wantSent:   []string{"REQUEST server @30m0s", "DISCOVER broadcast @30m0s", "REQUEST broadcast @30m0s"},
		wantAddr:   "10.0.0.60/24",
	}, {
		name: "server never answers: restart fails, backs off",
		setup: func(_ *testing.T, f *fakeNet) {
			f.srv.Drop = func(*dhcp.Message) bool { return true }
		},
		stop: dhcp.EventRestartFailed, stopN: 2,
		// DISCOVER waits 1+2+4+8 s, then 10 s of backoff.
		wantEvents: []string{"renewing @30m0s", "rebinding @52m30s", "expired @1h0m0s",
			"restart failed @1h0m15s", "restart failed @1h0m40s"},
		wantExpiries: 1,
	}, {
		name: "malformed and foreign replies are counted and dropped",
		setup: func(t *testing.T, f *fakeNet) {
			other := net.HardwareAddr{2, 0, 0, 0, 0, 9}
			f.inject = func(req *dhcp.Message) [][]byte {
				if req.Type != dhcp.Request || len(f.reqs) > 1 {
					return nil
				}
				asRequest := ackFor(t, req, dhcp.Ack, req.XID, req.CHAddr, false)
				asRequest[0] = dhcp.OpRequest
				return [][]byte{
					[]byte("not dhcp"), // malformed
					ackFor(t, req, dhcp.Ack, req.XID, req.CHAddr, true),    // malformed: no lease time
					ackFor(t, req, dhcp.Ack, req.XID+1, req.CHAddr, false), // ignored: other xid
					ackFor(t, req, dhcp.Ack, req.XID, other, false),        // ignored: other client
					ackFor(t, req, dhcp.Offer, req.XID, req.CHAddr, false), // ignored: not ACK or NAK
					asRequest, // ignored: BOOTREQUEST
				}
			}
		},
		stop: dhcp.EventRenewed, stopN: 1,
		wantEvents:    []string{"renewing @30m0s", "renewed @30m0s 10.0.0.50/24"},
		wantSent:      []string{"REQUEST server @30m0s"},
		wantAddr:      "10.0.0.50/24",
		wantMalformed: 2,
		wantIgnored:   4,
		wantRenewals:  1,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeNet{t: t, now: epoch, srv: renewTestServer(), horizon: epoch.Add(24 * time.Hour)}
			if tc.setup != nil {
				tc.setup(t, f)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var xid uint32
			var events []string
			var last dhcp.Lease
			seen := 0
			r := &dhcp.Renewer{
				Transport: f, MAC: clientMAC, Clock: f.clock,
				XID: func() uint32 { xid++; return xid },
				OnEvent: func(e dhcp.Event) {
					s := fmt.Sprintf("%s @%v", e.Kind, e.At.Sub(epoch))
					if e.Kind == dhcp.EventRenewed || e.Kind == dhcp.EventAcquired {
						s += " " + e.Lease.Addr.String()
						last = e.Lease
					}
					events = append(events, s)
					if e.Kind == tc.stop {
						if seen++; seen == tc.stopN {
							cancel()
						}
					}
				},
			}
			if err := r.Run(ctx, testLease()); !errors.Is(err, context.Canceled) {
				t.Fatalf("Run: %v, want context.Canceled; events %q", err, events)
			}
			if !slices.Equal(events, tc.wantEvents) {
				t.Errorf("events:\n got %q\nwant %q", events, tc.wantEvents)
			}
			if tc.wantSent != nil && !slices.Equal(f.sent, tc.wantSent) {
				t.Errorf("sent:\n got %q\nwant %q", f.sent, tc.wantSent)
			}
			if tc.wantAddr != "" && last.Addr.String() != tc.wantAddr {
				t.Errorf("lease address %s, want %s", last.Addr, tc.wantAddr)
			}
			for _, c := range []struct {
				name      string
				got, want uint64
			}{
				{"malformed", r.Stats.Malformed.Load(), tc.wantMalformed},
				{"ignored", r.Stats.Ignored.Load(), tc.wantIgnored},
				{"renewals", r.Stats.Renewals.Load(), tc.wantRenewals},
				{"expiries", r.Stats.Expiries.Load(), tc.wantExpiries},
				{"send errors", r.Stats.SendErrors.Load(), 0},
			} {
				if c.got != c.want {
					t.Errorf("stats %s = %d, want %d", c.name, c.got, c.want)
				}
			}
			if tc.checkFirstSent {
				checkRenewal(t, f.reqs[0])
			}
		})
	}
}

// checkRenewal checks a REQUEST in RENEWING against RFC 2131, 4.3.2 and
// table 5: ciaddr set, no requested address, no server identifier, and the
// BROADCAST flag clear.
func checkRenewal(t *testing.T, m *dhcp.Message) {
	t.Helper()
	if m.CIAddr != renewAddr.Addr() {
		t.Errorf("ciaddr %s, want %s", m.CIAddr, renewAddr.Addr())
	}
	for _, code := range []byte{dhcp.OptRequestedIP, dhcp.OptServerID} {
		if _, ok := m.Option(code); ok {
			t.Errorf("renewal carries option %d", code)
		}
	}
	if m.Flags&dhcp.FlagBroadcast != 0 {
		t.Errorf("renewal sets the BROADCAST flag")
	}
	if m.YIAddr.IsValid() {
		t.Errorf("yiaddr %s, want 0.0.0.0", m.YIAddr)
	}
}

func TestRenewerInfiniteLease(t *testing.T) {
	f := &fakeNet{t: t, now: epoch, srv: renewTestServer(), horizon: epoch.Add(time.Hour)}
	l := testLease()
	l.Duration = dhcp.Infinite
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &dhcp.Renewer{Transport: f, MAC: clientMAC, Clock: f.clock}
	if err := r.Run(ctx, l); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	if len(f.sent) != 0 {
		t.Errorf("sent %q for an infinite lease", f.sent)
	}
}

func TestRenewerNeedsTransportAndMAC(t *testing.T) {
	r := &dhcp.Renewer{MAC: clientMAC}
	if err := r.Run(context.Background(), testLease()); err == nil {
		t.Fatal("Run without a Transport succeeded")
	}
}

// TestRenewerTransportClosed: a Transport that fails ends Run with its
// error rather than spinning.
func TestRenewerTransportClosed(t *testing.T) {
	f := &fakeNet{t: t, now: epoch, srv: renewTestServer(), horizon: epoch.Add(10 * time.Minute)}
	r := &dhcp.Renewer{Transport: f, MAC: clientMAC, Clock: f.clock}
	if err := r.Run(context.Background(), testLease()); !errors.Is(err, errHorizon) {
		t.Fatalf("Run: %v, want the Transport's error", err)
	}
}
