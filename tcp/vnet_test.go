package tcp

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/bareproxy/bareproxy/virtio/nethdr"
)

// TestPutVnetHdr checks the header for complete packets, checksum-partial
// ones within one MSS, and ones the device is to segment.
func TestPutVnetHdr(t *testing.T) {
	const mss = 1448
	hostGSO := stack.GSO{Type: stack.GSOTCPv4, NeedsCsum: true, CsumOffset: header.TCPChecksumOffset, MSS: mss, L3HdrLen: header.IPv4MinimumSize}
	hdrs := ethHeaderLen + header.IPv4MinimumSize + 32 // TCP with timestamps
	tests := []struct {
		name    string
		gso     stack.GSO
		payload int
		want    nethdr.Hdr
	}{
		{"complete", stack.GSO{}, 100, nethdr.Hdr{}},
		{"partial checksum", hostGSO, 100, nethdr.Hdr{Flags: nethdr.NeedsCsum, HdrLen: uint16(hdrs), CsumStart: 34, CsumOffset: 16}},
		{"one MSS", hostGSO, mss, nethdr.Hdr{Flags: nethdr.NeedsCsum, HdrLen: uint16(hdrs), CsumStart: 34, CsumOffset: 16}},
		{"segment", hostGSO, 10 * mss, nethdr.Hdr{Flags: nethdr.NeedsCsum, GSOType: nethdr.GSOTCPv4, HdrLen: uint16(hdrs), GSOSize: mss, CsumStart: 34, CsumOffset: 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
				ReserveHeaderBytes: hdrs,
				Payload:            buffer.MakeWithData(make([]byte, tt.payload)),
			})
			defer pkt.DecRef()
			pkt.TransportHeader().Push(32)
			pkt.NetworkHeader().Push(header.IPv4MinimumSize)
			pkt.LinkHeader().Push(ethHeaderLen)
			pkt.GSOOptions = tt.gso
			b := bytes.Repeat([]byte{0xff}, VnetHdrLen) // stale bytes must be cleared
			putVnetHdr(b, pkt)
			if got := nethdr.Parse(b); got != tt.want {
				t.Errorf("header = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestVnetHdrPair runs connections between two stacks whose frames carry
// virtio_net_hdr, as over an IFF_VNET_HDR TAP: the sender hands 64 KiB
// segments with partial checksums to the wire, and the receiver, with RX
// checksum offload, takes them whole, as it would GRO segments from the
// kernel. The data must arrive intact, and segments larger than one
// Ethernet frame must have crossed.
//
// Without TSO (virtio-net with checksum offload only) no frame may be
// larger than an Ethernet frame, and the native engine must still leave
// its checksums partial.
func TestVnetHdrPair(t *testing.T) {
	for _, kind := range []EngineKind{EngineGVisor, EngineNative} {
		for _, tso := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/tso=%v", kind, tso), func(t *testing.T) { testVnetHdrPair(t, kind, tso) })
		}
	}
}

func testVnetHdrPair(t *testing.T, kind EngineKind, tso bool) {
	ctx := testContext(t)
	p := newPairWith(t, MixSteering{N: 2}, MixSteering{N: 2}, func(c *Config) {
		// With TSO, gVisor's partial checksums cross the wire as they
		// would a TAP, unfinished.
		c.VnetHdr, c.TSO, c.RXChecksumOffload, c.Engine = true, tso, tso, kind
	})
	var big, malformed, partial atomic.Int64
	watch := func(f []byte) {
		h := nethdr.Parse(f)
		if h.Flags&nethdr.NeedsCsum != 0 {
			partial.Add(1)
		}
		if len(f) > VnetHdrLen+ethHeaderLen+1500 {
			big.Add(1)
			if h.GSOType != nethdr.GSOTCPv4 {
				malformed.Add(1)
			}
		}
	}
	p.ab.observe.Store(&watch)

	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for k := range p.a.Cores() {
		l, err := p.a.Core(k).Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 80))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					io.ReadFull(c, make([]byte, 1))
					c.Write(data)
				}()
			}
		}()
	}
	for k := range p.b.Cores() {
		c, err := p.b.Core(k).Dial(ctx, netip.AddrPortFrom(ipA, 80))
		if err != nil {
			t.Fatalf("Dial from core %d: %v", k, err)
		}
		c.Write([]byte{1})
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("core %d: read %d bytes, %v; want %d intact", k, len(got), err, len(data))
		}
	}
	switch {
	case tso && big.Load() == 0:
		t.Errorf("no segment larger than an Ethernet frame crossed the wire")
	case !tso && big.Load() != 0:
		t.Errorf("%d segments larger than an Ethernet frame crossed the wire without TSO", big.Load())
	}
	if kind == EngineNative && partial.Load() == 0 {
		t.Errorf("the native engine sent no segment with a partial checksum")
	}
	if malformed.Load() != 0 {
		t.Errorf("%d large frames without a TCPv4 GSO header", malformed.Load())
	}
	for name, s := range map[string]*Stack{"A": p.a, "B": p.b} {
		for k := range s.Cores() {
			if st := s.Core(k).Stats(); st.Malformed != 0 || st.TxErrors != 0 {
				t.Errorf("%s core %d: %d malformed, %d tx errors", name, k, st.Malformed, st.TxErrors)
			}
		}
	}
}

