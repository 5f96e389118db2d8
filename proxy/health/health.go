package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Dialer opens the check's TCP connections. A proxy core's network
// implements it; so does an in-memory fake in tests.
type Dialer interface {
	// Dial connects to addr, giving up when ctx is done.
	Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
}

// HTTPCheck is "option httpchk" with "http-check expect".
type HTTPCheck struct {
	// Method is the request method; empty means OPTIONS (HAProxy's
	// default).
	Method string
	// URI is the request target; empty means "/".
	URI string
	// Version is the HTTP version; empty means HTTP/1.0. HAProxy's old
	// style of appending headers to it ("HTTP/1.1\r\nHost: www") is
	// understood: what follows the first CRLF is sent as header lines.
	Version string
	// Statuses are the accepted status ranges, each [low, high]; empty
	// means any 2xx or 3xx unless String is set.
	Statuses [][2]int
	// String, when not empty, must occur in the first MaxResponse bytes of
	// the response body (http-check expect string).
	String string
	// Negate inverts the Statuses or String test ("http-check expect !").
	Negate bool
}

// Config is one server's check configuration.
type Config struct {
	// Backend and Server name the server in log lines ("be/s1").
	Backend, Server string
	// Addr is where checks connect: the server's address, with "port"
	// applied.
	Addr netip.AddrPort
	// Inter is the interval between checks; zero means 2s.
	Inter time.Duration
	// FastInter is the interval while going up or down and before the
	// first check; zero means Inter.
	FastInter time.Duration
	// DownInter is the interval while fully down; zero means Inter.
	DownInter time.Duration
	// Rise is how many consecutive passes bring a down server up; zero
	// means 2.
	Rise int
	// Fall is how many consecutive failures take an up server down; zero
	// means 3.
	Fall int
	// ConnectTimeout is "timeout connect"; zero means not set.
	ConnectTimeout time.Duration
	// CheckTimeout is "timeout check"; zero means Inter bounds the whole
	// check.
	CheckTimeout time.Duration
	// HTTP makes the check an HTTP one; nil means a TCP connect check.
	HTTP *HTTPCheck
	// Prefix is sent first on every check connection (a PROXY protocol
	// header for servers with send-proxy); nil means none.
	Prefix []byte
	// Dialer opens the connections. Required.
	Dialer Dialer
	// OnChange is called on the checker's goroutine after the server went
	// up or down, with the check that decided it. Nil means no callback.
	OnChange func(up bool, r Result)
	// Now returns the time; nil means time.Now.
	Now func() time.Time
}

// Defaults HAProxy documents for "inter", "rise" and "fall".
const (
	DefaultInter = 2 * time.Second
	DefaultRise  = 2
	DefaultFall  = 3
)

// Checker checks one server. Run drives it; Record applies a result, so
// tests can drive the state machine directly. Every method is safe from
// any goroutine.
type Checker struct {
	cfg  Config
	req  []byte // the HTTP request, built once
	name string // "be/s1"

	up          atomic.Bool
	checks      atomic.Uint64
	failed      atomic.Uint64
	transitions atomic.Uint64
	downs       atomic.Uint64

	mu         sync.Mutex // mu protects the fields below; never held across I/O or callbacks
	health     int        // 0..rise+fall-1; up while >= rise
	checked    bool       // a check has finished
	last       Result
	lastChange time.Time
	downSince  time.Time     // when it last went down; zero while up
	downTotal  time.Duration // time spent down before downSince
}

