package engine

import "time"

// Timestamps (RFC 7323 sections 3 to 5).
//
// TSval is the wall clock in milliseconds (Unix time, modulo 2^32), read
// once when the engine starts and advanced by its monotonic clock (RFC 7323
// 5.4 allows any clock of 1 ms to 1 s per tick). Every connection shares
// it, across restarts too, so a new connection's SYN carries a TSval higher
// than any earlier one to the same peer: that is what lets a peer holding
// TIME_WAIT for the same 4-tuple accept the SYN at once (Linux's
// tcp_timewait_state_process, RFC 6191) instead of answering it with an
// ACK of the old connection, which costs the dial a 1 s SYN retransmission.
// Backends that close first hold such TIME_WAITs for a minute, so a
// per-start random offset (Linux's, keyed by a boot secret) would stall
// half the dials for that minute after the appliance restarts. The wall
// clock reveals no uptime, which is what RFC 7323 7.1's randomised offset
// protects. A 4-tuple reused within the same millisecond would tie; tsCache
// remembers the last TSval of recently finished connections per 4-tuple,
// and a new connection on that tuple starts its clock one tick past it.

// tsTick is the timestamp clock's period.
const tsTick = time.Millisecond

// pawsIdle is how long TS.Recent stays valid without a refresh (RFC 7323
// 5.5: 24 days, before the 1 ms clock can wrap by half).
const pawsIdle = 24 * 24 * time.Hour

// tsCacheSize is the number of entries of the per-engine table of the last
// TSval of finished connections (direct-mapped, a power of two).
const tsCacheSize = 1024

// tsEntry is the last TSval a finished connection sent on 4-tuple key.
type tsEntry struct {
	key  uint64
	last uint32
	ok   bool
}

// tsIndex maps a connection key to its tsCache slot.
func tsIndex(key uint64) int {
	return int((key * 0x9e3779b97f4a7c15) >> (64 - 10))
}

// tsNow is the timestamp clock at engine time now (nanoseconds).
func tsNow(now int64) uint32 { return uint32(now / int64(tsTick)) }

// tsOffsetFor returns the TSval offset of a new connection of t's 4-tuple.
func (e *Engine) tsOffsetFor(t *tcb, now int64) uint32 {
	off := e.tsBase
	if c := &e.tsCache[tsIndex(t.key)]; c.ok && c.key == t.key {
		if cur := tsNow(now); seqLEQ(off+cur, c.last) {
			off = c.last + 1 - cur
		}
	}
	return off
}

// tsVal is t's timestamp value at engine time now.
func (t *tcb) tsVal(now int64) uint32 { return t.tsOffset + tsNow(now) }

// tsRemember records the last TSval finished connection t can have sent.
func (e *Engine) tsRemember(t *tcb, now int64) {
	if !t.tsOK {
		return
	}
	e.tsCache[tsIndex(t.key)] = tsEntry{key: t.key, last: t.tsVal(now), ok: true}
}

// pawsReject reports whether s fails PAWS (RFC 7323 5.3 R1): a non-RST
// segment whose TSval is older than TS.Recent, unless TS.Recent has gone
// unrefreshed for pawsIdle.
func (t *tcb) pawsReject(s *segment, now int64) bool {
	return t.tsOK && s.tsOK && s.flags&flagRST == 0 && seqLT(s.tsVal, t.tsRecent) &&
		now-t.tsRecentAt < int64(pawsIdle)
}

// tsUpdate records s's TSval as TS.Recent when s is in sequence up to the
// last ACK sent (RFC 7323 4.3 (2), 5.3 R3); s has passed the window check.
func (t *tcb) tsUpdate(s *segment, now int64) {
	if t.tsOK && s.tsOK && seqLEQ(s.seq, t.lastAckSent) &&
		(seqGEQ(s.tsVal, t.tsRecent) || now-t.tsRecentAt >= int64(pawsIdle)) {
		t.tsRecent, t.tsRecentAt = s.tsVal, now
	}
}
