package engine

// inputLocked processes one parsed segment (RFC 9293 section 3.10.7) and
// reports whether it was the engine's business.
func (e *Engine) inputLocked(s *segment) bool {
	if e.closed {
		return true
	}
	e.stats.segsIn.Add(1)
	now := e.clock()
	key := connKey(s.srcIP, s.srcPort, s.dstPort)
	if t := e.conns[key]; t != nil {
		if t.state == StateTimeWait && s.flags&(flagSYN|flagACK|flagRST) == flagSYN &&
			(seqGT(s.seq, t.rcvNxt) || (t.tsOK && s.tsOK && seqGT(s.tsVal, t.tsRecent))) {
			// A new incarnation of the 4-tuple (RFC 9293 3.6.1, RFC
			// 6191: a higher sequence number or timestamp): end
			// TIME_WAIT and let the listener take it.
			e.finishLocked(t)
		} else {
			e.segmentLocked(t, s, now)
			return true
		}
	}
	if l := e.listeners[s.dstPort]; l != nil {
		e.listenInput(l, s, now)
		return true
	}
	if !e.cfg.ResetUnknown {
		e.stats.segsIn.Add(^uint64(0))
		return false
	}
	e.resetFor(s)
	return true
}

// listenInput handles a segment to a listening port with no connection
// (RFC 9293 3.10.7.2).
func (e *Engine) listenInput(l *Listener, s *segment, now int64) {
	switch {
	case s.flags&flagRST != 0:
		return
	case s.flags&flagACK != 0:
		e.resetFor(s)
		return
	case s.flags&flagSYN == 0:
		return
	}
	if l.halfOpen+len(l.accept) >= cap(l.accept) {
		e.stats.synDropped.Add(1) // no SYN cookies: the peer retries
		return
	}
	t := e.newTCB(s.srcIP, s.srcPort, s.dstPort, s.srcMAC)
	t.state = StateSynRcvd
	t.lst = l
	l.halfOpen++
	t.irs = s.seq
	t.rcvNxt = s.seq + 1
	t.iss = e.isn(s.dstPort, s.srcIP, s.srcPort, now)
	t.sndUna, t.sndNxt, t.sndMax = t.iss, t.iss+1, t.iss+1
	e.negotiate(t, s, now)
	t.sndWnd = uint32(s.wnd) // SYN windows are never scaled (RFC 7323 2.2)
	t.sndWL1, t.sndWL2 = s.seq, t.iss
	e.insert(t)
	e.sendSyn(t)
	t.rttTiming, t.rttSeq, t.rttStart = true, t.iss, now
	e.wheel.arm(t, now+t.rto)
}

// negotiate takes the peer's MSS, window-scale and timestamps options from
// its SYN.
func (e *Engine) negotiate(t *tcb, s *segment, now int64) {
	t.mss = 536
	if s.mss != 0 {
		t.mss = int(s.mss)
	}
	t.mss = max(min(t.mss, e.mss), 64)
	// Timestamps only if both SYNs carry them (RFC 7323 3.2); the
	// option then takes 12 bytes of every segment's MSS.
	t.tsOK = s.tsOK && !e.cfg.DisableTimestamps
	if t.tsOK {
		t.tsRecent, t.tsRecentAt = s.tsVal, now
		t.mss -= tsOptLen
	}
	t.lastAckSent = s.seq + 1
	t.wsOK = s.ws >= 0
	if t.wsOK {
		t.sndShift, t.rcvShift = s.ws, e.rcvShift
	} else {
		t.sndShift, t.rcvShift = 0, 0
	}
	// RFC 6928 IW10, RFC 5681 3.1.
	t.cwnd = uint32(10 * t.mss)
}

// synSentInput handles a segment in SYN-SENT (RFC 9293 3.10.7.3).
func (e *Engine) synSentInput(t *tcb, s *segment, now int64) {
	hasACK := s.flags&flagACK != 0
	if hasACK && (seqLEQ(s.ack, t.iss) || seqGT(s.ack, t.sndMax)) {
		if s.flags&flagRST == 0 {
			e.resetFor(s)
			// Such an ACK is mostly a peer's challenge ACK
			// (RFC 5961 4): it still holds an old connection on
			// this 4-tuple, from an engine that stopped without
			// resetting it. The RST, which carries the ACK's
			// number, ends that connection, so the SYN may go
			// again at once instead of after the RTO; once per
			// dial, so two confused peers cannot loop.
			if !t.synRetried {
				t.synRetried = true
				e.sendSyn(t)
			}
		}
		return
	}
	if s.flags&flagRST != 0 {
		if hasACK {
			e.stats.resetsRcvd.Add(1)
			e.abortLocked(t, errRefused, false)
		}
		return
	}
	if s.flags&flagSYN == 0 {
		return
	}
	t.irs = s.seq
	t.rcvNxt = s.seq + 1
	e.negotiate(t, s, now)
	t.sndWL1 = s.seq
	if !hasACK { // simultaneous open
		t.state = StateSynRcvd
		t.sndWnd = uint32(s.wnd)
		e.sendSyn(t)
		return
	}
	t.sndUna = s.ack
	t.sndWnd = uint32(s.wnd)
	t.sndWL2 = s.ack
	if t.rttTiming {
		t.rttSample(now - t.rttStart)
		t.rttTiming = false
	}
	t.retries = 0
	e.wheel.cancel(t)
	t.state = StateEstablished
	e.stats.dialled.Add(1)
	// The dialler writes its request as soon as Dial returns, and that
	// segment carries the ACK (Linux also holds this ACK when a write is
	// pending).
	e.delayAck(t)
	if t.handle != nil {
		t.handle.wakeAll()
	}
}

