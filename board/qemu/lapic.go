//go:build tamago

package qemu

import (
	"sync/atomic"
	"unsafe"

	"github.com/usbarmory/tamago/amd64"
)

// Local APIC timer registers (Intel SDM Vol. 3A, 11.5.4 APIC Timer).
const (
	lapicLVTTimer    = 0x320
	lapicInitCount   = 0x380
	lapicCurrCount   = 0x390
	lapicDivideConf  = 0x3e0
	lvtMasked        = 1 << 16
	divideBy1        = 0b1011
	lapicCountStart  = 0xffffffff
	lapicBusHz       = 1e9 // QEMU and KVM: the APIC timer counts nanoseconds
	lapicWindowTicks = 4_000_000
	// lapicBracket is how many (TSC, count, TSC) samples are taken at each
	// end of the window; the tightest one is kept.
	lapicBracket = 8
)

func lapicRead(off uint32) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Add(nil, uintptr(amd64.LAPIC_BASE+off))))
}

func lapicWrite(off uint32, val uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Add(nil, uintptr(amd64.LAPIC_BASE+off))), val)
}

// lapicSample returns the timer's current count and the TSC at the moment
// it was read, taken from the tightest of lapicBracket brackets so that a
// vCPU descheduled in mid-read does not skew the pair.
func lapicSample(cpu *amd64.CPU) (count uint32, tsc uint64) {
	best := ^uint64(0)
	for i := 0; i < lapicBracket; i++ {
		t0 := cpu.Counter()
		c := lapicRead(lapicCurrCount)
		t1 := cpu.Counter()
		if t1-t0 < best {
			best, count, tsc = t1-t0, c, t0+(t1-t0)/2
		}
	}
	return count, tsc
}

// calibrateLAPIC counts the TSC against the local APIC timer, read as a
// down-counter at divide-by-1. QEMU (TCG and KVM alike) runs that counter at
// a 1 GHz bus clock and computes it on every read from its virtual clock,
// which under TCG is the host's monotonic clock; unlike the RTC's periodic
// flag it does not depend on a QEMU timer firing on time. The window is
// lapicWindowTicks nanoseconds (4 ms). The timer is masked throughout and
// left stopped. It returns 0 if the counter does not move.
func calibrateLAPIC(cpu *amd64.CPU) uint64 {
	lvt := lapicRead(lapicLVTTimer)
	div := lapicRead(lapicDivideConf)
	defer func() {
		lapicWrite(lapicInitCount, 0)
		lapicWrite(lapicDivideConf, div)
		lapicWrite(lapicLVTTimer, lvt|lvtMasked)
	}()

	lapicWrite(lapicLVTTimer, lvt|lvtMasked)
	lapicWrite(lapicDivideConf, divideBy1)
	lapicWrite(lapicInitCount, lapicCountStart)

	c0, t0 := lapicSample(cpu)
	c1, t1 := c0, t0
	for n := 0; n < spinLimit && c0-c1 < lapicWindowTicks; n++ {
		for t := cpu.Counter(); cpu.Counter()-t < rtcPollGap; {
		}
		c1 = lapicRead(lapicCurrCount)
		if c1 == 0 {
			return 0 // ran out: the counter is not what we think
		}
	}
	c1, t1 = lapicSample(cpu)
	if c1 >= c0 {
		return 0
	}
	return uint64(float64(t1-t0) * lapicBusHz / float64(c0-c1))
}
