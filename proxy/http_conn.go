package proxy

import (
	"net"
	"time"
)

// timedConn wraps a connection of the mode http engine with HAProxy-style
// inactivity timeouts and byte counts. An idle timeout is re-armed by each
// Read or Write, but the deadline is only moved (a runtime timer update)
// once it would move by more than an eighth of the timeout, so a busy
// stream costs a clock read per call, not a timer update. A fixed deadline
// (timeout http-request, the end of a phase) is set with readBy.
//
// Reads and writes may run on two goroutines at once (a request body going
// up while a response comes down): read fields are only touched by
// readers, write fields only by writers.
type timedConn struct {
	c net.Conn

	rIdle time.Duration // read inactivity timeout; 0 means none or fixed
	rDead time.Time     // read deadline currently set; zero means none
	nr    int64         // bytes read

	wIdle time.Duration // write inactivity timeout; 0 means none
	wDead time.Time     // write deadline currently set
	nw    int64         // bytes written
}

func (t *timedConn) reset(c net.Conn) { *t = timedConn{c: c} }

// extendDeadline moves an idle timeout's deadline to now+idle once it has
// fallen more than idle/8 behind, so that a busy connection resets its
// deadline a few times per idle period instead of on every call.
func extendDeadline(idle time.Duration, dead *time.Time, set func(time.Time) error) {
	if idle <= 0 {
		return
	}
	// time.Until reads the monotonic clock only; time.Now, read only
	// when the deadline moves, reads the wall clock too.
	if dead.IsZero() || time.Until(*dead) < idle-idle/8 {
		want := time.Now().Add(idle)
		set(want)
		*dead = want
	}
}

// Read implements io.Reader.
func (t *timedConn) Read(p []byte) (int, error) {
	extendDeadline(t.rIdle, &t.rDead, t.c.SetReadDeadline)
	n, err := t.c.Read(p)
	t.nr += int64(n)
	return n, err
}

// Write implements io.Writer.
func (t *timedConn) Write(p []byte) (int, error) {
	extendDeadline(t.wIdle, &t.wDead, t.c.SetWriteDeadline)
	n, err := t.c.Write(p)
	t.nw += int64(n)
	return n, err
}

// writeLast writes the last bytes the client gets: with the FIN in one
// segment where the connection can (finalWriter), else as Write does,
// leaving the FIN to Close.
func (t *timedConn) writeLast(p []byte) (int, error) {
	fw, ok := t.c.(finalWriter)
	if !ok {
		return t.Write(p)
	}
	extendDeadline(t.wIdle, &t.wDead, t.c.SetWriteDeadline)
	n, err := fw.WriteClose(p)
	t.nw += int64(n)
	return n, err
}

// readIdle makes reads time out after d of inactivity; 0 removes any
// read deadline.
func (t *timedConn) readIdle(d time.Duration) {
	t.rIdle = d
	t.rDead = time.Time{}
	if d == 0 {
		t.c.SetReadDeadline(time.Time{})
	}
}

// readBy makes reads fail at the fixed time at; the zero time removes the
// deadline.
func (t *timedConn) readBy(at time.Time) {
	t.rIdle = 0
	t.rDead = at
	t.c.SetReadDeadline(at)
}

// writeIdle makes writes time out after d of inactivity; 0 removes any
// write deadline.
func (t *timedConn) writeIdle(d time.Duration) {
	t.wIdle = d
	t.wDead = time.Time{}
	if d == 0 {
		t.c.SetWriteDeadline(time.Time{})
	}
}
