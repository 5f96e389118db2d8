package dhcp

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, and what it
// accepts must encode again.
func FuzzParse(f *testing.F) {
	good, _ := (&Message{Op: OpReply, CHAddr: testMAC, Type: Ack, YIAddr: netip.MustParseAddr("10.0.0.5"),
		Options: []Option{AddrOption(OptRouter, netip.MustParseAddr("10.0.0.1"))}}).Append(nil)
	f.Add(good)
	f.Add(good[:MinMessageSize])
	f.Add(good[:MinMessageSize-1])
	f.Add(append(good[:MinMessageSize:MinMessageSize], OptRouter, 200, 1))
	f.Add(append(good[:MinMessageSize:MinMessageSize], 0, 0, OptMessageType))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		if _, err := m.Append(nil); err != nil && len(b) <= MaxMessageSize {
			t.Fatalf("parsed message does not encode: %v", err)
		}
		m.Addrs(OptRouter)
		m.Seconds(OptLeaseTime)
	})
}

// FuzzParseFrame feeds arbitrary frames to ParseFrame and the client's
// reply path: no panic, and payloads stay inside the frame.
func FuzzParseFrame(f *testing.F) {
	payload, _ := (&Message{Op: OpReply, CHAddr: testMAC, Type: Offer, YIAddr: netip.MustParseAddr("10.0.0.5")}).Append(nil)
	frame := AppendFrame(nil, Endpoints{SrcMAC: testMAC, DstMAC: BroadcastMAC, DstIP: BroadcastAddr,
		SrcPort: ServerPort, DstPort: ClientPort}, payload)
	f.Add(frame)
	f.Add(frame[:42])
	f.Add(frame[:14])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _, err := ParseFrame(b, ClientPort)
		if err != nil {
			return
		}
		if len(p) > len(b) {
			t.Fatalf("payload of %d bytes from a %d-byte frame", len(p), len(b))
		}
		if m, err := Parse(p); err == nil {
			_, _ = leaseFrom(m, m, time.Time{})
		}
	})
}
