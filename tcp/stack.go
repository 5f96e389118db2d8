package tcp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/tcp/engine"
	"github.com/bareproxy/bareproxy/tcp/internal/gvnet"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// Link is one core's transmit side. *percpu.Link satisfies it.
type Link interface {
	// Transmit sends frames in order and returns how many were sent. It
	// may be called from several goroutines at once (each call's frames
	// stay in order). It must not keep the slices after it returns, and
	// it must not call back into the stack (deliver received frames from
	// another goroutine).
	Transmit(frames [][]byte) (int, error)
}

// Config describes a partitioned stack.
type Config struct {
	// Addr is the appliance's IPv4 address and subnet, e.g. 10.0.0.2/24.
	// Required.
	Addr netip.Prefix
	// Gateway is the default route. The zero value means on-link only.
	Gateway netip.Addr
	// MAC is the Ethernet address every core shares. Required.
	MAC net.HardwareAddr
	// MTU is the IP MTU. Zero means 1500.
	MTU int
	// Steering is the flow hash the NIC uses. Required, and
	// Steering.Cores() must equal len(Links). A *ToeplitzSteering's Key
	// and Table must not change after New.
	Steering Steering
	// Links are the cores' transmit sides, one per core. Required.
	Links []Link
	// Counters, if not nil, holds one entry per core; accepted and dialled
	// connections are counted there. Nil entries are skipped.
	Counters []*percpu.Counters
	// TimeWait is how long a closed connection stays in TIME_WAIT. Zero
	// means DefaultTimeWait.
	TimeWait time.Duration
	// RXChecksumOffload skips verifying the IPv4, TCP and UDP checksums
	// of received frames. Set it only where frames cannot be corrupted
	// between whoever computed or checked their checksums and Deliver:
	// a TAP device's frames are built by the kernel in memory (its own
	// stack's, or ones it verified on receipt from a NIC), so hosted
	// mode sets it. False means verify, as for virtio-net without
	// VIRTIO_NET_F_GUEST_CSUM.
	RXChecksumOffload bool
	// VnetHdr says that every frame passed to Steer and Deliver, and
	// every frame given to the Links, starts with a VnetHdrLen-byte
	// virtio_net_hdr (Linux's TAP with IFF_VNET_HDR and TUNSETOFFLOAD
	// TUN_F_CSUM, or virtio-net). The native engine then leaves the
	// checksums of what it sends partial for the device to finish, and
	// does not verify those of received frames the header calls partial
	// (NEEDS_CSUM) or valid (DATA_VALID); gVisor verifies every frame
	// unless RXChecksumOffload is set. False means plain Ethernet
	// frames.
	VnetHdr bool
	// TSO, with VnetHdr, says that the device segments TCP too
	// (TUN_F_TSO4, VIRTIO_NET_F_HOST_TSO4): the stacks take received
	// frames of up to MaxVnetFrame bytes (GRO and TSO segments) whole and
	// send TCP segments of up to 64 KiB for the device to cut (gVisor's
	// host GSO, or the native engine's own TSO). Received frames may
	// then carry partial checksums too: where nothing finishes them (a
	// TAP's, unlike virtio-net's driver), set RXChecksumOffload as well.
	// Receive buffers must hold the largest frame the device hands over:
	// MaxVnetFrame bytes from a TAP (GRO) or from virtio-net with
	// GUEST_TSO4, else VnetHdrLen more than a plain frame.
	TSO bool
	// Engine selects the TCP implementation: EngineGVisor (the zero
	// value), which only binaries that import tcp/gvisortcp offer, or
	// EngineNative.
	Engine EngineKind
}

// DefaultTimeWait is the TIME_WAIT period when Config.TimeWait is zero.
// RFC 9293 asks for 2*MSL (Linux: 60 s), which protects against segments of
// an old connection arriving in a new one with the same 4-tuple. A proxy
// closes tens of thousands of connections a second to a few backends, and
// each TIME_WAIT holds one of the roughly 28k/N source ports that steer to
// its core, so 60 s would cap dials at a few hundred a second per backend.
// One second is still hundreds of LAN round trips, so no old segment
// survives it in practice.
const DefaultTimeWait = time.Second

// Stack is N per-core stack instances sharing one address and MAC.
type Stack struct {
	steering Steering
	ports    portHasher
	cores    []*Core

	// mu serialises SetAddress and protects addr and gateway.
	mu      sync.Mutex
	addr    netip.Prefix
	gateway netip.Addr
	// current is a copy of addr and gateway that every core's dials read
	// without a lock: an RWMutex's read lock would bounce one cache line
	// between the cores on every dial.
	current atomic.Pointer[addressing]

	closeOnce sync.Once
}

// addressing is an address and its gateway.
type addressing struct {
	addr    netip.Prefix
	gateway netip.Addr
}

