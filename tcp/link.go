package tcp

import (
	"sync"
	"sync/atomic"

	"github.com/bareproxy/bareproxy/percpu"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// ethHeaderLen is the Ethernet II header: destination, source, type.
const ethHeaderLen = header.EthernetMinimumSize

// linkEndpoint is one core's stack.LinkEndpoint. It does Ethernet framing
// itself, serialises outgoing packets into buffers it reuses and hands them
// to the core's Link in batches; Core.Deliver feeds the other direction.
type linkEndpoint struct {
	core  int
	stats *coreStats
	link  Link
	mac   tcpip.LinkAddress
	mtu   atomic.Uint32

	// vnetHdr, tso and rxChecksum are Config.VnetHdr, Config.TSO and
	// Config.RXChecksumOffload.
	vnetHdr, tso, rxChecksum bool

	// dispatcher is the NIC the stack attached, nil before Attach and
	// after the NIC is removed.
	dispatcher atomic.Pointer[dispatcherRef]

	// closed stops transmission; Close sets it.
	closed atomic.Bool

	// batches holds the buffers WritePackets serialises frames into. It
	// is a pool, not one set per endpoint, so that no lock is held
	// across Link.Transmit: the processor goroutine sending ACKs and the
	// goroutines writing data on the same core used to queue behind each
	// other's write(2) on one mutex (99% of the mutex profile of an
	// end-to-end run).
	batches sync.Pool

	// mu protects onClose.
	mu      sync.Mutex
	onClose func()
}

// txBatch is one WritePackets call's frames, slices of bufs.
type txBatch struct {
	bufs   [][]byte // percpu.BatchSize buffers of percpu.MaxFrame bytes (more for GSO), allocated on first use
	frames [][]byte
}

type dispatcherRef struct{ d stack.NetworkDispatcher }

var _ stack.LinkEndpoint = (*linkEndpoint)(nil)

func newLinkEndpoint(c *Core, l Link, cfg *Config) *linkEndpoint {
	e := &linkEndpoint{
		core:       c.index,
		stats:      &c.stats,
		link:       l,
		mac:        tcpip.LinkAddress(cfg.MAC),
		vnetHdr:    cfg.VnetHdr,
		tso:        cfg.TSO,
		rxChecksum: cfg.RXChecksumOffload,
	}
	mtu := uint32(cfg.MTU)
	e.batches.New = func() any {
		return &txBatch{bufs: make([][]byte, percpu.BatchSize), frames: make([][]byte, 0, percpu.BatchSize)}
	}
	e.mtu.Store(mtu)
	return e
}

// MTU implements stack.LinkEndpoint.
func (e *linkEndpoint) MTU() uint32 { return e.mtu.Load() }

// SetMTU implements stack.LinkEndpoint. Values above maxMTU are clamped, so
// that every frame fits percpu.MaxFrame.
func (e *linkEndpoint) SetMTU(mtu uint32) {
	e.mtu.Store(min(mtu, maxMTU))
}

// MaxHeaderLength implements stack.LinkEndpoint.
func (e *linkEndpoint) MaxHeaderLength() uint16 { return ethHeaderLen }

// LinkAddress implements stack.LinkEndpoint.
func (e *linkEndpoint) LinkAddress() tcpip.LinkAddress { return e.mac }

// SetLinkAddress implements stack.LinkEndpoint. The MAC is shared by every
// core and fixed at New, so this is ignored.
func (e *linkEndpoint) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities implements stack.LinkEndpoint: Ethernet needs ARP; received
// checksums are verified unless Config.RXChecksumOffload says they need not
// be. The stack always computes transmitted checksums, in
// full or (host GSO with TSO) the pseudo-header part that the device
// finishes.
func (e *linkEndpoint) Capabilities() stack.LinkEndpointCapabilities {
	caps := stack.CapabilityResolutionRequired
	if e.rxChecksum {
		caps |= stack.CapabilityRXChecksumOffload
	}
	return caps
}

// Attach implements stack.LinkEndpoint.
func (e *linkEndpoint) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		e.dispatcher.Store(nil)
		return
	}
	e.dispatcher.Store(&dispatcherRef{d})
}

// IsAttached implements stack.LinkEndpoint.
func (e *linkEndpoint) IsAttached() bool { return e.dispatcher.Load() != nil }

// Wait implements stack.LinkEndpoint. The endpoint has no goroutines.
func (e *linkEndpoint) Wait() {}

// ARPHardwareType implements stack.LinkEndpoint.
func (e *linkEndpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }

// AddHeader implements stack.LinkEndpoint: it pushes the Ethernet header.
func (e *linkEndpoint) AddHeader(pkt *stack.PacketBuffer) {
	eth := header.Ethernet(pkt.LinkHeader().Push(ethHeaderLen))
	eth.Encode(&header.EthernetFields{
		SrcAddr: pkt.EgressRoute.LocalLinkAddress,
		DstAddr: pkt.EgressRoute.RemoteLinkAddress,
		Type:    pkt.NetworkProtocolNumber,
	})
}

// ParseHeader implements stack.LinkEndpoint.
func (e *linkEndpoint) ParseHeader(pkt *stack.PacketBuffer) bool {
	_, ok := pkt.LinkHeader().Consume(ethHeaderLen)
	return ok
}

