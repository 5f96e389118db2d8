//go:build tamago

package virtio

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/usbarmory/tamago/dma"
	tvirtio "github.com/usbarmory/tamago/kvm/virtio"
)

// virtio-mmio registers not named by tamago (virtio 1.2, 4.2.2): the high
// halves of the queue area addresses.
const (
	mmioQueueDescHigh   = tvirtio.QueueDesc + 4
	mmioQueueDriverHigh = tvirtio.QueueDriver + 4
	mmioQueueDeviceHigh = tvirtio.QueueDevice + 4

	deviceIDNet = 1 // virtio 1.2, 5: network card

	// mmioWindow is the size of one virtio-mmio transport: registers
	// and device configuration space (QEMU spaces them 0x200 apart).
	mmioWindow = 0x200
)

// MMIO is a Transport over a modern (version 2) virtio-mmio device, built on
// tamago's kvm/virtio.MMIO. It uses tamago's accessors for features, queue
// sizes and notification, and its own register accesses where tamago has
// none (status writes, 64-bit queue addresses, interrupt acknowledge,
// sized configuration access).
//
// Do not call the tamago MMIO's Init: its feature negotiation keeps only
// device-independent bits, which would drop MAC, MQ, CTRL_VQ and RSS. New
// does the whole initialisation sequence itself.
type MMIO struct {
	dev *tvirtio.MMIO
	win []byte // the transport's registers, mapped 1:1
}

var _ Transport = (*MMIO)(nil)

// NewMMIO checks that dev is a version 2 virtio-mmio network device and
// returns a Transport for it. The board passes the transport's base address,
// for example &virtio.MMIO{Base: microvm.VIRTIO_NET0_BASE} from tamago.
func NewMMIO(dev *tvirtio.MMIO) (*MMIO, error) {
	if dev == nil || dev.Base == 0 {
		return nil, fmt.Errorf("virtio: no MMIO base")
	}
	// A dma.Region over the register window gives a slice of it without
	// converting integers to pointers, as tamago's MMIO.Config does.
	r, err := dma.NewRegion(uint(dev.Base), mmioWindow, false)
	if err != nil {
		return nil, fmt.Errorf("virtio: map MMIO window at %#x: %w", dev.Base, err)
	}
	_, win := r.Reserve(mmioWindow, 0)
	if len(win) != mmioWindow {
		return nil, fmt.Errorf("virtio: map MMIO window at %#x", dev.Base)
	}
	m := &MMIO{dev: dev, win: win}
	if v := m.read(tvirtio.Magic); v != tvirtio.MAGIC {
		return nil, fmt.Errorf("virtio: no virtio-mmio device at %#x (magic %#x)", dev.Base, v)
	}
	if v := m.read(tvirtio.Version); v != tvirtio.VERSION {
		return nil, fmt.Errorf("virtio: virtio-mmio version %d at %#x, want 2 (QEMU: -global virtio-mmio.force-legacy=false)", v, dev.Base)
	}
	if id := dev.DeviceID(); id != deviceIDNet {
		return nil, fmt.Errorf("virtio: device id %d at %#x is not a network card", id, dev.Base)
	}
	return m, nil
}

// OpenMMIO sets up the virtio-mmio network device at base with memory from
// tamago's global DMA region.
func OpenMMIO(base uint32, cfg Config) (*Device, error) {
	t, err := NewMMIO(&tvirtio.MMIO{Base: base})
	if err != nil {
		return nil, err
	}
	return New(t, DMA{}, cfg)
}

// reg returns the 32-bit register at off. Every register access is one
// atomic (so single, unmerged and ordered) 32-bit access.
func (m *MMIO) reg(off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&m.win[off]))
}

func (m *MMIO) read(off int) uint32     { return atomic.LoadUint32(m.reg(off)) }
func (m *MMIO) write(off int, v uint32) { atomic.StoreUint32(m.reg(off), v) }

// DeviceFeatures implements Transport.
func (m *MMIO) DeviceFeatures() uint64 { return m.dev.DeviceFeatures() }

// SetDriverFeatures implements Transport.
func (m *MMIO) SetDriverFeatures(f uint64) { m.dev.SetDriverFeatures(f) }

// Status implements Transport.
func (m *MMIO) Status() uint8 { return uint8(m.read(tvirtio.Status)) }

