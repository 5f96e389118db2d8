// Package virtio is a virtio-net driver (Virtual I/O Device (VIRTIO) Version
// 1.2, modern interface only, split virtqueues) for the appliance's per-core
// data path: N queue pairs, each a percpu.Queue, a control queue for
// multiqueue and RSS, and the device's Toeplitz key and indirection table
// taken from tcp.ToeplitzSteering so that the NIC and the stack agree on
// which core owns a flow.
//
// The package owns feature negotiation, the rings, RX refill and TX reclaim,
// interrupt and notification suppression (VIRTIO_F_EVENT_IDX), and the
// virtio_net_hdr, and with Config.VnetHdr the checksum and segmentation
// offloads (CSUM, GUEST_CSUM, HOST_TSO4, GUEST_TSO4). It must not allocate
// per packet: every ring and buffer is reserved in New. It knows nothing of
// IP beyond completing NEEDS_CSUM checksums and telling TCP's from others
// by their offset (Config.PartialTCP).
//
// Everything but transport_tamago.go is portable Go: the device is reached
// through the Transport and Memory interfaces, which the software device in
// virtio/devmodel implements for tests on Linux, and transport_tamago.go
// implements on TamaGo (GOOS=tamago) over tamago's kvm/virtio MMIO device and
// dma package.
//
// A board brings the device up and hands its queues to the per-core runtime:
//
//	steer := tcp.NewToeplitzSteering(cores) // the same value goes to tcp/
//	dev, err := virtio.OpenMMIO(base, virtio.Config{Pairs: cores, Steering: steer})
//	// dev.RSS() false: the device cannot steer; dispatch in software.
//	rt := percpu.New(dev.Queues())
//
// Receive polls by default (Polling). With an IRQ wired, the board calls
// dev.HandleInterrupt (one line for all queues, as on virtio-mmio) or
// QueuePair.Interrupt (one vector per queue) and selects Interrupts with
// Config.Mode or SetMode.
package virtio

import (
	"fmt"
	"runtime"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/tcp"
)

// virtio-net configuration space (virtio 1.2, 5.1.4).
const (
	cfgMAC            = 0  // u8 mac[6], with VIRTIO_NET_F_MAC
	cfgStatus         = 6  // le16 status, with VIRTIO_NET_F_STATUS
	cfgMaxPairs       = 8  // le16 max_virtqueue_pairs, with MQ or RSS
	cfgMTU            = 10 // le16 mtu, with VIRTIO_NET_F_MTU
	cfgRSSMaxKey      = 17 // u8 rss_max_key_size, with RSS
	cfgRSSMaxTable    = 18 // le16 rss_max_indirection_table_length, with RSS
	cfgRSSHashTypes   = 20 // le32 supported_hash_types, with RSS
	netSLinkUp        = 1  // VIRTIO_NET_S_LINK_UP
	maxVirtqueuePairs = 0x8000
)

// DefaultQueueSize is the ring size used when Config.QueueSize is zero
// (capped by what the device allows).
const DefaultQueueSize = 256

// guestTSOQueueSize caps RX rings whose buffers hold 64 KiB (GUEST_TSO4):
// each such buffer carries up to 45 segments' worth.
const guestTSOQueueSize = 64

// maxMTU is the largest MTU whose frames (plus an Ethernet header and a VLAN
// tag) fit a MaxFrame buffer; a device advising more does not get
// VIRTIO_NET_F_MTU accepted (virtio 1.2, 5.1.6.3.1: buffers must hold mtu).
const maxMTU = percpu.MaxFrame - 14 - 4