// TestVnetHdrSteerDeliver checks that Steer and Deliver skip the header:
// a frame that steers to a core without it steers there with it, and a
// frame too short for the header is dropped.
func TestVnetHdrSteerDeliver(t *testing.T) {
	p := newPairWith(t, MixSteering{N: 2}, MixSteering{N: 2}, func(c *Config) { c.VnetHdr = true })
	plain := tcpFrame(t, netip.AddrPortFrom(ipB, 1000), netip.AddrPortFrom(ipA, 80))
	want := steerFrame(p.a.steering, plain)
	framed := append(make([]byte, VnetHdrLen), plain...)
	if got := p.a.Core(0).Steer(framed); got != want {
		t.Errorf("Steer with header = %d, want %d", got, want)
	}
	c := p.a.Core(0)
	before := c.Stats().Malformed
	if got := c.Steer(make([]byte, VnetHdrLen-1)); got != -2 {
		t.Errorf("Steer of a short frame = %d, want Drop", got)
	}
	c.Deliver([][]byte{make([]byte, VnetHdrLen+ethHeaderLen-1)})
	if got := c.Stats().Malformed - before; got != 2 {
		t.Errorf("Malformed grew by %d, want 2", got)
	}
}

// TestVnetHdrChecksumTrust delivers a UDP datagram with a wrong checksum
// behind a virtio_net_hdr that calls it valid: gVisor must drop it unless
// RXChecksumOffload says received checksums need no checking. (The native
// engine trusts the header per frame; gVisor's NIC decides for all.)
func TestVnetHdrChecksumTrust(t *testing.T) {
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			p := newPairWith(t, MixSteering{N: 1}, MixSteering{N: 1}, func(c *Config) { c.VnetHdr, c.RXChecksumOffload = true, offload })
			conn := listenUDPAll(t, p.a, 5000)[0]
			f := udpFrame(t, netip.AddrPortFrom(ipB, 6000), netip.AddrPortFrom(ipA, 5000))
			f[ethHeaderLen+20+6] ^= 0x5a // the UDP checksum
			framed := make([]byte, VnetHdrLen, VnetHdrLen+len(f))
			(&nethdr.Hdr{Flags: nethdr.DataValid}).Put(framed)
			p.a.Core(0).Deliver([][]byte{append(framed, f...)})
			conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			buf := make([]byte, 64)
			n, _, err := conn.ReadFrom(buf)
			if taken := err == nil; taken != offload {
				t.Fatalf("datagram taken = %v (%q, %v), want %v", taken, buf[:n], err, offload)
			}
		})
	}
}
