package tcp

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/net/nettest"
)

// TestConnConformance runs the net.Conn conformance tests of
// golang.org/x/net/nettest (deadlines, concurrent use, close semantics)
// over the conns that Listen and Dial return, with each TCP engine.
func TestConnConformance(t *testing.T) {
	for _, kind := range []EngineKind{EngineGVisor, EngineNative} {
		t.Run(kind.String(), func(t *testing.T) {
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				p := newPairWith(t, MixSteering{N: 1}, MixSteering{N: 1}, func(c *Config) { c.Engine = kind })
				l, err := p.a.Core(0).Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 80))
				if err != nil {
					return nil, nil, nil, err
				}
				accepted := make(chan net.Conn, 1)
				go func() {
					c, _ := l.Accept()
					accepted <- c
				}()
				client, err := p.b.Core(0).Dial(testContext(t), netip.AddrPortFrom(ipA, 80))
				if err != nil {
					l.Close()
					return nil, nil, nil, err
				}
				server := <-accepted
				stop = func() {
					client.Close()
					if server != nil {
						server.Close()
					}
					l.Close()
				}
				return client, server, stop, nil
			})
		})
	}
}
