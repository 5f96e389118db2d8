package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// Handler serves the connections of one frontend. The engine has one for
// mode tcp; WithHandler plugs in others (mode http).
type Handler interface {
	// Serve handles one accepted connection until it is finished, on the
	// goroutine the engine started for it. It owns s.Client and must close
	// it before returning.
	Serve(s *Session)
}

// HandlerFactory builds the Handler of one frontend when the engine is
// created.
type HandlerFactory func(p *Proxy, fe *Frontend) (Handler, error)

// Option configures New.
type Option func(*options)

type options struct {
	handlers map[config.Mode]HandlerFactory
	now      func() time.Time
	http     httpOptions // read by the mode http engine (http_stats.go)
}

// WithHandler serves frontends of mode with handlers built by f. Mode tcp
// has a built-in handler, which this replaces.
func WithHandler(mode config.Mode, f HandlerFactory) Option {
	return func(o *options) { o.handlers[mode] = f }
}

// Proxy is the engine for one configuration on a fixed set of cores.
type Proxy struct {
	cfg       *config.Config
	cores     []Network
	log       *slog.Logger
	opts      options
	frontends []*Frontend
	backends  []*Backend
	global    []counters      // per core: every frontend's connections
	slots     []chan struct{} // per core: global maxconn slots, nil if none
	bufs      sync.Pool
	bufSize   int
	running   atomic.Bool
	ready     chan struct{}
}

// DefaultBufSize is the splice buffer size when tune.bufsize is not set.
const DefaultBufSize = 32 << 10

// New builds the engine for cfg on cores (one Network per core). log gets
// one line per connection for frontends that log, and engine errors; nil
// discards. cfg must come from config.Parse, which validated it; New
// checks only what depends on the engine: modes without a handler and
// PROXY protocol without an implementation.
func New(cfg *config.Config, cores []Network, log *slog.Logger, opts ...Option) (*Proxy, error) {
	if cfg == nil {
		return nil, errors.New("proxy: nil config")
	}
	if len(cores) == 0 {
		return nil, errors.New("proxy: no cores")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{cfg: cfg, cores: cores, log: log, bufSize: DefaultBufSize, ready: make(chan struct{})}
	p.opts = options{handlers: map[config.Mode]HandlerFactory{ModeTCPHandler: newTCPHandler, modeHTTP: newHTTPHandler}, now: time.Now}
	for _, o := range opts {
		o(&p.opts)
	}
	if cfg.Global.BufSize > 0 {
		p.bufSize = cfg.Global.BufSize
	}
	p.bufs.New = func() any { b := make([]byte, p.bufSize); return &b }
	n := len(cores)
	p.global = make([]counters, n)
	p.slots = makeSlots(cfg.Global.MaxConn, n)

	byName := map[string]*Backend{}
	for _, bc := range cfg.Backends {
		b := &Backend{Config: bc, counters: make([]counters, n)}
		for i := range bc.Servers {
			sc := &bc.Servers[i]
			s := &Server{Config: sc, Backend: b, Index: i, counters: make([]counters, n)}
			s.up.Store(!sc.Disabled)
			b.Servers = append(b.Servers, s)
		}
		b.initBalancers(n)
		byName[bc.Name] = b
		p.backends = append(p.backends, b)
	}
	for _, fc := range cfg.Frontends {
		f := &Frontend{Config: fc, counters: make([]counters, n), Default: byName[fc.DefaultBackend]}
		if fc.DefaultBackend != "" && f.Default == nil {
			return nil, fmt.Errorf("%s:%d: frontend %q: no backend %q (was the config validated?)", cfg.File, fc.Line, fc.Name, fc.DefaultBackend)
		}
		for _, u := range fc.UseBackends {
			b := byName[u.Backend]
			if b == nil {
				return nil, fmt.Errorf("%s:%d: frontend %q: no backend %q", cfg.File, u.Line, fc.Name, u.Backend)
			}
			f.Rules = append(f.Rules, BackendRule{Backend: b, Cond: u.Cond})
		}
		limit := fc.MaxConn
		if limit == 0 {
			limit = cfg.Global.MaxConn
		}
		f.slots = makeSlots(limit, n)
		mk := p.opts.handlers[fc.Mode]
		if mk == nil {
			return nil, fmt.Errorf("%s:%d: frontend %q: mode %s is not served yet by this engine", cfg.File, fc.Line, fc.Name, fc.Mode)
		}
		h, err := mk(p, f)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: frontend %q: %w", cfg.File, fc.Line, fc.Name, err)
		}
		f.handler = h
		p.frontends = append(p.frontends, f)
	}
	return p, nil
}

