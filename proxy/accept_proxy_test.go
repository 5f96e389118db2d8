package proxy

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// headerConn is a client connection that yields a fixed PROXY header and
// nothing else; it has no locks of its own, so the race detector sees
// exactly the session's synchronisation.
type headerConn struct{ r *bytes.Reader }

func (c *headerConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *headerConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *headerConn) Close() error                     { return nil }
func (c *headerConn) LocalAddr() net.Addr              { return nil }
func (c *headerConn) RemoteAddr() net.Addr             { return nil }
func (c *headerConn) SetDeadline(time.Time) error      { return nil }
func (c *headerConn) SetReadDeadline(time.Time) error  { return nil }
func (c *headerConn) SetWriteDeadline(time.Time) error { return nil }

// acceptProxySession returns a session of an accept-proxy frontend whose
// client sends header.
func acceptProxySession(t *testing.T, header string) *Session {
	t.Helper()
	src := "frontend fe\n    mode tcp\n    bind 127.0.0.1:1 accept-proxy\n    default_backend be\n" +
		"backend be\n    mode tcp\n    server s1 127.0.0.1:1\n"
	cfg, _, err := config.Parse("test.cfg", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, []Network{HostNetwork{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Session{Proxy: p, Net: HostNetwork{}, Frontend: p.Frontends()[0],
		Client: &headerConn{bytes.NewReader([]byte(header))}, ctx: context.Background()}
}

// TestAcceptProxyWhileKilled runs an engine shutdown (Session.kill, which
// closes s.Client) while the PROXY header is being taken off s.Client;
// under the race detector this checked that both go through the session's
// lock.
func TestAcceptProxyWhileKilled(t *testing.T) {
	s := acceptProxySession(t, "PROXY TCP4 192.0.2.1 198.51.100.7 1111 443\r\n")
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.acceptProxy() }()
	go func() { defer wg.Done(); s.kill() }()
	wg.Wait()
}

// TestAcceptProxyUnmapsIPv4 checks that an IPv4 client announced as an
// IPv4-mapped IPv6 address (a v2 TCP6 header from a dual-stack balancer,
// or a v1 TCP6 line) is taken as IPv4, as the engine takes real peers:
// otherwise "src 192.0.2.0/24" ACLs, which HAProxy matches against mapped
// addresses too, would not match it.
func TestAcceptProxyUnmapsIPv4(t *testing.T) {
	s := acceptProxySession(t, "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:198.51.100.7 1111 443\r\n")
	if !s.acceptProxy() {
		t.Fatal("acceptProxy failed")
	}
	if !s.Src.Addr().Is4() || !s.Dst.Addr().Is4() {
		t.Errorf("Src %v, Dst %v: want IPv4", s.Src, s.Dst)
	}
	cond := &config.ACLTest{Fetch: config.FetchSrc, Match: config.MatchIP, Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	if !MatchTest(cond, &Sample{Src: s.Src.Addr()}) {
		t.Errorf("src %v does not match 192.0.2.0/24", s.Src.Addr())
	}
}
