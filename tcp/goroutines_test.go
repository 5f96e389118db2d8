package tcp

import (
	"bytes"
	"runtime"
	"testing"
	"time"
)

// processors counts the goroutines running gVisor's TCP processors, by their
// stacks rather than by runtime.NumGoroutine, so that other goroutines
// starting or ending meanwhile do not count.
func processors() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	for n == len(buf) {
		buf = make([]byte, 2*len(buf))
		n = runtime.Stack(buf, true)
	}
	return bytes.Count(buf[:n], []byte("transport/tcp.(*processor).start("))
}

// settledProcessors waits until the processors of stacks that earlier tests
// closed have exited (their goroutines end asynchronously after Close), so
// that the count stays put for a while, and returns it.
func settledProcessors(t *testing.T) int {
	t.Helper()
	last, since := processors(), time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		if n := processors(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 100*time.Millisecond {
			return n
		}
	}
	t.Fatalf("TCP processor count never settled (last %d)", last)
	return 0
}

// TestOneProcessorPerCore checks that each core's stack starts one TCP
// processor goroutine, not GOMAXPROCS of them, and that Close stops them.
func TestOneProcessorPerCore(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS >= 2 to tell one processor from GOMAXPROCS")
	}
	const cores = 3
	links := make([]Link, cores)
	for k := range links {
		links[k] = newWire(1)
	}
	before := settledProcessors(t)
	s, err := New(Config{Addr: addrA, MAC: macA, Steering: MixSteering{N: cores}, Links: links})
	if err != nil {
		t.Fatal(err)
	}
	// A processor may not show in a stack dump at once, so poll a little;
	// too many (GOMAXPROCS per core) would show at once.
	started := processors() - before
	for deadline := time.Now().Add(time.Second); started < cores && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		started = processors() - before
	}
	if started != cores {
		t.Errorf("New started %d TCP processors for %d cores, want %d", started, cores, cores)
	}
	s.Close()
	if left := settledProcessors(t) - before; left > 0 {
		t.Errorf("%d TCP processors left after Close", left)
	}
}
