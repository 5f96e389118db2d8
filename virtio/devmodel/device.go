// Package devmodel is a software virtio-net device (virtio 1.2, modern,
// split virtqueues) for testing the virtio driver on Linux. It implements the
// device side of virtio.Transport over Go memory (Memory): feature
// negotiation with FEATURES_OK checking, split virtqueues (avail ring,
// descriptor chains, used ring, EVENT_IDX for notifications and interrupts),
// a control queue handling VQ_PAIRS_SET and RSS_CONFIG, and RSS steering of
// delivered frames with tcp.ToeplitzSteering, so that tests can assert where
// frames land.
//
// It is a test fixture, not a data path: it must not be imported by
// production code. Its hot paths (Deliver*, TX processing) allocate nothing,
// so benchmarks measure the driver.
package devmodel

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/bareproxy/bareproxy/tcp"
	"github.com/bareproxy/bareproxy/virtio"
)

// Config describes the device to model.
type Config struct {
	// Features are the feature bits offered. Zero offers DefaultFeatures.
	Features virtio.Features
	// MaxPairs is max_virtqueue_pairs. Zero means 1.
	MaxPairs int
	// MaxQueueSize is every queue's maximum size. Zero means 256.
	MaxQueueSize int
	// MAC is the address in configuration space.
	MAC [6]byte
	// MTU is the mtu in configuration space. Zero means 1500.
	MTU uint16
	// RSSMaxKey is rss_max_key_size. Zero means 40.
	RSSMaxKey int
	// RSSMaxTable is rss_max_indirection_table_length. Zero means 128.
	RSSMaxTable int
	// HashTypes is supported_hash_types. Zero means IPv4, TCPv4, UDPv4.
	HashTypes uint32
	// RejectFeatures makes the device clear FEATURES_OK whatever the
	// driver accepted.
	RejectFeatures bool
	// RejectControl makes the device answer every control command with
	// VIRTIO_NET_ERR.
	RejectControl bool
}

// DefaultFeatures is what a QEMU virtio-net-device with mq=on,rss=on offers,
// minus the offloads the driver declines anyway.
const DefaultFeatures = virtio.Version1 | virtio.RingEventIdx | virtio.RingIndirectDesc |
	virtio.NetCsum | virtio.NetGuestCsum | virtio.NetMAC | virtio.NetMTU | virtio.NetStatus |
	virtio.NetCtrlVQ | virtio.NetMQ | virtio.NetRSS | virtio.NetMrgRxbuf |
	virtio.NetGuestTSO4 | virtio.NetHostTSO4 | virtio.NetCtrlRx

// Stats are the device's own counters.
type Stats struct {
	RxDelivered  atomic.Uint64 // frames written into RX buffers
	RxNoBuffer   atomic.Uint64 // frames dropped: RX ring empty or buffer too small
	TxFrames     atomic.Uint64 // frames taken from TX queues
	BadChains    atomic.Uint64 // descriptor chains rejected by walk
	BadCommands  atomic.Uint64 // control commands answered VIRTIO_NET_ERR
	EarlyNotify  atomic.Uint64 // notifications before DRIVER_OK or to unready queues
	Interrupts   atomic.Uint64 // interrupts raised (all queues and config)
	ConfigChange atomic.Uint64 // configuration change interrupts
}

// Device is the model. Its methods are safe for concurrent use; the
// virtio.Transport ones are the driver's side, the others the network's.
type Device struct {
	cfg   Config
	mem   *Memory
	data  []*vq // 2*MaxPairs data queues
	ctrl  *vq   // the control queue, at index 2N (see lookup)
	stats Stats
	isr   atomic.Uint32

	mu sync.Mutex
	// mu protects the registers and steering state below.
	status     uint8
	driverFeat virtio.Features
	config     [24]byte
	generation uint32
	pairs      int
	rss        *tcp.ToeplitzSteering // nil unless RSS_CONFIG succeeded
	hashTypes  uint32
	unclass    int

	irqMu sync.Mutex
	// irqMu protects irq and txSink.
	irq    func()
	txSink func(pair int, h Hdr, frame []byte)
}

var _ virtio.Transport = (*Device)(nil)

