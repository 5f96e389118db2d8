package proxy

import (
	"io"
	"net"
	"testing"
)

// BenchmarkSpliceThroughput pushes 1 MiB per op through one proxied
// connection to an echo server and back (loopback, HostNetwork).
func BenchmarkSpliceThroughput(b *testing.B) {
	r := startTCP(b, oneBackend{servers: []string{"s " + backend(b, echo)}}, host())
	c := dial(b, r.addr)
	msg := make([]byte, 1<<20)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		go c.Write(msg)
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnRate measures connect, 100 B each way, close, through the
// proxy on one core.
func BenchmarkConnRate(b *testing.B) {
	be := oneBackend{servers: []string{"s " + backend(b, echo)}}
	r := startTB(b, benchDefaults("")+be.config(freePort(b)))
	msg := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp4", r.addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Write(msg)
		c.(*net.TCPConn).CloseWrite()
		if n, _ := io.Copy(io.Discard, c); n != 100 {
			b.Fatalf("echoed %d bytes", n)
		}
		c.Close()
	}
}
