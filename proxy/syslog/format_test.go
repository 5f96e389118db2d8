package syslog

import (
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendLine(t *testing.T) {
	ts := time.Date(2026, 11, 3, 9, 5, 7, 123456789, time.UTC)
	const local0, daemon = 16, 3
	tests := []struct {
		name string
		h    header
		sev  int
		want string
	}{
		{"rfc3164 local0.info", header{format: FormatRFC3164, facility: local0, tag: "haproxy", pid: "42"}, sevInfo,
			"<134>Nov  3 09:05:07 haproxy[42]: hello"},
		{"rfc3164 with host", header{format: FormatRFC3164, facility: local0, host: "lb1", tag: "haproxy", pid: "42"}, sevInfo,
			"<134>Nov  3 09:05:07 lb1 haproxy[42]: hello"},
		{"rfc3164 no pid", header{format: FormatRFC3164, facility: daemon, tag: "bareproxy"}, sevErr,
			"<27>Nov  3 09:05:07 bareproxy: hello"},
		{"local drops host", header{format: FormatLocal, facility: local0, host: "lb1", tag: "haproxy", pid: "1"}, sevNotice,
			"<133>Nov  3 09:05:07 haproxy[1]: hello"},
		{"rfc5424", header{format: FormatRFC5424, facility: local0, host: "lb1", tag: "haproxy", pid: "42"}, sevInfo,
			"<134>1 2026-11-03T09:05:07.123456Z lb1 haproxy 42 - - hello"},
		{"rfc5424 nil values", header{format: FormatRFC5424, facility: 23, tag: "haproxy"}, sevDebug,
			"<191>1 2026-11-03T09:05:07.123456Z - haproxy - - - hello"},
		{"short", header{format: FormatShort, facility: local0}, sevWarning, "<4>hello"},
		{"priority", header{format: FormatPriority, facility: local0}, sevWarning, "<132>hello"},
		{"timed", header{format: FormatTimed, facility: local0}, sevEmerg, "<0>2026-11-03T09:05:07.123456Z hello"},
		{"iso", header{format: FormatISO, facility: local0}, sevInfo, "2026-11-03T09:05:07.123456Z hello"},
		{"raw", header{format: FormatRaw, facility: local0}, sevInfo, "hello"},
		{"kern.emerg", header{format: FormatPriority}, sevEmerg, "<0>hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.h.appendLine(nil, ts, tt.sev, []byte("hello"), DefaultMaxLen))
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
	// Days of two digits are not padded.
	h := header{format: FormatRFC3164, facility: local0, tag: "t"}
	if got := string(h.appendLine(nil, ts.AddDate(0, 0, 20), sevInfo, []byte("x"), 100)); got != "<134>Nov 23 09:05:07 t: x" {
		t.Errorf("two-digit day: %q", got)
	}
}

func TestTruncate(t *testing.T) {
	h := header{format: FormatRFC3164, facility: 16, tag: "haproxy", pid: "1"}
	ts := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	long := strings.Repeat("a", 200)
	got := h.appendLine([]byte("prefix"), ts, sevInfo, []byte(long), 80)
	if len(got) != len("prefix")+80 || !strings.HasPrefix(string(got), "prefix<134>Nov 23") {
		t.Errorf("cut to %d bytes: %q", len(got)-len("prefix"), got)
	}
	// A multi-byte rune across the limit is left out whole.
	msg := strings.Repeat("b", 80-len("<134>Nov 23 12:00:00 haproxy[1]: ")-1) + "é"
	got = h.appendLine(nil, ts, sevInfo, []byte(msg), 80)
	if len(got) != 79 || !utf8.Valid(got) {
		t.Errorf("rune split: %d bytes, valid %v", len(got), utf8.Valid(got))
	}
	if got := truncate([]byte("abc"), 5); string(got) != "abc" {
		t.Errorf("truncate short = %q", got)
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		l    slog.Level
		want int
	}{
		{slog.LevelDebug, sevDebug}, {slog.LevelDebug + 3, sevDebug}, {slog.LevelInfo, sevInfo},
		{slog.LevelInfo + 1, sevNotice}, {slog.LevelWarn, sevWarning}, {slog.LevelError, sevErr},
		{slog.LevelError + 8, sevErr},
	}
	for _, tt := range tests {
		if got := severity(tt.l); got != tt.want {
			t.Errorf("severity(%v) = %d; want %d", tt.l, got, tt.want)
		}
	}
}