// Core is one core's stack instance. Steer and Deliver implement
// percpu.Stack; Listen, Dial and DialUDP are what the proxy uses.
type Core struct {
	s        *Stack
	index    int
	stack    *stack.Stack
	link     *linkEndpoint
	counters *percpu.Counters // may be nil
	stats    coreStats
	// native says Config.Engine is EngineNative.
	native bool
	// eng is the native TCP engine with EngineNative, nil otherwise.
	// SetAddress replaces it when the address moves.
	eng atomic.Pointer[engine.Engine]
	// engCfg is eng's configuration, from which a move builds the next.
	engCfg engine.Config
	// nmu serialises engine moves with native listens and closes, and
	// protects listeners and retired.
	nmu sync.Mutex
	// listeners are the open native listeners, which a move carries
	// over to the new engine.
	listeners map[*nativeListener]struct{}
	// retired sums the counters of engines replaced by moves.
	retired engine.Stats
	// gtcp is gVisor's TCP with Config.Engine EngineGVisor, nil
	// otherwise.
	gtcp gvnet.TCP
	// cursor is where the next dial starts its port search, an offset in
	// the ephemeral range. It rotates so that consecutive dials do not
	// retry ports still in TIME_WAIT.
	cursor atomic.Uint32
}

var _ percpu.Stack = (*Core)(nil)

// nicID is the only NIC of every core's stack.
const nicID tcpip.NICID = 1

// New builds one stack instance per link and starts one TCP processor
// goroutine per instance (see newCore). Frames flow in through
// Core(k).Deliver and out through cfg.Links[k].
func New(cfg Config) (*Stack, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.TimeWait == 0 {
		cfg.TimeWait = DefaultTimeWait
	}
	steering := fastSteering(cfg.Steering)
	s := &Stack{
		steering: steering,
		ports:    newPortHasher(steering),
		addr:     cfg.Addr,
		gateway:  cfg.Gateway,
	}
	s.current.Store(&addressing{cfg.Addr, cfg.Gateway})
	for k := range cfg.Links {
		c, err := s.newCore(&cfg, k)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("tcp: core %d: %w", k, err)
		}
		s.cores = append(s.cores, c)
	}
	return s, nil
}

// maxPlainFrame is the largest frame without Config.VnetHdr.
const maxPlainFrame = percpu.MaxFrame

// maxMTU keeps every frame within percpu.MaxFrame (GSO segments aside).
const maxMTU = maxPlainFrame - ethHeaderLen

// checkAddress checks an address and gateway for New and SetAddress.
func checkAddress(p netip.Prefix, gw netip.Addr) error {
	if !p.IsValid() || !p.Addr().Is4() {
		return fmt.Errorf("tcp: address %q is not an IPv4 prefix", p.String())
	}
	if gw.IsValid() && (!gw.Is4() || !p.Masked().Contains(gw)) {
		return fmt.Errorf("tcp: gateway %q is not on subnet %q", gw.String(), p.Masked().String())
	}
	return nil
}

func (cfg *Config) check() error {
	if err := checkAddress(cfg.Addr, cfg.Gateway); err != nil {
		return err
	}
	switch {
	case len(cfg.MAC) != 6:
		return fmt.Errorf("tcp: MAC %q is not an Ethernet address", cfg.MAC.String())
	case cfg.MTU != 0 && (cfg.MTU < 576 || cfg.MTU > maxMTU):
		return fmt.Errorf("tcp: MTU %d out of range [576, %d]", cfg.MTU, maxMTU)
	case cfg.Steering == nil:
		return errors.New("tcp: no steering")
	case len(cfg.Links) == 0:
		return errors.New("tcp: no links")
	case cfg.Steering.Cores() != len(cfg.Links):
		return fmt.Errorf("tcp: steering spreads over %d cores but there are %d links", cfg.Steering.Cores(), len(cfg.Links))
	case cfg.Counters != nil && len(cfg.Counters) != len(cfg.Links):
		return fmt.Errorf("tcp: %d counters for %d links", len(cfg.Counters), len(cfg.Links))
	case cfg.Engine != EngineGVisor && cfg.Engine != EngineNative:
		return fmt.Errorf("tcp: unknown engine %d", int(cfg.Engine))
	case cfg.Engine == EngineGVisor && gvnet.Registered() == nil:
		return errors.New("tcp: the gvisor engine is not linked into this program (import _ \"github.com/bareproxy/bareproxy/tcp/gvisortcp\"); use EngineNative")
	case cfg.TimeWait < 0:
		return fmt.Errorf("tcp: negative TIME_WAIT %v", cfg.TimeWait)
	case cfg.TSO && !cfg.VnetHdr:
		return errors.New("tcp: TSO without VnetHdr: segments to cut need a virtio_net_hdr to say so")
	}
	return nil
}

