package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// Session is one accepted client connection, handed to a frontend's
// Handler. It lives on the core that accepted it: its dials go out through
// that core's Network and its counters are that core's.
type Session struct {
	// Proxy is the engine.
	Proxy *Proxy
	// Core is the index of the core that accepted the connection.
	Core int
	// Net is that core's network.
	Net Network
	// Frontend is the accepting frontend.
	Frontend *Frontend
	// Bind is the bind line that accepted it.
	Bind *config.Bind
	// Client is the client connection; the Handler owns it.
	Client net.Conn
	// Src is the client's address (as announced by a PROXY header, if the
	// bind has accept-proxy); Dst is the address it connected to.
	Src, Dst netip.AddrPort
	// Accepted is when the connection was accepted.
	Accepted time.Time

	ctx context.Context

	mu       sync.Mutex // mu protects upstream, killed and Client's replacement by acceptProxy; never contended across cores
	upstream net.Conn
	killed   bool
}

func newSession(a *acceptor, c net.Conn) *Session {
	src, dst := connAddrs(c)
	return &Session{
		Proxy: a.p, Core: a.core, Net: a.p.cores[a.core], Frontend: a.fe, Bind: a.bind,
		Client: c, Src: src, Dst: dst,
		Accepted: a.p.opts.now(), ctx: a.ctx,
	}
}

// Context is done when the engine shuts down.
func (s *Session) Context() context.Context { return s.ctx }

// Killed reports whether the engine closed the session's connections
// because it is shutting down.
func (s *Session) Killed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.killed
}

// kill closes the client and upstream connections; it runs when the engine
// shuts down, so that blocked reads return.
func (s *Session) kill() {
	s.mu.Lock()
	s.killed = true
	up, client := s.upstream, s.Client
	s.mu.Unlock()
	client.Close()
	if up != nil {
		up.Close()
	}
}

// acceptProxy reads the PROXY header on an accept-proxy bind, within
// timeout client (5s if unset). It reports false, having closed the
// client, on failure.
func (s *Session) acceptProxy() bool {
	t := s.Frontend.Config.Timeouts.Client
	if t == 0 {
		t = 5 * time.Second
	}
	s.Client.SetReadDeadline(s.Proxy.opts.now().Add(t))
	c, src, dst, err := readProxyHeader(s.Client)
	if err != nil {
		s.Proxy.log.Warn("bad PROXY protocol header", "frontend", s.Frontend.Name(), "client", s.Src, "err", err)
		s.Client.Close()
		return false
	}
	c.SetReadDeadline(time.Time{})
	// kill may run at any time on another goroutine and reads Client.
	s.mu.Lock()
	s.Client = c
	s.mu.Unlock()
	if src.IsValid() {
		// Unmapped like real peers (addrPort), so that IPv4 ACLs and
		// balance source treat a mapped IPv4 client as IPv4.
		s.Src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		s.Dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	}
	return true
}

// ErrNoServer is returned by Connect when the backend has no usable server
// (none up, all at maxconn, or none configured).
var ErrNoServer = errors.New("no server available")

// ConnectError is returned by Connect when every attempt failed.
type ConnectError struct {
	Backend string
	Server  string // the last server tried
	// Last is the last server tried.
	Last    *Server
	Tries   int
	Timeout bool // the last attempt hit timeout connect
	Err     error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("backend %q: connect to server %q failed after %d attempt(s): %v", e.Backend, e.Server, e.Tries, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Upstream is an open connection to a server, made by Session.Connect.
type Upstream struct {
	// Conn is the server connection.
	Conn net.Conn
	// Server is the server it goes to.
	Server *Server
	// Retries is how many attempts failed before this one.
	Retries int
	// ConnectTime is how long the successful dial took.
	ConnectTime time.Duration

	s      *Session
	closed bool
}

// Connect picks a server of be and connects to it from the session's core
// within timeout connect, retrying on another server (any, if only tried
// ones are left) up to the backend's retries. key feeds hash balancing
// (uri, url_param, hdr); nil means none, and balance source hashes the
// client address itself. The caller must Close the Upstream.
func (s *Session) Connect(be *Backend, key []byte) (*Upstream, error) {
	bc := &be.counters[s.Core]
	var k uint64
	hasKey := key != nil
	if hasKey {
		k = hashKey(key)
	} else if be.Config.Balance.Algorithm == config.Source {
		k, hasKey = sourceKey(s.Src.Addr())
	}
	var triedBuf [4]*Server
	tried := triedBuf[:0]
	var last *Server
	var lastErr error
	timedOut := false
	tries := 0
	for attempt := 0; attempt <= be.Config.Retries; attempt++ {
		srv := be.pick(s.Core, k, hasKey, tried)
		if srv == nil {
			if last == nil {
				bc.noServer.Add(1)
				return nil, ErrNoServer
			}
			break
		}
		sc := &srv.counters[s.Core]
		if attempt > 0 {
			bc.retries.Add(1)
			sc.retries.Add(1)
		}
		start := s.Proxy.opts.now()
		tries++
		c, err := s.dial(srv)
		if err != nil {
			bc.connectErr.Add(1)
			sc.connectErr.Add(1)
			last, lastErr = srv, err
			timedOut = errors.Is(err, context.DeadlineExceeded) || isTimeout(err)
			if s.ctx.Err() != nil {
				break
			}
			tried = append(tried, srv)
			continue
		}
		bc.conns.Add(1)
		bc.cur.Add(1)
		sc.conns.Add(1)
		sc.cur.Add(1)
		up := &Upstream{Conn: c, Server: srv, Retries: attempt, ConnectTime: s.Proxy.opts.now().Sub(start), s: s}
		s.mu.Lock()
		s.upstream = c
		killed := s.killed
		s.mu.Unlock()
		if killed {
			c.Close()
		}
		return up, nil
	}
	return nil, &ConnectError{Backend: be.Name(), Server: last.Name(), Last: last, Tries: tries, Timeout: timedOut, Err: lastErr}
}

// dial connects to srv and writes a PROXY header if the server wants one.
func (s *Session) dial(srv *Server) (net.Conn, error) {
	c, err := s.dialTimeout(srv.Config.Addr, srv.Backend.Config.Timeouts.Connect)
	if err != nil {
		return nil, err
	}
	if v := proxyVersion(srv.Config); v != 0 {
		var buf [232]byte // a v2 header with TLVs fits; v1 needs 107
		hdr, err := appendProxyHeader(buf[:0], v, s.Src, s.Dst)
		if err == nil {
			_, err = c.Write(hdr)
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("write PROXY header: %w", err)
		}
	}
	return c, nil
}

// dialTimeout dials addr, giving up after timeout (none if 0) or when the
// session's context ends.
func (s *Session) dialTimeout(addr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	if d, ok := s.Net.(timeoutDialer); ok {
		return d.DialTimeout(s.ctx, addr, timeout)
	}
	ctx := s.ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return s.Net.Dial(ctx, addr)
}

func proxyVersion(c *config.Server) int {
	switch {
	case c.SendProxyV2:
		return 2
	case c.SendProxy:
		return 1
	}
	return 0
}

// Close closes the server connection and updates the counters. It may be
// called more than once.
func (u *Upstream) Close() error {
	if u.closed {
		return nil
	}
	u.closed = true
	u.Server.Backend.counters[u.s.Core].cur.Add(-1)
	u.Server.counters[u.s.Core].cur.Add(-1)
	u.s.mu.Lock()
	if u.s.upstream == u.Conn {
		u.s.upstream = nil
	}
	u.s.mu.Unlock()
	return u.Conn.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
