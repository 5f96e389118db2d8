package proxyproto

import (
	"bufio"
	"bytes"
	"testing"
)

func benchRead(b *testing.B, in []byte) {
	r := bytes.NewReader(in)
	br := bufio.NewReader(r)
	var h Header
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r.Reset(in)
		br.Reset(r)
		if err := Read(br, &h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadV1TCP4(b *testing.B) { benchRead(b, encodings[0].v1) }
func BenchmarkReadV1TCP6(b *testing.B) { benchRead(b, encodings[1].v1) }
func BenchmarkReadV2TCP4(b *testing.B) { benchRead(b, encodings[0].v2) }
func BenchmarkReadV2TCP6(b *testing.B) { benchRead(b, encodings[1].v2) }

func BenchmarkAppendV1(b *testing.B) {
	h := encodings[0].h
	out := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		out, _ = AppendV1(out[:0], &h)
	}
}

func BenchmarkAppendV2(b *testing.B) {
	h := encodings[0].h
	out := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		out, _ = AppendV2(out[:0], &h)
	}
}