// acceptable is RFC 9293 3.10.7.4's segment acceptability test.
func acceptable(seq, segLen, rcvNxt, wnd uint32) bool {
	if segLen == 0 {
		if wnd == 0 {
			return seq == rcvNxt
		}
		return seqInWindow(seq, rcvNxt, wnd)
	}
	if wnd == 0 {
		return false
	}
	return seqInWindow(seq, rcvNxt, wnd) || seqInWindow(seq+segLen-1, rcvNxt, wnd)
}

// segmentLocked processes a segment for an existing connection.
func (e *Engine) segmentLocked(t *tcb, s *segment, now int64) {
	if t.state == StateSynSent {
		e.synSentInput(t, s, now)
		return
	}
	if t.state == StateClosed {
		return
	}
	// A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost.
	if t.state == StateSynRcvd && s.flags&(flagSYN|flagACK|flagRST) == flagSYN && s.seq == t.irs {
		e.sendSyn(t)
		return
	}
	// PAWS (RFC 7323 5.3 R1): an old duplicate; ACK it unless RST.
	if t.pawsReject(s, now) {
		e.stats.pawsDropped.Add(1)
		t.ackNow = true
		e.schedule(t)
		return
	}
	// First: sequence number check.
	wnd := uint32(t.rcv.free())
	segLen := s.seqLen()
	if !acceptable(s.seq, segLen, t.rcvNxt, wnd) {
		// A zero window still takes the ACK of an in-sequence segment.
		if !(wnd == 0 && s.seq == t.rcvNxt) {
			if s.flags&flagRST == 0 {
				t.ackNow = true
				e.schedule(t)
			}
			if t.state == StateTimeWait && s.flags&flagFIN != 0 {
				// A retransmitted FIN: our last ACK was lost.
				// Restart TIME_WAIT (RFC 9293 3.10.7.4).
				e.wheel.arm(t, now+int64(e.cfg.TimeWait))
			}
			return
		}
		s.payload = s.payload[:0]
		s.flags &^= flagFIN
	}
	t.tsUpdate(s, now)
	// Second: RST (RFC 5961 section 3.2: exact match resets, anything
	// else in the window gets a challenge ACK).
	if s.flags&flagRST != 0 {
		if s.seq != t.rcvNxt {
			e.challengeAck(t)
			return
		}
		e.stats.resetsRcvd.Add(1)
		switch t.state {
		case StateSynRcvd, StateClosing, StateLastAck, StateTimeWait:
			e.finishLocked(t)
		default:
			e.abortLocked(t, errReset, false)
		}
		return
	}
	// Fourth: SYN in a synchronized state (RFC 5961 section 4.2).
	if s.flags&flagSYN != 0 {
		e.challengeAck(t)
		return
	}
	// Fifth: ACK.
	if s.flags&flagACK == 0 {
		return
	}
	if t.state == StateSynRcvd {
		if !(seqLT(t.sndUna, s.ack) && seqLEQ(s.ack, t.sndMax)) {
			e.resetFor(s)
			return
		}
		t.sndUna = s.ack
		t.sndWnd = uint32(s.wnd) << t.sndShift
		t.sndWL1, t.sndWL2 = s.seq, s.ack
		if t.rttTiming {
			t.rttSample(now - t.rttStart)
			t.rttTiming = false
		}
		t.retries = 0
		e.wheel.cancel(t)
		t.state = StateEstablished
		if !e.establishPassive(t) {
			return
		}
	} else if seqGT(s.ack, t.sndMax) {
		t.ackNow = true // acks something not yet sent
		e.schedule(t)
		return
	} else if seqGEQ(s.ack, t.sndUna) {
		if e.processAck(t, s, now) {
			return // the connection ended
		}
	}
	// Seventh: segment text.
	if len(s.payload) > 0 {
		switch t.state {
		case StateEstablished, StateFinWait1, StateFinWait2:
			if t.handle == nil && t.lst == nil && seqGT(s.seq+uint32(len(s.payload)), t.rcvNxt) {
				// The application closed and can never read this
				// (Linux resets here too).
				e.abortLocked(t, errReset, true)
				return
			}
			e.receiveData(t, s)
		default:
			s.flags &^= flagFIN // after the peer's FIN: ignore
		}
	}
	// Eighth: FIN.
	if s.flags&flagFIN != 0 && !t.finRcvd {
		t.finRcvd = true
		t.finSeq = s.seq + uint32(len(s.payload))
	}
	e.checkFin(t, now)
}

