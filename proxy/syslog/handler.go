package syslog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// Dialer opens a connected UDP socket to a syslog server. On the appliance
// it is tcp.Core.DialUDP of one core; HostDial uses the kernel.
type Dialer func(addr netip.AddrPort) (net.Conn, error)

// HostDial dials addr with the kernel's UDP sockets. It takes the address
// as is (net.DialUDP, not net.Dial), which keeps the name resolver out of
// the image.
func HostDial(addr netip.AddrPort) (net.Conn, error) {
	return net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(addr))
}

// Options configure New. The zero value works: kernel sockets, the
// process's stdout and stderr, tag "bareproxy", no host name or PID.
type Options struct {
	// Dial opens UDP sockets. Nil means HostDial.
	Dial Dialer
	// Stdout and Stderr receive the lines of "log stdout" and "log
	// stderr". Nil means os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	// Hostname is the HOSTNAME field. Empty leaves it out of rfc3164
	// lines (HAProxy without log-send-hostname) and writes "-" in rfc5424.
	Hostname string
	// Tag is the program name (APP-NAME, HAProxy's log-tag). Empty means
	// "bareproxy".
	Tag string
	// PID is the process ID written after the tag. Zero leaves "[PID]"
	// out of rfc3164 lines and writes "-" in rfc5424.
	PID int
	// QueueLen is how many lines may wait to be sent; more are dropped
	// and counted. Zero means DefaultQueueLen.
	QueueLen int
	// Now stamps records that carry no time. Nil means time.Now.
	Now func() time.Time
}

// DefaultQueueLen is the queue length when Options.QueueLen is zero.
const DefaultQueueLen = 1024

// maxEntry bounds the bytes of message a queue entry holds, so that a
// target with "len 65535" does not make the queue 64 MiB; longer messages
// are cut.
const maxEntry = 8 << 10

// redialEvery bounds how often a target whose socket could not be opened
// is tried again; lines in between count as errors.
const redialEvery = time.Second

// Stats are a Handler's counters.
type Stats struct {
	// Sent counts lines written to a target (once per target).
	Sent uint64
	// Dropped counts lines dropped because the queue was full or the
	// handler closed.
	Dropped uint64
	// Errors counts lines a target failed to send: no socket, or a
	// failed write.
	Errors uint64
}

// Handler is a slog.Handler that queues each record for the log targets.
// It is safe for concurrent use; Handle never blocks.
type Handler struct {
	c     *shipper
	attrs string // " k=v" of WithAttrs, appended to every line
	group string // WithGroup prefix for attribute keys, with its dot
}

var _ slog.Handler = (*Handler)(nil)

// entry is one queued line. Entries are made once, in New, and cycle
// between the free list and the queue.
type entry struct {
	t   time.Time
	sev int
	msg []byte // capacity: the longest target length
}

// shipper is the state a Handler and its WithAttrs/WithGroup copies share.
type shipper struct {
	targets []*target
	maxSev  int // the most verbose severity any target takes
	now     func() time.Time
	queue   chan *entry
	free    chan *entry
	stop    chan struct{}
	done    chan struct{}
	closed  atomic.Bool
	once    sync.Once
	sent    atomic.Uint64
	dropped atomic.Uint64
	errs    atomic.Uint64
}

// target is one log target; only the drain goroutine touches it.
type target struct {
	cfg      config.LogTarget
	hdr      header
	maxLen   int
	console  io.Writer // stdout/stderr targets
	dial     Dialer
	conn     net.Conn
	lastDial time.Time // last failed dial
	buf      []byte
}

// New starts a handler sending to targets; Unix socket targets are
// skipped (the appliance has none; the config parser warns). With no
// usable target the handler accepts nothing. Close stops it.
func New(targets []config.LogTarget, o Options) *Handler {
	if o.Dial == nil {
		o.Dial = HostDial
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Tag == "" {
		o.Tag = "bareproxy"
	}
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	pid := ""
	if o.PID > 0 {
		pid = strconv.Itoa(o.PID)
	}
	s := &shipper{maxSev: -1, now: o.Now, stop: make(chan struct{}), done: make(chan struct{})}
	maxLen := 0
	for _, tc := range targets {
		t := &target{cfg: tc, maxLen: tc.MaxLen, dial: o.Dial,
			hdr: header{format: tc.Format, facility: tc.Facility, host: o.Hostname, tag: o.Tag, pid: pid}}
		if t.maxLen <= 0 {
			t.maxLen = DefaultMaxLen
		}
		switch tc.Kind {
		case config.LogUDP:
		case config.LogStdout, config.LogStderr:
			t.console = o.Stdout
			if tc.Kind == config.LogStderr {
				t.console = o.Stderr
			}
			if t.hdr.format == "" {
				// A console shows bare lines unless a format is named.
				t.hdr.format = FormatRaw
			}
		default:
			continue
		}
		if t.hdr.format == "" {
			t.hdr.format = FormatRFC3164
		}
		t.buf = make([]byte, 0, t.maxLen+1)
		s.targets = append(s.targets, t)
		s.maxSev = max(s.maxSev, tc.Level)
		maxLen = max(maxLen, t.maxLen)
	}
	s.queue = make(chan *entry, o.QueueLen)
	s.free = make(chan *entry, o.QueueLen)
	maxLen = min(maxLen, maxEntry)
	for range o.QueueLen {
		s.free <- &entry{msg: make([]byte, 0, maxLen)}
	}
	go s.drain()
	return &Handler{c: s}
}

// Stats returns the handler's counters.
func (h *Handler) Stats() Stats {
	return Stats{Sent: h.c.sent.Load(), Dropped: h.c.dropped.Load(), Errors: h.c.errs.Load()}
}

// Close sends what is queued, closes the sockets and stops the drain
// goroutine. Lines handled afterwards are dropped. It is idempotent.
func (h *Handler) Close() error {
	h.c.once.Do(func() {
		h.c.closed.Store(true)
		close(h.c.stop)
	})
	<-h.c.done
	return nil
}

// Enabled implements slog.Handler: a level is enabled when some target
// takes its severity.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return severity(l) <= h.c.maxSev
}

