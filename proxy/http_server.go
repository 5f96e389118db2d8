package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
	"github.com/bareproxy/bareproxy/proxy/http1"
)

// maxInline bounds a body sent in the same write as its head when it is
// already fully buffered: one syscall for the common small message.
const maxInline = 32 << 10

// forward sends the request to a server of be and relays the answer. It
// reports whether the client connection stays open.
func (cc *clientConn) forward(be *Backend) bool {
	t := &cc.t
	upgrade := prepareUpstream(&cc.req, cc.s.Dst)
	key, hasKey := cc.balanceKey(be)
	fresh := false
	for try := 0; ; try++ {
		sc, err := cc.connect(be, key, hasKey, cc.nreq == 1 || fresh)
		if err != nil {
			return cc.connectFailed(err)
		}
		core := cc.s.Core
		be.counters[core].conns.Add(1)
		be.counters[core].cur.Add(1)
		t.srv.counters[core].conns.Add(1)
		t.srv.counters[core].requests.Add(1)
		keep, retry := cc.exchange(be, sc, upgrade)
		cc.snapshotConns()
		be.counters[core].cur.Add(-1)
		t.srv.release(core)
		if retry && try == 0 {
			// A pooled connection the server had closed: HAProxy's safe
			// reuse lets the request go again on a new connection.
			fresh = true
			t.reused = false
			continue
		}
		return keep
	}
}

// connect gets a server connection for the request: a slot on a server
// (queueing if all are full), then this client's own connection
// (http-reuse never), an idle pooled one, or a new dial from this core,
// retrying a failed dial on another server up to the backend's retries.
// first says that pooled connections may only be taken as the first
// request of a client connection may (see http_pool.go).
func (cc *clientConn) connect(be *Backend, key uint64, hasKey, first bool) (*serverConn, error) {
	t := &cc.t
	core := cc.s.Core
	bc := &be.counters[core]
	var triedBuf [4]*Server
	tried := triedBuf[:0]
	var last *Server
	var lastErr error
	timedOut := false
	for attempt := 0; attempt <= be.Config.Retries; attempt++ {
		srv, queued, pos, err := cc.pickSlot(be, key, hasKey, tried)
		t.tw = max(t.tw, 0) + queued
		if attempt == 0 {
			t.bq = pos
		}
		if err != nil {
			if errors.Is(err, ErrNoServer) {
				bc.noServer.Add(1)
				if last != nil {
					break
				}
			}
			return nil, err
		}
		t.srv = srv
		if p := cc.private; p != nil {
			cc.private = nil
			if p.srv == srv && !first {
				t.reused, t.tc = true, 0
				bc.reuses.Add(1)
				srv.counters[core].reuses.Add(1)
				return p, nil
			}
			p.close()
		}
		if sc := be.takeIdle(srv, core, first); sc != nil {
			t.reused, t.tc = true, 0
			bc.reuses.Add(1)
			srv.counters[core].reuses.Add(1)
			return sc, nil
		}
		sc := &srv.counters[core]
		if attempt > 0 {
			bc.retries.Add(1)
			sc.retries.Add(1)
			t.retries++
		}
		start := time.Now()
		c, err := cc.s.dial(srv)
		if err != nil {
			bc.connectErr.Add(1)
			sc.connectErr.Add(1)
			srv.release(core)
			last, lastErr = srv, err
			timedOut = errors.Is(err, context.DeadlineExceeded) || isTimeout(err)
			if cc.s.ctx.Err() != nil {
				break
			}
			tried = append(tried, srv)
			continue
		}
		t.tc = time.Since(start)
		bc.connects.Add(1)
		sc.connects.Add(1)
		return newServerConn(c, srv, core), nil
	}
	t.srv = last
	return nil, &ConnectError{Backend: be.Name(), Server: last.Name(), Last: last, Tries: t.retries + 1, Timeout: timedOut, Err: lastErr}
}

