package engine

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
)

// State is a TCP connection state (RFC 9293 section 3.3.2).
type State uint8

// Connection states. LISTEN is a Listener, not a connection.
const (
	StateClosed State = iota
	StateSynSent
	StateSynRcvd
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{"CLOSED", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
	"FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// Errors a connection can end with.
var (
	errReset   = syscall.ECONNRESET
	errRefused = syscall.ECONNREFUSED
	errTimeout = syscall.ETIMEDOUT
)

// ErrNoNeighbour is returned, wrapped, by Dial when Config.Resolve knows no
// Ethernet address for the remote: resolve it (ARP) and dial again.
var ErrNoNeighbour = errors.New("engine: no neighbour entry for the remote address")

// maxOOO bounds the out-of-order ranges kept per connection.
const maxOOO = 8

// seqRange is [start, end) in sequence space.
type seqRange struct{ start, end uint32 }

// tcb is a transmission control block (RFC 9293 section 3.3.1). Every
// field is guarded by e.mu. tcbs are recycled through the engine's free
// list; gen changes on every recycle.
type tcb struct {
	gen    uint32
	state  State
	key    uint64
	handle *Conn     // nil when the application has none (yet, or any more)
	lst    *Listener // for passive opens until accepted
	inConn bool      // in e.conns

	rip          [4]byte
	rport, lport uint16
	rmac         [6]byte

	// Send sequence space.
	iss, sndUna, sndNxt, sndMax uint32
	sndWnd                      uint32 // peer's window, scaled
	sndWL1, sndWL2              uint32
	sndShift, rcvShift          int8 // -1 until negotiated
	wsOK                        bool // both sides sent window scale
	mss                         int  // send MSS, less tsOptLen with timestamps
	snd                         ring
	finQueued                   bool // the application shut down writing
	finAcked                    bool

	// Receive sequence space.
	irs, rcvNxt uint32
	rcvAdv      uint32 // right edge of the window last advertised
	rcv         ring
	ooo         [maxOOO]seqRange
	nooo        int
	finRcvd     bool // a FIN was seen, at finSeq
	finSeq      uint32
	rcvClosed   bool // the FIN was consumed in order: EOF after rcv drains

	// Timestamps (RFC 7323): tsOK once both SYNs carried the option.
	tsOK        bool
	tsOffset    uint32 // added to the millisecond clock for TSval
	tsRecent    uint32 // TS.Recent: the TSval to echo
	tsRecentAt  int64  // engine clock when TS.Recent was last set
	lastAckSent uint32 // Last.ACK.sent: RCV.NXT in our latest ACK

	// Congestion control (RFC 5681, RFC 6582).
	cwnd, ssthresh uint32
	dupAcks        int
	recover        uint32
	inRecovery     bool

	// Round-trip time (RFC 6298); times are engine clock nanoseconds.
	srtt, rttvar, rto int64
	rttTiming         bool
	rttSeq            uint32
	rttStart          int64
	retries           int
	persist           bool  // the timer is a zero-window probe timer
	synRetried        bool  // the SYN went again after a stray ACK (synSentInput)
	dialBy            int64 // when an unanswered dial gives up (DialTimeout); 0 for never

	// Timer wheel links.
	tprev, tnext *tcb
	deadline     int64
	slot         int
	timerOn      bool

	ackNow     bool
	ackDelayed bool // an ACK is owed by the next tick (delayAck)
	inPending  bool
	err        error // why the connection ended, if not by FINs
}

func (t *tcb) remote() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4(t.rip), t.rport)
}

// newTCB takes a tcb from the free list with fresh buffers.
func (e *Engine) newTCB(rip [4]byte, rport, lport uint16, rmac [6]byte) *tcb {
	var t *tcb
	if n := len(e.freeTCBs); n > 0 {
		t = e.freeTCBs[n-1]
		e.freeTCBs[n-1] = nil
		e.freeTCBs = e.freeTCBs[:n-1]
		gen := t.gen
		*t = tcb{gen: gen}
	} else {
		t = &tcb{}
	}
	t.rip, t.rport, t.lport, t.rmac = rip, rport, lport, rmac
	t.key = connKey(rip, rport, lport)
	t.tsOffset = e.tsOffsetFor(t, e.clock())
	t.sndShift, t.rcvShift = -1, -1
	t.mss = 536 // RFC 9293 3.7.1 default until the peer's MSS option
	t.rto = int64(initialRTO)
	t.ssthresh = 1 << 30
	t.snd.size = e.cfg.BufferSize
	t.rcv.size = e.cfg.BufferSize
	return t
}

// insert adds t to the connection table.
func (e *Engine) insert(t *tcb) {
	e.conns[t.key] = t
	t.inConn = true
}

// finishLocked ends t's protocol life: it leaves the connection table and
// the wheel and is CLOSED. Its send buffer is released; the receive buffer
// stays while the application holds the connection (unread data remains
// readable). Without a handle the tcb is recycled.
func (e *Engine) finishLocked(t *tcb) {
	e.tsRemember(t, e.clock())
	if t.inConn {
		delete(e.conns, t.key)
		t.inConn = false
	}
	e.wheel.cancel(t)
	if t.lst != nil {
		if t.state == StateSynRcvd {
			t.lst.halfOpen--
		}
		t.lst = nil
	}
	t.state = StateClosed
	e.putBuf(t.snd.buf)
	t.snd = ring{}
	if t.handle != nil {
		e.inputEnded(t.handle)
		return
	}
	e.recycle(t)
}

