package engine

import (
	"encoding/binary"
	"testing"
)

func TestSeqArithmetic(t *testing.T) {
	tests := []struct {
		a, b             uint32
		lt, leq, gt, geq bool
	}{
		{1, 2, true, true, false, false},
		{2, 1, false, false, true, true},
		{5, 5, false, true, false, true},
		{0xffffffff, 0, true, true, false, false}, // wraps
		{0, 0xffffffff, false, false, true, true},
		{0xfffffff0, 0x10, true, true, false, false},
		{0x7fffffff, 0, false, false, true, true},
	}
	for _, tc := range tests {
		if got := [4]bool{seqLT(tc.a, tc.b), seqLEQ(tc.a, tc.b), seqGT(tc.a, tc.b), seqGEQ(tc.a, tc.b)}; got != [4]bool{tc.lt, tc.leq, tc.gt, tc.geq} {
			t.Errorf("%#x vs %#x: got lt,leq,gt,geq %v", tc.a, tc.b, got)
		}
	}
	if !seqInWindow(0x2, 0xfffffffe, 8) || seqInWindow(0x6, 0xfffffffe, 8) {
		t.Error("seqInWindow across the wrap")
	}
}

func TestAcceptable(t *testing.T) {
	tests := []struct {
		name                     string
		seq, segLen, rcvNxt, wnd uint32
		want                     bool
	}{
		{"empty in window", 100, 0, 100, 10, true},
		{"empty zero window exact", 100, 0, 100, 0, true},
		{"empty zero window old", 99, 0, 100, 0, false},
		{"data zero window", 100, 5, 100, 0, false},
		{"data starts in window", 105, 20, 100, 10, true},
		{"data ends in window", 95, 10, 100, 10, true},
		{"old duplicate", 90, 10, 100, 10, false},
		{"beyond window", 110, 5, 100, 10, false},
		{"wrap", 0xfffffffa, 10, 0xfffffffe, 100, true},
	}
	for _, tc := range tests {
		if got := acceptable(tc.seq, tc.segLen, tc.rcvNxt, tc.wnd); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []byte
		ok   bool
		mss  uint16
		ws   int8
	}{
		{"none", nil, true, 0, -1},
		{"mss", []byte{2, 4, 0x05, 0xb4}, true, 1460, -1},
		{"mss ws", []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7}, true, 1460, 7},
		{"ws clamped", []byte{3, 3, 15, 0}, true, 0, 14},
		{"linux syn", []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7}, true, 1460, 7},
		{"end stops", []byte{0, 2, 4, 5}, true, 0, -1},
		{"truncated kind", []byte{2}, false, 0, -1},
		{"zero length", []byte{8, 0, 0, 0}, false, 0, -1},
		{"overrun", []byte{8, 10, 0, 0}, false, 0, -1},
		{"bad mss length", []byte{2, 3, 0, 1}, false, 0, -1},
	}
	for _, tc := range tests {
		s := segment{ws: -1}
		ok := parseOptions(tc.opts, &s)
		if ok != tc.ok || (ok && (s.mss != tc.mss || s.ws != tc.ws)) {
			t.Errorf("%s: got ok %v mss %d ws %d, want %v %d %d", tc.name, ok, s.mss, s.ws, tc.ok, tc.mss, tc.ws)
		}
	}
}

// testFrame builds a valid SYN from 10.9.0.2:1234 to testAddrA:80.
func testFrame() []byte {
	var ob optBuf
	h := hdr{dstMAC: testMACA, dstIP: testAddrA.As4(), srcPort: 1234, dstPort: 80, seq: 1000, flags: flagSYN, wnd: 65535}
	return build(make([]byte, 1514), testMACB, testAddrB.As4(), &h, synOptions(&ob, 1460, 7, false, 0, 0), nil, nil, false)
}