// ModeTCPHandler is the mode whose handler is built in.
const ModeTCPHandler = config.ModeTCP

// makeSlots splits a connection limit over cores: each core gets
// ceil(limit/n) slots, so no core waits on another. Zero limit means none.
func makeSlots(limit, n int) []chan struct{} {
	if limit <= 0 {
		return nil
	}
	per := (limit + n - 1) / n
	s := make([]chan struct{}, n)
	for k := range s {
		s[k] = make(chan struct{}, per)
	}
	return s
}

// Config returns the configuration the engine runs.
func (p *Proxy) Config() *config.Config { return p.cfg }

// Cores returns how many cores the engine runs on.
func (p *Proxy) Cores() int { return len(p.cores) }

// Frontends returns the running frontends in configuration order.
func (p *Proxy) Frontends() []*Frontend { return p.frontends }

// Backends returns the running backends in configuration order.
func (p *Proxy) Backends() []*Backend { return p.backends }

// Backend returns the running backend called name, or nil.
func (p *Proxy) Backend(name string) *Backend {
	for _, b := range p.backends {
		if b.Name() == name {
			return b
		}
	}
	return nil
}

// Run listens on every bind of every frontend on every core, serves
// connections until ctx is done, then closes the listeners and every open
// connection and returns once all are finished. It fails without serving
// if any listener cannot be opened. Run may be called once.
func (p *Proxy) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("proxy: Run called twice")
	}
	type lnInfo struct {
		ln   net.Listener
		core int
		fe   *Frontend
		bind *config.Bind
	}
	var lns []lnInfo
	closeAll := func() {
		for _, l := range lns {
			l.ln.Close()
		}
	}
	for k, nw := range p.cores {
		for _, f := range p.frontends {
			for i := range f.Config.Binds {
				b := &f.Config.Binds[i]
				ln, err := nw.Listen(b.Addr)
				if err != nil {
					closeAll()
					return fmt.Errorf("core %d: frontend %q: listen %s: %w", k, f.Name(), b.Addr, err)
				}
				lns = append(lns, lnInfo{ln, k, f, b})
			}
		}
	}
	coreCtx := make([]context.Context, len(p.cores))
	for k := range coreCtx {
		var cancel context.CancelFunc
		coreCtx[k], cancel = context.WithCancel(ctx)
		defer cancel()
	}
	var accepting, serving sync.WaitGroup
	for _, l := range lns {
		a := &acceptor{p: p, core: l.core, fe: l.fe, bind: l.bind, ln: l.ln, ctx: coreCtx[l.core], conns: &serving,
			handoff: make(chan net.Conn)}
		accepting.Add(1)
		go a.loop(&accepting)
	}
	defer p.startChecks(ctx)() // health checks (checks.go); waits for them on return
	close(p.ready)
	<-ctx.Done()
	closeAll()
	accepting.Wait()
	serving.Wait()
	return nil
}

// Ready is closed once Run has opened every listener.
func (p *Proxy) Ready() <-chan struct{} { return p.ready }

// getBuf returns a pooled splice buffer; putBuf returns it. sync.Pool keeps
// a cache per P, so in steady state a core reuses its own buffers.
func (p *Proxy) getBuf() *[]byte  { return p.bufs.Get().(*[]byte) }
func (p *Proxy) putBuf(b *[]byte) { p.bufs.Put(b) }
