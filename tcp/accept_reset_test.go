package tcp

import (
	"net"
	"net/netip"
	"testing"
)

// TestAcceptedAfterResetHasAddresses checks that a connection the client
// reset while it waited in the accept queue still reports its peer's
// address: the proxy logs, balances (balance source) and announces (PROXY
// headers) by it, and a nil RemoteAddr gave it no address at all.
func TestAcceptedAfterResetHasAddresses(t *testing.T) {
	ctx := testContext(t)
	p := newPair(t, MixSteering{N: 1}, MixSteering{N: 1})
	l, err := p.a.Core(0).Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 80))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	client, err := p.b.Core(0).Dial(ctx, netip.AddrPortFrom(ipA, 80))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	want := client.LocalAddr().String()
	// Linger 0: Close sends a RST.
	if err := client.(interface{ SetLinger(sec int) error }).SetLinger(0); err != nil {
		t.Fatalf("SetLinger(0): %v", err)
	}
	client.Close()
	if !eventually(ctx, func() bool { return p.a.Core(0).Stats().ResetsReceived > 0 }) {
		t.Fatal("the listener's core never received the RST")
	}
	server, err := l.Accept()
	if err != nil {
		t.Skipf("the stack dropped the reset connection from its accept queue (%v); nothing to check", err)
	}
	defer server.Close()
	ra, la := server.RemoteAddr(), server.LocalAddr()
	if ra == nil || la == nil {
		t.Fatalf("RemoteAddr %v, LocalAddr %v: want both set", ra, la)
	}
	if ra.String() != want {
		t.Errorf("RemoteAddr %q, want %q", ra, want)
	}
	if got := la.(*net.TCPAddr).AddrPort(); got != netip.AddrPortFrom(ipA, 80) {
		t.Errorf("LocalAddr %v, want %v", got, netip.AddrPortFrom(ipA, 80))
	}
}
