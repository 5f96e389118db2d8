//go:build tamago

package qemu

import (
	"github.com/usbarmory/tamago/amd64"
)

// ClockSource names the reference that set the TSC rate behind time.Now and
// time.Sleep.
type ClockSource string

// Clock sources, in the order the board tries them.
const (
	// ClockKVM means the hypervisor reported the TSC rate (KVM CPUID leaf
	// 0x40000010 or kvmclock pairing) and pvclock keeps the time.
	ClockKVM ClockSource = "kvmclock"
	// ClockLAPIC means the TSC was counted against the local APIC timer
	// as a 1 GHz counter (QEMU's and KVM's APIC bus), after a short count
	// of the RTC's periodic flag backed it (see agrees).
	ClockLAPIC ClockSource = "lapic"
	// ClockRTCPeriodic means the TSC was counted over periodic-interrupt
	// flags of the MC146818 RTC running at rtcRate Hz.
	ClockRTCPeriodic ClockSource = "rtc-periodic"
	// ClockRTCSeconds means the TSC was counted between two RTC seconds
	// updates (slow: one to two seconds of boot).
	ClockRTCSeconds ClockSource = "rtc-seconds"
	// ClockCPUID means no reference answered and the CPUID frequency,
	// which is wrong under TCG, is in use.
	ClockCPUID ClockSource = "cpuid"
)

// CMOS/RTC registers (IBM PC AT Technical Reference; MC146818A datasheet).
const (
	cmosIndex = 0x70
	cmosData  = 0x71

	rtcSeconds = 0x00
	rtcRegA    = 0x0a
	rtcRegB    = 0x0b
	rtcRegC    = 0x0c

	regAUIP      = 1 << 7 // update in progress
	regARateMask = 0x0f   // periodic rate select RS3..RS0
	regBPIE      = 1 << 6 // periodic interrupt enable
	regCPF       = 1 << 6 // periodic interrupt flag

	// rtcRateSel selects 32768 >> (rtcRateSel-1) = 1024 Hz.
	rtcRateSel = 6
	rtcRate    = 1024
	// rtcEdges is how many periodic flags the TSC is counted over when
	// the RTC is the reference: 32 edges at 1024 Hz is 31.25 ms of boot.
	rtcEdges = 32
	// rtcCheckEdges is how many flags cross-check the LAPIC rate.
	rtcCheckEdges = 8
	// rtcTolerance is the largest relative disagreement, in 1/64ths,
	// between the RTC and LAPIC estimates that still counts as agreement.
	rtcTolerance = 3 // about 5%
	// rtcMaxRatio bounds how many merged RTC edges the check tolerates.
	rtcMaxRatio = 8
	// rtcTries is how many times a too irregular run is repeated.
	rtcTries = 3
	// rtcPollGap is the TSC count between reads of register C: about
	// 10 µs at 2 GHz, small against the 977 µs period.
	rtcPollGap = 20000
)

// Plausible TSC rates; a result outside them means the reference lied.
const (
	minTSCHz = 50e6
	maxTSCHz = 20e9
)

// spinLimit bounds every wait on the RTC by a count of port reads, as the
// TSC rate is not known yet. A port read costs well under 100 µs even under
// TCG, so this is seconds, not forever.
const spinLimit = 50_000_000

var (
	clockSource ClockSource
	tscHz       uint64
)

// Clock returns the source the board calibrated time against.
func Clock() ClockSource {
	return clockSource
}

// TSCFrequency returns the TSC rate in Hz that time.Now and time.Sleep use.
func TSCFrequency() uint64 {
	return tscHz
}

func cmosRead(reg uint8) uint8 {
	outb(cmosIndex, reg)
	return inb(cmosData)
}

func cmosWrite(reg uint8, val uint8) {
	outb(cmosIndex, reg)
	outb(cmosData, val)
}

// calibrateRTCPeriodic times edges (at most rtcEdges) periodic flags of the RTC with the TSC
// and returns the TSC rate, or 0 when the RTC does not answer or its edges
// are too irregular to trust.
//
// Reading register C clears the flag; QEMU raises it only while PIE is set,
// so PIE is set for the duration (the I/O APIC pin stays masked, so no
// interrupt is delivered). Under TCG the flag is set by a QEMU timer, which
// fires late when the host is busy, and a timer late by more than a period
// merges two edges into one. So the rate is not edges over time: the median
// edge gap gives the period roughly, and the whole span divided by the
// nearest whole number of periods gives it exactly, which tolerates late
// and merged edges anywhere but at the ends.
func calibrateRTCPeriodic(cpu *amd64.CPU, edges int) uint64 {
	if cmosRead(rtcRegC) == 0xff {
		return 0 // no device decodes the CMOS ports
	}

	a := cmosRead(rtcRegA)
	b := cmosRead(rtcRegB)
	defer func() {
		cmosWrite(rtcRegB, b)
		cmosWrite(rtcRegA, a)
		cmosRead(rtcRegC)
	}()

	cmosWrite(rtcRegA, a&^regARateMask|rtcRateSel)
	cmosWrite(rtcRegB, b|regBPIE)
	cmosRead(rtcRegC)

	for try := 0; try < rtcTries; try++ {
		var buf [rtcEdges + 1]uint64
		stamps := buf[:min(edges, rtcEdges)+1]
		if !rtcStamps(cpu, stamps) {
			return 0
		}
		if hz := rtcRate * periodFromStamps(stamps); hz != 0 {
			return hz
		}
	}
	return 0
}

