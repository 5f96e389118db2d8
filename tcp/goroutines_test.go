package tcp

import (
	"bytes"
	"runtime"
	"testing"
	"time"
)

// processors counts the running goroutines of gVisor's TCP processors. It
// looks at stacks rather than at runtime.NumGoroutine, so that goroutines of
// other tests ending or starting meanwhile do not count.
func processors() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte("transport/tcp.(*processor).start("))
		}
		buf = make([]byte, 2*len(buf))
	}
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
	before := processors()
	s, err := New(Config{Addr: addrA, MAC: macA, Steering: MixSteering{N: cores}, Links: links})
	if err != nil {
		t.Fatal(err)
	}
	if started := processors() - before; started != cores {
		t.Errorf("New started %d TCP processors for %d cores, want %d", started, cores, cores)
	}
	s.Close()
	// Processor goroutines exit asynchronously after Wait returns.
	deadline := time.Now().Add(5 * time.Second)
	for processors() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if left := processors() - before; left > 0 {
		t.Errorf("%d TCP processors left after Close", left)
	}
}
