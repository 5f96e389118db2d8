package health

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Code is a check's outcome, named as HAProxy's check status codes (the
// stats page's "check_status" column and the "reason:" of its log lines).
type Code uint8

// Check outcomes. The zero value means no check has finished yet.
const (
	// Init: not checked yet (HAProxy "INI").
	Init Code = iota
	// SockErr: the check could not be started (HAProxy "SOCKERR").
	SockErr
	// L4OK: the TCP connection was established (a TCP check passed).
	L4OK
	// L4Timeout: the TCP connection was not established in time.
	L4Timeout
	// L4Conn: the TCP connection failed (refused, unreachable, reset).
	L4Conn
	// L7Timeout: no complete HTTP status line arrived in time.
	L7Timeout
	// L7Response: the answer was not a valid HTTP response, or the body
	// did not match "http-check expect string".
	L7Response
	// L7OK: the HTTP check passed.
	L7OK
	// L7Status: the HTTP status did not match the expectation.
	L7Status
)

var codeNames = [...]struct{ short, desc string }{
	Init:       {"INI", "Initializing"},
	SockErr:    {"SOCKERR", "Socket error"},
	L4OK:       {"L4OK", "Layer4 check passed"},
	L4Timeout:  {"L4TOUT", "Layer4 timeout"},
	L4Conn:     {"L4CON", "Layer4 connection problem"},
	L7Timeout:  {"L7TOUT", "Layer7 timeout"},
	L7Response: {"L7RSP", "Layer7 invalid response"},
	L7OK:       {"L7OK", "Layer7 check passed"},
	L7Status:   {"L7STS", "Layer7 wrong status"},
}

// String returns HAProxy's short name, as in "L4CON".
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c].short
	}
	return "UNK"
}

// Description returns HAProxy's wording, as in "Layer4 connection
// problem".
func (c Code) Description() string {
	if int(c) < len(codeNames) {
		return codeNames[c].desc
	}
	return "Unknown"
}

// Passed reports whether the outcome counts as a passing check.
func (c Code) Passed() bool { return c == L4OK || c == L7OK }

// hasHTTPCode reports whether HAProxy prints ", code: N" for c: only for
// outcomes that got as far as matching a status.
func (c Code) hasHTTPCode() bool { return c == L7OK || c == L7Status }

// Result is one finished check.
type Result struct {
	// Code is the outcome.
	Code Code
	// HTTPStatus is the response status for L7OK and L7Status; zero
	// otherwise.
	HTTPStatus int
	// Info is the detail HAProxy prints as info: the system error text
	// ("Connection refused") or the HTTP reason phrase; may be empty.
	Info string
	// Duration is how long the check took.
	Duration time.Duration
	// End is when the check finished; zero before the first check.
	End time.Time
}

// Passed reports whether the check passed.
func (r Result) Passed() bool { return r.Code.Passed() }

// AppendReason appends HAProxy's check details, as in
// `, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms`.
func (r Result) AppendReason(b []byte) []byte {
	b = append(b, ", reason: "...)
	b = append(b, r.Code.Description()...)
	if r.Code.hasHTTPCode() {
		b = append(b, ", code: "...)
		b = strconv.AppendInt(b, int64(r.HTTPStatus), 10)
	}
	if r.Info != "" {
		b = append(b, ", info: "...)
		b = strconv.AppendQuoteToASCII(b, r.Info)
	}
	b = append(b, ", check duration: "...)
	b = strconv.AppendInt(b, r.Duration.Milliseconds(), 10)
	return append(b, "ms"...)
}

// errInfo turns a dial or I/O error into HAProxy-like info text: the
// innermost error's message without Go's "op: addr:" prefixes, capitalised
// as strerror(3) is ("Connection refused").
func errInfo(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
