package engine

import "sync/atomic"

// counters are the engine's atomic counters.
type counters struct {
	segsIn, segsOut, malformed, badChecksum, resetsSent, resetsRcvd   atomic.Uint64
	retransmits, fastRetransmits, timeouts, synDropped, acceptDropped atomic.Uint64
	accepted, dialled, oooDropped, challengeAcks, probes              atomic.Uint64
	synRetransmits, pawsDropped, delayedAcks, oooQueued               atomic.Uint64
	splices, splicedBytes, tsoSent                                    atomic.Uint64
}

// Stats is a snapshot of an engine's counters.
type Stats struct {
	// SegmentsIn and SegmentsOut count TCP segments handled and sent.
	SegmentsIn, SegmentsOut uint64
	// Malformed counts truncated or inconsistent frames to our address
	// (and IP fragments, which are not reassembled); BadChecksum those
	// whose IPv4 or TCP checksum failed. All were dropped.
	Malformed, BadChecksum uint64
	// ResetsSent and ResetsReceived count RST segments.
	ResetsSent, ResetsReceived uint64
	// Retransmits counts segments resent on RTO, FastRetransmits those
	// resent on three duplicate ACKs (and NewReno partial ACKs).
	Retransmits, FastRetransmits uint64
	// Timeouts counts connections given up after repeated RTOs.
	Timeouts uint64
	// SynDropped counts SYNs dropped by a full backlog; AcceptDropped
	// handshakes reset because the accept queue was full.
	SynDropped, AcceptDropped uint64
	// Accepted and Dialled count established connections.
	Accepted, Dialled uint64
	// OutOfOrderQueued counts segments received ahead of a hole and
	// kept; OutOfOrderDropped those not kept because the out-of-order
	// queue was full.
	OutOfOrderQueued, OutOfOrderDropped uint64
	// ChallengeACKs counts RFC 5961 challenge ACKs; Probes zero-window
	// probes.
	ChallengeACKs, Probes uint64
	// SynRetransmits counts SYNs and SYN-ACKs resent on timeout (also
	// counted in Retransmits).
	SynRetransmits uint64
	// PAWSDropped counts segments dropped by PAWS (RFC 7323 5.3): their
	// timestamp was older than the connection's TS.Recent.
	PAWSDropped uint64
	// DelayedACKs counts ACKs sent by the timer because no segment
	// carried them within a tick of being owed (see delayAck).
	DelayedACKs uint64
	// Splices counts Conn.Splice calls that started; SplicedBytes the
	// bytes the engine moved between spliced connections itself.
	Splices, SplicedBytes uint64
	// TSOSent counts segments longer than one MSS sent for the device to
	// cut (Config.VnetHdr); each also counts once in SegmentsOut.
	TSOSent uint64
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	c := &e.stats
	return Stats{
		SegmentsIn: c.segsIn.Load(), SegmentsOut: c.segsOut.Load(),
		Malformed: c.malformed.Load(), BadChecksum: c.badChecksum.Load(),
		ResetsSent: c.resetsSent.Load(), ResetsReceived: c.resetsRcvd.Load(),
		Retransmits: c.retransmits.Load(), FastRetransmits: c.fastRetransmits.Load(),
		Timeouts: c.timeouts.Load(), SynDropped: c.synDropped.Load(), AcceptDropped: c.acceptDropped.Load(),
		Accepted: c.accepted.Load(), Dialled: c.dialled.Load(), OutOfOrderDropped: c.oooDropped.Load(),
		OutOfOrderQueued: c.oooQueued.Load(),
		ChallengeACKs:    c.challengeAcks.Load(), Probes: c.probes.Load(),
		SynRetransmits: c.synRetransmits.Load(), PAWSDropped: c.pawsDropped.Load(),
		DelayedACKs: c.delayedAcks.Load(),
		Splices:     c.splices.Load(), SplicedBytes: c.splicedBytes.Load(),
		TSOSent: c.tsoSent.Load(),
	}
}

// Add returns s+o, field by field (the totals of several engines).
func (s Stats) Add(o Stats) Stats {
	return Stats{
		SegmentsIn: s.SegmentsIn + o.SegmentsIn, SegmentsOut: s.SegmentsOut + o.SegmentsOut,
		Malformed: s.Malformed + o.Malformed, BadChecksum: s.BadChecksum + o.BadChecksum,
		ResetsSent: s.ResetsSent + o.ResetsSent, ResetsReceived: s.ResetsReceived + o.ResetsReceived,
		Retransmits: s.Retransmits + o.Retransmits, FastRetransmits: s.FastRetransmits + o.FastRetransmits,
		Timeouts: s.Timeouts + o.Timeouts, SynDropped: s.SynDropped + o.SynDropped,
		AcceptDropped: s.AcceptDropped + o.AcceptDropped, Accepted: s.Accepted + o.Accepted,
		Dialled: s.Dialled + o.Dialled, OutOfOrderDropped: s.OutOfOrderDropped + o.OutOfOrderDropped,
		OutOfOrderQueued: s.OutOfOrderQueued + o.OutOfOrderQueued,
		ChallengeACKs:    s.ChallengeACKs + o.ChallengeACKs, Probes: s.Probes + o.Probes,
		SynRetransmits: s.SynRetransmits + o.SynRetransmits, PAWSDropped: s.PAWSDropped + o.PAWSDropped,
		DelayedACKs: s.DelayedACKs + o.DelayedACKs,
		Splices:     s.Splices + o.Splices, SplicedBytes: s.SplicedBytes + o.SplicedBytes,
		TSOSent: s.TSOSent + o.TSOSent,
	}
}
