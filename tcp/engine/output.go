package engine

import "github.com/bareproxy/bareproxy/virtio/nethdr"

// outputLocked sends what t may send now: new or go-back-N data within
// min(cwnd, peer window), the FIN, or else a pure ACK if one is owed. It
// also starts the persist timer when the peer's window is zero.
func (e *Engine) outputLocked(t *tcb) {
	switch t.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
	case StateFinWait2, StateTimeWait:
		if t.ackNow {
			e.sendAck(t)
		}
		return
	default:
		t.ackNow = false
		return
	}
	sent := false
	for {
		off := int(t.sndNxt - t.sndUna)
		avail := t.snd.n - off // -1 once the FIN is out
		n := 0
		if avail > 0 {
			inflight := t.sndNxt - t.sndUna
			wnd := min(t.cwnd, t.sndWnd)
			can := 0
			if wnd > inflight {
				can = int(wnd - inflight)
			}
			n = min(avail, e.segMax(t), can)
			// Sender silly-window avoidance (RFC 9293 3.8.6.2.1):
			// no small window-limited segment while data is in
			// flight; an ACK will open the window.
			if n < avail && n < t.mss && inflight > 0 {
				n = 0
			}
		}
		fin := t.finQueued && off+n == t.snd.n
		if n == 0 && !fin {
			break
		}
		flags := uint8(flagACK)
		if n > 0 && n == avail {
			flags |= flagPSH
		}
		if fin {
			flags |= flagFIN
		}
		p1, p2 := t.snd.peek(off, n)
		if seqGEQ(t.sndNxt, t.sndMax) && !t.rttTiming && n > 0 {
			t.rttTiming, t.rttSeq, t.rttStart = true, t.sndNxt, e.clock()
		}
		e.emit(t, t.sndNxt, flags, nil, p1, p2)
		t.sndNxt += uint32(n)
		if fin {
			t.sndNxt++
		}
		if seqGT(t.sndNxt, t.sndMax) {
			t.sndMax = t.sndNxt
		}
		if !t.timerOn || t.persist {
			e.armRTO(t, e.clock())
		}
		sent = true
		if fin {
			break
		}
	}
	if !sent && t.ackNow {
		e.sendAck(t)
	}
	t.ackNow = false
	if t.sndMax == t.sndUna && t.sndWnd == 0 && t.snd.n > 0 && !t.timerOn {
		t.persist = true
		e.wheel.arm(t, e.clock()+t.rto)
	}
}

// retransmitHead resends the first unacknowledged segment (fast
// retransmit, NewReno partial ACK).
func (e *Engine) retransmitHead(t *tcb) {
	n := min(t.snd.n, t.mss)
	flags := uint8(flagACK)
	if t.finQueued && n == t.snd.n && seqGT(t.sndMax, t.sndUna+uint32(n)) {
		flags |= flagFIN
	}
	if n == 0 && flags&flagFIN == 0 {
		return
	}
	p1, p2 := t.snd.peek(0, n)
	e.stats.fastRetransmits.Add(1)
	e.emit(t, t.sndUna, flags, nil, p1, p2)
}

// sendSyn sends our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED).
func (e *Engine) sendSyn(t *tcb) {
	var ob optBuf
	flags := uint8(flagSYN)
	ws := e.rcvShift
	ts := !e.cfg.DisableTimestamps
	var tsEcr uint32
	if t.state == StateSynRcvd {
		flags |= flagACK
		ws = t.rcvShift
		if !t.wsOK {
			ws = -1 // the peer offered none: RFC 7323 2.2 forbids ours
		}
		ts, tsEcr = t.tsOK, t.tsRecent // nor timestamps (RFC 7323 3.2)
	}
	e.emit(t, t.iss, flags, synOptions(&ob, uint16(e.mss), ws, ts, t.tsVal(e.clock()), tsEcr), nil, nil)
}

// sendAck sends a pure ACK. Its sequence number is SND.MAX, not SND.NXT:
// after an RTO rewinds SND.NXT (go-back-N), a peer that already holds
// those bytes finds SND.NXT below its RCV.NXT, deems the segment
// unacceptable and ignores its ACK field (RFC 9293 3.10.7.4). When both
// sides time out at once, each then drops the other's ACKs for good.
func (e *Engine) sendAck(t *tcb) { e.emit(t, t.sndMax, flagACK, nil, nil, nil) }

// sendProbe sends a zero-window probe: an ACK with an old sequence number,
// which the peer must answer with its window (RFC 9293 3.8.6.1 allows
// probing with one byte; this form, also Linux's, needs none).
func (e *Engine) sendProbe(t *tcb) { e.emit(t, t.sndUna-1, flagACK, nil, nil, nil) }

// sendTCBReset aborts t's peer side (RFC 9293 ABORT).
func (e *Engine) sendTCBReset(t *tcb) {
	e.stats.resetsSent.Add(1)
	e.emit(t, t.sndNxt, flagRST|flagACK, nil, nil, nil)
}

// window returns the window field for t's next segment and the right edge
// it advertises.
func (t *tcb) window(syn bool) uint16 {
	free := uint32(t.rcv.free())
	if t.rcv.size == 0 && seqGT(t.rcvAdv, t.rcvNxt) {
		// Receiving is over for good (TIME_WAIT). Repeat the edge
		// last advertised, as Linux's timewait sockets do: a zero
		// window reads as a stalled receiver in every trace.
		free = t.rcvAdv - t.rcvNxt
	}
	if syn || t.rcvShift <= 0 {
		return uint16(min(free, 0xffff))
	}
	return uint16(min(free>>t.rcvShift, 0xffff))
}

