package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
)

// rawHTTPServer is a minimal keep-alive HTTP/1.1 server for benchmarks: it
// answers every request head with a fixed 13-byte response, so that the
// proxy, not the backend, dominates the profile.
func rawHTTPServer(b *testing.B) string { return backend(b, fastServe) }

var fastResponse = []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nhello, world\n")

// fastServe answers each request head on c with fastResponse.
func fastServe(c net.Conn) {
	br := bufio.NewReaderSize(c, 8<<10)
	for {
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(l) == 2 {
				break
			}
		}
		if _, err := c.Write(fastResponse); err != nil {
			return
		}
	}
}

const benchReq = "GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"

// benchProxy runs a mode http proxy, without logs, in front of
// rawHTTPServer on one host core.
func benchProxy(b *testing.B) *running {
	b.Helper()
	be := oneBackend{servers: []string{"s1 " + rawHTTPServer(b)}}
	return startTB(b, benchDefaults("http")+be.config(freePort(b)))
}

// readBenchResponse reads one response with a 13-byte body.
func readBenchResponse(b *testing.B, br *bufio.Reader) {
	b.Helper()
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if len(l) == 2 {
			break
		}
	}
	if _, err := br.Discard(13); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkHTTPKeepAlive measures requests over one keep-alive client
// connection through the proxy (one core, HostNetwork, loopback): the
// figure per op is one request and its response; allocs/op is the
// engine's allocations per request plus the (small) benchmark client's.
func BenchmarkHTTPKeepAlive(b *testing.B) {
	r := benchProxy(b)
	c := dial(b, r.addr)
	br := bufio.NewReader(c)
	req := []byte(benchReq)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		readBenchResponse(b, br)
	}
}

// BenchmarkHTTPKeepAliveParallel runs keep-alive clients in parallel
// (GOMAXPROCS times -cpu... connections), for requests/s under load.
func BenchmarkHTTPKeepAliveParallel(b *testing.B) {
	r := benchProxy(b)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp4", r.addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req := []byte(benchReq)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			readBenchResponse(b, br)
		}
	})
}

// BenchmarkHTTPConnPerRequest measures one request per client connection
// (connect, request, response, close). With http-reuse safe every first
// request gets a new server connection too, as in HAProxy.
func BenchmarkHTTPConnPerRequest(b *testing.B) {
	r := benchProxy(b)
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp4", r.addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Write(req)
		out, err := io.ReadAll(c)
		if err != nil || !bytes.HasSuffix(out, []byte("hello, world\n")) {
			b.Fatalf("%q %v", out, err)
		}
		c.Close()
	}
}