// connectFailed answers 503 for a request that got no server connection.
func (cc *clientConn) connectFailed(err error) bool {
	t := &cc.t
	var ce *ConnectError
	switch {
	case errors.Is(err, errQueueTimeout), errors.Is(err, errQueueFull):
		t.term = [2]byte{'s', 'Q'}
	case errors.As(err, &ce):
		t.term = [2]byte{'S', 'C'}
		if ce.Timeout {
			t.term[0] = 's'
		}
	case errors.Is(err, ErrNoServer):
		t.term = [2]byte{'S', 'C'}
		t.srv = nil
	default:
		t.term = [2]byte{'K', 'C'}
	}
	if cc.s.Killed() {
		t.term[0] = 'K'
	}
	cc.snapshotConns()
	return cc.sendError(503)
}

// exchange sends the request over sc, reads the response and relays it,
// then parks or closes sc. retry reports that sc was a pooled connection
// that failed before any response byte, for a request that can be sent
// again (no body, or a body still wholly in the client buffer).
func (cc *clientConn) exchange(be *Backend, sc *serverConn, upgrade bool) (keep, retry bool) {
	t := &cc.t
	s := cc.s
	s.setUpstream(sc.tc.c)
	defer s.setUpstream(nil)
	sc.uses++
	nr0 := sc.tc.nr
	srvTimeout := be.Config.Timeouts.Server
	sc.tc.readIdle(srvTimeout)
	sc.tc.writeIdle(srvTimeout)
	connected := time.Now()

	// Head, and the body with it when it is small and already here.
	req := &cc.req
	if !upgrade && !req.Has("Connection") && cc.serverWontKeep(be, sc) {
		// Let the server close (RFC 9112 section 9.6): its side then
		// holds the TIME_WAIT, not one of this core's source ports,
		// which a proxy dialling thousands of connections a second
		// runs short of.
		req.Add("Connection", "close")
	}
	f := req.Framing
	head := req.AppendHead(cc.out[:0])
	bodyDone := !f.HasBody()
	inline := 0
	if f.Kind == http1.FrameLength && f.Length <= maxInline && f.Length <= int64(cc.br.Buffered()) {
		body, _ := cc.br.Peek(int(f.Length))
		head = append(head, body...)
		inline, bodyDone = int(f.Length), true
	}
	cc.out = head
	if _, err := sc.tc.Write(head); err != nil {
		sc.close()
		if t.reused && (bodyDone || inline == 0) {
			return false, true
		}
		return cc.serverFailed(be, err, false), false
	}
	cc.br.Discard(inline)
	var bodyErr chan error
	if !bodyDone {
		bodyErr = cc.bodyErr
		go cc.copyRequestBody(sc, f)
	}

	// Response head; 1xx interim responses are relayed as they come.
	for {
		err := http1.ReadResponse(sc.br, &cc.rsp, req, http1.Limits{})
		if err != nil {
			cc.abortBody(sc, bodyErr)
			sc.close()
			if t.reused && bodyDone && sc.tc.nr == nr0 && !isTimeout(err) && http1.StatusOf(err) == 0 {
				return false, true
			}
			return cc.serverFailed(be, err, true), false
		}
		if cc.rsp.Status >= 200 || cc.rsp.Status == 101 {
			break
		}
		if _, err := cc.rsp.WriteHead(&cc.ct); err != nil {
			cc.abortBody(sc, bodyErr)
			sc.close()
			t.term = [2]byte{'C', 'H'}
			return false, false
		}
	}
	t.tresp = time.Since(connected)
	rsp := &cc.rsp
	if !cc.applyResponseRules() {
		cc.abortBody(sc, bodyErr)
		sc.close()
		t.term = [2]byte{'P', 'H'}
		return cc.sendError(502), false
	}

	// Framing towards the client.
	rf := rsp.Framing
	tunnel := rf.Kind == http1.FrameTunnel
	dechunk := rf.Kind == http1.FrameChunked && t.minor == 0
	opts := cc.fe.Config.Options
	keepClient := t.keep && !tunnel && rf.Kind != http1.FrameClose && !dechunk
	keepServer := !tunnel && rsp.KeepAlive() && !opts.HTTPServerClose && !be.Config.Options.HTTPServerClose &&
		!opts.HTTPClose && !be.Config.Options.HTTPClose
	if rsp.StripHopByHop(tunnel && rsp.Status == 101) {
		rsp.Add("Connection", "upgrade")
	}
	if !dechunk {
		rsp.AddFraming(rf)
	}
	if rsp.Minor == 0 {
		rsp.SetMinor(1)
	}
	if !tunnel {
		switch {
		case !keepClient:
			rsp.Add("Connection", "close")
		case t.minor == 0:
			rsp.Add("Connection", "keep-alive")
		}
	}
	t.status = rsp.Status
	out := rsp.AppendHead(cc.out[:0])
	inline = 0
	if rf.Kind == http1.FrameLength && rf.Length <= maxInline && rf.Length <= int64(sc.br.Buffered()) {
		body, _ := sc.br.Peek(int(rf.Length))
		out = append(out, body...)
		inline = int(rf.Length)
	}
	cc.out = out
	sc.br.Discard(inline)
	if inline > 0 && bodyErr == nil && keepServer && sc.br.Buffered() == 0 {
		// The whole response is in out: the server connection is free
		// before the client write, so the next request can have it.
		cc.park(be, sc)
		sc = nil
	}
	write := cc.ct.Write
	if !keepClient && !tunnel && bodyErr == nil && (inline > 0 || !rf.HasBody()) {
		// The whole response, then the connection closes: the FIN
		// goes with it, so that the client cannot close first. A
		// client that closes first holds the TIME_WAIT, and a load
		// generator runs out of ports within seconds that way.
		write = cc.ct.writeLast
	}
	if _, err := write(out); err != nil {
		if sc != nil {
			cc.abortBody(sc, bodyErr)
			sc.close()
		}
		t.term = [2]byte{'C', 'D'}
		return false, false
	}
	if sc == nil {
		return keepClient, false
	}
	if tunnel {
		cc.tunnel(sc, bodyErr)
		return false, false
	}
	if inline == 0 && rf.HasBody() {
		_, err := http1.CopyBodyWith(&cc.ct, sc.br, rf, nil, http1.BodyOptions{Dechunk: dechunk})
		if err != nil {
			keepClient, keepServer = false, false
			t.term = cc.dataTerm(err)
			cc.abortBody(sc, bodyErr)
		}
	}
	if bodyErr != nil {
		if !keepServer {
			sc.tc.c.Close()
		}
		if err := <-bodyErr; err != nil {
			keepClient, keepServer = false, false
			if t.term == [2]byte{'-', '-'} {
				t.term = [2]byte{'C', 'D'}
			}
		}
	}
	if keepServer && sc.br.Buffered() == 0 {
		cc.park(be, sc)
	} else {
		sc.close()
	}
	return keepClient, false
}

