package engine

import (
	"context"
	"errors"
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

// reportConns stops b's timer and reports b.N connections since start, with
// the process's CPU time since cpuStart.
func reportConns(b *testing.B, start time.Time, cpuStart time.Duration) {
	elapsed, cpu := time.Since(start), processCPU()-cpuStart
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "conns/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/conn")
}

// onCores runs bench as the sub-benchmarks cores=1 and cores=2, each under
// GOMAXPROCS(n) and skipped where the machine has fewer CPUs, so that
// their ratio is a scaling figure.
func onCores(b *testing.B, bench func(b *testing.B, n int)) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("cores=%d", n), func(b *testing.B) {
			if n > runtime.NumCPU() {
				b.Skipf("skipping: %d cores on a %d-CPU machine", n, runtime.NumCPU())
			}
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
			bench(b, n)
		})
	}
}

// BenchmarkConnect measures connections per second between in-process
// engines: connect, 100 bytes each way, close. cores=n runs n independent
// engine pairs (one per core) under GOMAXPROCS(n), each with benchClients
// dialling goroutines; one op is one connection, so allocs/op and
// cpu-µs/conn count both ends and the in-memory link.
func BenchmarkConnect(b *testing.B) {
	onCores(b, func(b *testing.B, n int) {
		ctx := context.Background()
		server := netip.AddrPortFrom(testAddrA, 80)
		var pairs []*pair
		for range n {
			p, l := newPairListening(b, impairment{}, nil)
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
		reportConns(b, start, cpuStart)
	})
}

// serve100Ready is serve100 as a Handler: it answers a connection's 100
// bytes with 100 bytes and closes, on the core's worker.
func serve100Ready(c *Conn) {
	var buf [100]byte
	n, err := c.Read(buf[:])
	switch {
	case n == 0 && err == ErrWouldBlock: // not here yet
	case n == len(buf):
		c.Write(buf[:])
		c.Close()
	default: // a short request, or a failure: the client sees the close
		c.Close()
	}
}

// handlerClient is exchange100 as Handlers: it dials conns connections in
// turn with DialHandler, keeping inFlight of them open, and sends 100
// bytes on each once it is up, then reads 100 bytes and closes.
type handlerClient struct {
	e  *Engine
	to netip.AddrPort

	// mu guards the fields below: the first dials are made by the
	// benchmark's goroutine while the worker runs handlers.
	mu         sync.Mutex
	left, open int
	free       []*handlerConn
	err        error
	done       chan struct{}
}

// handlerConn is one client connection's state, reused.
type handlerConn struct {
	cl   *handlerClient
	sent bool
}

// run makes conns connections, inFlight at a time, and returns the first
// error.
func (cl *handlerClient) run(conns, inFlight int) error {
	cl.mu.Lock()
	cl.left, cl.err, cl.done = conns, nil, make(chan struct{})
	for range min(inFlight, conns) {
		cl.dialLocked()
	}
	if cl.open == 0 {
		close(cl.done)
	}
	cl.mu.Unlock()
	select {
	case <-cl.done:
	case <-time.After(time.Minute):
		return errors.New("handler client: no end in a minute")
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.err
}

func (cl *handlerClient) dialLocked() {
	if cl.left == 0 {
		return
	}
	var k *handlerConn
	if n := len(cl.free); n > 0 {
		k = cl.free[n-1]
		cl.free = cl.free[:n-1]
	} else {
		k = &handlerConn{cl: cl}
	}
	if _, err := cl.e.DialHandler(cl.to, 0, k); err != nil {
		cl.err, cl.left = err, 0
		return
	}
	cl.left--
	cl.open++
}

func (k *handlerConn) Ready(c *Conn) {
	var buf [100]byte
	if !k.sent {
		_, err := c.Write(buf[:])
		if err == nil {
			k.sent = true
			return
		}
		k.cl.end(c, k, fmt.Errorf("write: %w", err))
		return
	}
	n, err := c.Read(buf[:])
	switch {
	case n == 0 && err == ErrWouldBlock:
	case n == len(buf):
		k.cl.end(c, k, nil)
	default:
		k.cl.end(c, k, fmt.Errorf("read %d bytes of 100: %v", n, err))
	}
}

func (cl *handlerClient) end(c *Conn, k *handlerConn, err error) {
	c.Close()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	k.sent = false
	cl.free = append(cl.free, k)
	cl.open--
	if err != nil && cl.err == nil {
		cl.err, cl.left = err, 0
	}
	cl.dialLocked()
	if cl.open == 0 {
		close(cl.done)
	}
}

// BenchmarkServe is BenchmarkConnect run to completion: the server is a
// Handler on a served listener and each pair's client dials with
// DialHandler, benchClients connections in flight. Each core then runs
// one goroutine, its pair's link worker (see linkWorker), and no
// connection wakes a goroutine; what is left is the engine's own cost
// and, at two cores, whatever the cores share. BenchmarkConnect's gap to
// it is the cost of a goroutine per connection.
func BenchmarkServe(b *testing.B) {
	onCores(b, func(b *testing.B, n int) {
		server := netip.AddrPortFrom(testAddrA, 80)
		var clients []*handlerClient
		for range n {
			p, l := newPairListening(b, impairment{}, nil)
			l.Serve(HandlerFunc(serve100Ready))
			cl := &handlerClient{e: p.b, to: server}
			if err := cl.run(2000, benchClients); err != nil { // fill the free lists and map
				b.Fatalf("warm-up: %v", err)
			}
			clients = append(clients, cl)
		}
		var wg sync.WaitGroup
		b.ReportAllocs()
		b.ResetTimer()
		start, cpuStart := time.Now(), processCPU()
		for k, cl := range clients {
			share := b.N / n
			if k < b.N%n {
				share++
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := cl.run(share, benchClients); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		reportConns(b, start, cpuStart)
	})
}

// BenchmarkStream moves bytes one way through one connection between two
// engines, 64 KiB per Write, and reports MB/s and CPU per MB: with the
// engines summing every segment (checksum=engine) and with the checksums
// left to the device (checksum=device, Config.VnetHdr as on virtio-net
// without TSO). One op is one 64 KiB write.
func BenchmarkStream(b *testing.B) {
	for _, device := range []bool{false, true} {
		name := "checksum=engine"
		if device {
			name = "checksum=device"
		}
		b.Run(name, func(b *testing.B) {
			p, l := newPairListening(b, impairment{}, func(c *Config) { c.VnetHdr = device })
			got := make(chan int64, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					got <- -1
					return
				}
				n, _ := io.Copy(io.Discard, c)
				c.Close()
				got <- n
			}()
			c, err := p.b.Dial(context.Background(), netip.AddrPortFrom(testAddrA, 80))
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			cpuStart := processCPU()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			if n := <-got; n != int64(b.N)*int64(len(buf)) {
				b.Fatalf("the server read %d bytes, want %d", n, int64(b.N)*int64(len(buf)))
			}
			cpu := processCPU() - cpuStart
			b.StopTimer()
			b.ReportMetric(float64(cpu.Microseconds())/(float64(b.N)*float64(len(buf))/1e6), "cpu-µs/MB")
		})
	}
}
