//go:build tamago

// Package qemu brings up a QEMU microvm guest for GOOS=tamago GOARCH=amd64,
// on import, as tamago's stock board/qemu/microvm does, but without its two
// failures under TCG (no KVM): pvclock.Init panicking with "could not set
// system timer", and a TSC rate taken from CPUID that is wrong (about
// 2.8 kHz) so that time runs far too fast.
//
// It owns: CPU and AP bring-up (every vCPU, GOMAXPROCS set to the count),
// time (TSC rate from kvmclock when KVM offers it, else counted against the
// RTC's periodic flag), the wall clock (from the RTC), the COM1 console for
// stdout and stderr, exit status to the host through isa-debug-exit, the
// global DMA region, and where the virtio-mmio devices and their interrupt
// lines are. It must not hold driver or protocol logic: the virtio-net
// driver lives in virtio/, the appliance in image/.
//
// QEMU needs: -M microvm,...,rtc=on (the clock reference), -m 2G or more
// (DMA region at 0x50000000), -smp N,sockets=1,cores=N (tamago counts
// cores, not sockets), -device isa-debug-exit,iobase=0xf4,iosize=0x04 and
// -no-reboot. See qemu/README.md for the command lines.
//
// It also reads named files from QEMU's fw_cfg device (FwCfgFile), which is
// how a configuration reaches the image at boot:
// -fw_cfg name=opt/bareproxy/config,file=PATH.
//
// Every file carries `//go:build tamago` except fwcfg_dir.go, the fw_cfg
// directory parser, which is plain Go so that it tests on Linux.
package qemu

import (
	"time"
	_ "unsafe"

	"github.com/usbarmory/tamago/amd64"
	"github.com/usbarmory/tamago/dma"
	"github.com/usbarmory/tamago/kvm/pvclock"
	"github.com/usbarmory/tamago/soc/intel/ioapic"
	"github.com/usbarmory/tamago/soc/intel/uart"
)

// COM1 is the serial port of the console.
const COM1 = 0x3f8

// Peripheral instances.
var (
	// AMD64 is the bootstrap processor; its TimerMultiplier and
	// TimerOffset are set by the board's clock calibration.
	AMD64 = &amd64.CPU{
		// required before Init()
		TimerMultiplier: 1,
	}

	// IOAPIC0 serves GSI 0..23.
	IOAPIC0 = &ioapic.IOAPIC{
		Index:   0,
		Base:    IOAPIC0Base,
		GSIBase: 0,
	}

	// IOAPIC1 serves GSI 24..47 (the virtio-mmio transports).
	IOAPIC1 = &ioapic.IOAPIC{
		Index:   1,
		Base:    IOAPIC1Base,
		GSIBase: gsisPerIOAPIC,
	}

	// UART0 is the console on COM1.
	UART0 = &uart.UART{
		Index: 1,
		Base:  COM1,
	}
)

// bootNanos is nanotime when the clock was calibrated, for BootTime.
var bootNanos int64

//go:linkname nanotime runtime/goos.Nanotime
func nanotime() int64 {
	return AMD64.GetTime()
}

// Init runs early in runtime set-up (goos.Hwinit1, after the world starts,
// before package init): BSP, I/O APICs, console, clock, exit hook.
//
//go:linkname Init runtime/goos.Hwinit1
func Init() {
	AMD64.Init()

	IOAPIC0.Init()
	IOAPIC1.Init()

	UART0.Init()

	initClock(AMD64)
	if clockSource != ClockKVM {
		setWallClock(AMD64)
	}
	bootNanos = nanotime()

	hookExit()
}

func init() {
	AMD64.EnableExceptions()

	// Start every AP; procresize sets GOMAXPROCS to the core count.
	AMD64.InitSMP(-1)

	dma.Init(DMAStart, DMASize)

	if clockSource == ClockKVM {
		pvclock.Init(AMD64)
	}
}

// Cores returns the number of processors running Go code (BSP plus APs).
// runtime.NumCPU is 1 under tamago; runtime.GOMAXPROCS(0) equals Cores once
// this package is initialised.
func Cores() int {
	return AMD64.NumCPU()
}

// Uptime returns the time since the clock was calibrated, early in boot.
func Uptime() time.Duration {
	return time.Duration(nanotime() - bootNanos)
}
