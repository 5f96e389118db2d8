package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// sig is the v2 signature written out from section 2.2 of the
// specification: \x0D \x0A \x0D \x0A \x00 \x0D \x0A \x51 \x55 \x49 \x54 \x0A.
var sig = []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// Encodings checked byte by byte against the layouts in the specification.
var encodings = []struct {
	name string
	h    Header
	v1   []byte
	v2   []byte
}{
	{
		// The example of section 2.1.
		name: "tcp4",
		h:    Header{Command: Proxy, Proto: TCP4, Src: ap("192.168.0.1:56324"), Dst: ap("192.168.0.11:443")},
		v1: cat(
			[]byte{0x50, 0x52, 0x4F, 0x58, 0x59}, // "PROXY"
			[]byte{0x20},                         // exactly one space
			[]byte{0x54, 0x43, 0x50, 0x34},       // "TCP4"
			[]byte(" 192.168.0.1 192.168.0.11 56324 443"),
			[]byte{0x0D, 0x0A}, // CRLF
		),
		v2: cat(sig,
			[]byte{0x21},       // version 2, command PROXY
			[]byte{0x11},       // AF_INET, STREAM
			[]byte{0x00, 0x0C}, // 12 address bytes
			[]byte{192, 168, 0, 1},
			[]byte{192, 168, 0, 11},
			[]byte{0xDC, 0x04}, // 56324
			[]byte{0x01, 0xBB}, // 443
		),
	},
	{
		name: "tcp6",
		h:    Header{Command: Proxy, Proto: TCP6, Src: ap("[2001:db8::1]:1234"), Dst: ap("[2001:db8:0:1::ff]:65535")},
		v1: cat(
			[]byte{0x50, 0x52, 0x4F, 0x58, 0x59, 0x20},
			[]byte{0x54, 0x43, 0x50, 0x36}, // "TCP6"
			[]byte(" 2001:db8::1 2001:db8:0:1::ff 1234 65535\r\n"),
		),
		v2: cat(sig,
			[]byte{0x21, 0x21, 0x00, 0x24}, // PROXY, AF_INET6 STREAM, 36 bytes
			[]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01},
			[]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0xff},
			[]byte{0x04, 0xD2, 0xFF, 0xFF},
		),
	},
	{
		name: "local",
		h:    Header{Command: Local},
		v1:   []byte("PROXY UNKNOWN\r\n"),
		v2:   cat(sig, []byte{0x20, 0x00, 0x00, 0x00}), // LOCAL, UNSPEC, length 0
	},
	{
		name: "unspec",
		h:    Header{Command: Proxy, Proto: Unspec},
		v1:   []byte{0x50, 0x52, 0x4F, 0x58, 0x59, 0x20, 0x55, 0x4E, 0x4B, 0x4E, 0x4F, 0x57, 0x4E, 0x0D, 0x0A},
		v2:   cat(sig, []byte{0x21, 0x00, 0x00, 0x00}),
	},
	{
		name: "tcp4 with authority tlv",
		h: Header{Command: Proxy, Proto: TCP4, Src: ap("10.0.0.1:1"), Dst: ap("10.0.0.2:80"),
			TLVs: AppendTLV(nil, TypeAuthority, []byte("example.com"))},
		v1: []byte("PROXY TCP4 10.0.0.1 10.0.0.2 1 80\r\n"),
		v2: cat(sig,
			[]byte{0x21, 0x11, 0x00, 0x1A}, // 12 + 3 + 11 = 26
			[]byte{10, 0, 0, 1, 10, 0, 0, 2, 0x00, 0x01, 0x00, 0x50},
			[]byte{0x02, 0x00, 0x0B}, []byte("example.com"),
		),
	},
	{
		name: "udp4",
		h:    Header{Command: Proxy, Proto: UDP4, Src: ap("1.2.3.4:53"), Dst: ap("5.6.7.8:5353")},
		v2:   cat(sig, []byte{0x21, 0x12, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x35, 0x14, 0xE9}),
	},
}