// New returns a device in reset state with its own Memory.
func New(cfg Config) *Device {
	if cfg.Features == 0 {
		cfg.Features = DefaultFeatures
	}
	cfg.MaxPairs = max(cfg.MaxPairs, 1)
	if cfg.MaxQueueSize == 0 {
		cfg.MaxQueueSize = 256
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.RSSMaxKey == 0 {
		cfg.RSSMaxKey = tcp.ToeplitzKeySize
	}
	if cfg.RSSMaxTable == 0 {
		cfg.RSSMaxTable = 128
	}
	if cfg.HashTypes == 0 {
		cfg.HashTypes = virtio.HashTypeIPv4 | virtio.HashTypeTCPv4 | virtio.HashTypeUDPv4
	}
	d := &Device{cfg: cfg, mem: &Memory{}, pairs: 1}
	for i := range 2 * cfg.MaxPairs {
		d.data = append(d.data, &vq{index: i, mem: d.mem})
	}
	d.ctrl = &vq{index: -1, mem: d.mem}
	c := d.config[:]
	copy(c[0:6], cfg.MAC[:])
	binary.LittleEndian.PutUint16(c[6:], 1) // VIRTIO_NET_S_LINK_UP
	binary.LittleEndian.PutUint16(c[8:], uint16(cfg.MaxPairs))
	binary.LittleEndian.PutUint16(c[10:], cfg.MTU)
	c[17] = byte(cfg.RSSMaxKey)
	binary.LittleEndian.PutUint16(c[18:], uint16(cfg.RSSMaxTable))
	binary.LittleEndian.PutUint32(c[20:], cfg.HashTypes)
	return d
}

// Memory returns the memory the driver must allocate from.
func (d *Device) Memory() *Memory { return d.mem }

// Stats returns the device's counters.
func (d *Device) Stats() *Stats { return &d.stats }

// OnInterrupt sets the interrupt line: fn is called, outside the device's
// locks, whenever the device raises an interrupt.
func (d *Device) OnInterrupt(fn func()) {
	d.irqMu.Lock()
	d.irq = fn
	d.irqMu.Unlock()
}

// OnTransmit makes the device process a TX queue as soon as it is notified,
// handing each frame (without virtio_net_hdr) to fn, which must not keep it.
// Nil leaves TX buffers pending until ProcessTX.
func (d *Device) OnTransmit(fn func(pair int, frame []byte)) {
	if fn == nil {
		d.OnTransmitHdr(nil)
		return
	}
	d.OnTransmitHdr(func(pair int, _ Hdr, frame []byte) { fn(pair, frame) })
}

// OnTransmitHdr is OnTransmit that also passes each frame's
// virtio_net_hdr.
func (d *Device) OnTransmitHdr(fn func(pair int, h Hdr, frame []byte)) {
	d.irqMu.Lock()
	d.txSink = fn
	d.irqMu.Unlock()
}

// interrupt raises the interrupt line with ISR bits bits.
func (d *Device) interrupt(bits uint32) {
	d.isr.Or(bits)
	d.stats.Interrupts.Add(1)
	d.irqMu.Lock()
	fn := d.irq
	d.irqMu.Unlock()
	if fn != nil {
		fn()
	}
}

// lookup returns virtqueue i: receiveq k is 2k, transmitq k is 2k+1 and the
// control queue is 2N, where N is max_virtqueue_pairs if MQ or RSS was
// negotiated and 1 otherwise (virtio 1.2, 5.1.2).
func (d *Device) lookup(i int) (q *vq, ctrl bool) {
	d.mu.Lock()
	f := d.driverFeat
	d.mu.Unlock()
	n := 1
	if f&(virtio.NetMQ|virtio.NetRSS) != 0 {
		n = d.cfg.MaxPairs
	}
	switch {
	case i == 2*n && d.cfg.Features.Has(virtio.NetCtrlVQ):
		return d.ctrl, true
	case i >= 0 && i < 2*n:
		return d.data[i], false
	}
	return nil, false
}

// Notifies returns how many notifications virtqueue i received.
func (d *Device) Notifies(i int) uint64 {
	if q, _ := d.lookup(i); q != nil {
		return q.notifies.Load()
	}
	return 0
}

// Interrupts returns how many interrupts virtqueue i raised.
func (d *Device) Interrupts(i int) uint64 {
	if q, _ := d.lookup(i); q != nil {
		return q.interrupts.Load()
	}
	return 0
}

// Status returns the status register (virtio.Transport).
func (d *Device) Status() uint8 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// DriverFeatures returns what the driver accepted.
func (d *Device) DriverFeatures() virtio.Features {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.driverFeat
}

// DeviceFeatures implements virtio.Transport.
func (d *Device) DeviceFeatures() uint64 { return uint64(d.cfg.Features) }

// SetDriverFeatures implements virtio.Transport. Writes after FEATURES_OK
// are ignored, as the spec forbids them.
func (d *Device) SetDriverFeatures(f uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.status&virtio.StatusFeaturesOK == 0 {
		d.driverFeat = virtio.Features(f)
	}
}

// SetStatus implements virtio.Transport: 0 resets, FEATURES_OK is kept only
// if the accepted features are acceptable (virtio 1.2, 3.1.1).
func (d *Device) SetStatus(s uint8) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s == 0 {
		d.resetLocked()
		return
	}
	if s&virtio.StatusFeaturesOK != 0 && d.status&virtio.StatusFeaturesOK == 0 && !d.featuresOKLocked() {
		s &^= virtio.StatusFeaturesOK
	}
	d.status = s
}

