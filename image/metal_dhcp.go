//go:build tamago

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/proxy/config"
	"github.com/bareproxy/bareproxy/tcp"
	"github.com/bareproxy/bareproxy/tcp/dhcp"
	"github.com/bareproxy/bareproxy/virtio"
)

// dhcpWithin bounds the whole DHCP exchange at boot.
const dhcpWithin = 60 * time.Second

// queueConn is a dhcp.Conn over the NIC's queue pairs before the workers own
// them: it transmits on pair 0 and polls every pair, because RSS may put the
// server's reply on any queue. Frames other than the reply are dropped; the
// stack does not exist yet. The pairs' frames carry a virtio_net_hdr
// (virtio.Config.VnetHdr), which queueConn adds and strips: DHCP's frames
// have whole checksums.
type queueConn struct {
	pairs []*virtio.QueuePair
	bufs  [][]byte
	sizes []int
	out   []byte
	next  int // the pair polled first next time, for fairness
}

var _ dhcp.Conn = (*queueConn)(nil)

func newQueueConn(pairs []*virtio.QueuePair) *queueConn {
	return &queueConn{pairs: pairs, bufs: [][]byte{make([]byte, tcp.VnetHdrLen+percpu.MaxFrame)}, sizes: make([]int, 1)}
}

// WriteFrame implements dhcp.Conn.
func (c *queueConn) WriteFrame(frame []byte) error {
	c.out = append(append(c.out[:0], make([]byte, tcp.VnetHdrLen)...), frame...)
	n, err := c.pairs[0].Transmit([][]byte{c.out})
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("virtio: transmit queue 0 full")
	}
	return nil
}

// ReadFrame implements dhcp.Conn by polling, yielding between empty polls.
func (c *queueConn) ReadFrame(buf []byte, deadline time.Time) (int, error) {
	for {
		for range c.pairs {
			q := c.pairs[c.next]
			c.next = (c.next + 1) % len(c.pairs)
			n, err := q.TryReceive(c.bufs, c.sizes)
			if err != nil {
				return 0, err
			}
			if n > 0 {
				return copy(buf, c.bufs[0][tcp.VnetHdrLen:c.sizes[0]]), nil
			}
		}
		if time.Now().After(deadline) {
			return 0, os.ErrDeadlineExceeded
		}
		runtime.Gosched()
	}
}

// acquireLease runs DHCP on the raw queues and logs the lease.
func acquireLease(ctx context.Context, nic *metalNIC, log *slog.Logger) (dhcp.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, dhcpWithin)
	defer cancel()
	c := &dhcp.Client{Conn: newQueueConn(nic.dev.Pairs()), MAC: nic.mac, Hostname: "bareproxy"}
	log.Info("dhcp: discovering", "mac", nic.mac.String())
	lease, err := c.Acquire(ctx)
	if err != nil {
		return lease, fmt.Errorf("%w (sent %d, ignored %d frames, %d malformed, %d NAKs)", err,
			c.Stats.Sent.Load(), c.Stats.Ignored.Load(), c.Stats.Malformed.Load(), c.Stats.Naks.Load())
	}
	log.Info("dhcp: lease", "addr", lease.Addr.String(), "router", lease.Router.String(),
		"server", lease.Server.String(), "lease", lease.Duration.String(), "renew", lease.Renew.String())
	return lease, nil
}

// leaseGateway is the configuration's gateway if it has one, else the
// lease's router.
func leaseGateway(l dhcp.Lease, configured netip.Addr) netip.Addr {
	if configured.IsValid() {
		return configured
	}
	return l.Router
}