func TestEncode(t *testing.T) {
	for _, tt := range encodings {
		t.Run(tt.name, func(t *testing.T) {
			if tt.v1 != nil {
				got, err := AppendV1(nil, &tt.h)
				if err != nil || !bytes.Equal(got, tt.v1) {
					t.Errorf("AppendV1 = %q, %v\nwant %q", got, err, tt.v1)
				}
			}
			got, err := AppendV2([]byte("x"), &tt.h)
			if err != nil || !bytes.Equal(got[1:], tt.v2) || got[0] != 'x' {
				t.Errorf("AppendV2 = % x, %v\nwant   % x", got, err, tt.v2)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	const after = "GET / HTTP/1.1\r\n\r\n"
	for _, tt := range encodings {
		for v, enc := range [][]byte{tt.v1, tt.v2} {
			if enc == nil {
				continue
			}
			br := bufio.NewReader(bytes.NewReader(cat(enc, []byte(after))))
			var h Header
			if err := Read(br, &h); err != nil {
				t.Fatalf("%s v%d: Read = %v", tt.name, v+1, err)
			}
			want := tt.h
			want.Version = v + 1
			if v == 0 {
				want.TLVs = nil
				if want.Command == Local {
					want.Command, want.Proto = Proxy, Unspec
				}
			}
			if h.Version != want.Version || h.Command != want.Command || h.Proto != want.Proto ||
				h.Src != want.Src || h.Dst != want.Dst || !bytes.Equal(h.TLVs, want.TLVs) {
				t.Errorf("%s v%d: Read = %+v, want %+v", tt.name, v+1, h, want)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != after {
				t.Errorf("%s v%d: left %q after header", tt.name, v+1, rest)
			}
		}
	}
}

func TestV1Lengths(t *testing.T) {
	// The maximum line lengths of section 2.1.
	ff := strings.Repeat("ffff:", 7) + "ffff"
	for _, tt := range []struct {
		line string
		n    int
	}{
		{"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", 56},
		{"PROXY TCP6 " + ff + " " + ff + " 65535 65535\r\n", 104},
		{"PROXY UNKNOWN\r\n", 15},
		{"PROXY UNKNOWN " + ff + " " + ff + " 65535 65535\r\n", 107},
	} {
		if len(tt.line) != tt.n {
			t.Fatalf("test line %q is %d bytes, want %d", tt.line, len(tt.line), tt.n)
		}
		var h Header
		if err := Read(bufio.NewReader(strings.NewReader(tt.line)), &h); err != nil {
			t.Errorf("Read(%q) = %v", tt.line, err)
		}
	}
	h := NewTCP(ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535"), ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"))
	if b, _ := AppendV1(nil, &h); len(b) != 104 {
		t.Errorf("longest TCP6 line is %d bytes: %q", len(b), b)
	}
}

func TestNewTCP(t *testing.T) {
	h := NewTCP(ap("[::ffff:1.2.3.4]:1"), ap("5.6.7.8:2"))
	if h.Proto != TCP4 || h.Src != ap("1.2.3.4:1") {
		t.Errorf("mapped v4: %+v", h)
	}
	h = NewTCP(ap("1.2.3.4:1"), ap("[2001:db8::1]:2"))
	if h.Proto != TCP6 || h.Src != ap("[::ffff:1.2.3.4]:1") {
		t.Errorf("mixed: %+v", h)
	}
	b, err := AppendV1(nil, &h)
	if err != nil {
		t.Fatal(err)
	}
	var back Header
	if err := Read(bufio.NewReader(bytes.NewReader(b)), &back); err != nil || back.Src != h.Src || back.Dst != h.Dst {
		t.Errorf("mixed round trip %q: %v %+v", b, err, back)
	}
	if src, dst, ok := back.Addrs(); !ok || src != h.Src || dst != h.Dst {
		t.Errorf("Addrs = %v %v %v", src, dst, ok)
	}
	local := Header{Command: Local}
	if _, _, ok := local.Addrs(); ok {
		t.Error("Addrs ok for Local")
	}
}

func TestTLV(t *testing.T) {
	var b []byte
	b = AppendTLV(b, TypeNoop, nil)
	b = AppendTLV(b, TypeUniqueID, []byte("id-1"))
	b = AppendTLV(b, TypeAuthority, []byte("a.example"))
	h := Header{Command: Proxy, Proto: TCP6, Src: ap("[::1]:1"), Dst: ap("[::1]:2"), TLVs: b}
	enc, err := AppendV2(nil, &h)
	if err != nil {
		t.Fatal(err)
	}
	var got Header
	if err := Read(bufio.NewReader(bytes.NewReader(enc)), &got); err != nil {
		t.Fatal(err)
	}
	if v, ok := got.TLV(TypeAuthority); !ok || string(v) != "a.example" {
		t.Errorf("TLV(authority) = %q %v", v, ok)
	}
	if v, ok := got.TLV(TypeNoop); !ok || len(v) != 0 {
		t.Errorf("TLV(noop) = %q %v", v, ok)
	}
	if _, ok := got.TLV(TypeSSL); ok {
		t.Error("TLV(ssl) found")
	}
	h.TLVs = []byte{TypeAuthority, 0, 5, 'a'}
	if _, err := AppendV2(nil, &h); err == nil {
		t.Error("AppendV2 accepted a malformed TLV")
	}
}

func v2(verCmd, fam byte, n int, rest ...byte) string {
	return string(cat(sig, []byte{verCmd, fam, byte(n >> 8), byte(n)}, rest))
}

func TestMalformed(t *testing.T) {
	addr4 := []byte{1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2}
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", io.EOF},
		{"http", "GET / HTTP/1.1\r\n\r\n", ErrNotProxy},
		{"proxy without space", "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", ErrNotProxy},
		{"lowercase", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", ErrNotProxy},
		{"tls", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00", ErrNotProxy},
		{"v1 truncated", "PROXY TCP4 1.2.3.4", io.ErrUnexpectedEOF},
		{"v1 truncated short", "PROX", io.ErrUnexpectedEOF},
		{"v1 bare lf", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", ErrMalformed},
		{"v1 bare cr", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rGET / HTTP/1.1\r\n", ErrMalformed},
		{"v1 no crlf in 107", "PROXY UNKNOWN " + strings.Repeat("a", 100) + "\r\n", ErrMalformed},
		{"v1 double space", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", ErrMalformed},
		{"v1 trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", ErrMalformed},
		{"v1 missing port", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", ErrMalformed},
		{"v1 extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", ErrMalformed},
		{"v1 unknown proto", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", ErrMalformed},
		{"v1 udp4", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", ErrMalformed},
		{"v1 unknownx", "PROXY UNKNOWNX\r\n", ErrMalformed},
		{"v1 ipv4 leading zero", "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", ErrMalformed},
		{"v1 ipv4 octet 256", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", ErrMalformed},
		{"v1 ipv4 three octets", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", ErrMalformed},
		{"v1 tcp4 with ipv6", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", ErrMalformed},
		{"v1 tcp6 with ipv4", "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", ErrMalformed},
		{"v1 tcp6 zone", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", ErrMalformed},
		{"v1 tcp6 two double colons", "PROXY TCP6 1::2::3 ::1 1 2\r\n", ErrMalformed},
		{"v1 port leading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", ErrMalformed},
		{"v1 port too big", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", ErrMalformed},
		{"v1 port sign", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", ErrMalformed},
		{"v2 truncated signature", string(sig[:7]), io.ErrUnexpectedEOF},
		{"v2 truncated fixed part", string(sig) + "\x21\x11", io.ErrUnexpectedEOF},
		{"v2 truncated addresses", v2(0x21, 0x11, 12, 1, 2, 3, 4), io.ErrUnexpectedEOF},
		{"v2 truncated tlv", v2(0x21, 0x11, 20, addr4...), io.ErrUnexpectedEOF},
		{"v2 truncated local", v2(0x20, 0x00, 4, 1), io.ErrUnexpectedEOF},
		{"v2 version 1", v2(0x11, 0x11, 12, addr4...), ErrMalformed},
		{"v2 version 3", v2(0x31, 0x11, 12, addr4...), ErrMalformed},
		{"v2 command 2", v2(0x22, 0x11, 12, addr4...), ErrMalformed},
		{"v2 family 4", v2(0x21, 0x41, 12, addr4...), ErrMalformed},
		{"v2 protocol 3", v2(0x21, 0x13, 12, addr4...), ErrMalformed},
		{"v2 length short for tcp4", v2(0x21, 0x11, 11, addr4...), ErrMalformed},
		{"v2 length short for tcp6", v2(0x21, 0x21, 35, make([]byte, 35)...), ErrMalformed},
		{"v2 length short for unix", v2(0x21, 0x31, 215, make([]byte, 215)...), ErrMalformed},
		{"v2 length over limit", v2(0x21, 0x11, MaxV2Len+1, make([]byte, MaxV2Len+1)...), ErrMalformed},
		{"v2 tlv overruns", v2(0x21, 0x11, 16, append(addr4, TypeAuthority, 0, 9, 'a')...), ErrMalformed},
		{"v2 tlv short header", v2(0x21, 0x11, 14, append(addr4, TypeAuthority, 0)...), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Header
			err := Read(bufio.NewReader(strings.NewReader(tt.in)), &h)
			if !errors.Is(err, tt.want) {
				t.Errorf("Read(%q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestAccepted(t *testing.T) {
	for _, tt := range []struct {
		name  string
		in    string
		cmd   Command
		proto Proto
	}{
		{"v2 local with addresses", v2(0x20, 0x11, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2), Local, TCP4},
		{"v2 unix skipped", v2(0x21, 0x31, 216, make([]byte, 216)...), Proxy, UnixStream},
		{"v2 inet unspec protocol", v2(0x21, 0x10, 3, 1, 2, 3), Proxy, 0x10},
		{"v1 unknown with addresses", "PROXY UNKNOWN 1.2.3.4 whatever\r\n", Proxy, Unspec},
	} {
		var h Header
		br := bufio.NewReader(strings.NewReader(tt.in + "NEXT"))
		if err := Read(br, &h); err != nil {
			t.Errorf("%s: Read = %v", tt.name, err)
			continue
		}
		if h.Command != tt.cmd || h.Proto != tt.proto {
			t.Errorf("%s: command %v proto %#x", tt.name, h.Command, h.Proto)
		}
		if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
			t.Errorf("%s: left %q", tt.name, rest)
		}
		if _, _, ok := h.Addrs(); ok {
			t.Errorf("%s: Addrs ok", tt.name)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, h := range []Header{
		{Command: Proxy, Proto: TCP4, Src: ap("[::1]:1"), Dst: ap("1.2.3.4:2")},
		{Command: Proxy, Proto: TCP6},
		{Command: Proxy, Proto: UnixStream},
		{Command: 7},
	} {
		if b, err := AppendV2(nil, &h); err == nil {
			t.Errorf("AppendV2(%+v) = % x, want error", h, b)
		}
	}
	for _, h := range []Header{
		{Command: Proxy, Proto: TCP4, Src: ap("[::1]:1"), Dst: ap("1.2.3.4:2")},
		{Command: Proxy, Proto: TCP6, Src: ap("1.2.3.4:1"), Dst: ap("1.2.3.4:2")},
		{Command: Proxy, Proto: UDP4, Src: ap("1.2.3.4:1"), Dst: ap("1.2.3.4:2")},
	} {
		if b, err := AppendV1(nil, &h); err == nil {
			t.Errorf("AppendV1(%+v) = %q, want error", h, b)
		}
	}
	var h Header
	if err := Read(bufio.NewReaderSize(strings.NewReader("PROXY UNKNOWN\r\n"), 16), &h); err == nil {
		t.Error("Read with a 16-byte reader buffer succeeded")
	}
}

func TestAllocs(t *testing.T) {
	v1 := []byte("PROXY TCP6 2001:db8::1 2001:db8::2 1234 443\r\n")
	h4 := NewTCP(ap("192.0.2.1:40000"), ap("198.51.100.1:443"))
	v2b, _ := AppendV2(nil, &Header{Command: Proxy, Proto: TCP4, Src: h4.Src, Dst: h4.Dst, TLVs: AppendTLV(nil, TypeUniqueID, []byte("x"))})
	r := bytes.NewReader(nil)
	br := bufio.NewReader(r)
	var h Header
	out := make([]byte, 0, 128)
	for _, in := range [][]byte{v1, v2b} {
		allocs := testing.AllocsPerRun(100, func() {
			r.Reset(in)
			br.Reset(r)
			if err := Read(br, &h); err != nil {
				t.Fatal(err)
			}
			out, _ = AppendV1(out[:0], &h)
			out, _ = AppendV2(out[:0], &h)
		})
		if allocs != 0 {
			t.Errorf("read+encode of %q allocates %v times, want 0", in, allocs)
		}
	}
}
