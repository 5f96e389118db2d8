// Command image is the appliance's main program. Built for Linux it is the
// hosted board: a process whose NIC is a multiqueue TAP device. Built with
// GOOS=tamago it is the bootable image for QEMU microvm.
//
// It only wires packages together: the board's NIC queues feed percpu
// workers, which feed the per-core stacks of tcp, on which the proxy listens
// and dials. Logic that is not wiring belongs in those packages.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/proxy"
	"github.com/bareproxy/bareproxy/proxy/config"
	"github.com/bareproxy/bareproxy/proxy/metrics"
	"github.com/bareproxy/bareproxy/proxy/syslog"
	"github.com/bareproxy/bareproxy/tcp"
)

// appliance is the running product on one board.
type appliance struct {
	runtime  *percpu.Runtime
	stack    *tcp.Stack
	proxy    *proxy.Proxy
	metrics  *metrics.Renderer
	logs     *syslog.Handler
	closeNIC func() error
}

// settings is what the board found out about its NIC and network.
type settings struct {
	queues   []percpu.Queue
	steering tcp.Steering
	pin      func(core int) error
	addr     netip.Prefix
	gateway  netip.Addr
	mac      net.HardwareAddr
	// closeNIC makes the queues' blocked Receive calls return, which is
	// how the workers stop.
	closeNIC func() error
	// vnetHdr: the queues' frames carry a virtio_net_hdr
	// (tcp.Config.VnetHdr); tso: the NIC cuts TCP segments of up to
	// 64 KiB (tcp.Config.TSO). rxChecksum: received checksums need no
	// verification (tcp.Config.RXChecksumOffload).
	vnetHdr, tso, rxChecksum bool
	// frameSize is the largest frame the queues deliver, header
	// included (percpu.Runtime.FrameSize); 0 means percpu.MaxFrame.
	frameSize int
	// engine is the TCP engine (tcp.Config.Engine).
	engine tcp.EngineKind
}

// newAppliance builds the stack and the proxy over the board's queues.
func newAppliance(cfg *config.Config, s settings, log *slog.Logger) (*appliance, error) {
	n := len(s.queues)
	if s.steering.Cores() != n {
		return nil, fmt.Errorf("steering spreads over %d cores but the NIC has %d queues", s.steering.Cores(), n)
	}
	rt := percpu.New(s.queues)
	rt.Pin = s.pin
	rt.FrameSize = s.frameSize
	links := make([]tcp.Link, n)
	counters := make([]*percpu.Counters, n)
	for k := range n {
		links[k] = rt.Link(k)
		counters[k] = rt.Counters(k)
	}
	st, err := tcp.New(tcp.Config{
		Addr:     s.addr,
		Gateway:  s.gateway,
		MAC:      s.mac,
		Steering: s.steering,
		Links:    links,
		Counters: counters,

		VnetHdr:           s.vnetHdr,
		TSO:               s.tso,
		RXChecksumOffload: s.rxChecksum,
		Engine:            s.engine,
	})
	if err != nil {
		return nil, err
	}
	nets := make([]proxy.Network, n)
	for k := range n {
		nets[k] = st.Core(k)
	}
	a := &appliance{runtime: rt, stack: st, closeNIC: s.closeNIC}
	// Traffic logs go where the config's log lines say, over the
	// appliance's own network; the console keeps the warnings.
	a.logs = syslog.New(syslog.Targets(cfg), syslog.Options{
		Dial: func(addr netip.AddrPort) (net.Conn, error) { return st.Core(0).DialUDP(addr) },
	})
	proxyLog := slog.New(slog.NewMultiHandler(minLevel{log.Handler(), slog.LevelWarn}, a.logs))
	a.metrics = &metrics.Renderer{Start: time.Now(), Cores: a.coreSamples, Logs: a.logSample}
	px, err := proxy.New(cfg, nets, proxyLog, proxy.WithStats(a.metrics))
	if err != nil {
		a.logs.Close()
		st.Close()
		return nil, err
	}
	a.proxy, a.metrics.Proxy = px, px
	return a, nil
}

// run moves packets and serves the proxy until ctx is done or either fails.
func (a *appliance) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stacks := make([]percpu.Stack, a.stack.Cores())
	for k := range stacks {
		stacks[k] = a.stack.Core(k)
	}
	errc := make(chan error, 2)
	go func() { errc <- a.runtime.Run(ctx, stacks) }()
	go func() { errc <- a.proxy.Run(ctx) }()
	var err error
	pending := 2
	select {
	case err = <-errc:
		pending--
	case <-ctx.Done():
	}
	cancel()
	// Reset every connection while the NIC is still up, so that peers
	// drop them at once: a backend would otherwise keep a stopped
	// appliance's pooled connections open, and the next appliance's
	// dials on the same 4-tuples would meet them. Closing the NIC then
	// stops the workers.
	a.stack.Close()
	a.closeNIC()
	for ; pending > 0; pending-- {
		if e := <-errc; err == nil {
			err = e
		}
	}
	a.logs.Close()
	return err
}

// coreReport is one core's line in the admin API's /cores.
type coreReport struct {
	Core int `json:"core"`
	percpu.Snapshot
	Stack tcp.CoreStats `json:"stack"`
}

// cores reports every core's counters.
func (a *appliance) cores() []coreReport {
	r := make([]coreReport, a.stack.Cores())
	for k := range r {
		r[k] = coreReport{Core: k, Snapshot: a.runtime.Counters(k).Snapshot(), Stack: a.stack.Core(k).Stats()}
	}
	return r
}

// coreSamples gives the stats page and /metrics each core's counters.
func (a *appliance) coreSamples() []metrics.CoreSample {
	r := make([]metrics.CoreSample, a.stack.Cores())
	for k := range r {
		c, s := a.runtime.Counters(k).Snapshot(), a.stack.Core(k).Stats()
		r[k] = metrics.CoreSample{
			FramesIn: c.FramesIn, FramesOut: c.FramesOut, Drops: c.Drops,
			Accepted: c.Accepted, Dialled: c.Dialled, SteeringMisses: c.SteeringMisses,
			Malformed: s.Malformed, Unsupported: s.Unsupported, NotForUs: s.NotForUs, ICMPErrors: s.ICMPErrors, TxErrors: s.TxErrors,
			Dials: s.Dials, DialFailures: s.DialFailures, BindAttempts: s.BindAttempts, PortsExhausted: s.PortsExhausted,
			ResetsSent: s.ResetsSent, ResetsReceived: s.ResetsReceived, Established: s.CurrentEstablished,
			Retransmits: s.Engine.Retransmits + s.Engine.FastRetransmits, TCPTimeouts: s.Engine.Timeouts,
			SplicedBytes: s.Engine.SplicedBytes, TSOSegments: s.Engine.TSOSent,
		}
	}
	return r
}

func (a *appliance) logSample() metrics.LogSample {
	s := a.logs.Stats()
	return metrics.LogSample{Sent: s.Sent, Dropped: s.Dropped, Errors: s.Errors}
}
