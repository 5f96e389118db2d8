package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxTimer is HAProxy's largest timer, 2^31-1 ms (about 24.8 days).
const maxTimer = (1<<31 - 1) * time.Millisecond

// parseTime parses an HAProxy time: digits and an optional unit (us, ms, s,
// m, h, d). A bare number is in defUnit (milliseconds for timeouts).
func parseTime(s string, defUnit time.Duration) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("time %q: expected a number followed by us, ms, s, m, h or d, as in 5s", s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > int64(maxTimer) {
		return 0, fmt.Errorf("time %q is too large; the largest is 24d", s)
	}
	unit := defUnit
	switch u := s[i:]; u {
	case "":
	case "us":
		unit = time.Microsecond
	case "ms":
		unit = time.Millisecond
	case "s":
		unit = time.Second
	case "m":
		unit = time.Minute
	case "h":
		unit = time.Hour
	case "d":
		unit = 24 * time.Hour
	default:
		return 0, fmt.Errorf("time %q: unknown unit %q; use us, ms, s, m, h or d", s, u)
	}
	d := time.Duration(n) * unit
	if n != 0 && (d/unit != time.Duration(n) || d > maxTimer) {
		return 0, fmt.Errorf("time %q is too large; the largest is 24d", s)
	}
	return d, nil
}

// parseSize parses an HAProxy size: digits and an optional k, m or g
// (powers of 1024, either case).
func parseSize(s string) (int, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q: expected a number with an optional k, m or g, as in 16k", s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	var mul int64 = 1
	switch strings.ToLower(s[i:]) {
	case "":
	case "k":
		mul = 1 << 10
	case "m":
		mul = 1 << 20
	case "g":
		mul = 1 << 30
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q; use k, m or g", s, s[i:])
	}
	if n > (1<<31-1)/mul {
		return 0, fmt.Errorf("size %q is too large; the largest is 2g-1", s)
	}
	return int(n * mul), nil
}

// parseInt parses a decimal integer in [lo, hi] for keyword what.
func parseInt(what, s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: expected a whole number from %d to %d", what, s, lo, hi)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s %d is out of range; use %d to %d", what, n, lo, hi)
	}
	return n, nil
}
