//go:build tamago

package qemu

import (
	"runtime/goos"

	"github.com/usbarmory/tamago/amd64"
)

// DebugExitPort is the I/O port of QEMU's isa-debug-exit device, as placed by
// `-device isa-debug-exit,iobase=0xf4,iosize=0x04`.
const DebugExitPort = 0xf4

// Exit stops the virtual machine with a status for the host. It writes code
// to the isa-debug-exit port, which makes QEMU exit with status
// (code<<1)|1 (so Exit(0) is QEMU status 1, and codes above 127 wrap in the
// host's 8-bit status). Without that device the write is ignored and the
// guest triple-faults instead, which QEMU started with -no-reboot turns
// into exit status 0.
func Exit(code int) {
	outl(DebugExitPort, uint32(code))
	amd64.Fault()
}

// HostStatus returns the QEMU exit status that Exit(code) produces.
func HostStatus(code int) int {
	return (code<<1 | 1) & 0xff
}

// hookExit routes os.Exit and the runtime's fatal exits to Exit, so that
// os.Exit(n) reaches the host as HostStatus(n) and a panic as HostStatus(2).
func hookExit() {
	goos.Exit = func(code int32) {
		Exit(int(code))
	}
}
