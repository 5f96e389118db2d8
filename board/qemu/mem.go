//go:build tamago

package qemu

import (
	_ "unsafe"
)

// Memory layout (physical addresses, identity mapped by tamago's amd64
// start-up code):
//
//	0x10000000 - 0x4fffffff  runtime RAM (code, heap, stacks), ramSize below
//	0x50000000 - 0x5fffffff  DMA region (virtqueues, packet buffers)
//	0xfeb00000 - 0xfeb02fff  virtio-mmio transports (see virtio.go)
//	0xfec00000, 0xfec10000   I/O APICs
//	0xfee00000               local APIC
//
// The guest therefore needs at least 0x60000000 bytes (1.5 GiB) of RAM: give
// QEMU `-m 2G` or more, or the guest dies before its first line.
const (
	// DMAStart is the start of the global DMA region handed to tamago's
	// dma package at init.
	DMAStart = 0x50000000
	// DMASize is the size of the global DMA region (256 MiB).
	DMASize = 0x10000000
)

// ramSize is the memory the runtime may use from goos.RamStart
// (0x10000000), which ends where the DMA region starts.
//
//go:linkname ramSize runtime/goos.RamSize
var ramSize uint64 = DMAStart - 0x10000000 // 1 GiB