// Config says how to drive a device.
type Config struct {
	// Pairs is how many queue pairs to use, normally one per core. Zero
	// means every pair the device has. It is capped at the device's
	// max_virtqueue_pairs, and is 1 when the device has neither MQ nor
	// RSS.
	Pairs int
	// QueueSize is the ring size of every RX and TX queue, rounded down to
	// a power of two and capped by the device. Zero means
	// DefaultQueueSize.
	QueueSize int
	// Steering is the RSS key and indirection table to program when the
	// device offers VIRTIO_NET_F_RSS; its table entries must be below
	// Pairs. Nil means tcp.NewToeplitzSteering(Pairs).
	Steering *tcp.ToeplitzSteering
	// Mode is how Receive waits for frames at start. The zero value is
	// Polling.
	Mode Mode
	// Refuse lists features not to accept even if offered (for tests and
	// to work around a device). Zero refuses nothing.
	Refuse Features
	// VnetHdr makes every frame given to Transmit and returned by Receive
	// start with a nethdr.Size-byte virtio_net_hdr (tcp.Config.VnetHdr),
	// so that checksums are offloaded both ways:
	//   - Transmit passes a NEEDS_CSUM header on when the device has
	//     VIRTIO_NET_F_CSUM, and otherwise finishes the checksum itself
	//     and clears the flag.
	//   - Receive passes DATA_VALID on, and completes a NEEDS_CSUM frame
	//     in software as without VnetHdr, marking it DATA_VALID, so that
	//     the stack verifies neither (but see PartialTCP).
	//   - With VIRTIO_NET_F_HOST_TSO4 (Device.TSO), Transmit takes TCPv4
	//     GSO frames of up to 64 KiB for the device to cut
	//     (tcp.Config.TSO); without it, it drops frames asking for
	//     segmentation.
	// Frames may then be nethdr.Size bytes longer than percpu.MaxFrame.
	VnetHdr bool
	// PartialTCP, with VnetHdr, makes Receive pass a NEEDS_CSUM frame
	// whose checksum is TCP's (csum_offset 16) on partial, with its
	// header's checksum fields, instead of completing it: for a TCP
	// engine that does not verify such frames (tcp.EngineNative), so
	// that no payload byte is summed in the guest. Other NEEDS_CSUM
	// frames (UDP, for gVisor) are still completed.
	PartialTCP bool
	// GuestTSO, with VnetHdr, accepts VIRTIO_NET_F_GUEST_TSO4: the device
	// may hand over TCPv4 segments of up to 64 KiB (the host's GRO), one
	// frame where it would send dozens. Every RX buffer then holds 64 KiB,
	// and RX rings hold at most guestTSOQueueSize of them (4 MiB a queue,
	// so that 16 queues fit the DMA region twice over); Receive's buffers
	// must hold tcp.MaxVnetFrame bytes when Device.GuestTSO reports the
	// feature negotiated.
	GuestTSO bool
}

// Device is one initialised virtio-net device.
type Device struct {
	t        Transport
	features Features
	pairs    []*QueuePair
	maxPairs int
	ctrl     *ctrlQueue
	mac      [6]byte
	mtu      int
	rss      bool
	steering *tcp.ToeplitzSteering
}

// New resets the device behind t, negotiates features, sets up the queues
// from memory mem, sets DRIVER_OK, and programs multiqueue and RSS, following
// virtio 1.2, 3.1.1. On failure it sets FAILED and returns an error.
func New(t Transport, mem Memory, cfg Config) (*Device, error) {
	d, err := newDevice(t, mem, cfg)
	if err != nil {
		t.SetStatus(t.Status() | StatusFailed)
		return nil, err
	}
	return d, nil
}

