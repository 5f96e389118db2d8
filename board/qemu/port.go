//go:build tamago

package qemu

// Port I/O, defined in port_amd64.s. The tamago register helpers are
// internal to that module, so the board carries its own four instructions.

func inb(port uint16) uint8
func outb(port uint16, val uint8)
func inl(port uint16) uint32
func outl(port uint16, val uint32)