// challengeAck sends an ACK the peer can use to recover (RFC 5961 3.2).
func (e *Engine) challengeAck(t *tcb) {
	e.stats.challengeAcks.Add(1)
	t.ackNow = true
	e.schedule(t)
}

// establishPassive hands an established passive connection to its
// listener's accept queue; false means it was reset instead.
func (e *Engine) establishPassive(t *tcb) bool {
	l := t.lst
	l.halfOpen--
	t.lst = nil
	if l.closed {
		e.abortLocked(t, errReset, true)
		return false
	}
	c := e.newConn(t)
	if l.handler != nil {
		e.stats.accepted.Add(1)
		c.handler = l.handler
		e.markReady(c)
		return true
	}
	select {
	case l.accept <- c:
		e.stats.accepted.Add(1)
		return true
	default:
		e.stats.acceptDropped.Add(1)
		c.t, t.handle = nil, nil
		e.abortLocked(t, errReset, true)
		return false
	}
}

// processAck handles an acceptable ACK (SND.UNA <= SEG.ACK <= SND.MAX) and
// reports whether the connection ended.
func (e *Engine) processAck(t *tcb, s *segment, now int64) bool {
	acked := s.ack - t.sndUna
	wndChanged := false
	if seqLT(t.sndWL1, s.seq) || (t.sndWL1 == s.seq && seqLEQ(t.sndWL2, s.ack)) {
		w := uint32(s.wnd) << t.sndShift
		wndChanged = w != t.sndWnd
		t.sndWnd, t.sndWL1, t.sndWL2 = w, s.seq, s.ack
	}
	if acked == 0 {
		// A duplicate ACK (RFC 5681 section 2).
		if len(s.payload) == 0 && s.flags&flagFIN == 0 && !wndChanged && t.sndMax != t.sndUna {
			t.dupAcks++
			switch {
			case t.dupAcks == 3 && !t.inRecovery:
				// Fast retransmit, then fast recovery (RFC 6582).
				flight := t.sndMax - t.sndUna
				t.ssthresh = max(flight/2, uint32(2*t.mss))
				t.recover = t.sndMax
				t.inRecovery = true
				t.rttTiming = false
				e.retransmitHead(t)
				t.cwnd = t.ssthresh + uint32(3*t.mss)
			case t.dupAcks > 3 && t.inRecovery:
				t.cwnd += uint32(t.mss)
				e.schedule(t)
			}
		} else if wndChanged {
			e.schedule(t)
		}
		return false
	}
	// New data acknowledged.
	t.retries = 0
	if t.rttTiming && seqGT(s.ack, t.rttSeq) {
		t.rttSample(now - t.rttStart)
		t.rttTiming = false
	}
	dataAcked := min(acked, uint32(t.snd.n))
	t.snd.discard(int(dataAcked))
	e.releaseBuf(&t.snd, false)
	if t.finQueued && acked > dataAcked {
		t.finAcked = true
	}
	t.sndUna = s.ack
	if seqLT(t.sndNxt, s.ack) {
		t.sndNxt = s.ack
	}
	if t.inRecovery {
		if seqGEQ(s.ack, t.recover) { // full ACK: leave recovery
			t.inRecovery = false
			t.dupAcks = 0
			t.cwnd = max(t.ssthresh, uint32(t.mss))
		} else { // partial ACK: resend the next hole, deflate
			e.retransmitHead(t)
			if t.cwnd > acked {
				t.cwnd -= acked
			} else {
				t.cwnd = 0
			}
			t.cwnd += uint32(t.mss)
		}
	} else {
		t.dupAcks = 0
		if t.cwnd < t.ssthresh { // slow start, L = 1 SMSS (RFC 3465)
			t.cwnd += min(acked, uint32(t.mss))
		} else { // congestion avoidance
			t.cwnd += max(1, uint32(t.mss*t.mss)/t.cwnd)
		}
	}
	if t.sndMax != t.sndUna {
		e.armRTO(t, now) // RFC 6298 5.3
	} else {
		e.wheel.cancel(t)
		t.persist = false
	}
	if h := t.handle; h != nil {
		if h.sp != nil {
			e.spliceOutput(h)
		} else {
			e.writeNews(h)
		}
	}
	e.schedule(t)
	if t.finAcked {
		switch t.state {
		case StateFinWait1:
			t.state = StateFinWait2
			if t.handle == nil {
				e.wheel.arm(t, now+int64(finWait2Timeout))
			}
		case StateClosing:
			e.enterTimeWait(t, now)
		case StateLastAck:
			e.finishLocked(t)
			return true
		}
	}
	return false
}