// New returns a checker for cfg with HAProxy's defaults applied. The
// server starts UP at the lowest up health (see the package doc). It
// reports an error for a missing Dialer or an HTTP check that cannot be
// written.
func New(cfg Config) (*Checker, error) {
	if cfg.Dialer == nil {
		return nil, errors.New("health: no dialer")
	}
	if cfg.Inter <= 0 {
		cfg.Inter = DefaultInter
	}
	if cfg.FastInter <= 0 {
		cfg.FastInter = cfg.Inter
	}
	if cfg.DownInter <= 0 {
		cfg.DownInter = cfg.Inter
	}
	if cfg.Rise <= 0 {
		cfg.Rise = DefaultRise
	}
	if cfg.Fall <= 0 {
		cfg.Fall = DefaultFall
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Checker{cfg: cfg, name: cfg.Backend + "/" + cfg.Server, health: cfg.Rise}
	if cfg.HTTP != nil {
		req, err := buildRequest(cfg.HTTP, cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("health: server %q: %w", c.name, err)
		}
		c.req = req
	}
	c.up.Store(true)
	c.lastChange = cfg.Now()
	return c, nil
}

// Name returns "backend/server".
func (c *Checker) Name() string { return c.name }

// Config returns the configuration with defaults applied.
func (c *Checker) Config() Config { return c.cfg }

// Up reports whether the server passes its checks.
func (c *Checker) Up() bool { return c.up.Load() }

// Record applies one check result to the rise/fall state and reports
// whether the server changed state; if so it calls OnChange.
func (c *Checker) Record(r Result) (changed bool) {
	c.checks.Add(1)
	if !r.Passed() {
		c.failed.Add(1)
	}
	rise, fall := c.cfg.Rise, c.cfg.Fall
	c.mu.Lock()
	wasUp := c.health >= rise
	if r.Passed() {
		if c.health < rise+fall-1 {
			c.health++
			if c.health >= rise {
				c.health = rise + fall - 1
			}
		}
	} else if c.health > 0 {
		c.health--
		if c.health < rise {
			c.health = 0
		}
	}
	up := c.health >= rise
	c.checked = true
	c.last = r
	changed = up != wasUp
	if changed {
		now := r.End
		if now.IsZero() {
			now = c.cfg.Now()
		}
		c.lastChange = now
		if up {
			c.downTotal += now.Sub(c.downSince)
			c.downSince = time.Time{}
		} else {
			c.downSince = now
		}
		c.up.Store(up)
		c.transitions.Add(1)
		if !up {
			c.downs.Add(1)
		}
	}
	c.mu.Unlock()
	if changed && c.cfg.OnChange != nil {
		c.cfg.OnChange(up, r)
	}
	return changed
}

// interval is the wait before the next check, by HAProxy's table under
// "inter": inter when fully up, downinter when fully down, fastinter in
// between and before the first check.
func (c *Checker) interval() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.checked:
		return c.cfg.FastInter
	case c.health == c.cfg.Rise+c.cfg.Fall-1:
		return c.cfg.Inter
	case c.health == 0:
		return c.cfg.DownInter
	}
	return c.cfg.FastInter
}

// Run checks the server until ctx is done: the first check after first
// (an offset that spreads servers over the first interval, as HAProxy
// does), then one per interval, counted from the end of the previous
// check.
func (c *Checker) Run(ctx context.Context, first time.Duration) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r := c.Check(ctx)
		if ctx.Err() != nil {
			return // shutting down: the result says nothing of the server
		}
		c.Record(r)
		t.Reset(c.interval())
	}
}

// Stats is a snapshot of a checker's state and counters, for the stats
// page.
type Stats struct {
	// Status is HAProxy's stats page status: "UP", "UP 1/3" (going down,
	// health out of fall), "DOWN", "DOWN 1/2" (going up, out of rise).
	Status string
	// Up is whether the server passes its checks.
	Up bool
	// Health is the rise/fall counter, 0 to Rise+Fall-1.
	Health, Rise, Fall int
	// Checks counts finished checks; Failed counts failed ones (HAProxy
	// "chkfail").
	Checks, Failed uint64
	// Transitions counts UP/DOWN changes; Downs counts UP to DOWN ones
	// (HAProxy "chkdown").
	Transitions, Downs uint64
	// Last is the last finished check; its Code is Init before the first.
	Last Result
	// LastChange is when the state last changed (or the checker was
	// made).
	LastChange time.Time
	// Downtime is the total time spent down, up to the snapshot.
	Downtime time.Duration
}

// Stats returns a snapshot.
func (c *Checker) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{
		Up: c.health >= c.cfg.Rise, Health: c.health, Rise: c.cfg.Rise, Fall: c.cfg.Fall,
		Checks: c.checks.Load(), Failed: c.failed.Load(),
		Transitions: c.transitions.Load(), Downs: c.downs.Load(),
		Last: c.last, LastChange: c.lastChange, Downtime: c.downTotal,
	}
	if !c.downSince.IsZero() {
		s.Downtime += c.cfg.Now().Sub(c.downSince)
	}
	s.Status = statusString(c.health, c.cfg.Rise, c.cfg.Fall)
	return s
}

// statusString formats HAProxy's status column: "UP" at full health, "UP
// n/fall" going down, "DOWN" at zero, "DOWN n/rise" going up.
func statusString(health, rise, fall int) string {
	switch {
	case health == rise+fall-1:
		return "UP"
	case health >= rise:
		return "UP " + strconv.Itoa(health-rise+1) + "/" + strconv.Itoa(fall)
	case health == 0:
		return "DOWN"
	}
	return "DOWN " + strconv.Itoa(health) + "/" + strconv.Itoa(rise)
}
