package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// acceptor runs one listener of one bind on one core.
type acceptor struct {
	p     *Proxy
	core  int
	fe    *Frontend
	bind  *config.Bind
	ln    net.Listener
	ctx   context.Context // the core's context
	conns *sync.WaitGroup // every session of Run

	// handoff passes an accepted connection to a goroutine that served
	// an earlier one and waits for the next (see work).
	handoff chan net.Conn
}

// workerIdle is how long a serving goroutine waits for another connection
// before it exits.
const workerIdle = 10 * time.Second

// acquire takes a global and a frontend slot on this core, waiting while
// the core is at maxconn: like HAProxy, a full frontend stops accepting and
// lets the kernel (or stack) queue. It reports false once ctx is done.
func (a *acceptor) acquire() bool {
	for _, slots := range [2][]chan struct{}{a.p.slots, a.fe.slots} {
		if slots == nil {
			continue
		}
		select {
		case slots[a.core] <- struct{}{}:
		case <-a.ctx.Done():
			return false
		}
	}
	return true
}

func (a *acceptor) release() {
	if a.fe.slots != nil {
		<-a.fe.slots[a.core]
	}
	if a.p.slots != nil {
		<-a.p.slots[a.core]
	}
}

// loop accepts until the listener closes. Accept errors other than a closed
// listener (out of descriptors, aborted handshakes) back off and retry.
func (a *acceptor) loop(wg *sync.WaitGroup) {
	defer wg.Done()
	var backoff time.Duration
	for {
		if !a.acquire() {
			return
		}
		c, err := a.ln.Accept()
		if err != nil {
			a.release()
			if errors.Is(err, net.ErrClosed) || a.ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			a.p.log.Warn("accept failed", "frontend", a.fe.Name(), "core", a.core, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-a.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		a.conns.Add(1)
		select {
		case a.handoff <- c:
		default:
			go a.work(c)
		}
	}
}

// work serves c, then the connections handed off to it, until none comes
// for workerIdle. A goroutine that has served a session keeps the stack it
// grew: a new goroutine per connection starts small and copies its stack
// as it grows, which was 4.5% of the appliance's CPU with one request per
// connection.
func (a *acceptor) work(c net.Conn) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		a.serve(c)
		idle.Reset(workerIdle)
		select {
		case c = <-a.handoff:
		case <-idle.C:
			return
		case <-a.ctx.Done():
			return
		}
	}
}

// serve runs one connection's session to its end.
func (a *acceptor) serve(c net.Conn) {
	defer a.conns.Done()
	defer a.release()
	s := newSession(a, c)
	fc := &a.fe.counters[a.core]
	gc := &a.p.global[a.core]
	fc.conns.Add(1)
	fc.cur.Add(1)
	gc.cur.Add(1)
	defer func() {
		fc.cur.Add(-1)
		gc.cur.Add(-1)
	}()
	stop := context.AfterFunc(a.ctx, s.kill)
	defer stop()
	if a.bind.AcceptProxy && !s.acceptProxy() {
		return
	}
	a.fe.handler.Serve(s)
}
