package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// SpliceResult says how a splice ended.
type SpliceResult struct {
	// BytesIn counts bytes copied from the client to the server.
	BytesIn int64
	// BytesOut counts bytes copied from the server to the client.
	BytesOut int64
	// Term is HAProxy's two-character termination state: '-' for a normal
	// end, else who ended it ('C' client, 'S' server, 'c'/'s' their
	// timeouts, 'K' engine shutdown) and the phase ('D' for data).
	Term [2]byte
}

// Splice copies bytes both ways between the session's client and up until
// both directions finish. A direction finishes at end of stream, which is
// passed on as a half-close (CloseWrite) when the other side supports it.
// The connection is idle when neither direction moves bytes; it is closed
// when idle for timeout client (on client reads and writes) or timeout
// server (on server ones), or timeout tunnel for both when set. An error
// or timeout in one direction closes both connections. Splice does not
// close them otherwise; the caller does.
func (s *Session) Splice(up *Upstream) SpliceResult {
	fe, be := s.Frontend.Config.Timeouts, up.Server.Backend.Config.Timeouts
	clientIdle, serverIdle := fe.Client, be.Server
	if be.Tunnel > 0 {
		clientIdle, serverIdle = be.Tunnel, be.Tunnel
	}
	if es, ok := s.Client.(engineSplicer); ok {
		if res, ok := s.spliceInEngine(es, up, clientIdle, serverIdle); ok {
			return res
		}
	}
	sp := &splicer{s: s, up: up}
	sp.touch()
	c2s := half{sp: sp, src: s.Client, dst: up.Conn, fromClient: true, readIdle: clientIdle, writeIdle: serverIdle}
	s2c := half{sp: sp, src: up.Conn, dst: s.Client, fromClient: false, readIdle: serverIdle, writeIdle: clientIdle}
	var wg sync.WaitGroup
	wg.Add(1)
	go s2c.runServerToClient(&wg)
	c2s.run()
	wg.Wait()
	res := SpliceResult{BytesIn: c2s.n, BytesOut: s2c.n, Term: [2]byte{'-', '-'}}
	if t := sp.term.Load(); t != 0 {
		res.Term = [2]byte{byte(t >> 8), byte(t)}
	}
	return res
}

// spliceInEngine has the TCP engine splice the client and up, which is
// the same as the goroutine splice below, and false if the engine cannot.
func (s *Session) spliceInEngine(es engineSplicer, up *Upstream, clientIdle, serverIdle time.Duration) (SpliceResult, bool) {
	count := func(dir, n int) { s.countBytes(up, dir == 0, uint64(n)) }
	moved, side, err := es.Splice(up.Conn, [2]time.Duration{clientIdle, serverIdle}, count)
	if errors.Is(err, errors.ErrUnsupported) {
		return SpliceResult{}, false
	}
	res := SpliceResult{BytesIn: moved[0], BytesOut: moved[1], Term: [2]byte{'-', '-'}}
	if err != nil {
		res.Term = s.abortSplice(up, termSide(side == 0, isTimeout(err)))
	}
	return res, true
}

// abortSplice closes both ends of a failed splice and returns its
// termination state: who ended it, or 'K' if the engine is shutting down.
func (s *Session) abortSplice(up *Upstream, who byte) [2]byte {
	if s.Killed() {
		who = 'K'
	}
	s.Client.Close()
	up.Conn.Close()
	return [2]byte{who, 'D'}
}

// countBytes adds n bytes moved from the client (in) or to it (out) to
// the frontend's, backend's and server's counters of the session's core.
func (s *Session) countBytes(up *Upstream, fromClient bool, n uint64) {
	fc := &s.Frontend.counters[s.Core]
	bc := &up.Server.Backend.counters[s.Core]
	sc := &up.Server.counters[s.Core]
	if fromClient {
		fc.bytesIn.Add(n)
		bc.bytesIn.Add(n)
		sc.bytesIn.Add(n)
	} else {
		fc.bytesOut.Add(n)
		bc.bytesOut.Add(n)
		sc.bytesOut.Add(n)
	}
}

// splicer is the state shared by a splice's two directions.
type splicer struct {
	s       *Session
	up      *Upstream
	last    atomic.Int64  // unix nanoseconds of the last byte moved either way
	term    atomic.Uint32 // first termination state recorded, 0 if none
	closing atomic.Bool   // set once the splice closes both ends itself
}

func (sp *splicer) touch() { sp.last.Store(sp.s.Proxy.opts.now().UnixNano()) }