// releaseRcv gives back the receive buffer of a tcb that can receive no
// more data and holds nothing for the application: TIME_WAIT holds only
// the 4-tuple and sequence numbers.
func (e *Engine) releaseRcv(t *tcb) {
	if t.handle == nil && t.rcv.n == 0 && t.rcv.size != 0 {
		e.putBuf(t.rcv.buf)
		t.rcv = ring{}
	}
}

// sendOpen reports whether t may still take bytes to send: established
// (or the peer closed first) and no FIN queued.
func (t *tcb) sendOpen() bool {
	return !t.finQueued && (t.state == StateEstablished || t.state == StateCloseWait)
}

// synDue is when the timer of an unanswered SYN fires: for its
// retransmission, or for the dial's time limit if that comes first.
func (t *tcb) synDue(now int64) int64 {
	at := now + t.rto
	if t.dialBy != 0 && t.dialBy < at {
		at = t.dialBy
	}
	return at
}

// recycle returns a finished tcb with no handle to the free list.
func (e *Engine) recycle(t *tcb) {
	e.putBuf(t.rcv.buf)
	t.rcv = ring{}
	t.gen++
	if len(e.freeTCBs) < maxFreeTCBs {
		e.freeTCBs = append(e.freeTCBs, t)
	}
}

// abortLocked ends t with err; with rst a RST is sent first (RFC 9293
// 3.10.7.x ABORT).
func (e *Engine) abortLocked(t *tcb, err error, rst bool) {
	if rst && t.state != StateClosed && t.state != StateTimeWait && t.state != StateSynSent {
		e.sendTCBReset(t)
	}
	if t.err == nil {
		t.err = err
	}
	e.finishLocked(t)
}

// armRTO (re)starts the retransmission timer.
func (e *Engine) armRTO(t *tcb, now int64) {
	t.persist = false
	e.wheel.arm(t, now+t.rto)
}

// enterTimeWait moves t to TIME_WAIT for Config.TimeWait.
func (e *Engine) enterTimeWait(t *tcb, now int64) {
	t.state = StateTimeWait
	t.persist = false
	e.putBuf(t.snd.buf)
	t.snd = ring{}
	e.releaseRcv(t)
	e.wheel.arm(t, now+int64(e.cfg.TimeWait))
	if t.handle != nil {
		t.handle.wakeAll()
	}
}

// fireLocked runs t's timer.
func (e *Engine) fireLocked(t *tcb, now int64) {
	switch t.state {
	case StateTimeWait, StateFinWait2:
		e.finishLocked(t)
	case StateSynSent, StateSynRcvd:
		if t.dialBy != 0 && now >= t.dialBy {
			e.stats.timeouts.Add(1)
			e.abortLocked(t, context.DeadlineExceeded, false)
			return
		}
		if t.retries >= maxSynRetries {
			e.stats.timeouts.Add(1)
			e.abortLocked(t, errTimeout, t.state == StateSynRcvd)
			return
		}
		t.retries++
		t.rto = min(2*t.rto, int64(maxRTO))
		t.rttTiming = false
		e.stats.retransmits.Add(1)
		e.stats.synRetransmits.Add(1)
		e.sendSyn(t)
		e.wheel.arm(t, t.synDue(now))
	case StateClosed:
	default:
		if t.sndMax != t.sndUna { // data or FIN outstanding: RTO (RFC 6298 5.4-5.7)
			if t.retries >= maxRetries {
				e.stats.timeouts.Add(1)
				e.abortLocked(t, errTimeout, true)
				return
			}
			t.retries++
			flight := t.sndMax - t.sndUna
			t.ssthresh = max(flight/2, uint32(2*t.mss)) // RFC 5681 (4)
			t.cwnd = uint32(t.mss)
			t.sndNxt = t.sndUna // go back N
			t.dupAcks, t.inRecovery, t.recover = 0, false, t.sndMax
			t.rttTiming = false // Karn
			t.rto = min(2*t.rto, int64(maxRTO))
			e.stats.retransmits.Add(1)
			e.outputLocked(t)
			if t.sndNxt == t.sndUna {
				// Nothing fitted: the peer's window is zero and its
				// update may have been lost. Ask for it.
				e.stats.probes.Add(1)
				e.sendProbe(t)
			}
			e.armRTO(t, now)
			return
		}
		if t.persist && t.snd.n > 0 && t.sndWnd == 0 { // zero-window probe (RFC 9293 3.8.6.1)
			e.stats.probes.Add(1)
			e.sendProbe(t)
			t.rto = min(2*t.rto, int64(maxRTO))
			e.wheel.arm(t, now+t.rto)
			return
		}
		t.persist = false
		e.outputLocked(t)
	}
}

// rttSample updates SRTT, RTTVAR and RTO with a measurement r (RFC 6298
// section 2, G = the timer tick).
func (t *tcb) rttSample(r int64) {
	if r <= 0 {
		r = 1
	}
	if t.srtt == 0 {
		t.srtt, t.rttvar = r, r/2
	} else {
		d := t.srtt - r
		if d < 0 {
			d = -d
		}
		t.rttvar = (3*t.rttvar + d) / 4
		t.srtt = (7*t.srtt + r) / 8
	}
	t.rto = t.srtt + max(int64(timerTick), 4*t.rttvar)
	t.rto = max(t.rto, int64(minRTO))
	t.rto = min(t.rto, int64(maxRTO))
}