// Close implements stack.LinkEndpoint: it stops transmission and runs the
// close action once.
func (e *linkEndpoint) Close() {
	if e.closed.Swap(true) {
		return
	}
	e.mu.Lock()
	action := e.onClose
	e.mu.Unlock()
	if action != nil {
		action()
	}
}

// SetOnCloseAction implements stack.LinkEndpoint.
func (e *linkEndpoint) SetOnCloseAction(action func()) {
	e.mu.Lock()
	e.onClose = action
	e.mu.Unlock()
}

// WritePackets implements stack.LinkWriter. The caller keeps ownership of
// pkts. Each packet is copied into a pooled buffer, and full batches go to
// the Link in one Transmit; no lock is held meanwhile, so several
// goroutines of a core may transmit at once. Frames the Link fails to
// send count as sent, as a NIC's drops do: TCP recovers them.
func (e *linkEndpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	if e.closed.Load() {
		return 0, &tcpip.ErrClosedForSend{}
	}
	b := e.batches.Get().(*txBatch)
	off, limit := e.frameOffset(), e.maxFrame()
	for _, pkt := range pkts.AsSlice() {
		if e.suppressARPReply(pkt) {
			continue
		}
		size := off + pkt.Size()
		if size > limit {
			e.stats.txErrors.Add(1)
			continue
		}
		if len(b.frames) == cap(b.frames) {
			e.flush(b)
		}
		i := len(b.frames)
		if cap(b.bufs[i]) < size {
			// A GSO segment grows its buffer once; the pool keeps it.
			b.bufs[i] = make([]byte, max(size, percpu.MaxFrame))
		}
		buf := b.bufs[i][:size]
		if off > 0 {
			putVnetHdr(buf, pkt)
		}
		copyPacket(buf[off:], pkt)
		b.frames = append(b.frames, buf)
	}
	e.flush(b)
	e.batches.Put(b)
	return pkts.Len(), nil
}

// flush transmits the batch built so far.
func (e *linkEndpoint) flush(b *txBatch) {
	if len(b.frames) == 0 {
		return
	}
	n, err := e.link.Transmit(b.frames)
	if err != nil || n < len(b.frames) {
		e.stats.txErrors.Add(uint64(len(b.frames) - n))
	}
	clear(b.frames)
	b.frames = b.frames[:0]
}

// suppressARPReply reports whether pkt is an ARP reply from a core other
// than 0. Every core sees every ARP request (Steer returns percpu.All) and
// learns the sender from it, but the peer must get exactly one reply.
func (e *linkEndpoint) suppressARPReply(pkt *stack.PacketBuffer) bool {
	if e.core == 0 || pkt.NetworkProtocolNumber != header.ARPProtocolNumber {
		return false
	}
	arp := header.ARP(pkt.NetworkHeader().Slice())
	if !arp.IsValid() || arp.Op() != header.ARPReply {
		return false
	}
	e.stats.arpRepliesSuppressed.Add(1)
	return true
}

// copyPacket copies pkt's headers and payload into buf, which is exactly
// pkt.Size() bytes long, without allocating.
func copyPacket(buf []byte, pkt *stack.PacketBuffer) {
	views, skip := pkt.AsViewList()
	n := 0
	for v := views.Front(); v != nil && n < len(buf); v = v.Next() {
		b := v.AsSlice()
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		n += copy(buf[n:], b[skip:])
		skip = 0
	}
}

// Deliver implements percpu.Stack: it copies each frame into a packet
// buffer and hands it to this core's stack. Frames for another MAC and
// runt frames are counted and dropped; everything else is parsed by the
// stack, which counts what it rejects in its own statistics. Deliver may
// be called from several goroutines at once, but never from inside the
// core's Link.Transmit.
func (c *Core) Deliver(frames [][]byte) {
	ref := c.link.dispatcher.Load()
	if ref == nil {
		c.stats.droppedDetached.Add(uint64(len(frames)))
		return
	}
	off := c.link.frameOffset()
	if c.native {
		c.deliverNative(frames, func(f []byte) { c.deliverFrame(ref, off, f) })
		return
	}
	for _, f := range frames {
		c.deliverFrame(ref, off, f)
	}
}

// deliverFrame hands one frame, off bytes into f, to the gVisor stack.
func (c *Core) deliverFrame(ref *dispatcherRef, off int, f []byte) {
	if len(f) < off+ethHeaderLen {
		c.stats.malformed.Add(1)
		return
	}
	// The virtio_net_hdr, if any, needs no reading: a GSO frame is one
	// large TCP segment that the stack takes whole, and gVisor's NIC
	// decides on checksums for every packet alike from the link's
	// capabilities (Config.RXChecksumOffload).
	f = f[off:]
	eth := header.Ethernet(f)
	var kind tcpip.PacketType
	switch dst := eth.DestinationAddress(); {
	case dst == c.link.mac:
		kind = tcpip.PacketHost
	case dst == header.EthernetBroadcastAddress:
		kind = tcpip.PacketBroadcast
	case header.IsMulticastEthernetAddress(dst):
		kind = tcpip.PacketMulticast
	default:
		c.stats.notForUs.Add(1)
		return
	}
	if isICMPError(f) {
		c.stats.icmpErrors.Add(1)
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(f)})
	pkt.PktType = kind
	if c.link.ParseHeader(pkt) {
		ref.d.DeliverNetworkPacket(eth.Type(), pkt)
	}
	pkt.DecRef()
}
