package metrics

import (
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/bareproxy/bareproxy/proxy"
)

// CoreSample is one core's network and stack counters at one moment. The
// board fills it from percpu.Snapshot and tcp.CoreStats; this package does
// not import either, so that it builds without the stack.
type CoreSample struct {
	// From the per-core runtime (percpu.Snapshot).
	FramesIn       uint64 // frames received from the core's NIC queue
	FramesOut      uint64 // frames transmitted on the core's NIC queue
	Drops          uint64 // malformed or unsupported frames, failed transmits, full inboxes
	Accepted       uint64 // connections accepted by the core's stack
	Dialled        uint64 // connections dialled from the core's stack
	SteeringMisses uint64 // frames that arrived on this core but belong to another

	// From the core's TCP/IP stack (tcp.CoreStats).
	Malformed      uint64 // frames the stack could not parse
	Unsupported    uint64 // well-formed frames of protocols not spoken (IPv6, VLAN, ...)
	NotForUs       uint64 // unicast frames for another MAC
	ICMPErrors     uint64 // ICMP errors delivered to this core
	TxErrors       uint64 // frames the link did not send
	Dials          uint64 // Dial and DialUDP calls
	DialFailures   uint64 // dials that failed
	BindAttempts   uint64 // local ports tried by dials (ideally one per dial)
	PortsExhausted uint64 // dials that found no free local port
	ResetsSent     uint64 // TCP resets sent
	ResetsReceived uint64 // TCP resets received
	Established    uint64 // connections in ESTABLISHED or CLOSE_WAIT now

	// From the core's native TCP engine (tcp.CoreStats.Engine); zero with
	// gVisor's TCP.
	Retransmits  uint64 // segments sent again, on timeout or fast retransmit
	TCPTimeouts  uint64 // connections given up after repeated timeouts
	SplicedBytes uint64 // bytes the engine moved between spliced connections
	TSOSegments  uint64 // segments sent for the device to cut (TSO)
}

// LogSample is the log shipper's counters (package proxy/syslog).
type LogSample struct {
	Sent    uint64 // lines handed to a target (datagrams written, console lines)
	Dropped uint64 // lines dropped because the queue was full
	Errors  uint64 // lines a target failed to send
}

// Renderer renders a proxy's statistics as Prometheus text or an HTML
// page. Its fields are read on every render; set them before first use.
// It is safe for concurrent use.
type Renderer struct {
	// Proxy is the engine whose counters are shown; it must not be nil.
	Proxy *proxy.Proxy
	// Cores returns one sample per core, indexed by core. Nil leaves the
	// per-core network figures out (a hosted run on kernel sockets has
	// none); the engine's own per-core counters are shown regardless.
	Cores func() []CoreSample
	// Logs returns the log shipper's counters. Nil leaves them out.
	Logs func() LogSample
	// Start is when the process started. The zero value leaves out the
	// uptime and start time.
	Start time.Time
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Refresh, when positive, makes the HTML page reload itself this
	// often ("stats refresh"). Zero means no reload.
	Refresh time.Duration
}

var _ proxy.StatsRenderer = (*Renderer)(nil)

// errNoProxy is returned when rendering before Renderer.Proxy is set. The
// board builds the Renderer before proxy.New (WithStats needs it) and sets
// Proxy right after.
var errNoProxy = errors.New("metrics: Renderer.Proxy is not set")

// RenderStats implements proxy.StatsRenderer: the HTML page for
// proxy.StatsHTML, the Prometheus text format for proxy.StatsPrometheus.
func (r *Renderer) RenderStats(w io.Writer, kind proxy.StatsKind) (string, error) {
	if r.Proxy == nil {
		return "", errNoProxy
	}
	if kind == proxy.StatsPrometheus {
		return ContentTypePrometheus, r.WritePrometheus(w)
	}
	return ContentTypeHTML, r.WriteHTML(w)
}

// WritePrometheus writes every metric in the text exposition format 0.0.4
// (Content-Type ContentTypePrometheus) with a single Write.
func (r *Renderer) WritePrometheus(w io.Writer) error {
	s := r.snapshot()
	bp := getBuf()
	e := expo{b: (*bp)[:0]}
	s.writeProm(&e)
	_, err := w.Write(e.b)
	*bp = e.b
	putBuf(bp)
	return err
}

// WriteHTML writes the HTML stats page (Content-Type ContentTypeHTML) with a
// single Write. The page is self-contained: inline CSS, no scripts, no
// external assets.
func (r *Renderer) WriteHTML(w io.Writer) error {
	s := r.snapshot()
	bp := getBuf()
	b := s.appendHTML((*bp)[:0])
	_, err := w.Write(b)
	*bp = b
	putBuf(bp)
	return err
}

