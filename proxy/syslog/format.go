package syslog

import (
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"
)

// Syslog severities (RFC 5424 section 6.2.1, table 2).
const (
	sevEmerg   = 0
	sevAlert   = 1
	sevCrit    = 2
	sevErr     = 3
	sevWarning = 4
	sevNotice  = 5
	sevInfo    = 6
	sevDebug   = 7
)

// severity maps a slog level to a syslog severity: Error and above are
// err, Warn warning, levels between Info and Warn notice, Info info, and
// anything below debug.
func severity(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return sevErr
	case l >= slog.LevelWarn:
		return sevWarning
	case l > slog.LevelInfo:
		return sevNotice
	case l >= slog.LevelInfo:
		return sevInfo
	}
	return sevDebug
}

// Formats, as HAProxy's "log ... format NAME" spells them.
const (
	FormatRFC3164  = "rfc3164"  // <PRI>Mmm dd hh:mm:ss [HOST ]TAG[PID]: MSG (the default)
	FormatLocal    = "local"    // rfc3164 without the host name
	FormatRFC5424  = "rfc5424"  // <PRI>1 TIMESTAMP HOST TAG PID - - MSG
	FormatShort    = "short"    // <SEVERITY>MSG, for systemd's journal
	FormatPriority = "priority" // <PRI>MSG
	FormatTimed    = "timed"    // <SEVERITY>TIMESTAMP MSG
	FormatISO      = "iso"      // TIMESTAMP MSG
	FormatRaw      = "raw"      // MSG
)

// DefaultMaxLen is the longest line sent when a target has no "len"
// (HAProxy's default).
const DefaultMaxLen = 1024

// header says what precedes the message in a line.
type header struct {
	format   string
	facility int
	host     string // empty: rfc3164 leaves it out, rfc5424 writes "-"
	tag      string
	pid      string // empty: rfc3164 leaves out "[PID]", rfc5424 writes "-"
}

// rfc3339Micro is the RFC 5424 TIMESTAMP (section 6.2.3) with the
// microseconds HAProxy writes.
const rfc3339Micro = "2006-01-02T15:04:05.000000Z07:00"

// appendLine appends one whole line: header, then msg, cut to maxLen bytes
// on a UTF-8 boundary.
func (h *header) appendLine(b []byte, t time.Time, sev int, msg []byte, maxLen int) []byte {
	start := len(b)
	pri := h.facility*8 + sev
	switch h.format {
	case FormatRaw:
	case FormatISO:
		b = t.AppendFormat(b, rfc3339Micro)
		b = append(b, ' ')
	case FormatShort:
		b = appendPRI(b, sev)
	case FormatTimed:
		b = appendPRI(b, sev)
		b = t.AppendFormat(b, rfc3339Micro)
		b = append(b, ' ')
	case FormatPriority:
		b = appendPRI(b, pri)
	case FormatRFC5424:
		// RFC 5424 section 6: PRI VERSION SP TIMESTAMP SP HOSTNAME SP
		// APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA SP MSG.
		b = appendPRI(b, pri)
		b = append(b, '1', ' ')
		b = t.AppendFormat(b, rfc3339Micro)
		b = append(b, ' ')
		b = appendOrNil(b, h.host)
		b = append(b, ' ')
		b = appendOrNil(b, h.tag)
		b = append(b, ' ')
		b = appendOrNil(b, h.pid)
		b = append(b, " - - "...)
	default: // rfc3164 and local
		// RFC 3164 section 4.1.2: TIMESTAMP is "Mmm dd hh:mm:ss" with the
		// day padded by a space, then HOSTNAME; section 4.1.3: TAG, here
		// HAProxy's "name[pid]:".
		b = appendPRI(b, pri)
		b = t.AppendFormat(b, time.Stamp)
		b = append(b, ' ')
		if h.host != "" && h.format != FormatLocal {
			b = append(b, h.host...)
			b = append(b, ' ')
		}
		b = append(b, h.tag...)
		if h.pid != "" {
			b = append(b, '[')
			b = append(b, h.pid...)
			b = append(b, ']')
		}
		b = append(b, ':', ' ')
	}
	b = append(b, msg...)
	if len(b)-start > maxLen {
		b = truncate(b, start+maxLen)
	}
	return b
}

// truncate cuts b to at most n bytes, backing off so as not to split a
// UTF-8 sequence.
func truncate(b []byte, n int) []byte {
	if n >= len(b) {
		return b
	}
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(b[i]) {
			return b[:i]
		}
	}
	return b[:n]
}

func appendPRI(b []byte, v int) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(v), 10)
	return append(b, '>')
}

// appendOrNil appends s, or RFC 5424's NILVALUE "-" when s is empty.
func appendOrNil(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return append(b, s...)
}