func TestParseMalformed(t *testing.T) {
	good := testFrame()
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name  string
		frame []byte
		want  parseResult
	}{
		{"good", good, parseOK},
		{"arp", mut(func(b []byte) []byte { b[12], b[13] = 0x08, 0x06; return b }), parseNotOurs},
		{"short ip", good[:20], parseMalformed},
		{"other address", mut(func(b []byte) []byte { b[14+19] ^= 1; return b }), parseNotOurs},
		{"udp", mut(func(b []byte) []byte { b[14+9] = 17; return b }), parseNotOurs},
		{"ihl too small", mut(func(b []byte) []byte { b[14] = 0x44; return b }), parseMalformed},
		{"total too long", mut(func(b []byte) []byte { binary.BigEndian.PutUint16(b[16:], 2000); return b }), parseMalformed},
		{"fragment", mut(func(b []byte) []byte { b[14+6] = 0x20; return b }), parseFragment},
		{"ip checksum", mut(func(b []byte) []byte { b[14+8]--; return b }), parseBadSum},
		{"tcp checksum", mut(func(b []byte) []byte { b[14+20+4]++; return b }), parseBadSum},
		{"data offset too big", mut(func(b []byte) []byte { b[14+20+12] = 0xf0; return b }), parseMalformed},
		{"truncated tcp", good[:14+20+10], parseMalformed},
	}
	for _, tc := range tests {
		var s segment
		if got := parse(tc.frame, testAddrA.As4(), true, &s); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestDeliverCounts checks that malformed frames are counted and dropped,
// and that a SYN to a closed port is answered with a RST only with
// ResetUnknown.
func TestDeliverCounts(t *testing.T) {
	var sent [][]byte
	e := New(Config{Addr: testAddrA, MAC: testMACA, Transmit: func(f [][]byte) {
		for _, x := range f {
			sent = append(sent, append([]byte(nil), x...))
		}
	}})
	defer e.Close()
	bad := testFrame()
	bad[14+20+4]++
	if !e.Deliver(bad) || !e.Deliver(testFrame()[:40]) {
		t.Error("malformed frames to our address not reported handled")
	}
	if st := e.Stats(); st.BadChecksum != 1 || st.Malformed != 1 {
		t.Errorf("got %+v, want 1 bad checksum and 1 malformed", st)
	}
	if e.Deliver(testFrame()) {
		t.Error("SYN to a closed port reported handled without ResetUnknown")
	}
	e.cfg.ResetUnknown = true
	if !e.Deliver(testFrame()) || len(sent) != 1 {
		t.Fatalf("SYN to a closed port: %d frames sent, want a RST", len(sent))
	}
	var s segment
	if parse(sent[0], testAddrB.As4(), true, &s) != parseOK || s.flags != flagRST|flagACK || s.ack != 1001 {
		t.Errorf("reply flags %#x ack %d, want RST|ACK ack 1001", s.flags, s.ack)
	}
}

func FuzzDeliver(f *testing.F) {
	good := testFrame()
	f.Add(good)
	f.Add(good[:14])
	f.Add(good[:34])
	f.Add(good[:50])
	f.Add([]byte{})
	e := New(Config{Addr: testAddrA, MAC: testMACA, Transmit: func([][]byte) {}, RXChecksumOffload: true, ResetUnknown: true})
	defer e.Close()
	if _, err := e.Listen(80); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		e.Deliver(frame)
	})
}

func TestRing(t *testing.T) {
	r := ring{buf: make([]byte, 8), size: 8}
	if n := r.write([]byte("abcdef")); n != 6 {
		t.Fatalf("write: %d", n)
	}
	out := make([]byte, 4)
	r.read(out)
	r.writeAt(2, []byte("XY")) // out of order, beyond the tail
	r.write([]byte("gh"))
	r.n += 2 // the gap filled: commit XY
	got := make([]byte, 8)
	n := r.read(got)
	if string(got[:n]) != "efghXY" {
		t.Errorf("got %q, want %q", got[:n], "efghXY")
	}
}
