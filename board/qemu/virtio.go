//go:build tamago

package qemu

import (
	"sync/atomic"
	"unsafe"
)

// QEMU microvm virtio-mmio layout (hw/i386/microvm.c): a row of transports
// 0x200 bytes apart from VirtioMMIOBase. With the second I/O APIC (the
// default when ACPI is on) there are 24 transports on GSIs 24..47; without it
// 8 transports on GSIs 5..12. Devices on the command line fill the
// transports from the last one down, so the first -device virtio-net-device
// lands in the last slot (0xfeb02e00, GSI 47 with two I/O APICs).
const (
	// VirtioMMIOBase is the address of transport 0.
	VirtioMMIOBase = 0xfeb00000
	// VirtioMMIOSize is the distance between transports.
	VirtioMMIOSize = 0x200
	// VirtioMMIOSlots is the largest number of transports microvm creates.
	VirtioMMIOSlots = 24

	// VirtioNet0Base is where the first virtio-net device sits when it is
	// the only virtio device (tamago's stock board assumes it).
	VirtioNet0Base = VirtioMMIOBase + 23*VirtioMMIOSize
	// VirtioNet0IRQ is the GSI of VirtioNet0Base with two I/O APICs.
	VirtioNet0IRQ = 47

	// irqBase24 and irqBase8 are the GSI of transport 0 in each layout.
	irqBase24 = 24
	irqBase8  = 5
)

// virtio-mmio registers (Virtio 1.2, 4.2.2 MMIO Device Register Layout).
const (
	mmioMagic    = 0x000
	mmioVersion  = 0x004
	mmioDeviceID = 0x008

	mmioMagicValue = 0x74726976 // "virt"
)

// Virtio device IDs (Virtio 1.2, 5 Device Types).
const (
	// VirtioIDNet is the device ID of a network card.
	VirtioIDNet = 1
	// VirtioIDBlock is the device ID of a block device.
	VirtioIDBlock = 2
)

// VirtioDevice is one virtio-mmio transport with a device behind it.
type VirtioDevice struct {
	// Slot is the transport index, 0 being VirtioMMIOBase.
	Slot int
	// Base is the transport's register base, for tamago's virtio.MMIO.
	Base uint32
	// IRQ is the global system interrupt (I/O APIC pin) of the transport.
	IRQ int
	// DeviceID is the virtio device type (VirtioIDNet, ...).
	DeviceID uint32
	// Version is the transport version: 2 for virtio 1.x, 1 for legacy
	// (QEMU gives legacy unless -global virtio-mmio.force-legacy=false).
	Version uint32
}

func mmioRead(addr uint32) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Add(nil, uintptr(addr))))
}

// VirtioDevices scans the microvm transports and returns those with a device
// behind them (device ID not 0), in slot order. It reads three registers per
// transport and allocates only the result.
func VirtioDevices() []VirtioDevice {
	var devs []VirtioDevice

	transports := 0
	for slot := 0; slot < VirtioMMIOSlots; slot++ {
		base := uint32(VirtioMMIOBase + slot*VirtioMMIOSize)
		if mmioRead(base+mmioMagic) != mmioMagicValue {
			break
		}
		transports++

		id := mmioRead(base + mmioDeviceID)
		if id == 0 {
			continue
		}
		devs = append(devs, VirtioDevice{
			Slot:     slot,
			Base:     base,
			DeviceID: id,
			Version:  mmioRead(base + mmioVersion),
		})
	}

	irqBase := irqBase8
	if transports > 8 {
		irqBase = irqBase24
	}
	for i := range devs {
		devs[i].IRQ = irqBase + devs[i].Slot
	}

	return devs
}

// FindVirtio returns the n-th device (0 = first, counting from the highest
// slot, which is command-line order) whose device ID is id.
func FindVirtio(id uint32, n int) (VirtioDevice, bool) {
	devs := VirtioDevices()
	for i := len(devs) - 1; i >= 0; i-- {
		if devs[i].DeviceID != id {
			continue
		}
		if n == 0 {
			return devs[i], true
		}
		n--
	}
	return VirtioDevice{}, false
}

// FindNet returns the first virtio-net device on the command line.
func FindNet() (VirtioDevice, bool) {
	return FindVirtio(VirtioIDNet, 0)
}

// virtio-mmio feature registers.
const (
	mmioDeviceFeatures    = 0x010
	mmioDeviceFeaturesSel = 0x014
)

// Features returns the 64 feature bits the device offers. It writes the
// feature-select register, so call it before a driver owns the device.
func (d VirtioDevice) Features() uint64 {
	ptr := (*uint32)(unsafe.Add(nil, uintptr(d.Base+mmioDeviceFeaturesSel)))
	atomic.StoreUint32(ptr, 0)
	lo := mmioRead(d.Base + mmioDeviceFeatures)
	atomic.StoreUint32(ptr, 1)
	hi := mmioRead(d.Base + mmioDeviceFeatures)
	return uint64(hi)<<32 | uint64(lo)
}
