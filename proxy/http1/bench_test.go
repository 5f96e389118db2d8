package http1

import (
	"bufio"
	"io"
	"strings"
	"testing"
)

func BenchmarkReadRequest(b *testing.B) {
	sr := strings.NewReader(typicalRequest)
	br := bufio.NewReader(sr)
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(typicalRequest)))
	for b.Loop() {
		sr.Reset(typicalRequest)
		br.Reset(sr)
		if err := ReadRequest(br, &r, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadEditWriteRequest(b *testing.B) {
	sr := strings.NewReader(typicalRequest)
	br := bufio.NewReader(sr)
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(typicalRequest)))
	for b.Loop() {
		sr.Reset(typicalRequest)
		br.Reset(sr)
		if err := ReadRequest(br, &r, Limits{}); err != nil {
			b.Fatal(err)
		}
		r.StripHopByHop(false)
		_ = r.Add("X-Forwarded-For", "192.0.2.1")
		r.AddFraming(r.Framing)
		if _, err := r.WriteHead(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadResponse(b *testing.B) {
	const in = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n" +
		"Content-Type: text/html\r\nContent-Length: 615\r\nLast-Modified: Tue, 13 Jun 2023 15:08:10 GMT\r\n" +
		"Connection: keep-alive\r\nETag: \"64888a1a-267\"\r\nAccept-Ranges: bytes\r\n\r\n"
	sr := strings.NewReader(in)
	br := bufio.NewReader(sr)
	var r Response
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		sr.Reset(in)
		br.Reset(sr)
		if err := ReadResponse(br, &r, nil, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCopyChunked(b *testing.B) {
	chunk := "4000\r\n" + strings.Repeat("x", 0x4000) + "\r\n"
	in := strings.Repeat(chunk, 64) + "0\r\n\r\n"
	sr := strings.NewReader(in)
	br := bufio.NewReaderSize(sr, 16<<10)
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		sr.Reset(in)
		br.Reset(sr)
		if _, err := CopyBody(io.Discard, br, Framing{Kind: FrameChunked}, buf); err != nil {
			b.Fatal(err)
		}
	}
}