// emit builds one segment of t into the transmit batch. Every segment
// but a bare SYN carries the ACK of RCV.NXT and the current window; once
// timestamps are negotiated every segment carries them (opts, given for
// SYNs only, already does).
func (e *Engine) emit(t *tcb, seq uint32, flags uint8, opts, p1, p2 []byte) {
	syn := flags&flagSYN != 0
	var ob [tsOptLen]byte
	if !syn && t.tsOK {
		putTS(ob[:], t.tsVal(e.clock()), t.tsRecent)
		opts = ob[:]
	}
	h := hdr{dstMAC: t.rmac, dstIP: t.rip, srcPort: t.lport, dstPort: t.rport, seq: seq, flags: flags}
	if flags&flagACK != 0 {
		h.ack = t.rcvNxt
		h.wnd = t.window(syn)
		edge := t.rcvNxt + uint32(h.wnd)
		if !syn && t.rcvShift > 0 {
			edge = t.rcvNxt + uint32(h.wnd)<<t.rcvShift
		}
		if seqGT(edge, t.rcvAdv) || t.rcvAdv == 0 {
			t.rcvAdv = edge
		}
		t.lastAckSent = t.rcvNxt
		t.ackNow = false
		t.ackDelayed = false
	} else {
		h.wnd = t.window(true)
	}
	e.send(&h, opts, p1, p2, t.mss)
}

// send builds a segment into the transmit batch. With Config.VnetHdr it
// goes after its virtio_net_hdr and with a partial checksum: the device
// finishes it, or a local receiver skips it, so neither end sums the
// payload; a payload longer than mss (Config.TSO) is to be cut into
// mss-sized segments.
func (e *Engine) send(h *hdr, opts, p1, p2 []byte, mss int) {
	plen := len(p1) + len(p2)
	buf := e.frameBuf(e.room + ethHdrLen + ipv4HdrLen + tcpHdrLen + len(opts) + plen)
	f := build(buf[e.room:], e.cfg.MAC, e.addr4, h, opts, p1, p2, e.room > 0)
	if e.room > 0 {
		vh := nethdr.Hdr{Flags: nethdr.NeedsCsum, CsumStart: ethHdrLen + ipv4HdrLen, CsumOffset: tcpCsumOffset}
		if plen > mss {
			e.stats.tsoSent.Add(1)
			vh.GSOType, vh.GSOSize, vh.HdrLen = nethdr.GSOTCPv4, uint16(mss), uint16(len(f)-plen)
		}
		vh.Put(buf)
		f = buf[:e.room+len(f)]
	}
	e.addFrame(f)
}

// segMax is the most payload one segment of t may carry: one MSS, or with
// Config.TSO as many whole MSS as fit in an IPv4 packet.
func (e *Engine) segMax(t *tcb) int {
	if !e.cfg.TSO {
		return t.mss
	}
	return (maxTSOLen - ipv4HdrLen - tcpHdrLen - tsOptLen) / t.mss * t.mss
}

// resetFor answers s, which no connection wants, with a RST (RFC 9293
// 3.10.7.1). A RST is never answered.
func (e *Engine) resetFor(s *segment) {
	if s.flags&flagRST != 0 {
		return
	}
	h := hdr{dstMAC: s.srcMAC, dstIP: s.srcIP, srcPort: s.dstPort, dstPort: s.srcPort}
	if s.flags&flagACK != 0 {
		h.seq, h.flags = s.ack, flagRST
	} else {
		h.ack, h.flags = s.seq+s.seqLen(), flagRST|flagACK
	}
	e.stats.resetsSent.Add(1)
	e.send(&h, nil, nil, nil, 0)
}

// rcvConsumed follows bytes taken from t's receive buffer, by a Read or a
// splice: the buffer goes back to the free list once empty, and the peer
// hears of the opened window when it needs to.
func (e *Engine) rcvConsumed(t *tcb) {
	e.releaseBuf(&t.rcv, t.nooo > 0)
	if t.state != StateClosed && t.wantWindowUpdate() {
		t.ackNow = true
		e.schedule(t)
	}
}

// wantWindowUpdate reports whether reading has opened the window enough to
// tell the peer: at all when the advertised window was zero, else by
// min(buffer/2, MSS) (receiver silly-window avoidance, RFC 9293
// 3.8.6.2.2), and only once the window the peer knows has fallen below
// half the buffer. A sender with room to spare needs no news, and each
// update is a segment: a proxy that read a 4 KiB response sent the
// server one after the response's own ACK (Linux's tcp_cleanup_rbuf
// waits the same way).
func (t *tcb) wantWindowUpdate() bool {
	edge := t.rcvNxt + uint32(t.rcv.free())
	if t.rcvShift > 0 {
		edge = t.rcvNxt + (uint32(t.rcv.free())>>t.rcvShift)<<t.rcvShift
	}
	grow := edge - t.rcvAdv
	if int32(grow) <= 0 {
		return false
	}
	if t.rcvAdv == t.rcvNxt {
		return true
	}
	known := t.rcvAdv - t.rcvNxt
	return int(known) < t.rcv.size/2 && int(grow) >= min(t.rcv.size/2, t.mss)
}