// SetStatus implements Transport.
func (m *MMIO) SetStatus(s uint8) { m.write(tvirtio.Status, uint32(s)) }

// ReadConfig implements Transport with one access of the given width, as
// virtio 1.2, 4.2.2.2 requires for device configuration space.
func (m *MMIO) ReadConfig(off, width int) uint32 {
	off += tvirtio.Config
	if off < tvirtio.Config || off+width > len(m.win) {
		return 0
	}
	switch width {
	case 1:
		return uint32(load8(&m.win[off]))
	case 2:
		return uint32(load16(&m.win[off]))
	case 4:
		return m.read(off)
	}
	return 0
}

// WriteConfig implements Transport.
func (m *MMIO) WriteConfig(off, width int, v uint32) {
	off += tvirtio.Config
	if off < tvirtio.Config || off+width > len(m.win) {
		return
	}
	switch width {
	case 1:
		store8(&m.win[off], uint8(v))
	case 2:
		store16(&m.win[off], uint16(v))
	case 4:
		m.write(off, v)
	}
}

// load8 and friends are not inlined, so that each is exactly one access the
// compiler cannot merge or drop.
//
//go:noinline
func load8(p *byte) uint8 { return *p }

//go:noinline
func load16(p *byte) uint16 { return *(*uint16)(unsafe.Pointer(p)) }

//go:noinline
func store8(p *byte, v uint8) { *p = v }

//go:noinline
func store16(p *byte, v uint16) { *(*uint16)(unsafe.Pointer(p)) = v }

// ConfigGeneration implements Transport.
func (m *MMIO) ConfigGeneration() uint32 { return m.dev.ConfigVersion() }

// MaxQueueSize implements Transport.
func (m *MMIO) MaxQueueSize(vq int) int { return m.dev.MaxQueueSize(vq) }

// SetupQueue implements Transport (virtio 1.2, 4.2.3.2).
func (m *MMIO) SetupQueue(vq, size int, desc, driver, device uint64) error {
	m.write(tvirtio.QueueSel, uint32(vq))
	if m.read(tvirtio.QueueReady) != 0 {
		return fmt.Errorf("virtio: virtqueue %d already in use", vq)
	}
	if max := int(m.read(tvirtio.QueueNumMax)); size > max {
		return fmt.Errorf("virtio: virtqueue %d size %d over its maximum %d", vq, size, max)
	}
	m.write(tvirtio.QueueNum, uint32(size))
	m.write(tvirtio.QueueDesc, uint32(desc))
	m.write(mmioQueueDescHigh, uint32(desc>>32))
	m.write(tvirtio.QueueDriver, uint32(driver))
	m.write(mmioQueueDriverHigh, uint32(driver>>32))
	m.write(tvirtio.QueueDevice, uint32(device))
	m.write(mmioQueueDeviceHigh, uint32(device>>32))
	m.write(tvirtio.QueueReady, 1)
	return nil
}

// Notify implements Transport.
func (m *MMIO) Notify(vq int) { m.write(tvirtio.QueueNotify, uint32(vq)) }

// AckInterrupt implements Transport.
func (m *MMIO) AckInterrupt() (queues, config bool) {
	s := m.read(tvirtio.InterruptStatus)
	if s != 0 {
		m.write(tvirtio.InterruptACK, s)
	}
	return s&1 != 0, s&2 != 0
}

// DMA is Memory from a tamago dma.Region, whose addresses are physical
// addresses (TamaGo maps memory 1:1).
type DMA struct {
	// Region is the region to reserve from. Nil means the global region
	// the board set up with dma.Init.
	Region *dma.Region
}

var _ Memory = DMA{}

// Alloc implements Memory.
func (m DMA) Alloc(size, align int) (reg Region, err error) {
	r := m.Region
	if r == nil {
		r = dma.Default()
	}
	if r == nil {
		return Region{}, fmt.Errorf("virtio: no DMA region (dma.Init not called)")
	}
	defer func() {
		if p := recover(); p != nil { // tamago's allocator panics when full
			err = fmt.Errorf("virtio: reserve %d DMA bytes: %v", size, p)
		}
	}()
	addr, buf := r.Reserve(size, align)
	if len(buf) < size {
		return Region{}, fmt.Errorf("virtio: reserve %d DMA bytes failed", size)
	}
	clear(buf)
	return Region{Addr: uint64(addr), Bytes: buf}, nil
}
