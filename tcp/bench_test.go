package tcp

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clientsPerCore is how many dialling goroutines each client core runs, so
// that a core is not idle while one connection waits for its peer.
const clientsPerCore = 4

// BenchmarkConnect measures connections per second between two in-process
// partitioned stacks: connect, 100 bytes each way, close. A serves on every
// core, B dials from every core with clientsPerCore goroutines per core.
// One op is one connection, so allocs/op and cpu-µs/conn count both ends
// and the test switch; conns/s depends on what else the machine runs.
//
// cores=n runs under GOMAXPROCS(n) (at most the machine's CPUs), so that
// the 2-versus-1 ratio of conns/s is a scaling figure: with GOMAXPROCS
// left at 2, cores=1 already used both CPUs (one stack's goroutines spread
// over them) and the ratio said nothing. Both ends run on the same n CPUs,
// so the server side alone does about 2*conns/s/n per CPU.
func BenchmarkConnect(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("cores=%d", n), func(b *testing.B) {
			if n > runtime.NumCPU() {
				b.Skipf("skipping: %d cores on a %d-CPU machine", n, runtime.NumCPU())
			}
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
			p := newPair(b, NewToeplitzSteering(n), MixSteering{N: n})
			listenAll(b, p.a, 80, nil)
			server := netip.AddrPortFrom(ipA, 80)
			ctx := context.Background()
			for k := range n { // resolve ARP outside the timing
				if _, err := exchange(ctx, p.b.Core(k), server); err != nil {
					b.Fatalf("warm-up dial from core %d: %v", k, err)
				}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			start, cpuStart := time.Now(), processCPU()
			for k := range n {
				for range clientsPerCore {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if _, err := exchange(ctx, p.b.Core(k), server); err != nil {
								b.Errorf("core %d: %v", k, err)
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
			var attempts, dials uint64
			for k := range n {
				st := p.b.Core(k).Stats()
				attempts += st.BindAttempts
				dials += st.Dials
			}
			b.ReportMetric(float64(attempts)/float64(dials), "binds/dial")
		})
	}
}