// newCore builds core k's gVisor stack, with gVisor's TCP in it only for
// EngineGVisor. It is created under GOMAXPROCS(1) because gVisor's
// tcp.NewProtocol starts GOMAXPROCS processor goroutines per stack; one per
// core is enough, as the core's traffic is all its own.
func (s *Stack) newCore(cfg *Config, k int) (*Core, error) {
	c := &Core{s: s, index: k}
	if cfg.Counters != nil {
		c.counters = cfg.Counters[k]
	}
	c.cursor.Store(rand.Uint32())
	c.link = newLinkEndpoint(c, cfg.Links[k], cfg)

	transports := []stack.TransportProtocolFactory{udp.NewProtocol, icmp.NewProtocol4}
	if cfg.Engine == EngineGVisor {
		c.gtcp = gvnet.Registered()
		transports = append(transports, c.gtcp.Protocol())
	}
	prev := runtime.GOMAXPROCS(1)
	c.stack = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: transports,
	})
	runtime.GOMAXPROCS(prev)

	if c.gtcp != nil {
		if err := c.gtcp.Tune(c.stack, cfg.TimeWait); err != nil {
			c.stack.Destroy()
			return nil, err
		}
	}
	if err := c.stack.CreateNICWithOptions(nicID, c.link, stack.NICOptions{Name: fmt.Sprintf("core%d", k)}); err != nil {
		c.stack.Destroy()
		return nil, fmt.Errorf("create nic: %s", err)
	}
	if err := c.setAddress(netip.Prefix{}, cfg.Addr, cfg.Gateway); err != nil {
		c.stack.Destroy()
		return nil, err
	}
	if cfg.Engine == EngineNative {
		c.native = true
		c.newEngine(cfg, cfg.Links[k])
	}
	return c, nil
}

// setAddress replaces old (if valid) with p and installs the routes for p
// and gw.
func (c *Core) setAddress(old, p netip.Prefix, gw netip.Addr) error {
	if old.IsValid() && old != p {
		if err := c.stack.RemoveAddress(nicID, addrFrom(old.Addr())); err != nil {
			return fmt.Errorf("remove address %q: %s", old.String(), err)
		}
	}
	if !old.IsValid() || old != p {
		pa := tcpip.ProtocolAddress{
			Protocol: ipv4.ProtocolNumber,
			AddressWithPrefix: tcpip.AddressWithPrefix{
				Address:   addrFrom(p.Addr()),
				PrefixLen: p.Bits(),
			},
		}
		if err := c.stack.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			return fmt.Errorf("add address %q: %s", p.String(), err)
		}
	}
	subnet, err := tcpip.NewSubnet(addrFrom(p.Masked().Addr()), tcpip.MaskFromBytes(net.CIDRMask(p.Bits(), 32)))
	if err != nil {
		return fmt.Errorf("subnet %q: %v", p.String(), err)
	}
	routes := []tcpip.Route{{Destination: subnet, NIC: nicID}}
	if gw.IsValid() {
		routes = append(routes, tcpip.Route{Destination: header4Any, Gateway: addrFrom(gw), NIC: nicID})
	}
	c.stack.SetRouteTable(routes)
	return nil
}

// header4Any is 0.0.0.0/0.
var header4Any = func() tcpip.Subnet {
	s, err := tcpip.NewSubnet(tcpip.AddrFrom4([4]byte{}), tcpip.MaskFromBytes(make([]byte, 4)))
	if err != nil {
		panic(err)
	}
	return s
}()

// Cores returns the number of cores.
func (s *Stack) Cores() int { return len(s.cores) }

// Core returns core k, 0 <= k < Cores().
func (s *Stack) Core(k int) *Core { return s.cores[k] }

// Address returns the current address and gateway.
func (s *Stack) Address() (netip.Prefix, netip.Addr) {
	a := s.current.Load()
	return a.addr, a.gateway
}

// SetAddress replaces the appliance's address and default route on every
// core, e.g. when DHCP hands out a new lease. Connections on the old address
// stop working (with EngineNative they are reset: each core's engine is
// rebuilt on the new address); listeners bound to 0.0.0.0 carry on.
func (s *Stack) SetAddress(p netip.Prefix, gw netip.Addr) error {
	if err := checkAddress(p, gw); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.cores {
		if err := c.setAddress(s.addr, p, gw); err != nil {
			return fmt.Errorf("tcp: core %d: %w", c.index, err)
		}
	}
	moved := p.Addr() != s.addr.Addr()
	s.addr, s.gateway = p, gw
	s.current.Store(&addressing{p, gw})
	var err error
	for _, c := range s.cores {
		if c.native && moved {
			err = errors.Join(err, c.moveEngine(p.Addr()))
		}
	}
	return err
}

// Close aborts every connection and listener on every core, stops the
// stacks' goroutines and waits for them. Frames delivered afterwards are
// dropped. Close is idempotent.
func (s *Stack) Close() {
	s.closeOnce.Do(func() {
		// Aborting sends RSTs, so the links stay open until the
		// stacks are done.
		for _, c := range s.cores {
			if c.native {
				c.eng.Load().Close()
			}
		}
		for _, c := range s.cores {
			c.stack.Close()
		}
		for _, c := range s.cores {
			c.stack.Wait()
			c.link.Close()
		}
	})
}

// Index returns the core's index.
func (c *Core) Index() int { return c.index }

func addrFrom(a netip.Addr) tcpip.Address { return tcpip.AddrFrom4(a.As4()) }
