package proxy

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// TestBalanceSourceAnyAddress checks that balance source hashes every
// client address a session can have without panicking: a PROXY header on
// an accept-proxy bind may announce an IPv6 client, and a connection
// whose peer address is unknown has none. IPv4 and IPv4-mapped addresses
// hash alike.
func TestBalanceSourceAnyAddress(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, mode := range []string{"tcp", "http"} {
		src := "frontend fe\n    mode " + mode + "\n    bind 127.0.0.1:1\n    default_backend be\n" +
			"backend be\n    mode " + mode + "\n    balance source\n    server s1 " + ln.Addr().String() + "\n"
		cfg, _, err := config.Parse("test.cfg", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(cfg, []Network{HostNetwork{}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		be := p.Backend("be")
		tests := []struct {
			name    string
			src     netip.AddrPort
			wantKey bool
		}{
			{"ipv4", netip.MustParseAddrPort("192.0.2.1:1000"), true},
			{"ipv4-mapped", netip.MustParseAddrPort("[::ffff:192.0.2.1]:1000"), true},
			{"ipv6", netip.MustParseAddrPort("[2001:db8::1]:1000"), true},
			{"none", netip.AddrPort{}, false},
		}
		v4Key, _ := sourceKey(tests[0].src.Addr())
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				s := &Session{Proxy: p, Net: HostNetwork{}, Frontend: p.Frontends()[0], Src: tt.src, ctx: context.Background()}
				if mode == "tcp" {
					up, err := s.Connect(be, nil)
					if err != nil {
						t.Fatalf("Connect: %v", err)
					}
					up.Close()
					return
				}
				cc := &clientConn{s: s}
				key, ok := cc.balanceKey(be)
				if ok != tt.wantKey {
					t.Fatalf("balanceKey ok = %v, want %v", ok, tt.wantKey)
				}
				if tt.name == "ipv4-mapped" && key != v4Key {
					t.Errorf("IPv4-mapped key %#x, IPv4 key %#x: want equal", key, v4Key)
				}
			})
		}
	}
}