func newDevice(t Transport, mem Memory, cfg Config) (*Device, error) {
	if err := reset(t); err != nil {
		return nil, err
	}
	status := uint8(StatusAcknowledge)
	t.SetStatus(status)
	status |= StatusDriver
	t.SetStatus(status)

	offered := Features(t.DeviceFeatures())
	refuse := cfg.Refuse
	if !cfg.VnetHdr {
		refuse |= NetHostTSO4 // plain frames cannot ask for segmentation
	}
	if !cfg.VnetHdr || !cfg.GuestTSO {
		refuse |= NetGuestTSO4
	}
	f, err := negotiate(offered, refuse)
	if err != nil {
		return nil, err
	}
	// Fields of offered features are readable before FEATURES_OK.
	mtu := 0
	if f.Has(NetMTU) {
		if mtu = int(t.ReadConfig(cfgMTU, 2)); mtu > maxMTU || mtu < 68 {
			f &^= NetMTU
			mtu = 0
		}
	}
	t.SetDriverFeatures(uint64(f))
	status |= StatusFeaturesOK
	t.SetStatus(status)
	if t.Status()&StatusFeaturesOK == 0 {
		return nil, fmt.Errorf("virtio: device refused features %q", f)
	}

	d := &Device{t: t, features: f, maxPairs: 1, mtu: mtu}
	if f&(NetMQ|NetRSS) != 0 {
		d.maxPairs = int(t.ReadConfig(cfgMaxPairs, 2))
		if d.maxPairs < 1 || d.maxPairs > maxVirtqueuePairs {
			return nil, fmt.Errorf("virtio: max_virtqueue_pairs %d out of range", d.maxPairs)
		}
	}
	pairs := d.maxPairs
	if cfg.Pairs > 0 {
		pairs = min(cfg.Pairs, d.maxPairs)
	}
	d.steering = cfg.Steering
	if d.steering == nil {
		d.steering = tcp.NewToeplitzSteering(pairs)
	}
	// Decide on RSS before allocating: without RSS or MQ the device
	// uses one pair only.
	var hashTypes uint32
	if f.Has(NetRSS) {
		l := rssLimits{
			maxKey:    int(t.ReadConfig(cfgRSSMaxKey, 1)),
			maxTable:  int(t.ReadConfig(cfgRSSMaxTable, 2)),
			hashTypes: t.ReadConfig(cfgRSSHashTypes, 4),
		}
		if rssUsable(d.steering, l, pairs) == nil {
			hashTypes = l.hashTypes & wantHashTypes
		}
	}
	if hashTypes == 0 && !f.Has(NetMQ) {
		pairs = 1
	}

	if err := d.setupQueues(mem, cfg, pairs); err != nil {
		return nil, err
	}
	if f.Has(NetMAC) {
		d.readMAC()
	}
	status |= StatusDriverOK
	t.SetStatus(status)
	for _, q := range d.pairs {
		q.rxRing.kicked = q.rxRing.published
		t.Notify(q.rxVQ) // the RX buffers posted in setup
	}
	if err := d.configureSteering(hashTypes, pairs); err != nil {
		return nil, err
	}
	d.SetMode(cfg.Mode)
	return d, nil
}

// reset writes 0 to the status register and waits for it to read back 0
// (virtio 1.2, 2.4.2).
func reset(t Transport) error {
	t.SetStatus(0)
	for i := 0; t.Status() != 0; i++ {
		if i == ctrlSpins {
			return fmt.Errorf("virtio: device reset did not complete (status %#x)", t.Status())
		}
		runtime.Gosched()
	}
	return nil
}

// setupQueues allocates and registers pairs queue pairs and the control
// queue.
func (d *Device) setupQueues(mem Memory, cfg Config, pairs int) error {
	want := DefaultQueueSize
	if cfg.QueueSize > 0 {
		want = min(cfg.QueueSize, maxQueueSize)
	}
	size := func(vq int) (int, error) {
		n := roundDownPow2(min(d.t.MaxQueueSize(vq), want))
		if n < 2 {
			return 0, fmt.Errorf("virtio: virtqueue %d unavailable (max size %d)", vq, d.t.MaxQueueSize(vq))
		}
		return n, nil
	}
	for k := range pairs {
		rx, err := size(2 * k)
		if err != nil {
			return err
		}
		if d.features.Has(NetGuestTSO4) {
			rx = min(rx, guestTSOQueueSize)
		}
		tx, err := size(2*k + 1)
		if err != nil {
			return err
		}
		q, err := newQueuePair(d.t, mem, k, rx, tx, d.features, cfg)
		if err != nil {
			return err
		}
		if err := q.setup(); err != nil {
			return err
		}
		d.pairs = append(d.pairs, q)
	}
	if d.features.Has(NetCtrlVQ) {
		c, err := newCtrlQueue(d.t, mem, 2*d.maxPairs, d.features)
		if err != nil {
			return err
		}
		d.ctrl = c
	}
	return nil
}

