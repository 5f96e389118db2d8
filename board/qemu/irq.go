//go:build tamago

package qemu

import (
	"fmt"

	"github.com/usbarmory/tamago/soc/intel/ioapic"
)

// I/O APIC layout of microvm: GSIs 0..23 on the first, 24..47 on the second
// (present when ACPI is on, microvm's default `ioapic2=auto`).
const (
	// IOAPIC0Base is the first I/O APIC (GSI 0..23).
	IOAPIC0Base = 0xfec00000
	// IOAPIC1Base is the second I/O APIC (GSI 24..47).
	IOAPIC1Base   = 0xfec10000
	gsisPerIOAPIC = 24
)

// EnableIRQ unmasks global system interrupt gsi and routes it as vector to
// the bootstrap processor, where tamago delivers every interrupt (see
// amd64.CPU.ServiceInterrupts). Vectors below 32 are CPU exceptions.
//
// On virtio-mmio each device has one interrupt line for all of its queues,
// so it cannot steer queue k's interrupt to core k: the default for the
// per-core workers is polling, and an interrupt is at most a wake-up hint
// for the BSP.
func EnableIRQ(gsi int, vector int) error {
	if vector < 32 || vector > ioapic.MaxVector-1 {
		// 255 is amd64.IRQ_WAKEUP, taken by the runtime.
		return fmt.Errorf("interrupt vector %d out of range 32..254", vector)
	}
	switch {
	case gsi >= 0 && gsi < gsisPerIOAPIC:
		IOAPIC0.EnableInterrupt(gsi, vector)
	case gsi >= gsisPerIOAPIC && gsi < 2*gsisPerIOAPIC:
		IOAPIC1.EnableInterrupt(gsi, vector)
	default:
		return fmt.Errorf("gsi %d out of range 0..47", gsi)
	}
	return nil
}
