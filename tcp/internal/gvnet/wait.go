package gvnet

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Direction is the waiting state of one direction of a socket over a
// gVisor endpoint (reading, writing or accepting): the endpoint's events
// and the deadline timer both put a token in Ready, and a blocked call
// takes it and retries. Its waiter entry stays registered for the socket's
// life, so no event between a failed attempt and the wait is lost: it
// leaves a token. The zero value is unusable; call Init.
type Direction struct {
	ready chan struct{} // capacity 1
	entry waiter.Entry

	// deadline is when calls start failing, in monotonic nanoseconds
	// since clockBase; 0 means none.
	deadline atomic.Int64

	// mu protects timer.
	mu    sync.Mutex
	timer *time.Timer
}

var _ waiter.EventListener = (*Direction)(nil)

// Init makes d wake on the events in mask and registers it with wq.
func (d *Direction) Init(wq *waiter.Queue, mask waiter.EventMask) {
	d.ready = make(chan struct{}, 1)
	d.entry.Init(d, mask)
	wq.EventRegister(&d.entry)
}

// Unregister removes d from wq and wakes a blocked call.
func (d *Direction) Unregister(wq *waiter.Queue) {
	wq.EventUnregister(&d.entry)
	d.NotifyEvent(0)
}

// Ready yields a token after an event or a deadline since the last one
// was taken.
func (d *Direction) Ready() <-chan struct{} { return d.ready }

// NotifyEvent implements waiter.EventListener.
func (d *Direction) NotifyEvent(waiter.EventMask) {
	select {
	case d.ready <- struct{}{}:
	default:
	}
}

// clockBase anchors deadlines to the monotonic clock, so that a step of the
// wall clock neither fires nor postpones them.
var clockBase = time.Now()

func monotonic(t time.Time) int64 {
	n := int64(t.Sub(clockBase))
	if n <= 0 {
		n = 1 // 0 means no deadline; anything this early has passed.
	}
	return n
}

// Expired reports whether the deadline has passed.
func (d *Direction) Expired() bool {
	dl := d.deadline.Load()
	return dl != 0 && int64(time.Since(clockBase)) >= dl
}

// Set sets the deadline; the zero time clears it. The timer is created on
// first use and reset afterwards.
func (d *Direction) Set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.IsZero() {
		d.deadline.Store(0)
		if d.timer != nil {
			d.timer.Stop()
		}
		return
	}
	d.deadline.Store(monotonic(t))
	wait := time.Until(t)
	if wait <= 0 {
		if d.timer != nil {
			d.timer.Stop()
		}
		d.NotifyEvent(0)
		return
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(wait, d.fire)
		return
	}
	d.timer.Reset(wait)
}

// fire is the deadline timer's function: it wakes a blocked call, which
// then sees the deadline passed.
func (d *Direction) fire() { d.NotifyEvent(0) }

// Stop stops the timer for good.
func (d *Direction) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deadline.Store(0)
	if d.timer != nil {
		d.timer.Stop()
	}
}

// Payload is the tcpip.Payloader a socket's Write hands the endpoint; it
// lives in the socket so that a Write allocates nothing.
type Payload struct{ B []byte }

var _ tcpip.Payloader = (*Payload)(nil)

// Read implements io.Reader.
func (p *Payload) Read(b []byte) (int, error) {
	if len(p.B) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.B)
	p.B = p.B[n:]
	return n, nil
}

// Len implements tcpip.Payloader.
func (p *Payload) Len() int { return len(p.B) }