// serverWontKeep reports whether sc will be closed after this response
// whatever the server says: the configuration closes server connections,
// or sc is a fresh one that the core's full idle pool has no room for.
func (cc *clientConn) serverWontKeep(be *Backend, sc *serverConn) bool {
	opts := cc.fe.Config.Options
	if opts.HTTPServerClose || opts.HTTPClose || be.Config.Options.HTTPServerClose || be.Config.Options.HTTPClose {
		return true
	}
	return sc.uses == 1 && be.Config.HTTPReuse != config.ReuseNever && be.poolFull(sc.srv, sc.core)
}

// park keeps a server connection that finished its response cleanly: as
// this client's own (http-reuse never) or in the core's idle pool.
func (cc *clientConn) park(be *Backend, sc *serverConn) {
	cc.s.setUpstream(nil)
	if be.Config.HTTPReuse == config.ReuseNever {
		cc.private = sc
		return
	}
	be.putIdle(cc.s.ctx, sc)
}

// copyRequestBody streams the request body to the server while the main
// goroutine waits for the response (so that 100-continue and early answers
// work); it sends its result on cc.bodyErr.
func (cc *clientConn) copyRequestBody(sc *serverConn, f http1.Framing) {
	_, err := http1.CopyBody(&sc.tc, cc.br, f, nil)
	cc.bodyErr <- err
}

