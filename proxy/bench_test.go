package proxy

import (
	"fmt"
	"io"
	"net"
	"testing"
)

// BenchmarkSpliceThroughput pushes 1 MiB per op through one proxied
// connection to an echo server and back (loopback, HostNetwork).
func BenchmarkSpliceThroughput(b *testing.B) {
	be := backend(b, echo)
	port := freePort(b)
	r := startBench(b, testDefaults+fmt.Sprintf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    server s %s
`, port, be))
	c, err := net.Dial("tcp4", r.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
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
	be := backend(b, echo)
	port := freePort(b)
	r := startBench(b, fmt.Sprintf(`defaults
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    server s %s
`, port, be))
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

func startBench(b *testing.B, src string) *running {
	b.Helper()
	return startTB(b, src)
}
