package engine

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestDialSkipsARunOfUsedPorts checks that a dial whose port picker walks
// into a long run of ports in use (a server's pool of idle connections,
// dialled together) keeps asking until it finds a free one.
func TestDialSkipsARunOfUsedPorts(t *testing.T) {
	const first, held = 40000, 200
	next := uint16(first)
	p := newPair(t, impairment{}, func(c *Config) {
		if c.Addr == testAddrB {
			c.PickPort = func(netip.AddrPort) (uint16, bool) {
				port := next
				next++
				return port, true
			}
		}
	})
	l, err := p.a.Listen(80)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, err := l.Accept(); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	to := netip.AddrPortFrom(testAddrA, 80)
	for i := range held {
		c, err := p.b.Dial(ctx, to)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
	}
	next = first // the picker comes round to the held run again
	c, err := p.b.Dial(ctx, to)
	if err != nil {
		t.Fatalf("dial past %d ports in use: %v", held, err)
	}
	defer c.Close()
	if got := c.LocalAddrPort().Port(); got != first+held {
		t.Errorf("local port %d, want %d, the first free one", got, first+held)
	}
}