// remaining returns how long until idle expires, or <= 0 if it has.
func (sp *splicer) remaining(idle time.Duration) time.Duration {
	return time.Duration(sp.last.Load()) + idle - time.Duration(sp.s.Proxy.opts.now().UnixNano())
}

// fail records who ended the splice (unless it is already ending) and
// closes both connections so that the other direction returns.
func (sp *splicer) fail(who byte) {
	if sp.closing.Swap(true) {
		return
	}
	t := sp.s.abortSplice(sp.up, who)
	sp.term.CompareAndSwap(0, uint32(t[0])<<8|uint32(t[1]))
}

// half is one direction of a splice.
type half struct {
	sp                  *splicer
	src, dst            net.Conn
	fromClient          bool
	readIdle, writeIdle time.Duration
	n                   int64
	closedWrite         bool // writeLast sent the end of stream
}

// runServerToClient runs the server-to-client direction on its own
// goroutine.
func (h *half) runServerToClient(wg *sync.WaitGroup) {
	defer wg.Done()
	h.run()
}

// termSide returns the termination letter for the client or the server end.
func termSide(client, timeout bool) byte {
	switch {
	case client && timeout:
		return 'c'
	case client:
		return 'C'
	case timeout:
		return 's'
	}
	return 'S'
}

func (h *half) run() {
	p := h.sp.s.Proxy
	bp := p.getBuf()
	defer p.putBuf(bp)
	buf := *bp
	if h.readIdle > 0 {
		h.src.SetReadDeadline(p.opts.now().Add(h.readIdle))
	}
	if h.writeIdle > 0 {
		h.dst.SetWriteDeadline(p.opts.now().Add(h.writeIdle))
	}
	for {
		nr, rerr := h.src.Read(buf)
		if nr > 0 {
			h.sp.touch()
			var werr error
			if errors.Is(rerr, io.EOF) {
				werr = h.writeLast(buf[:nr])
			} else {
				werr = h.write(buf[:nr])
			}
			if werr != nil {
				if !h.sp.closing.Load() {
					h.sp.fail(termSide(!h.fromClient, isTimeout(werr)))
				}
				return
			}
			h.n += int64(nr)
			h.sp.s.countBytes(h.sp.up, h.fromClient, uint64(nr))
		}
		if rerr == nil {
			continue
		}
		if errors.Is(rerr, io.EOF) {
			h.halfClose()
			return
		}
		if isTimeout(rerr) && h.readIdle > 0 && !h.sp.closing.Load() {
			if rem := h.sp.remaining(h.readIdle); rem > 0 {
				h.src.SetReadDeadline(p.opts.now().Add(rem))
				continue
			}
		}
		if !h.sp.closing.Load() {
			h.sp.fail(termSide(h.fromClient, isTimeout(rerr)))
		}
		return
	}
}

// write writes b fully; a write deadline that expires while the splice is
// still active (bytes moved either way) is extended.
func (h *half) write(b []byte) error {
	for len(b) > 0 {
		n, err := h.dst.Write(b)
		b = b[n:]
		if n > 0 {
			h.sp.touch()
		}
		if err == nil {
			continue
		}
		if isTimeout(err) && h.writeIdle > 0 && !h.sp.closing.Load() {
			if rem := h.sp.remaining(h.writeIdle); rem > 0 {
				h.dst.SetWriteDeadline(h.sp.s.Proxy.opts.now().Add(rem))
				continue
			}
		}
		return err
	}
	return nil
}

// writeLast writes b, after which src is at its end, and passes the end of
// stream on: in one segment where dst can (finalWriter).
func (h *half) writeLast(b []byte) error {
	fw, ok := h.dst.(finalWriter)
	if !ok {
		return h.write(b)
	}
	n, err := fw.WriteClose(b)
	if n > 0 {
		h.sp.touch()
	}
	if err == nil {
		h.closedWrite = true
		return nil
	}
	if n < len(b) && isTimeout(err) {
		return h.write(b[n:]) // extends the deadline as needed; halfClose follows
	}
	return err
}

// halfClose passes an end of stream on: CloseWrite if dst can, else close
// both ends, which ends the other direction too.
func (h *half) halfClose() {
	if h.closedWrite {
		return
	}
	if cw, ok := h.dst.(closeWriter); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	if !h.sp.closing.Swap(true) {
		h.sp.s.Client.Close()
		h.sp.up.Conn.Close()
	}
}
