package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/tcp/engine"
	"github.com/bareproxy/bareproxy/tcp/internal/gvnet"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// EngineKind selects the TCP implementation of every core.
type EngineKind int

const (
	// EngineGVisor runs TCP in each core's gVisor stack. It is the
	// zero value, and the reference the native engine is tested
	// against. Only a program that imports tcp/gvisortcp links gVisor's
	// TCP; elsewhere New refuses this engine.
	EngineGVisor EngineKind = iota
	// EngineNative runs TCP in a package engine instance per core: the
	// image's engine and the hosted board's default. Each
	// core keeps its gVisor stack for ARP, ICMP and UDP (DHCP, syslog),
	// without gVisor's TCP: the engine answers TCP segments to the
	// appliance that match no listener or connection with a RST itself
	// (engine.Config.ResetUnknown). With Config.VnetHdr and TSO the
	// engine takes the TAP's large segments and sends its own (see
	// engine.Config.TSO). Its address is fixed when it is built, so
	// SetAddress to a new address builds new engines and moves the
	// listeners to them.
	EngineNative
)

// String returns "gvisor" or "native".
func (k EngineKind) String() string {
	switch k {
	case EngineGVisor:
		return "gvisor"
	case EngineNative:
		return "native"
	}
	return fmt.Sprintf("EngineKind(%d)", int(k))
}

// ParseEngineKind parses the names String returns.
func ParseEngineKind(s string) (EngineKind, error) {
	switch s {
	case "gvisor":
		return EngineGVisor, nil
	case "native":
		return EngineNative, nil
	}
	return 0, fmt.Errorf("tcp: engine %q: want gvisor or native", s)
}

// newEngine builds core c's native engine over its link.
func (c *Core) newEngine(cfg *Config, l Link) {
	var mac [6]byte
	copy(mac[:], cfg.MAC)
	c.engCfg = engine.Config{
		Addr: cfg.Addr.Addr(),
		MAC:  mac,
		MTU:  cfg.MTU,
		Transmit: func(frames [][]byte) {
			if c.link.closed.Load() {
				c.stats.txErrors.Add(uint64(len(frames)))
				return
			}
			n, err := l.Transmit(frames)
			if err != nil || n < len(frames) {
				c.stats.txErrors.Add(uint64(len(frames) - n))
			}
		},
		Resolve:           c.cachedNeighbour,
		PickPort:          c.pickPort,
		RXChecksumOffload: cfg.RXChecksumOffload,
		VnetHdr:           cfg.VnetHdr,
		TSO:               cfg.TSO,
		TimeWait:          cfg.TimeWait,
		// The core's gVisor stack has no TCP to hand declined
		// segments to (RFC 9293 3.10.7.1: answer them with a RST).
		ResetUnknown: true,
	}
	c.listeners = make(map[*nativeListener]struct{})
	c.eng.Store(engine.New(c.engCfg))
}

// moveEngine replaces the core's engine with one on addr, for SetAddress:
// an engine's address is fixed when it is built. Listeners move to the new
// engine (Accept carries on there); connections of the old one are reset,
// as a move breaks them anyway. The old engine's counters are kept.
func (c *Core) moveEngine(addr netip.Addr) error {
	cfg := c.engCfg
	cfg.Addr = addr
	next := engine.New(cfg)
	var err error
	c.nmu.Lock()
	old := c.eng.Swap(next)
	for l := range c.listeners {
		nl, lerr := next.Listen(l.port)
		if lerr != nil {
			// A fresh engine has no listeners, so this is not
			// expected; the listener's Accept fails once the old
			// engine closes.
			err = errors.Join(err, fmt.Errorf("tcp: core %d: listen on port %d after the move: %w", c.index, l.port, lerr))
			continue
		}
		l.l.Store(nl)
	}
	c.nmu.Unlock()
	old.Close()
	c.nmu.Lock()
	c.retired = c.retired.Add(old.Stats())
	c.nmu.Unlock()
	return err
}

// engineStats returns the engine's counters, those of engines replaced by
// address moves included.
func (c *Core) engineStats() engine.Stats {
	s := c.eng.Load().Stats()
	c.nmu.Lock()
	defer c.nmu.Unlock()
	if c.retired != (engine.Stats{}) {
		s = c.retired.Add(s)
	}
	return s
}

// deliverNative offers frames to the engine, in batches, and hands those
// it declines (ARP, ICMP, UDP, TCP not to the appliance's address) to the
// gVisor stack through deliver.
func (c *Core) deliverNative(frames [][]byte, deliver func(f []byte)) {
	eng := c.eng.Load()
	var handled [percpu.BatchSize]bool
	for len(frames) > 0 {
		chunk := frames[:min(len(frames), len(handled))]
		frames = frames[len(chunk):]
		eng.DeliverBatch(chunk, handled[:len(chunk)])
		for i, f := range chunk {
			if !handled[i] {
				deliver(f)
			}
		}
	}
}

// nextHop returns the neighbour that frames to ip go to: ip itself on the
// subnet, else the gateway.
func (c *Core) nextHop(ip netip.Addr) (netip.Addr, error) {
	a := c.s.current.Load()
	if a.addr.Masked().Contains(ip) {
		return ip, nil
	}
	if !a.gateway.IsValid() {
		return netip.Addr{}, ErrUnreachable
	}
	return a.gateway, nil
}

// resolved carries one neighbour lookup's answer.
type resolved struct {
	mac tcpip.LinkAddress
	err tcpip.Error
}

