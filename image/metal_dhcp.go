//go:build tamago

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/tcp/dhcp"
	"github.com/bareproxy/bareproxy/virtio"
)

// dhcpWithin bounds the whole DHCP exchange at boot.
const dhcpWithin = 60 * time.Second

// queueConn is a dhcp.Conn over the NIC's queue pairs before the workers own
// them: it transmits on pair 0 and polls every pair, because RSS may put the
// server's reply on any queue. Frames other than the reply are dropped; the
// stack does not exist yet.
type queueConn struct {
	pairs []*virtio.QueuePair
	bufs  [][]byte
	sizes []int
	next  int // the pair polled first next time, for fairness
}

var _ dhcp.Conn = (*queueConn)(nil)

func newQueueConn(pairs []*virtio.QueuePair) *queueConn {
	return &queueConn{pairs: pairs, bufs: [][]byte{make([]byte, percpu.MaxFrame)}, sizes: make([]int, 1)}
}

// WriteFrame implements dhcp.Conn.
func (c *queueConn) WriteFrame(frame []byte) error {
	n, err := c.pairs[0].Transmit([][]byte{frame})
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
				return copy(buf, c.bufs[0][:c.sizes[0]]), nil
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
	log.Warn("dhcp: the lease is not renewed while the appliance runs; give the address a reservation or a long lease")
	return lease, nil
}
