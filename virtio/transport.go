package virtio

// Transport is the register interface of one modern (non-legacy) virtio
// device: virtio-mmio, virtio-pci, or the software model in devmodel. The
// driver only ever talks to the device through it, so the ring and driver
// logic is the same on Linux tests and on bare metal.
//
// Virtqueue numbers follow virtio-net's layout (virtio 1.2, 5.1.2): receiveq
// k is 2k, transmitq k is 2k+1 and the control queue is 2N, N being
// max_virtqueue_pairs (1 without VIRTIO_NET_F_MQ and VIRTIO_NET_F_RSS).
type Transport interface {
	// DeviceFeatures returns all 64 feature bits the device offers.
	DeviceFeatures() uint64
	// SetDriverFeatures writes the 64 feature bits the driver accepts.
	SetDriverFeatures(f uint64)
	// Status returns the device status register (Status* bits).
	Status() uint8
	// SetStatus writes the device status register; 0 resets the device.
	SetStatus(s uint8)
	// ReadConfig reads width (1, 2 or 4) bytes of device configuration
	// space at off, little-endian, with one access of that width.
	ReadConfig(off, width int) uint32
	// WriteConfig writes width (1, 2 or 4) bytes of device configuration
	// space at off.
	WriteConfig(off, width int, v uint32)
	// ConfigGeneration returns the configuration generation counter; a
	// multi-access read of configuration space is consistent when the
	// counter is the same before and after (virtio 1.2, 2.5.1).
	ConfigGeneration() uint32
	// MaxQueueSize returns the largest ring size virtqueue vq supports, or
	// 0 if the queue does not exist.
	MaxQueueSize(vq int) int
	// SetupQueue gives virtqueue vq its size and the device (physical)
	// addresses of its descriptor table, driver (avail) area and device
	// (used) area, and enables it.
	SetupQueue(vq, size int, desc, driver, device uint64) error
	// Notify tells the device that virtqueue vq has new available buffers.
	Notify(vq int)
	// AckInterrupt reads and acknowledges the interrupt status: queues is
	// set for a used-buffer notification, config for a configuration
	// change.
	AckInterrupt() (queues, config bool)
}

// Memory allocates memory that the device can reach by DMA. On Linux tests it
// is ordinary Go memory whose device address is its own address; on TamaGo it
// is the dma package's region.
type Memory interface {
	// Alloc returns size zeroed bytes aligned to align (a power of two)
	// in device address space. Memory is allocated at init only and never
	// freed: the driver reserves everything it needs up front.
	Alloc(size, align int) (Region, error)
}

// Region is one DMA allocation: the device address of its first byte and the
// bytes as the CPU sees them.
type Region struct {
	// Addr is the address the device uses for Bytes[0].
	Addr uint64
	// Bytes is the CPU's view of the region.
	Bytes []byte
}

// Device status bits (virtio 1.2, 2.1).
const (
	StatusAcknowledge      = 1
	StatusDriver           = 2
	StatusDriverOK         = 4
	StatusFeaturesOK       = 8
	StatusDeviceNeedsReset = 64
	StatusFailed           = 128
)
