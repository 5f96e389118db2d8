package engine

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	gtcp "gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// gvPeer is a gVisor netstack joined to one of our engines over two
// impaired in-memory links; gVisor is the reference TCP it is tested
// against.
type gvPeer struct {
	st     *stack.Stack
	ch     *channel.Endpoint
	e      *Engine
	toE    *memLink // gVisor's frames to the engine
	toG    *memLink // the engine's frames to gVisor
	gvAddr netip.Addr
}

var (
	gvAddr = netip.MustParseAddr("10.9.0.3")
	gvMAC  = [6]byte{0x02, 0, 0, 0, 0, 0xc}
)

func newGVPeer(t *testing.T, imp impairment) *gvPeer {
	t.Helper()
	p := &gvPeer{gvAddr: gvAddr}
	p.st = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{gtcp.NewProtocol},
	})
	p.ch = channel.New(512, 1500, tcpip.LinkAddress(gvMAC[:]))
	if err := p.st.CreateNIC(1, ethernet.New(p.ch)); err != nil {
		t.Fatalf("create nic: %s", err)
	}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(gvAddr.As4()), PrefixLen: 24}}
	if err := p.st.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		t.Fatalf("add address: %s", err)
	}
	subnet, _ := tcpip.NewSubnet(tcpip.AddrFrom4([4]byte{10, 9, 0, 0}), tcpip.MaskFromBytes([]byte{255, 255, 255, 0}))
	p.st.SetRouteTable([]tcpip.Route{{Destination: subnet, NIC: 1}})
	if err := p.st.AddStaticNeighbor(1, ipv4.ProtocolNumber, tcpip.AddrFrom4(testAddrA.As4()), tcpip.LinkAddress(testMACA[:])); err != nil {
		t.Fatalf("static neighbour: %s", err)
	}
	p.toE = newMemLink(3, imp)
	p.toG = newMemLink(4, imp)
	p.e = New(Config{Addr: testAddrA, MAC: testMACA, Transmit: p.toG.Transmit, ResetUnknown: true,
		Resolve: func(netip.Addr) ([6]byte, bool) { return gvMAC, true }})
	p.toE.start(p.e)
	p.toG.startFunc(func(frames [][]byte) {
		for _, f := range frames {
			pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(f)})
			p.ch.InjectInbound(header.IPv4ProtocolNumber, pkt)
			pkt.DecRef()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // gVisor's transmit pump
		defer wg.Done()
		for {
			pkt := p.ch.ReadContext(ctx)
			if pkt == nil {
				return
			}
			v := pkt.ToView()
			p.toE.Transmit([][]byte{v.AsSlice()})
			v.Release()
			pkt.DecRef()
		}
	}()
	t.Cleanup(func() {
		p.e.Close()
		p.st.Close()
		cancel()
		wg.Wait()
		p.toE.stop()
		p.toG.stop()
		p.st.Wait()
	})
	return p
}

func TestGVisorPeer(t *testing.T) {
	for _, tc := range impairments {
		t.Run(tc.name+"/engine-client", func(t *testing.T) {
			p := newGVPeer(t, tc.imp)
			l, err := gonet.ListenTCP(p.st, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(gvAddr.As4()), Port: 80}, ipv4.ProtocolNumber)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					t.Error(err)
				}
				accepted <- c
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cc, err := p.e.Dial(ctx, netip.AddrPortFrom(gvAddr, 80))
			if err != nil {
				t.Fatal(err)
			}
			sc := <-accepted
			if sc == nil {
				t.FailNow()
			}
			checkExchange(t, cc, sc, pattern(3, 1<<20), pattern(4, 1<<20))
			waitQuiet(t, p.e, "engine")
			t.Logf("engine stats: %+v", p.e.Stats())
		})
		t.Run(tc.name+"/engine-server", func(t *testing.T) {
			p := newGVPeer(t, tc.imp)
			l, err := p.e.Listen(80)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cc, err := gonet.DialContextTCP(ctx, p.st, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(testAddrA.As4()), Port: 80}, ipv4.ProtocolNumber)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			checkExchange(t, cc, sc, pattern(5, 1<<20), pattern(6, 1<<20))
			waitQuiet(t, p.e, "engine")
			t.Logf("engine stats: %+v", p.e.Stats())
		})
	}
}