// featuresOKLocked checks the driver's accepted features.
func (d *Device) featuresOKLocked() bool {
	f := d.driverFeat
	switch {
	case d.cfg.RejectFeatures:
		return false
	case f&^d.cfg.Features != 0: // accepted something not offered
		return false
	case !f.Has(virtio.Version1):
		return false
	case f&(virtio.NetMQ|virtio.NetRSS) != 0 && !f.Has(virtio.NetCtrlVQ):
		return false
	}
	return true
}

func (d *Device) resetLocked() {
	d.status, d.driverFeat, d.pairs, d.rss = 0, 0, 1, nil
	d.isr.Store(0)
	for _, q := range append(d.data[:len(d.data):len(d.data)], d.ctrl) {
		q.mu.Lock()
		q.ready = false
		q.mu.Unlock()
	}
}

// ReadConfig implements virtio.Transport.
func (d *Device) ReadConfig(off, width int) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off < 0 || off+width > len(d.config) {
		return 0
	}
	var v uint32
	for i := width - 1; i >= 0; i-- {
		v = v<<8 | uint32(d.config[off+i])
	}
	return v
}

// WriteConfig implements virtio.Transport. virtio-net's configuration space
// is read-only for a modern driver, so writes are ignored.
func (d *Device) WriteConfig(off, width int, v uint32) {}

// ConfigGeneration implements virtio.Transport.
func (d *Device) ConfigGeneration() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.generation
}

// SetLink changes the link status and raises a configuration change
// interrupt.
func (d *Device) SetLink(up bool) {
	d.mu.Lock()
	var s uint16
	if up {
		s = 1
	}
	binary.LittleEndian.PutUint16(d.config[6:], s)
	d.generation++
	d.mu.Unlock()
	d.stats.ConfigChange.Add(1)
	d.interrupt(2)
}

// MaxQueueSize implements virtio.Transport.
func (d *Device) MaxQueueSize(vq int) int {
	if q, _ := d.lookup(vq); q == nil {
		return 0
	}
	return d.cfg.MaxQueueSize
}

// SetupQueue implements virtio.Transport.
func (d *Device) SetupQueue(vq, size int, desc, driver, device uint64) error {
	d.mu.Lock()
	st, f := d.status, d.driverFeat
	d.mu.Unlock()
	q, _ := d.lookup(vq)
	switch {
	case q == nil:
		return errorf("no virtqueue %d", vq)
	case st&virtio.StatusFeaturesOK == 0 || st&virtio.StatusDriverOK != 0:
		return errorf("virtqueue %d set up in status %#x", vq, st)
	case size <= 0 || size > d.cfg.MaxQueueSize || size&(size-1) != 0:
		return errorf("virtqueue %d size %d", vq, size)
	}
	if !q.setup(size, desc, driver, device, f.Has(virtio.RingEventIdx)) {
		return errorf("virtqueue %d areas outside driver memory or misaligned", vq)
	}
	return nil
}

// Notify implements virtio.Transport: the control queue and, with an
// OnTransmit sink, TX queues are processed at once.
func (d *Device) Notify(vq int) {
	q, ctrl := d.lookup(vq)
	if q == nil {
		d.stats.EarlyNotify.Add(1)
		return
	}
	q.notifies.Add(1)
	if d.Status()&virtio.StatusDriverOK == 0 {
		d.stats.EarlyNotify.Add(1)
		return
	}
	switch {
	case ctrl:
		d.processControl(q)
	case vq%2 == 1:
		d.irqMu.Lock()
		sink := d.txSink
		d.irqMu.Unlock()
		if sink != nil {
			d.processTX(vq/2, sink)
		}
	}
}

// AckInterrupt implements virtio.Transport.
func (d *Device) AckInterrupt() (queues, config bool) {
	s := d.isr.Swap(0)
	return s&1 != 0, s&2 != 0
}
