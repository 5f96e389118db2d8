package dhcp

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

var testMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

func TestMessageRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Message
	}{
		{name: "discover", m: Message{Op: OpRequest, XID: 0xdeadbeef, Flags: FlagBroadcast, CHAddr: testMAC, Type: Discover,
			Options: []Option{{Code: OptParamList, Data: []byte{1, 3, 6}}}}},
		{name: "ack", m: Message{Op: OpReply, XID: 7, Secs: 3, CHAddr: testMAC, Type: Ack,
			YIAddr: netip.MustParseAddr("10.77.0.50"), SIAddr: netip.MustParseAddr("10.77.0.1"),
			Options: []Option{
				AddrOption(OptSubnetMask, netip.MustParseAddr("255.255.255.0")),
				AddrOption(OptRouter, netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.254")),
				SecondsOption(OptLeaseTime, time.Hour),
			}}},
		{name: "bootp, no type", m: Message{Op: OpReply, CHAddr: testMAC, CIAddr: netip.MustParseAddr("192.0.2.1"),
			GIAddr: netip.MustParseAddr("192.0.2.254")}},
		{name: "empty option", m: Message{Op: OpRequest, CHAddr: testMAC, Type: Inform,
			Options: []Option{{Code: OptHostname, Data: []byte{}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.m.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.m
			if want.Options == nil {
				want.Options = nil
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestMessageAccessors(t *testing.T) {
	m := Message{Options: []Option{
		AddrOption(OptRouter, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")),
		SecondsOption(OptLeaseTime, 90*time.Second),
		{Code: OptSubnetMask, Data: []byte{255, 255}}, // short
		{Code: OptRenewalT1, Data: []byte{1, 2, 3}},   // short
	}}
	if a, ok := m.Addr(OptRouter); !ok || a != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("Addr(router) = %v, %v", a, ok)
	}
	if got := m.Addrs(OptRouter); len(got) != 2 {
		t.Errorf("Addrs(router) = %v", got)
	}
	if _, ok := m.Addr(OptSubnetMask); ok {
		t.Error("Addr accepted a 2-byte mask")
	}
	if d, ok := m.Seconds(OptLeaseTime); !ok || d != 90*time.Second {
		t.Errorf("Seconds(lease) = %v, %v", d, ok)
	}
	if _, ok := m.Seconds(OptRenewalT1); ok {
		t.Error("Seconds accepted 3 bytes")
	}
	if _, ok := m.Option(OptDNS); ok {
		t.Error("Option found an absent option")
	}
	if Offer.String() != "OFFER" || MessageType(99).String() != "type(99)" {
		t.Errorf("String: %s %s", Offer, MessageType(99))
	}
}

func TestParseErrors(t *testing.T) {
	good, err := (&Message{Op: OpReply, CHAddr: testMAC, Type: Offer,
		Options: []Option{{Code: OptHostname, Data: []byte("box")}}}).Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{name: "empty", in: nil, want: ErrShort},
		{name: "239 bytes", in: good[:239], want: ErrShort},
		{name: "no cookie", in: mutate(func(b []byte) []byte { b[offCookie] = 0; return b }), want: ErrCookie},
		{name: "token ring", in: mutate(func(b []byte) []byte { b[offHType] = 6; return b }), want: ErrHardware},
		{name: "hlen 16", in: mutate(func(b []byte) []byte { b[offHLen] = 16; return b }), want: ErrHardware},
		{name: "option length past end", in: mutate(func(b []byte) []byte { return b[:len(b)-2] }), want: ErrTruncated},
		{name: "code without length", in: mutate(func(b []byte) []byte { return append(b[:offOpts], OptHostname) }), want: ErrTruncated},
		{name: "no end option is fine", in: mutate(func(b []byte) []byte { return b[:len(b)-1] })},
		{name: "pads are skipped", in: mutate(func(b []byte) []byte { return append(b[:len(b)-1], 0, 0, OptEnd) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Parse = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAppendErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Message
	}{
		{name: "short mac", m: Message{CHAddr: testMAC[:4]}},
		{name: "ipv6 yiaddr", m: Message{CHAddr: testMAC, YIAddr: netip.MustParseAddr("::1")}},
		{name: "long option", m: Message{CHAddr: testMAC, Options: []Option{{Code: 12, Data: make([]byte, 256)}}}},
		{name: "too big", m: Message{CHAddr: testMAC, Options: []Option{
			{Code: 12, Data: make([]byte, 255)}, {Code: 12, Data: make([]byte, 255)},
			{Code: 12, Data: make([]byte, 255)}, {Code: 12, Data: make([]byte, 255)},
			{Code: 12, Data: make([]byte, 255)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.m.Append([]byte{1, 2})
			if err == nil {
				t.Fatal("Append succeeded")
			}
			if len(b) != 2 {
				t.Errorf("Append left %d bytes, want the 2 it was given", len(b))
			}
		})
	}
}