// resolve makes sure the gVisor stack's neighbour table knows ip's next
// hop, starting ARP and waiting for it (bounded by ctx) if it does not.
func (c *Core) resolve(ctx context.Context, ip netip.Addr) error {
	hop, err := c.nextHop(ip)
	if err != nil {
		return err
	}
	ch := make(chan resolved, 1)
	local := addrFrom(c.s.current.Load().addr.Addr())
	terr := c.stack.GetLinkAddress(nicID, addrFrom(hop), local, ipv4.ProtocolNumber, func(r stack.LinkResolutionResult) {
		ch <- resolved{r.LinkAddress, r.Err}
	})
	switch terr.(type) {
	case nil, *tcpip.ErrWouldBlock:
	default:
		return gvnet.ConvertErr(terr)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return ErrUnreachable
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cachedNeighbour is the engine's Config.Resolve: the MAC of ip's next hop
// if the neighbour table knows it now (resolve has run first).
func (c *Core) cachedNeighbour(ip netip.Addr) ([6]byte, bool) {
	var mac [6]byte
	hop, err := c.nextHop(ip)
	if err != nil {
		return mac, false
	}
	var got resolved
	ok := false
	local := addrFrom(c.s.current.Load().addr.Addr())
	terr := c.stack.GetLinkAddress(nicID, addrFrom(hop), local, ipv4.ProtocolNumber, func(r stack.LinkResolutionResult) {
		got, ok = resolved{r.LinkAddress, r.Err}, true
	})
	if terr != nil || !ok || got.err != nil || len(got.mac) != 6 {
		return mac, false
	}
	copy(mac[:], got.mac)
	return mac, true
}

// pickPort is the engine's Config.PickPort: the next port of the ephemeral
// range whose reply steers to this core. The engine calls it again while
// the 4-tuple is taken; the cursor moves on each time.
func (c *Core) pickPort(remote netip.AddrPort) (uint16, bool) {
	prefix, _ := c.s.Address()
	flows := c.s.ports.flows(remote, prefix.Addr())
	off := c.cursor.Load()
	p, after, _, ok := flows.next(c.index, off, ephemeralCount)
	if !ok {
		return 0, false
	}
	c.cursor.Store(after)
	c.stats.bindAttempts.Add(1)
	return p, true
}

// dialNative is Dial over the engine.
func (c *Core) dialNative(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	c.stats.dials.Add(1)
	conn, err := c.dialEngine(ctx, addr, timeout)
	if err != nil {
		c.stats.dialFailures.Add(1)
		return nil, opError("dial", "tcp", addr, err)
	}
	if c.counters != nil {
		c.counters.Dialled.Add(1)
	}
	return conn, nil
}

func (c *Core) dialEngine(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	if !addr.Addr().Is4() {
		return nil, fmt.Errorf("tcp: address %q is not IPv4", addr.Addr().String())
	}
	conn, err := c.eng.Load().DialTimeout(ctx, addr, timeout)
	if errors.Is(err, engine.ErrNoNeighbour) {
		// The engine's Resolve (cachedNeighbour) looked the next hop
		// up and the table lacks it: ARP for it, then dial again. The
		// common dial makes that one synchronous lookup only, and only
		// this rare one pays for a context with the time limit, which
		// then bounds both the lookup and the dial.
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		if err := c.resolve(ctx, addr.Addr()); err != nil {
			return nil, err
		}
		conn, err = c.eng.Load().Dial(ctx, addr)
	}
	switch {
	case err == nil:
		return conn, nil
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		c.stats.portsExhausted.Add(1)
		return nil, ErrPortsExhausted
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return nil, ErrRefused
	case errors.Is(err, syscall.ETIMEDOUT):
		return nil, ErrTimedOut
	case errors.Is(err, engine.ErrClosed):
		return nil, net.ErrClosed
	}
	return nil, err
}

// listenNative is Listen over the engine, which listens on the stack's
// address only: addr must be unspecified or that address.
func (c *Core) listenNative(addr netip.AddrPort) (net.Listener, error) {
	if !addr.Addr().IsUnspecified() && addr.Addr() != c.s.current.Load().addr.Addr() {
		return nil, opError("listen", "tcp", addr, fmt.Errorf("tcp: the native engine listens on the stack's address only, not %q", addr.Addr().String()))
	}
	c.nmu.Lock()
	defer c.nmu.Unlock()
	l, err := c.eng.Load().Listen(addr.Port())
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			err = ErrAddrInUse
		}
		return nil, opError("listen", "tcp", addr, err)
	}
	nl := &nativeListener{c: c, port: addr.Port()}
	nl.l.Store(l)
	c.listeners[nl] = struct{}{}
	return nl, nil
}

// nativeListener is a net.Listener over an engine listener that counts
// what it accepts. An address move (SetAddress) replaces the engine
// listener with one on the new engine.
type nativeListener struct {
	c    *Core
	port uint16
	l    atomic.Pointer[engine.Listener]
}

// Accept implements net.Listener. The conns are *engine.Conn.
func (l *nativeListener) Accept() (net.Conn, error) {
	for {
		el := l.l.Load()
		conn, err := el.Accept()
		if err != nil {
			if l.l.Load() != el {
				continue // moved to a new engine
			}
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: el.Addr(), Err: err}
		}
		l.c.stats.accepted.Add(1)
		if l.c.counters != nil {
			l.c.counters.Accepted.Add(1)
		}
		return conn, nil
	}
}

// Close implements net.Listener.
func (l *nativeListener) Close() error {
	l.c.nmu.Lock()
	delete(l.c.listeners, l)
	el := l.l.Load()
	l.c.nmu.Unlock()
	if err := el.Close(); err != nil {
		return &net.OpError{Op: "close", Net: "tcp", Addr: el.Addr(), Err: err}
	}
	return nil
}

// Addr implements net.Listener.
func (l *nativeListener) Addr() net.Addr { return l.l.Load().Addr() }
