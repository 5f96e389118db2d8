package tcp

import (
	"bytes"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// recorder is a Link that keeps copies of what it is given.
type recorder struct {
	mu     sync.Mutex
	frames [][]byte
}

func (r *recorder) Transmit(frames [][]byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range frames {
		r.frames = append(r.frames, bytes.Clone(f))
	}
	return len(frames), nil
}

// discard is a Link that sends nothing anywhere.
type discard struct{}

func (discard) Transmit(frames [][]byte) (int, error) { return len(frames), nil }

// outgoing builds a packet as the stack hands it to the link: network
// header in place, Ethernet header pushed by AddHeader.
func outgoing(e *linkEndpoint, proto tcpip.NetworkProtocolNumber, network, payload []byte) *stack.PacketBuffer {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
		ReserveHeaderBytes: ethHeaderLen + len(network),
		Payload:            buffer.MakeWithData(payload),
	})
	copy(pkt.NetworkHeader().Push(len(network)), network)
	pkt.NetworkProtocolNumber = proto
	pkt.EgressRoute.LocalLinkAddress = tcpip.LinkAddress(macA)
	pkt.EgressRoute.RemoteLinkAddress = tcpip.LinkAddress(macB)
	e.AddHeader(pkt)
	return pkt
}

func arpPacket(op header.ARPOp) []byte {
	b := make([]byte, header.ARPSize)
	a := header.ARP(b)
	a.SetIPv4OverEthernet()
	a.SetOp(op)
	return b
}

func TestWritePacketsFraming(t *testing.T) {
	var rec recorder
	c := &Core{index: 0}
	e := newLinkEndpoint(c, &rec, &Config{MAC: macA, MTU: 1500})
	ipHdr := bytes.Repeat([]byte{0x45}, 20)
	payload := []byte("payload")
	var list stack.PacketBufferList
	list.PushBack(outgoing(e, header.IPv4ProtocolNumber, ipHdr, payload))
	defer list.DecRef()
	if n, err := e.WritePackets(list); n != 1 || err != nil {
		t.Fatalf("WritePackets = %d, %v", n, err)
	}
	want := append(append(append(append([]byte{}, macB...), macA...), 0x08, 0x00), append(ipHdr, payload...)...)
	if len(rec.frames) != 1 || !bytes.Equal(rec.frames[0], want) {
		t.Errorf("transmitted %x, want %x", rec.frames, want)
	}
}

// TestARPRepliesOnlyFromCoreZero checks the link side of ARP sharing.
func TestARPRepliesOnlyFromCoreZero(t *testing.T) {
	tests := []struct {
		core           int
		op             header.ARPOp
		sent, suppress int
	}{
		{0, header.ARPReply, 1, 0},
		{0, header.ARPRequest, 1, 0},
		{1, header.ARPReply, 0, 1},
		{1, header.ARPRequest, 1, 0},
		{3, header.ARPReply, 0, 1},
	}
	for _, tt := range tests {
		var rec recorder
		c := &Core{index: tt.core}
		e := newLinkEndpoint(c, &rec, &Config{MAC: macA, MTU: 1500})
		var list stack.PacketBufferList
		list.PushBack(outgoing(e, header.ARPProtocolNumber, arpPacket(tt.op), nil))
		e.WritePackets(list)
		list.DecRef()
		if len(rec.frames) != tt.sent || int(c.stats.arpRepliesSuppressed.Load()) != tt.suppress {
			t.Errorf("core %d op %d: sent %d, suppressed %d; want %d, %d",
				tt.core, tt.op, len(rec.frames), c.stats.arpRepliesSuppressed.Load(), tt.sent, tt.suppress)
		}
	}
}

func TestWritePacketsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts do not hold under the race detector (sync.Pool drops items)")
	}
	c := &Core{index: 0}
	e := newLinkEndpoint(c, discard{}, &Config{MAC: macA, MTU: 1500})
	var list stack.PacketBufferList
	list.PushBack(outgoing(e, header.IPv4ProtocolNumber, make([]byte, 20), make([]byte, 1400)))
	defer list.DecRef()
	if n := testing.AllocsPerRun(100, func() { e.WritePackets(list) }); n != 0 {
		t.Errorf("WritePackets allocates %v times per call, want 0", n)
	}
}

// TestDeliverFilters checks that Deliver drops frames for other MACs and
// counts ICMP errors.
func TestDeliverFilters(t *testing.T) {
	p := newPair(t, MixSteering{N: 1}, MixSteering{N: 1})
	c := p.a.Core(0)
	other := tcpFrame(t, netip.AddrPortFrom(ipB, 1000), netip.AddrPortFrom(ipA, 80))
	copy(other[0:6], []byte{0x02, 9, 9, 9, 9, 9})
	icmpErr := icmpError(t, ipB, ipA, layers.ICMPv4TypeTimeExceeded, 0,
		quote(t, netip.AddrPortFrom(ipA, 80), netip.AddrPortFrom(ipB, 1000), layers.IPProtocolTCP))
	c.Deliver([][]byte{other, icmpErr, icmpEcho(t, ipB, ipA, 1, 1)})
	st := c.Stats()
	if st.NotForUs != 1 || st.ICMPErrors != 1 {
		t.Errorf("NotForUs = %d, ICMPErrors = %d, want 1, 1", st.NotForUs, st.ICMPErrors)
	}
}

func TestCloseWithAcceptPending(t *testing.T) {
	p := newPair(t, MixSteering{N: 2}, MixSteering{N: 2})
	l, err := p.a.Core(1).Listen(netip.MustParseAddrPort("0.0.0.0:80"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	defer l.Close()
	p.a.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("Accept after Close returned a connection")
		}
	case <-time.After(liveness):
		t.Fatal("Accept still blocked after Stack.Close")
	}
}