// receiveData places in-window payload in the receive buffer, in order or
// in the out-of-order ranges, and asks for an immediate ACK.
func (e *Engine) receiveData(t *tcb, s *segment) {
	seq, data := s.seq, s.payload
	if seqLT(seq, t.rcvNxt) {
		skip := t.rcvNxt - seq
		if skip >= uint32(len(data)) {
			e.sendAck(t) // a duplicate: ACK at once
			return
		}
		data, seq = data[skip:], t.rcvNxt
	}
	off := seq - t.rcvNxt
	free := uint32(t.rcv.free())
	if off >= free {
		s.flags &^= flagFIN
		t.ackNow = true
		e.schedule(t)
		return
	}
	if off+uint32(len(data)) > free {
		data = data[:free-off]
		s.flags &^= flagFIN
	}
	e.bufFor(&t.rcv)
	if off > 0 {
		// Out of order: a duplicate ACK per segment, at once, not
		// coalesced, so the sender's fast retransmit sees three
		// (RFC 5681 section 4.2).
		if t.addOOO(seq, seq+uint32(len(data))) {
			e.stats.oooQueued.Add(1)
			t.rcv.writeAt(int(off), data)
		} else {
			e.stats.oooDropped.Add(1)
		}
		e.sendAck(t)
		return
	}
	filledGap := t.nooo > 0
	t.rcv.writeAt(0, data)
	t.rcv.n += len(data)
	t.rcvNxt += uint32(len(data))
	t.mergeOOO()
	// ACK at once when a hole closes (RFC 5681 section 4.2) and for every
	// second full-sized segment (RFC 9293 3.8.6.3); otherwise the reply
	// will likely carry it.
	if filledGap || t.rcvNxt-t.lastAckSent >= 2*uint32(t.mss) {
		t.ackNow = true
		e.schedule(t)
	} else {
		e.delayAck(t)
	}
	if h := t.handle; h != nil {
		if h.sp != nil {
			e.spliceInput(h)
		} else {
			e.readNews(h)
		}
	}
}

// addOOO records [start, end) as received out of order, merging it with
// every overlapping or adjacent range; false means no room (nothing
// changed).
func (t *tcb) addOOO(start, end uint32) bool {
	for i := 0; i < t.nooo; {
		r := t.ooo[i]
		if seqLEQ(start, r.end) && seqLEQ(r.start, end) {
			start, end = min2seq(start, r.start), seqMax(end, r.end)
			t.ooo[i] = t.ooo[t.nooo-1]
			t.nooo--
			continue
		}
		i++
	}
	if t.nooo == maxOOO {
		return false
	}
	t.ooo[t.nooo] = seqRange{start, end}
	t.nooo++
	return true
}

func min2seq(a, b uint32) uint32 {
	if seqLT(a, b) {
		return a
	}
	return b
}

// mergeOOO moves out-of-order ranges that RCV.NXT has reached into the
// in-order part of the receive buffer.
func (t *tcb) mergeOOO() {
	for again := true; again; {
		again = false
		for i := 0; i < t.nooo; i++ {
			r := t.ooo[i]
			if seqGT(r.start, t.rcvNxt) {
				continue
			}
			if seqGT(r.end, t.rcvNxt) {
				adv := r.end - t.rcvNxt
				t.rcv.n += int(adv)
				t.rcvNxt = r.end
			}
			t.ooo[i] = t.ooo[t.nooo-1]
			t.nooo--
			again = true
			break
		}
	}
}

// checkFin consumes the peer's FIN once every byte before it has arrived.
func (e *Engine) checkFin(t *tcb, now int64) {
	if !t.finRcvd || t.rcvClosed || t.rcvNxt != t.finSeq {
		return
	}
	t.rcvClosed = true
	t.rcvNxt++
	switch t.state {
	case StateSynRcvd, StateEstablished:
		t.state = StateCloseWait
		// An application usually closes once it reads EOF: hold the
		// ACK for its FIN to carry, one segment instead of two, as
		// Linux does (tcp_fin enters pingpong mode). The timer sends
		// it alone otherwise.
		e.delayAck(t)
	case StateFinWait1:
		t.state = StateClosing
		t.ackNow = true
	case StateFinWait2:
		e.enterTimeWait(t, now)
		t.ackNow = true
	}
	e.schedule(t)
	if t.handle != nil {
		e.inputEnded(t.handle)
	}
}
