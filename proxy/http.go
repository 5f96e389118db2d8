package proxy

import (
	"bufio"
	"sync"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
	"github.com/bareproxy/bareproxy/proxy/http1"
)

// httpHandler serves one mode http frontend: for each client connection, a
// loop of requests read with proxy/http1, checked, routed, forwarded over
// a pooled or new server connection of the same core, and answered, with
// keep-alive on both sides (see http_pool.go for reuse and queueing).
type httpHandler struct {
	p  *Proxy
	fe *Frontend
	// rules says whether routing or rules need the request's Sample.
	rules bool
}

func newHTTPHandler(p *Proxy, fe *Frontend) (Handler, error) {
	p.initHTTP()
	h := &httpHandler{p: p, fe: fe}
	h.rules = len(fe.Rules) > 0 || len(fe.Config.HTTPRequest) > 0 || len(fe.Config.HTTPResponse) > 0
	for _, r := range fe.Rules {
		h.rules = h.rules || len(r.Backend.Config.HTTPRequest)+len(r.Backend.Config.HTTPResponse) > 0
	}
	if d := fe.Default; d != nil && len(d.Config.HTTPRequest)+len(d.Config.HTTPResponse) > 0 {
		h.rules = true
	}
	return h, nil
}

// clientConn is one client connection's state, reused from a pool so that
// a connection allocates nothing per request once warm.
type clientConn struct {
	h  *httpHandler
	p  *Proxy
	fe *Frontend
	s  *Session

	ct  timedConn // the client connection
	br  *bufio.Reader
	req http1.Request
	rsp http1.Response
	out []byte // scratch: heads and small bodies to write

	nreq    int         // requests started on this connection
	in0     int64       // ct.nr, less what was buffered, when the request began
	out0    int64       // ct.nw when the request began
	private *serverConn // http-reuse never: this client's own server connection
	waiter  waiter
	bodyErr chan error // a request body copy's result
	smp     Sample
	smpOK   bool // smp is filled for the current request
	t       txn  // the current request
}

var clientConns = sync.Pool{New: func() any {
	cc := &clientConn{br: bufio.NewReaderSize(nil, 16<<10)}
	cc.waiter.ch = make(chan struct{}, 1)
	cc.bodyErr = make(chan error, 1)
	cc.smp.Header = cc.headerValues
	return cc
}}

// Serve implements Handler.
func (h *httpHandler) Serve(s *Session) {
	cc := clientConns.Get().(*clientConn)
	cc.h, cc.p, cc.fe, cc.s = h, h.p, h.fe, s
	cc.ct.reset(s.Client)
	cc.br.Reset(&cc.ct)
	cc.nreq = 0
	fc := h.fe.Config
	if fc.Log.Enabled() && !fc.Options.HTTPLog && !fc.Options.TCPLog {
		h.p.logConnect(s)
	}
	for cc.serveOne() {
	}
	if cc.private != nil {
		cc.private.close()
		cc.private = nil
	}
	s.Client.Close()
	cc.h, cc.p, cc.fe, cc.s = nil, nil, nil, nil
	cc.ct.reset(nil)
	cc.br.Reset(nil)
	cc.req.Reset()
	cc.rsp.Reset()
	cc.t = txn{}
	clientConns.Put(cc)
}

// txn is what the engine knows about the request being served; its times
// feed the httplog line (HAProxy configuration manual, section 8.4).
type txn struct {
	be  *Backend
	srv *Server

	first   time.Time     // first byte of the request (%tr)
	tr      time.Duration // TR: head received; -1 if never
	tw      time.Duration // Tw: queued; -1 if the queue was not reached
	tc      time.Duration // Tc: connect; -1 if never connected
	tresp   time.Duration // Tr: response head; -1 if never
	status  int           // status sent to the client; 0 if none
	bytes   int64         // bytes sent to the client
	in      int64         // bytes received from the client
	term    [2]byte       // termination state, first two characters
	retries int
	bq      int    // position in the backend queue on entry
	applet  string // "<STATS>", "<PROMEX>" when the proxy answered itself
	line    []byte // the request line as received, for the log
	bad     bool   // the request could not be parsed
	reused  bool   // sent over a pooled connection
	splIn   int64  // bytes a tunnel moved (counted by Splice itself)
	splOut  int64
	keep    bool // the client allows another request (before rules)
	minor   int  // the client's HTTP minor version

	// Connection counts for the log, taken while the request held its
	// slot (snapshotConns); snap says they are set.
	actconn, feconn, beconn, srvconn int64
	snap                             bool
}

func (t *txn) start(now time.Time) {
	line := t.line[:0]
	*t = txn{first: now, tr: -1, tw: -1, tc: -1, tresp: -1, term: [2]byte{'-', '-'}, line: line}
}

// timeouts of the frontend and backend, resolved to HAProxy's fallbacks.
func (cc *clientConn) headTimeout() time.Duration {
	t := cc.fe.Config.Timeouts
	if t.HTTPRequest > 0 {
		return t.HTTPRequest
	}
	return t.Client
}

