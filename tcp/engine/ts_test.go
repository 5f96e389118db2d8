package engine

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func TestParseOptionsTimestamps(t *testing.T) {
	tests := []struct {
		name         string
		opts         []byte
		ok, tsOK     bool
		tsVal, tsEcr uint32
	}{
		{"none", nil, true, false, 0, 0},
		{"ts", []byte{1, 1, 8, 10, 0, 0, 1, 0, 0, 0, 0, 2}, true, true, 256, 2},
		{"linux syn", []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7}, true, true, 0x01020304, 0},
		{"ts after end", []byte{0, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0}, true, false, 0, 0},
		{"ts short", []byte{8, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, false, false, 0, 0},
		{"ts long", []byte{8, 11, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, false, false, 0, 0},
		{"ts truncated", []byte{1, 1, 8, 10, 0, 0, 0, 1}, false, false, 0, 0},
	}
	for _, tc := range tests {
		s := segment{ws: -1}
		ok := parseOptions(tc.opts, &s)
		if ok != tc.ok || (ok && (s.tsOK != tc.tsOK || s.tsVal != tc.tsVal || s.tsEcr != tc.tsEcr)) {
			t.Errorf("%s: got ok %v ts %v %d/%d, want %v %v %d/%d", tc.name, ok, s.tsOK, s.tsVal, s.tsEcr,
				tc.ok, tc.tsOK, tc.tsVal, tc.tsEcr)
		}
	}
}

func TestSynOptionsRoundTrip(t *testing.T) {
	tests := []struct {
		name         string
		mss          uint16
		ws           int8
		ts           bool
		tsVal, tsEcr uint32
		wantLen      int
	}{
		{"mss", 1460, -1, false, 0, 0, 4},
		{"mss ws", 1460, 7, false, 0, 0, 8},
		{"mss ts", 536, -1, true, 0xdeadbeef, 0, 16},
		{"mss ws ts", 1460, 0, true, 1, 0xffffffff, 20},
	}
	for _, tc := range tests {
		var b optBuf
		opts := synOptions(&b, tc.mss, tc.ws, tc.ts, tc.tsVal, tc.tsEcr)
		if len(opts) != tc.wantLen || len(opts)%4 != 0 {
			t.Errorf("%s: %d option bytes, want %d", tc.name, len(opts), tc.wantLen)
			continue
		}
		s := segment{ws: -1}
		if !parseOptions(opts, &s) || s.mss != tc.mss || s.ws != tc.ws || s.tsOK != tc.ts ||
			s.tsVal != tc.tsVal || s.tsEcr != tc.tsEcr {
			t.Errorf("%s: parsed back mss %d ws %d ts %v %d/%d", tc.name, s.mss, s.ws, s.tsOK, s.tsVal, s.tsEcr)
		}
	}
	var ob [tsOptLen]byte
	putTS(ob[:], 7, 9)
	s := segment{ws: -1}
	if !parseOptions(ob[:], &s) || !s.tsOK || s.tsVal != 7 || s.tsEcr != 9 {
		t.Errorf("putTS: parsed back %+v", s)
	}
}

// rawPeer is an engine whose frames are captured and whose peer is the
// test, at testAddrB, crafting frames by hand.
type rawPeer struct {
	t   *testing.T
	e   *Engine
	out chan []byte
}

func newRawPeer(t *testing.T) *rawPeer {
	p := &rawPeer{t: t, out: make(chan []byte, 256)}
	p.e = New(Config{Addr: testAddrA, MAC: testMACA, ResetUnknown: true,
		Resolve: func(netip.Addr) ([6]byte, bool) { return testMACB, true },
		Transmit: func(frames [][]byte) {
			for _, f := range frames {
				p.out <- append([]byte(nil), f...)
			}
		}})
	t.Cleanup(p.e.Close)
	return p
}

// next returns the engine's next segment.
func (p *rawPeer) next() segment {
	p.t.Helper()
	select {
	case f := <-p.out:
		var s segment
		if r := parse(f, testAddrB.As4(), true, &s); r != parseOK {
			p.t.Fatalf("engine sent an unparsable frame (%d)", r)
		}
		return s
	case <-time.After(10 * time.Second):
		p.t.Fatal("engine sent nothing")
		return segment{}
	}
}

// send delivers a crafted segment from testAddrB:port to the engine.
func (p *rawPeer) send(h hdr, opts, payload []byte) {
	h.dstMAC, h.dstIP = testMACA, testAddrA.As4()
	if h.wnd == 0 {
		h.wnd = 65535
	}
	p.e.Deliver(build(make([]byte, 1514), testMACB, testAddrB.As4(), &h, opts, payload, nil, false))
}

func (p *rawPeer) tcbFor(port uint16) *tcb {
	p.e.mu.Lock()
	defer p.e.mu.Unlock()
	for _, t := range p.e.conns {
		if t.rport == port {
			return t
		}
	}
	return nil
}

// TestTimestampsNegotiation checks that the engine's SYN carries TSopt and
// that timestamps are on only when the peer's SYN carries them, both for
// dials (SYN-ACK) and for listeners (SYN).
func TestTimestampsNegotiation(t *testing.T) {
	for _, peerTS := range []bool{false, true} {
		name := "peer-without"
		if peerTS {
			name = "peer-with"
		}
		t.Run(name+"/dial", func(t *testing.T) {
			p := newRawPeer(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				c, err := p.e.Dial(ctx, netip.AddrPortFrom(testAddrB, 80))
				if err == nil {
					// Hold it open: the ACK of the SYN-ACK is
					// delayed and goes alone, as nothing is written.
					t.Cleanup(func() { c.Close() })
				}
				done <- err
			}()
			syn := p.next()
			if syn.flags != flagSYN || !syn.tsOK || syn.tsEcr != 0 || syn.mss != 1460 {
				t.Fatalf("SYN: flags %#x ts %v ecr %d mss %d, want a SYN with TSopt, TSecr 0", syn.flags, syn.tsOK, syn.tsEcr, syn.mss)
			}
			var ob optBuf
			p.send(hdr{srcPort: 80, dstPort: syn.srcPort, seq: 5000, ack: syn.seq + 1, flags: flagSYN | flagACK},
				synOptions(&ob, 1460, 7, peerTS, 777, syn.tsVal), nil)
			ack := p.next()
			if ack.flags != flagACK || ack.ack != 5001 || ack.tsOK != peerTS || (peerTS && ack.tsEcr != 777) {
				t.Fatalf("ACK: flags %#x ack %d ts %v ecr %d", ack.flags, ack.ack, ack.tsOK, ack.tsEcr)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			wantMSS := 1460
			if peerTS {
				wantMSS -= tsOptLen
			}
			if tc := p.tcbFor(80); tc == nil || tc.mss != wantMSS || tc.tsOK != peerTS {
				t.Errorf("tcb: %+v, want mss %d", tc, wantMSS)
			}
		})
		t.Run(name+"/listen", func(t *testing.T) {
			p := newRawPeer(t)
			if _, err := p.e.Listen(80); err != nil {
				t.Fatal(err)
			}
			var ob optBuf
			p.send(hdr{srcPort: 1234, dstPort: 80, seq: 9000, flags: flagSYN}, synOptions(&ob, 1460, 7, peerTS, 4242, 0), nil)
			sa := p.next()
			if sa.flags != flagSYN|flagACK || sa.tsOK != peerTS || (peerTS && sa.tsEcr != 4242) {
				t.Fatalf("SYN-ACK: flags %#x ts %v ecr %d, want TSopt %v", sa.flags, sa.tsOK, sa.tsEcr, peerTS)
			}
			if !peerTS {
				return
			}
			// Established; then a data segment with an older TSval fails
			// PAWS and is answered with an ACK echoing TS.Recent.
			putTS(ob[:], 4243, sa.tsVal)
			p.send(hdr{srcPort: 1234, dstPort: 80, seq: 9001, ack: sa.seq + 1, flags: flagACK}, ob[:tsOptLen], nil)
			putTS(ob[:], 4244, sa.tsVal)
			p.send(hdr{srcPort: 1234, dstPort: 80, seq: 9001, ack: sa.seq + 1, flags: flagACK | flagPSH}, ob[:tsOptLen], []byte("new"))
			a := p.next()
			if a.ack != 9004 || !a.tsOK || a.tsEcr != 4244 {
				t.Fatalf("ACK of data: ack %d ts %v ecr %d, want 9004 echoing 4244", a.ack, a.tsOK, a.tsEcr)
			}
			putTS(ob[:], 4000, sa.tsVal)
			p.send(hdr{srcPort: 1234, dstPort: 80, seq: 9004, ack: sa.seq + 1, flags: flagACK | flagPSH}, ob[:tsOptLen], []byte("old"))
			a = p.next()
			if a.ack != 9004 || a.tsEcr != 4244 || p.e.Stats().PAWSDropped != 1 {
				t.Fatalf("after an old TSval: ack %d ecr %d, %d PAWS drops; want 9004, 4244, 1", a.ack, a.tsEcr, p.e.Stats().PAWSDropped)
			}
		})
	}
}

// TestTimestampsReuse checks that a new connection on the 4-tuple of one
// that just finished starts with a TSval above the old one's last, even
// within the same clock tick.
func TestTimestampsReuse(t *testing.T) {
	e := New(Config{Addr: testAddrA, MAC: testMACA, Transmit: func([][]byte) {}})
	defer e.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.newTCB(testAddrB.As4(), 80, 40000, testMACB)
	old.tsOK = true
	now := e.clock()
	last, base := old.tsVal(now), old.tsOffset
	e.finishLocked(old) // recycles old
	t2 := e.newTCB(testAddrB.As4(), 80, 40000, testMACB)
	if v := t2.tsVal(now); !seqGT(v, last) {
		t.Errorf("new TSval %d not above the old connection's %d", v, last)
	}
	other := e.newTCB(testAddrB.As4(), 80, 40001, testMACB)
	if other.tsOffset != base {
		t.Errorf("offsets differ between ports of one address pair: %d, %d", other.tsOffset, base)
	}
}
