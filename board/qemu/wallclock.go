//go:build tamago

package qemu

import (
	"github.com/usbarmory/tamago/amd64"
)

// RTC date registers (MC146818A; century at 0x32 as on the PC AT).
const (
	rtcMinutes  = 0x02
	rtcHours    = 0x04
	rtcDay      = 0x07
	rtcMonth    = 0x08
	rtcYear     = 0x09
	rtcCentury  = 0x32
	regBBinary  = 1 << 2 // data mode: binary, not BCD
	regB24Hour  = 1 << 1
	hourPMFlag  = 0x80
	defaultCent = 20
)

type rtcDate struct {
	sec, min, hour, day, month, year int
}

func fromBCD(v uint8, binary bool) int {
	if binary {
		return int(v)
	}
	return int(v&0x0f) + int(v>>4)*10
}

// readRTC reads the date, waiting out an update in progress and reading
// twice until two reads agree (the RTC may tick between registers).
func readRTC() (rtcDate, bool) {
	var last rtcDate
	for try := 0; try < 8; try++ {
		for i := 0; i < spinLimit && cmosRead(rtcRegA)&regAUIP != 0; i++ {
		}
		b := cmosRead(rtcRegB)
		bin := b&regBBinary != 0

		d := rtcDate{
			sec:   fromBCD(cmosRead(rtcSeconds), bin),
			min:   fromBCD(cmosRead(rtcMinutes), bin),
			day:   fromBCD(cmosRead(rtcDay), bin),
			month: fromBCD(cmosRead(rtcMonth), bin),
			year:  fromBCD(cmosRead(rtcYear), bin),
		}
		h := cmosRead(rtcHours)
		d.hour = fromBCD(h&^hourPMFlag, bin)
		if b&regB24Hour == 0 {
			d.hour %= 12
			if h&hourPMFlag != 0 {
				d.hour += 12
			}
		}
		cent := fromBCD(cmosRead(rtcCentury), bin)
		if cent < 19 || cent > 99 {
			cent = defaultCent
		}
		d.year += cent * 100

		if try > 0 && d == last {
			return d, true
		}
		last = d
	}
	return rtcDate{}, false
}

// unixSeconds converts a proleptic Gregorian UTC date to seconds since
// 1970-01-01 (days-from-civil, counting eras of 400 years from March).
func (d rtcDate) unixSeconds() int64 {
	y := int64(d.year)
	m := int64(d.month)
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + int64(d.day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	return days*86400 + int64(d.hour)*3600 + int64(d.min)*60 + int64(d.sec)
}

func (d rtcDate) valid() bool {
	return d.year >= 1970 && d.month >= 1 && d.month <= 12 && d.day >= 1 &&
		d.day <= 31 && d.hour < 24 && d.min < 60 && d.sec < 60
}

// setWallClock moves nanotime forward to the RTC's UTC time, so that
// time.Now reads the date (walltime is nanotime under tamago). The step is
// made before any timer exists. Without a valid RTC, time starts near 0.
func setWallClock(cpu *amd64.CPU) {
	d, ok := readRTC()
	if !ok || !d.valid() {
		return
	}
	ns := d.unixSeconds() * 1e9
	if ns > cpu.GetTime() {
		cpu.SetTime(ns)
	}
}