// configureSteering programs RSS when hashTypes is not zero, falling back to
// VQ_PAIRS_SET when the device refuses it, or when RSS is not usable.
func (d *Device) configureSteering(hashTypes uint32, pairs int) error {
	if hashTypes != 0 {
		err := d.ctrl.setRSS(d.steering, hashTypes, pairs)
		if err == nil {
			d.rss = true
			return nil
		}
		if !d.features.Has(NetMQ) {
			d.pairs = d.pairs[:1]
			return nil
		}
	}
	if d.features.Has(NetMQ) && pairs > 1 {
		if err := d.ctrl.setPairs(pairs); err != nil {
			return fmt.Errorf("virtio: set %d queue pairs: %w", pairs, err)
		}
	}
	return nil
}

// readMAC reads mac from configuration space, retrying until the
// configuration generation is stable (virtio 1.2, 4.1.3.1).
func (d *Device) readMAC() {
	for range 16 {
		g := d.t.ConfigGeneration()
		for i := range d.mac {
			d.mac[i] = byte(d.t.ReadConfig(cfgMAC+i, 1))
		}
		if d.t.ConfigGeneration() == g {
			return
		}
	}
}

// Pairs returns the queue pairs in use, pair k serving core k.
func (d *Device) Pairs() []*QueuePair { return d.pairs }

// Queues returns the queue pairs as percpu.Queues, for percpu.New.
func (d *Device) Queues() []percpu.Queue {
	qs := make([]percpu.Queue, len(d.pairs))
	for i, q := range d.pairs {
		qs[i] = q
	}
	return qs
}

// Features returns the negotiated features.
func (d *Device) Features() Features { return d.features }

// RSS reports whether the device steers received flows with Steering's key
// and table. When false, frames arrive on whatever queue the device picks
// (queue 0, or the queue the flow last transmitted on) and the caller must
// dispatch in software.
func (d *Device) RSS() bool { return d.rss }

// Steering returns the Toeplitz key and table programmed into the device
// (or that would have been, when RSS is false).
func (d *Device) Steering() *tcp.ToeplitzSteering { return d.steering }

// MAC returns the device's MAC address, and false if the device has none
// (VIRTIO_NET_F_MAC not offered): the caller must then pick one.
func (d *Device) MAC() ([6]byte, bool) { return d.mac, d.features.Has(NetMAC) }

// MTU returns the MTU the device advises, or 0 if it gives none.
func (d *Device) MTU() int { return d.mtu }

// TSO reports whether the device cuts the TCPv4 segments the driver sends
// (VIRTIO_NET_F_HOST_TSO4, negotiated with Config.VnetHdr only).
func (d *Device) TSO() bool { return d.features.Has(NetHostTSO4) }

// GuestTSO reports whether the device may hand over TCPv4 segments of up
// to 64 KiB (VIRTIO_NET_F_GUEST_TSO4, negotiated with Config.GuestTSO
// only).
func (d *Device) GuestTSO() bool { return d.features.Has(NetGuestTSO4) }

// LinkUp reports the link status read from configuration space; without
// VIRTIO_NET_F_STATUS the link is always up (virtio 1.2, 5.1.4).
func (d *Device) LinkUp() bool {
	if !d.features.Has(NetStatus) {
		return true
	}
	return d.t.ReadConfig(cfgStatus, 2)&netSLinkUp != 0
}

// SetMode switches every queue pair to m.
func (d *Device) SetMode(m Mode) {
	for _, q := range d.pairs {
		q.SetMode(m)
	}
}

// HandleInterrupt is the device's IRQ handler for transports with one
// interrupt for all queues (virtio-mmio): it acknowledges the interrupt and
// wakes every queue pair in Interrupts mode. A configuration change needs
// nothing more: LinkUp reads configuration space.
func (d *Device) HandleInterrupt() {
	queues, _ := d.t.AckInterrupt()
	if !queues {
		return
	}
	for _, q := range d.pairs {
		if q.Mode() == Interrupts {
			q.Interrupt()
		}
	}
}

// Close resets the device, so that it stops using the rings, and makes every
// Receive and Transmit return percpu.ErrClosed. Memory stays reserved.
func (d *Device) Close() error {
	d.t.SetStatus(0)
	for _, q := range d.pairs {
		q.close()
	}
	return nil
}