func (cc *clientConn) idleTimeout() time.Duration {
	t := cc.fe.Config.Timeouts
	switch {
	case cc.nreq == 0:
		return cc.headTimeout()
	case t.HTTPKeepAlive > 0:
		return t.HTTPKeepAlive
	case t.HTTPRequest > 0:
		return t.HTTPRequest
	}
	return t.Client
}

// serveOne serves one request and reports whether the client connection
// stays open for another.
func (cc *clientConn) serveOne() bool {
	// Wait for the first byte within timeout http-keep-alive (after a
	// first request) or http-request; a connection closed or idle here
	// ends silently, as HAProxy's does between requests.
	if d := cc.idleTimeout(); d > 0 {
		cc.ct.readBy(time.Now().Add(d))
	} else {
		cc.ct.readBy(time.Time{})
	}
	if _, err := cc.br.Peek(1); err != nil {
		return false
	}
	now := cc.p.opts.now()
	t := &cc.t
	t.start(now)
	cc.in0, cc.out0 = cc.ct.nr-int64(cc.br.Buffered()), cc.ct.nw
	if d := cc.headTimeout(); d > 0 {
		cc.ct.readBy(time.Now().Add(d))
	}
	cc.nreq++
	cc.smpOK = false
	err := http1.ReadRequest(cc.br, &cc.req, http1.Limits{})
	if err != nil {
		cc.badRequest(err)
		cc.finish()
		return false
	}
	t.tr = cc.p.opts.now().Sub(now)
	t.line = append(t.line[:0], cc.req.Method()...)
	t.line = append(t.line, ' ')
	t.line = append(t.line, cc.req.Target()...)
	t.line = append(t.line, versionText(cc.req.Minor)...)
	t.keep = cc.req.KeepAlive() && !cc.fe.Config.Options.HTTPClose
	t.minor = cc.req.Minor
	cc.fe.counters[cc.s.Core].requests.Add(1)
	cc.ct.readIdle(cc.fe.Config.Timeouts.Client)
	cc.ct.writeIdle(cc.fe.Config.Timeouts.Client)
	keep := cc.handle()
	cc.finish()
	return keep
}

func versionText(minor int) string {
	if minor == 0 {
		return " HTTP/1.0"
	}
	return " HTTP/1.1"
}

// handle runs the request through interception, rules, routing and the
// server exchange, and reports whether the client connection may carry
// another request.
func (cc *clientConn) handle() bool {
	fc := cc.fe.Config
	req := &cc.req
	if fc.MonitorURI != "" && string(req.Target()) == fc.MonitorURI {
		cc.t.applet = "<MONITOR>"
		return cc.answer(200, "text/plain", []byte("OK\n"))
	}
	if fc.Stats.Enable && (req.IsMethod("GET") || req.IsMethod("HEAD")) && hasPrefix(req.Target(), fc.Stats.URI) {
		cc.t.applet = "<STATS>"
		if !cc.statsAuthorized() {
			return cc.askStatsCredentials()
		}
		return cc.serveStats(StatsHTML)
	}
	if v, done := cc.applyRequestRules(fc.HTTPRequest, fc.ACLs); done {
		return v
	}
	be := cc.fe.Default
	if len(cc.fe.Rules) > 0 {
		be = Route(cc.fe, cc.sample())
	}
	if be == nil {
		cc.fe.counters[cc.s.Core].noServer.Add(1)
		cc.t.term = [2]byte{'P', 'R'}
		return cc.sendError(503)
	}
	cc.t.be = be
	be.counters[cc.s.Core].requests.Add(1)
	if v, done := cc.applyRequestRules(be.Config.HTTPRequest, be.Config.ACLs); done {
		return v
	}
	cc.forwardFor(be)
	return cc.forward(be)
}

// finish counts the request's response and writes its log line.
func (cc *clientConn) finish() {
	t := &cc.t
	t.in = cc.ct.nr - int64(cc.br.Buffered()) - cc.in0 + t.splIn
	t.bytes = cc.ct.nw - cc.out0 + t.splOut
	core := cc.s.Core
	in, out := uint64(t.in-t.splIn), uint64(t.bytes-t.splOut)
	cc.fe.counters[core].bytesIn.Add(in)
	cc.fe.counters[core].bytesOut.Add(out)
	if t.be != nil {
		t.be.counters[core].bytesIn.Add(in)
		t.be.counters[core].bytesOut.Add(out)
	}
	if t.srv != nil {
		t.srv.counters[core].bytesIn.Add(in)
		t.srv.counters[core].bytesOut.Add(out)
	}
	if t.status > 0 {
		cls := t.status/100 - 1
		if cls < 0 || cls > 4 {
			cls = 5
		}
		cc.fe.counters[core].rsp[cls].Add(1)
		if t.be != nil {
			t.be.counters[core].rsp[cls].Add(1)
		}
		if t.srv != nil {
			t.srv.counters[core].rsp[cls].Add(1)
		}
	}
	cc.logRequest()
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

// modeHTTP is the mode the built-in handler serves.
const modeHTTP = config.ModeHTTP