// bufs recycles render buffers, so that a scrape does not grow a fresh
// buffer to the size of the page each time.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

// putBuf returns b unless it grew past 4 MiB (a one-off huge page).
func putBuf(b *[]byte) {
	if cap(*b) <= 4<<20 {
		bufs.Put(b)
	}
}

// snapshot is everything one render shows, read once.
type snapshot struct {
	r       *Renderer
	now     time.Time
	st      proxy.Stats
	fes     []feRow
	bes     []beRow
	srvs    []srvRow
	cores   []CoreSample
	logs    *LogSample
	coreIDs []string // "0", "1", ... for labels
}

type feRow struct {
	fe  *proxy.Frontend
	st  *proxy.FrontendStats
	lbl []string
}

type beRow struct {
	be  *proxy.Backend
	st  *proxy.BackendStats
	lbl []string
}

type srvRow struct {
	srv *proxy.Server
	st  *proxy.ServerStats
	lbl []string
}

func (r *Renderer) snapshot() *snapshot {
	s := &snapshot{r: r, st: r.Proxy.Stats()}
	if r.Now != nil {
		s.now = r.Now()
	} else {
		s.now = time.Now()
	}
	fes := r.Proxy.Frontends()
	for i := range s.st.Frontends {
		if i >= len(fes) {
			break
		}
		st := &s.st.Frontends[i]
		s.fes = append(s.fes, feRow{fe: fes[i], st: st, lbl: []string{"proxy", st.Name}})
	}
	bes := r.Proxy.Backends()
	for i := range s.st.Backends {
		if i >= len(bes) {
			break
		}
		st := &s.st.Backends[i]
		s.bes = append(s.bes, beRow{be: bes[i], st: st, lbl: []string{"proxy", st.Name}})
		for j := range st.Servers {
			if j >= len(bes[i].Servers) {
				break
			}
			ss := &st.Servers[j]
			s.srvs = append(s.srvs, srvRow{srv: bes[i].Servers[j], st: ss, lbl: []string{"proxy", st.Name, "server", ss.Name}})
		}
	}
	if r.Cores != nil {
		s.cores = r.Cores()
	}
	if r.Logs != nil {
		l := r.Logs()
		s.logs = &l
	}
	n := max(r.Proxy.Cores(), len(s.cores))
	for k := range n {
		s.coreIDs = append(s.coreIDs, strconv.Itoa(k))
	}
	return s
}

// Server states, as HAProxy's exporter and stats page name them.
const (
	stateUp    = "UP"
	stateDown  = "DOWN"
	stateMaint = "MAINT"
)

// serverStates are the values of haproxy_server_status's state label.
var serverStates = []string{stateDown, stateUp, stateMaint, "DRAIN", "NOLB"}

// frontendStates are the values of the frontend and backend state label.
var frontendStates = []string{stateDown, stateUp}

// serverState names a server's state: UP while it takes traffic, MAINT
// when the configuration disabled it and nothing brought it up, else DOWN.
func serverState(s *proxy.Server) string {
	switch {
	case s.Up():
		return stateUp
	case s.Config.Disabled:
		return stateMaint
	}
	return stateDown
}

// backendUp reports whether any server of the backend is up.
func backendUp(b *proxy.Backend) bool {
	for _, s := range b.Servers {
		if s.Up() {
			return true
		}
	}
	return false
}

// upServers counts the up servers that are (backup) or are not backups.
func upServers(b *proxy.Backend, backup bool) int {
	n := 0
	for _, s := range b.Servers {
		if s.Up() && s.Config.Backup == backup {
			n++
		}
	}
	return n
}

// backendWeight is HAProxy's backend weight: the sum of the weights of the
// up active servers, or of the up backups when no active server is up.
func backendWeight(b *proxy.Backend) int {
	w, bw := 0, 0
	for _, s := range b.Servers {
		if !s.Up() {
			continue
		}
		if s.Config.Backup {
			bw += s.Config.Weight
		} else {
			w += s.Config.Weight
		}
	}
	if upServers(b, false) == 0 {
		return bw
	}
	return w
}

// frontendLimit is the frontend's maxconn, or the global one; zero is none.
func (s *snapshot) frontendLimit(f *proxy.Frontend) int {
	if f.Config.MaxConn > 0 {
		return f.Config.MaxConn
	}
	return s.r.Proxy.Config().Global.MaxConn
}