// maintainLease renews nic.lease over the running stack until ctx ends
// (RFC 2131, 4.4.5; see dhcp.Renewer), when the address came from DHCP. It
// binds UDP port 68 on every core, because RSS hashes the server's answer
// by its ports to any core. Every step is logged. It never stops the
// appliance: after a NAK or an expiry the old address stays in use (the
// stack always needs one) while DISCOVER rounds run; a new lease on another
// address moves the stack there, which breaks connections on the old one.
func maintainLease(ctx context.Context, cfg *config.Config, nic *metalNIC, st *tcp.Stack, log *slog.Logger) {
	if nic.lease == nil {
		return
	}
	conns := make([]net.PacketConn, 0, st.Cores())
	for k := range st.Cores() {
		c, err := st.Core(k).ListenUDP(dhcp.ClientPort)
		if err != nil {
			log.Error("dhcp: cannot bind UDP port 68; the lease will NOT be renewed and the address may be lost",
				"core", k, "err", err.Error(), "expires", nic.lease.Acquired.Add(nic.lease.Duration).Format(time.RFC3339))
			for _, c := range conns {
				c.Close()
			}
			return
		}
		conns = append(conns, c)
	}
	tr, err := dhcp.NewUDPTransport(conns...)
	if err != nil {
		log.Error("dhcp: the lease will NOT be renewed", "err", err.Error())
		return
	}
	r := &dhcp.Renewer{Transport: tr, MAC: nic.mac, Hostname: "bareproxy"}
	r.OnEvent = func(e dhcp.Event) { leaseEvent(e, r, st, cfg.Network.Gateway, log) }
	if nic.lease.Duration >= dhcp.Infinite {
		log.Info("dhcp: the lease is infinite; nothing to renew")
	} else {
		log.Info("dhcp: the lease will be renewed", "renew_in", nic.lease.Renew.String(),
			"rebind_in", nic.lease.Rebind.String(), "expires_in", nic.lease.Duration.String())
	}
	go runRenewer(ctx, r, tr, *nic.lease, log)
}

// runRenewer runs r until ctx ends or its transport fails.
func runRenewer(ctx context.Context, r *dhcp.Renewer, tr *dhcp.UDPTransport, l dhcp.Lease, log *slog.Logger) {
	err := r.Run(ctx, l)
	tr.Close()
	if ctx.Err() == nil {
		log.Error("dhcp: lease maintenance stopped; the lease will NOT be renewed", "err", err.Error())
	}
}

// leaseEvent logs one step of lease maintenance, and moves the stack when a
// lease names another address or router.
func leaseEvent(e dhcp.Event, r *dhcp.Renewer, st *tcp.Stack, gateway netip.Addr, log *slog.Logger) {
	l := e.Lease
	stats := []any{"sent", r.Stats.Sent.Load(), "ignored", r.Stats.Ignored.Load(),
		"malformed", r.Stats.Malformed.Load(), "send_errors", r.Stats.SendErrors.Load()}
	switch e.Kind {
	case dhcp.EventRenewing:
		log.Info("dhcp: renewing (T1): REQUEST to the server", "addr", l.Addr.String(), "server", l.Server.String())
	case dhcp.EventRebinding:
		log.Warn("dhcp: rebinding (T2): the server did not answer; broadcasting REQUEST",
			append([]any{"addr", l.Addr.String(), "expires", l.Acquired.Add(l.Duration).Format(time.RFC3339)}, stats...)...)
	case dhcp.EventRenewed:
		log.Info("dhcp: lease renewed", "addr", l.Addr.String(), "server", l.Server.String(),
			"lease", l.Duration.String(), "renew", l.Renew.String())
		applyLease(st, l, gateway, log)
	case dhcp.EventNak:
		log.Error("dhcp: the server refused the lease (NAK); keeping the address while DISCOVER runs",
			"addr", l.Addr.String(), "err", e.Err.Error())
	case dhcp.EventExpired:
		log.Error("dhcp: the lease EXPIRED with no answer; keeping the address while DISCOVER runs",
			append([]any{"addr", l.Addr.String()}, stats...)...)
	case dhcp.EventAcquired:
		log.Info("dhcp: new lease", "addr", l.Addr.String(), "router", gatewayText(l.Router),
			"server", l.Server.String(), "lease", l.Duration.String())
		applyLease(st, l, gateway, log)
	case dhcp.EventRestartFailed:
		log.Error("dhcp: DISCOVER found no lease; retrying", "addr", l.Addr.String(), "err", e.Err.Error())
	}
}

// applyLease moves the stack to l's address and router when they differ
// from its own.
func applyLease(st *tcp.Stack, l dhcp.Lease, gateway netip.Addr, log *slog.Logger) {
	addr, gw := st.Address()
	newGW := leaseGateway(l, gateway)
	if l.Addr == addr && newGW == gw {
		return
	}
	if err := st.SetAddress(l.Addr, newGW); err != nil {
		log.Error("dhcp: cannot move to the lease's address; keeping the old one", "old", addr.String(),
			"new", l.Addr.String(), "gateway", gatewayText(newGW), "err", err.Error())
		return
	}
	log.Warn("dhcp: address changed; connections on the old address stop", "old", addr.String(),
		"new", l.Addr.String(), "gateway", gatewayText(newGW))
}
