package proxyproto

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

func FuzzRead(f *testing.F) {
	for _, e := range encodings {
		if e.v1 != nil {
			f.Add(e.v1)
			f.Add(e.v1[:len(e.v1)-1])
		}
		f.Add(e.v2)
		f.Add(e.v2[:len(e.v2)-1])
	}
	for _, s := range []string{
		"", "PROXY ", "PROXY UNKNOWN\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP6 ::ffff:1.2.3.4 ::1 0 65535\r\n", string(sig),
		v2(0x21, 0x31, 216, make([]byte, 216)...), v2(0x20, 0x00, 3, 4, 0, 0),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h, back Header
		if err := Read(bufio.NewReader(bytes.NewReader(data)), &h); err != nil {
			return
		}
		// What was accepted re-encodes in its version and reads back the same.
		var enc []byte
		var err error
		if h.Version == 1 {
			enc, err = AppendV1(nil, &h)
		} else {
			if fam := h.Proto >> 4; fam != 1 && fam != 2 || h.Proto&0xf == 0 {
				return // UNIX and unspecified layouts are skipped, not kept
			}
			enc, err = AppendV2(nil, &h)
		}
		if err != nil {
			if h.Command == Local {
				return
			}
			t.Fatalf("re-encode %+v: %v", h, err)
		}
		if err := Read(bufio.NewReader(bytes.NewReader(enc)), &back); err != nil {
			t.Fatalf("re-read %q: %v", enc, err)
		}
		if back.Command != h.Command || back.Src != h.Src || back.Dst != h.Dst || !bytes.Equal(back.TLVs, h.TLVs) {
			t.Fatalf("round trip %+v -> %+v", h, back)
		}
	})
}

// FuzzIPv6 checks the allocation-free IPv6 parser against netip.
func FuzzIPv6(f *testing.F) {
	for _, s := range []string{"::", "::1", "1::", "2001:db8::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:1.2.3.4", "1::2::3", "1:2:3:4:5:6:7:8:9", ":1", "1:", "12345::", "::1.2.3.4", "1:2:3:4:5:6:7::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsAny(s, "%") {
			return
		}
		got, ok := parseIPv6([]byte(s))
		want, err := netip.ParseAddr(s)
		wantOK := err == nil && want.Is6()
		if ok != wantOK || ok && got != want {
			t.Fatalf("parseIPv6(%q) = %v %v, netip says %v %v", s, got, ok, want, err)
		}
	})
}
