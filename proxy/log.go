package proxy

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// connLog is what one tcplog line reports.
type connLog struct {
	s                 *Session
	be                *Backend // nil when no backend was chosen
	srv               *Server  // nil when no server was connected
	tc                time.Duration
	connected         bool // tc is valid
	retries           int
	bytesIn, bytesOut int64
	term              [2]byte
}

// logTCP writes the connection's line in HAProxy's tcplog format when the
// frontend logs:
//
//	10.0.0.1:34567 [23/Nov/2026:12:00:00.123] fe be/s1 0/1/120 1234 -- 1/1/0/0/0 0/0
//
// Fields, in order:
//   - client address and port (%ci:%cp)
//   - accept date, local time to the millisecond (%t)
//   - frontend name (%ft)
//   - backend and server names (%b/%s); the server is the last one tried
//     if none could be connected, <NOSRV> if none was available, and the
//     backend is the frontend's name when no backend matched
//   - %Tw/%Tc/%Tt in ms: time queued (always 0: the engine has no queue),
//     time to connect to the server (-1 if it never connected), and
//     total time from accept to close
//   - bytes sent to the client (%B)
//   - termination state (%ts): who ended the session ('-' normal, 'C'
//     client, 'S' server, 'c'/'s' client/server timeout, 'P' the proxy, 'K'
//     shutdown) and in which phase ('C' connecting, 'D' data, 'R' routing)
//   - %ac/%fc/%bc/%sc/%rc: connections open in the process, the frontend,
//     the backend and the server when the line is written, and connect
//     retries
//   - %sq/%bq: server and backend queue lengths (always 0/0)
//
// "option dontlognull" drops lines of sessions that ended normally without
// moving a byte.
func (p *Proxy) logTCP(e *connLog) {
	fc := e.s.Frontend.Config
	if !fc.Log.Enabled() {
		return
	}
	if fc.Options.DontLogNull && e.bytesIn == 0 && e.bytesOut == 0 && e.term == [2]byte{'-', '-'} {
		return
	}
	var buf [256]byte
	b := appendTCPLog(buf[:0], e, p.opts.now())
	p.log.Info(string(b))
}

// appendTCPLog formats e's line, with now as the close time.
func appendTCPLog(b []byte, e *connLog, now time.Time) []byte {
	s := e.s
	b = s.Src.AppendTo(b)
	b = append(b, " ["...)
	b = appendDate(b, s.Accepted)
	b = append(b, "] "...)
	b = append(b, s.Frontend.Name()...)
	b = append(b, ' ')
	beName, srvName := s.Frontend.Name(), "<NOSRV>"
	var beConn, srvConn int64
	if e.be != nil {
		beName, beConn = e.be.Name(), sumCur(e.be.counters)
	}
	if e.srv != nil {
		srvName, srvConn = e.srv.Name(), sumCur(e.srv.counters)
	}
	b = append(b, beName...)
	b = append(b, '/')
	b = append(b, srvName...)
	b = append(b, ' ')
	tw, tc := int64(0), int64(-1)
	if e.be == nil {
		tw = -1
	}
	if e.connected {
		tc = e.tc.Milliseconds()
	}
	b = strconv.AppendInt(b, tw, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, tc, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, now.Sub(s.Accepted).Milliseconds(), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.bytesOut, 10)
	b = append(b, ' ', e.term[0], e.term[1], ' ')
	b = strconv.AppendInt(b, sumCur(s.Proxy.global), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, sumCur(s.Frontend.counters), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, beConn, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, srvConn, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(e.retries), 10)
	b = append(b, " 0/0"...)
	return b
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// appendDate formats t as HAProxy's accept date, 23/Nov/2026:12:00:00.123.
func appendDate(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	b = append2(b, d)
	b = append(b, '/')
	b = append(b, months[mo-1]...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, ':')
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	b = append2(b, sec)
	b = append(b, '.')
	ms := t.Nanosecond() / 1e6
	return append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
}

func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10%10), byte('0'+n%10)) }

// logConnect writes HAProxy's line for a logging frontend without option
// tcplog or httplog: "Connect from SRC to DST (FRONTEND/TCP)".
func (p *Proxy) logConnect(s *Session) {
	b := make([]byte, 0, 96)
	b = append(b, "Connect from "...)
	b = s.Src.AppendTo(b)
	b = append(b, " to "...)
	b = s.Dst.AppendTo(b)
	b = append(b, " ("...)
	b = append(b, s.Frontend.Name()...)
	b = append(b, "/TCP)"...)
	p.log.Info(string(b))
}

// LineHandler is a slog.Handler that writes each record's message alone on
// a line, as HAProxy's log lines look on a console; attributes of Warn and
// Error records follow the message as key=value.
type LineHandler struct {
	mu *sync.Mutex // mu serialises writes to w
	w  io.Writer
	// Level is the least severe level written; the zero value is Info.
	Level slog.Level
}

// NewLineHandler returns a LineHandler writing to w.
func NewLineHandler(w io.Writer) *LineHandler { return &LineHandler{mu: new(sync.Mutex), w: w} }

// Enabled implements slog.Handler.
func (h *LineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.Level }

// Handle implements slog.Handler.
func (h *LineHandler) Handle(_ context.Context, r slog.Record) error {
	b := make([]byte, 0, len(r.Message)+64)
	if r.Level >= slog.LevelWarn {
		b = append(b, r.Level.String()...)
		b = append(b, ' ')
	}
	b = append(b, r.Message...)
	r.Attrs(func(a slog.Attr) bool {
		b = append(b, ' ')
		b = append(b, a.Key...)
		b = append(b, '=')
		b = append(b, a.Value.String()...)
		return true
	})
	b = append(b, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(b)
	return err
}

// WithAttrs implements slog.Handler; attributes are dropped.
func (h *LineHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup implements slog.Handler; groups are dropped.
func (h *LineHandler) WithGroup(string) slog.Handler { return h }
