package engine

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchClients is how many dialling goroutines each pair runs.
const benchClients = 4

// serveEcho100 accepts on l and answers each connection's 100 bytes with
// 100 bytes, then closes.
func serveEcho100(l *Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go serve100(c)
	}
}

func serve100(c *Conn) {
	var buf [100]byte
	if _, err := io.ReadFull(c, buf[:]); err == nil {
		c.Write(buf[:])
	}
	c.Close()
}

// exchange100 dials, sends 100 bytes, reads 100 bytes and closes.
func exchange100(ctx context.Context, e *Engine, to netip.AddrPort, buf *[100]byte) error {
	c, err := e.Dial(ctx, to)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(buf[:]); err != nil {
		return err
	}
	_, err = io.ReadFull(c, buf[:])
	return err
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConnect measures connections per second between in-process
// engines: connect, 100 bytes each way, close. cores=n runs n independent
// engine pairs (one per core) under GOMAXPROCS(n), each with benchClients
// dialling goroutines; one op is one connection, so allocs/op and
// cpu-µs/conn count both ends and the in-memory link.
func BenchmarkConnect(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("cores=%d", n), func(b *testing.B) {
			if n > runtime.NumCPU() {
				b.Skipf("skipping: %d cores on a %d-CPU machine", n, runtime.NumCPU())
			}
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
			ctx := context.Background()
			server := netip.AddrPortFrom(testAddrA, 80)
			var pairs []*pair
			for range n {
				p := newPair(b, impairment{}, nil)
				l, err := p.a.Listen(80)
				if err != nil {
					b.Fatal(err)
				}
				go serveEcho100(l)
				pairs = append(pairs, p)
				var buf [100]byte
				for range 2000 { // fill the free lists and map
					if err := exchange100(ctx, p.b, server, &buf); err != nil {
						b.Fatalf("warm-up: %v", err)
					}
				}
			}
			// Each pair has its own share of b.N and its own counter: one
			// counter for all would be a cache line that every connection
			// moves between the cores being measured.
			quota := make([]struct {
				next atomic.Int64
				_    [56]byte
			}, n)
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			start, cpuStart := time.Now(), processCPU()
			for k, p := range pairs {
				share := int64(b.N / n)
				if k < b.N%n {
					share++
				}
				next := &quota[k].next
				for range benchClients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var buf [100]byte
						for next.Add(1) <= share {
							if err := exchange100(ctx, p.b, server, &buf); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
			}
			wg.Wait()
			elapsed, cpu := time.Since(start), processCPU()-cpuStart
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "conns/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/conn")
		})
	}
}