// abortBody stops a running request body copy and waits for it: the
// server connection is closed and the client read deadline expired.
func (cc *clientConn) abortBody(sc *serverConn, bodyErr chan error) {
	if bodyErr == nil {
		return
	}
	sc.tc.c.Close()
	cc.ct.c.SetReadDeadline(time.Unix(1, 0))
	<-bodyErr
}

// serverFailed answers a failed exchange: 504 when timeout server expired,
// 502 otherwise (the server closed, reset, or sent an invalid head).
// headPhase says the failure came while waiting for the response head.
func (cc *clientConn) serverFailed(be *Backend, err error, headPhase bool) bool {
	t := &cc.t
	core := cc.s.Core
	be.counters[core].failedRsp.Add(1)
	if t.srv != nil {
		t.srv.counters[core].failedRsp.Add(1)
	}
	st := 502
	switch {
	case isTimeout(err):
		t.term = [2]byte{'s', 'H'}
		st = 504
	case http1.StatusOf(err) != 0:
		t.term = [2]byte{'P', 'H'}
	default:
		t.term = [2]byte{'S', 'H'}
	}
	if cc.s.Killed() {
		t.term[0] = 'K'
	}
	return cc.sendError(st)
}

// dataTerm maps a body copy error to a termination state: the client
// ('C'/'c') if writing to it failed, the server ('S'/'s') if reading
// failed, 'P' for malformed chunking, in the data phase.
func (cc *clientConn) dataTerm(err error) [2]byte {
	if cc.s.Killed() {
		return [2]byte{'K', 'D'}
	}
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Op == "write" {
		if isTimeout(err) {
			return [2]byte{'c', 'D'}
		}
		return [2]byte{'C', 'D'}
	}
	switch {
	case http1.StatusOf(err) != 0:
		return [2]byte{'P', 'D'}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return [2]byte{'s', 'D'}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return [2]byte{'S', 'D'}
	}
	return [2]byte{'S', 'D'}
}

// tunnel relays bytes both ways after a 101 or a 2xx answer to CONNECT,
// with timeout tunnel (Session.Splice), then closes the server connection.
func (cc *clientConn) tunnel(sc *serverConn, bodyErr chan error) {
	t := &cc.t
	if bodyErr != nil {
		<-bodyErr
	}
	// Bytes already read past the heads belong to the tunnel.
	if n := sc.br.Buffered(); n > 0 {
		b, _ := sc.br.Peek(n)
		cc.ct.Write(b)
		sc.br.Discard(n)
	}
	if n := cc.br.Buffered(); n > 0 {
		b, _ := cc.br.Peek(n)
		sc.tc.Write(b)
		cc.br.Discard(n)
	}
	cc.ct.readBy(time.Time{})
	cc.ct.writeIdle(0)
	sc.tc.readBy(time.Time{})
	sc.tc.writeIdle(0)
	up := &Upstream{Conn: sc.tc.c, Server: t.srv, s: cc.s}
	res := cc.s.Splice(up)
	t.splIn, t.splOut, t.term = res.BytesIn, res.BytesOut, res.Term
	sc.close()
}

// snapshotConns records the connection counts the log line reports while
// the request still holds its slot.
func (cc *clientConn) snapshotConns() {
	t := &cc.t
	t.actconn = sumCur(cc.p.global)
	t.feconn = sumCur(cc.fe.counters)
	if t.be != nil {
		t.beconn = sumCur(t.be.counters)
		for i := range t.be.counters {
			t.beconn += t.be.counters[i].queueCur.Load()
		}
	}
	if t.srv != nil {
		t.srvconn = sumCur(t.srv.counters)
	}
	t.snap = true
}

// setUpstream registers the server connection in flight, so that an
// engine shutdown (Session.kill) closes it.
func (s *Session) setUpstream(c net.Conn) {
	s.mu.Lock()
	s.upstream = c
	killed := s.killed
	s.mu.Unlock()
	if killed && c != nil {
		c.Close()
	}
}