// Handle implements slog.Handler. It copies the message, then the
// attributes as " key=value", into a free queue entry, cut to the longest
// target length; when no entry is free the record is dropped and counted.
// It never blocks and returns nil.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	s := h.c
	sev := severity(r.Level)
	if sev > s.maxSev {
		return nil
	}
	if s.closed.Load() {
		s.dropped.Add(1)
		return nil
	}
	var e *entry
	select {
	case e = <-s.free:
	default:
		s.dropped.Add(1)
		return nil
	}
	e.t, e.sev = r.Time, sev
	if e.t.IsZero() {
		e.t = s.now()
	}
	m := e.msg[:0]
	m = appendCapped(m, r.Message)
	m = appendCapped(m, h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		m = h.appendAttr(m, a)
		return len(m) < cap(m)
	})
	e.msg = m
	s.queue <- e // never blocks: there are as many entries as slots
	return nil
}

// appendCapped appends s without growing b beyond its capacity.
func appendCapped(b []byte, s string) []byte {
	if n := cap(b) - len(b); len(s) > n {
		s = s[:n]
	}
	return append(b, s...)
}

func (h *Handler) appendAttr(b []byte, a slog.Attr) []byte {
	if a.Equal(slog.Attr{}) {
		return b
	}
	b = appendCapped(b, " ")
	b = appendCapped(b, h.group)
	b = appendCapped(b, a.Key)
	b = appendCapped(b, "=")
	return appendCapped(b, a.Value.String())
}

// WithAttrs implements slog.Handler: the attributes follow every line's
// message as " key=value".
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	h2 := *h
	b := []byte(h.attrs)
	for _, a := range as {
		b = append(b, ' ')
		b = append(b, h.group...)
		b = append(b, a.Key...)
		b = append(b, '=')
		b = append(b, a.Value.String()...)
	}
	h2.attrs = string(b)
	return &h2
}

// WithGroup implements slog.Handler: later attribute keys are prefixed
// with "name.".
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group = h.group + name + "."
	return &h2
}

// drain sends queued lines until Close, then sends what is left.
func (s *shipper) drain() {
	defer close(s.done)
	for {
		select {
		case e := <-s.queue:
			s.ship(e)
		case <-s.stop:
			for {
				select {
				case e := <-s.queue:
					s.ship(e)
				default:
					for _, t := range s.targets {
						if t.conn != nil {
							t.conn.Close()
						}
					}
					return
				}
			}
		}
	}
}

// ship sends one entry to every target that takes its severity and frees
// the entry.
func (s *shipper) ship(e *entry) {
	for _, t := range s.targets {
		if e.sev > t.cfg.Level {
			continue
		}
		sev := e.sev
		if sev < t.cfg.MinLevel {
			sev = t.cfg.MinLevel // "log ... FACILITY LEVEL MINLEVEL" clamps
		}
		if err := t.send(e.t, sev, e.msg); err != nil {
			s.errs.Add(1)
		} else {
			s.sent.Add(1)
		}
	}
	s.free <- e
}

var errNoSocket = errors.New("syslog: no socket to the log server")

// send formats and writes one line.
func (t *target) send(ts time.Time, sev int, msg []byte) error {
	t.buf = t.hdr.appendLine(t.buf[:0], ts, sev, msg, t.maxLen)
	if t.console != nil {
		t.buf = append(t.buf, '\n')
		_, err := t.console.Write(t.buf)
		return err
	}
	if t.conn == nil {
		now := time.Now()
		if !t.lastDial.IsZero() && now.Sub(t.lastDial) < redialEvery {
			return errNoSocket
		}
		c, err := t.dial(t.cfg.Addr)
		if err != nil {
			t.lastDial = now
			return err
		}
		t.conn = c
	}
	_, err := t.conn.Write(t.buf)
	return err
}

// Targets returns every log target of cfg: the global ones, then each
// frontend's own "log" lines, without duplicates, in that order. The
// engine writes every frontend's lines to one logger, so a handler built
// on Targets sends each line to all of them.
func Targets(cfg *config.Config) []config.LogTarget {
	var out []config.LogTarget
	seen := map[config.LogTarget]bool{}
	add := func(ts []config.LogTarget) {
		for _, t := range ts {
			k := t
			k.Line = 0
			if !seen[k] {
				seen[k] = true
				out = append(out, t)
			}
		}
	}
	add(cfg.Global.Logs)
	for _, f := range cfg.Frontends {
		add(f.Log.Targets)
	}
	return out
}