// rtcStamps fills stamps with the TSC at successive periodic flags. Between
// reads of register C it spins on the TSC alone: under TCG every port read
// takes QEMU's global lock, and polling without a pause starves the QEMU
// thread whose timer sets the flag.
func rtcStamps(cpu *amd64.CPU, stamps []uint64) bool {
	for i := range stamps {
		seen := false
		for n := 0; n < spinLimit; n++ {
			if cmosRead(rtcRegC)&regCPF != 0 {
				seen = true
				break
			}
			for t := cpu.Counter(); cpu.Counter()-t < rtcPollGap; {
			}
		}
		if !seen {
			return false
		}
		stamps[i] = cpu.Counter()
	}
	return true
}

// periodFromStamps returns the period, in TSC counts, of the grid that
// flag stamps sit on, or 0 when fewer than half the gaps are one period
// (within 1/8) of the median gap.
func periodFromStamps(stamps []uint64) uint64 {
	var gaps [rtcEdges]uint64
	n := len(stamps) - 1
	if n < 2 || n > len(gaps) {
		return 0
	}
	for i := 0; i < n; i++ {
		gaps[i] = stamps[i+1] - stamps[i]
	}
	sorted := gaps[:n]
	for i := 1; i < n; i++ { // insertion sort: n is tiny, no allocation
		for j := i; j > 0 && sorted[j] < sorted[j-1]; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	median := sorted[n/2]
	if median == 0 {
		return 0
	}
	good := 0
	for _, g := range sorted {
		if g > median-median/8 && g < median+median/8 {
			good++
		}
	}
	if good*2 < n {
		return 0
	}
	span := stamps[n] - stamps[0]
	periods := (span + median/2) / median
	return span / periods
}

// calibrateRTCSeconds counts the TSC between two changes of the RTC seconds
// register. It costs one to two seconds and is the fallback for an RTC whose
// periodic flag does not tick.
func calibrateRTCSeconds(cpu *amd64.CPU) uint64 {
	waitChange := func() bool {
		s := cmosRead(rtcSeconds)
		for i := 0; i < spinLimit; i++ {
			if cmosRead(rtcRegA)&regAUIP != 0 {
				continue
			}
			if cmosRead(rtcSeconds) != s {
				return true
			}
		}
		return false
	}

	if !waitChange() {
		return 0
	}
	start := cpu.Counter()
	if !waitChange() {
		return 0
	}
	end := cpu.Counter()

	return end - start
}

// agrees reports whether the RTC estimate rtc backs the LAPIC estimate
// lapic: not lower by more than rtcTolerance/64, and not above rtcMaxRatio
// times it. Late QEMU timers merge RTC edges, which only ever raises the
// RTC estimate (under host load by 2x or more, measured here), while an APIC
// bus slower than the assumed 1 GHz would put the LAPIC estimate above it.
func agrees(rtc, lapic uint64) bool {
	return rtc*64 >= lapic*(64-rtcTolerance) && rtc <= lapic*rtcMaxRatio
}

func plausible(hz uint64) bool {
	return hz >= minTSCHz && hz <= maxTSCHz
}

// initClock picks the TSC rate and sets the CPU's timer multiplier. The
// offset is chosen so that nanotime does not step back across the change.
func initClock(cpu *amd64.CPU) {
	before := cpu.GetTime()

	f := cpu.Features()
	hz := uint64(cpu.Freq())

	switch {
	case f.KVM && f.KVMClockMSR > 0 && plausible(hz):
		clockSource = ClockKVM
	default:
		lapic := calibrateLAPIC(cpu)
		check := calibrateRTCPeriodic(cpu, rtcCheckEdges)
		switch {
		case plausible(lapic) && (check == 0 || agrees(check, lapic)):
			hz, clockSource = lapic, ClockLAPIC
		case plausible(check):
			if v := calibrateRTCPeriodic(cpu, rtcEdges); plausible(v) {
				hz, clockSource = v, ClockRTCPeriodic
			} else {
				hz, clockSource = check, ClockRTCPeriodic
			}
		default:
			if v := calibrateRTCSeconds(cpu); plausible(v) {
				hz, clockSource = v, ClockRTCSeconds
			} else {
				clockSource = ClockCPUID
				hz = max(hz, 1)
			}
		}
	}

	tscHz = hz
	cpu.TimerMultiplier = 1e9 / float64(hz)
	cpu.TimerOffset = 0
	cpu.TimerOffset = before - cpu.GetTime()
}
