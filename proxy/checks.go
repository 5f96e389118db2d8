package proxy

import (
	"context"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
	"github.com/bareproxy/bareproxy/proxy/health"
	"github.com/bareproxy/bareproxy/proxy/proxyproto"
)

// This file wires package proxy/health into the engine: one checker per
// server with "check" (and not "disabled"), started by Run.
//
// Which core checks: the checked servers, counted over every backend in
// configuration order, are dealt round robin over the cores (checked
// server i dials from core i % N), so checks cost every core about the
// same and each check connection lives on the core that dialled it (its
// replies steer back there). The verdict is shared through Server.SetUp,
// an atomic every core's balancer reads.
//
// Start: as in HAProxy, checked servers start UP (health at rise, so the
// first failed check takes one down), and the first checks are spread over
// the smallest interval: server i of n starts after mininter*i/n.

// startChecks builds and starts the checkers; the returned function waits
// for them to stop once ctx is done.
func (p *Proxy) startChecks(ctx context.Context) (wait func()) {
	var checkers []*health.Checker
	var mininter time.Duration
	for _, b := range p.backends {
		for _, s := range b.Servers {
			if !s.Config.Check || s.Config.Disabled {
				continue
			}
			c, err := p.newChecker(s, p.cores[len(checkers)%len(p.cores)])
			if err != nil {
				p.log.Warn("health check disabled", "server", b.Name()+"/"+s.Name(), "err", err)
				continue
			}
			s.hc.Store(c)
			checkers = append(checkers, c)
			if in := c.Config().Inter; mininter == 0 || in < mininter {
				mininter = in
			}
		}
	}
	var wg sync.WaitGroup
	for i, c := range checkers {
		wg.Add(1)
		go runChecker(ctx, &wg, c, mininter*time.Duration(i)/time.Duration(len(checkers)))
	}
	return wg.Wait
}

// runChecker is a named goroutine, so stack dumps say what it is.
func runChecker(ctx context.Context, wg *sync.WaitGroup, c *health.Checker, first time.Duration) {
	defer wg.Done()
	c.Run(ctx, first)
}

// newChecker translates a server's configuration into a checker dialling
// from nw.
func (p *Proxy) newChecker(s *Server, nw Network) (*health.Checker, error) {
	sc, bc := s.Config, s.Backend.Config
	addr := sc.Addr
	if sc.CheckPort != 0 {
		addr = netip.AddrPortFrom(addr.Addr(), sc.CheckPort)
	}
	cfg := health.Config{
		Backend: s.Backend.Name(), Server: s.Name(), Addr: addr,
		Inter: sc.Inter, FastInter: sc.FastInter, DownInter: sc.DownInter,
		Rise: sc.Rise, Fall: sc.Fall,
		ConnectTimeout: bc.Timeouts.Connect, CheckTimeout: bc.Timeouts.Check,
		Dialer:   nw,
		OnChange: func(up bool, r health.Result) { p.serverChanged(s, up, r) },
		Now:      p.opts.now,
	}
	if hc := bc.Options.HTTPCheck; hc != nil {
		cfg.HTTP = httpCheck(hc)
	}
	// HAProxy ("check"): checks use the server's PROXY protocol header
	// unless "port" moves them elsewhere. A check announces no client, so
	// the header is v2 LOCAL or v1 UNKNOWN.
	if (sc.SendProxy || sc.SendProxyV2) && sc.CheckPort == 0 {
		h := proxyproto.Header{Command: proxyproto.Local, Proto: proxyproto.Unspec}
		var err error
		if sc.SendProxyV2 {
			cfg.Prefix, err = proxyproto.AppendV2(nil, &h)
		} else {
			cfg.Prefix, err = proxyproto.AppendV1(nil, &h)
		}
		if err != nil {
			return nil, err
		}
	}
	return health.New(cfg)
}

func httpCheck(hc *config.HTTPCheck) *health.HTTPCheck {
	h := &health.HTTPCheck{Method: hc.Method, URI: hc.URI, Version: hc.Version}
	if e := hc.Expect; e != nil {
		h.Statuses, h.String, h.Negate = e.Statuses, e.String, e.Negate
	}
	return h
}

// serverChanged applies a checker's verdict and logs it in HAProxy's words:
//
//	Server be/s1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.
//	Server be/s1 is UP, reason: Layer7 check passed, code: 200, info: "OK", check duration: 1ms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.
//
// followed, when the last server went down, by "backend be has no server
// available!". The engine has no queue, so the queue figures are 0.
func (p *Proxy) serverChanged(s *Server, up bool, r health.Result) {
	s.SetUp(up)
	b := s.Backend
	act, bck := 0, 0
	for _, o := range b.Servers {
		if o.Up() {
			if o.Config.Backup {
				bck++
			} else {
				act++
			}
		}
	}
	m := make([]byte, 0, 256)
	if s.Config.Backup {
		m = append(m, "Backup "...)
	}
	m = append(m, "Server "...)
	m = append(m, b.Name()...)
	m = append(m, '/')
	m = append(m, s.Name()...)
	if up {
		m = append(m, " is UP"...)
	} else {
		m = append(m, " is DOWN"...)
	}
	m = r.AppendReason(m)
	m = append(m, ". "...)
	m = strconv.AppendInt(m, int64(act), 10)
	m = append(m, " active and "...)
	m = strconv.AppendInt(m, int64(bck), 10)
	if up {
		m = append(m, " backup servers online."...)
	} else {
		m = append(m, " backup servers left."...)
	}
	if bck > 0 && act == 0 {
		m = append(m, " Running on backup."...)
	}
	if up {
		m = append(m, " 0 sessions requeued, 0 total in queue."...)
		p.log.Info(string(m))
		return
	}
	m = append(m, ' ')
	m = strconv.AppendInt(m, sumCur(s.counters), 10)
	m = append(m, " sessions active, 0 requeued, 0 remaining in queue."...)
	p.log.Warn(string(m))
	if act+bck == 0 {
		p.log.Error("backend " + b.Name() + " has no server available!")
	}
}

// Check returns the server's health checker, or nil when it has no
// "check", is disabled, or Run has not started checks yet.
func (s *Server) Check() *health.Checker { return s.hc.Load() }

// CheckStats returns a snapshot of the server's check state, or nil
// without a checker.
func (s *Server) CheckStats() *health.Stats {
	c := s.hc.Load()
	if c == nil {
		return nil
	}
	st := c.Stats()
	return &st
}

// Status is the server's state as HAProxy's stats page words it: the
// checker's "UP", "UP 1/3", "DOWN" or "DOWN 1/2"; "MAINT" for a disabled
// server that nothing brought up; "no check" for a server without checks
// (which is always up unless the admin says otherwise, then "DOWN").
func (s *Server) Status() string {
	if c := s.hc.Load(); c != nil {
		st := c.Stats()
		if st.Up != s.Up() { // the admin overrode the checks
			if s.Up() {
				return "UP"
			}
			return "DOWN"
		}
		return st.Status
	}
	switch {
	case s.Up():
		if s.Config.Check && !s.Config.Disabled {
			return "UP" // checks not started yet
		}
		return "no check"
	case s.Config.Disabled:
		return "MAINT"
	}
	return "DOWN"
}
