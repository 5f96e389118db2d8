package tcp

import (
	"runtime"
	"testing"
)

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
	before := runtime.NumGoroutine()
	s, err := New(Config{Addr: addrA, MAC: macA, Steering: MixSteering{N: cores}, Links: links})
	if err != nil {
		t.Fatal(err)
	}
	started := runtime.NumGoroutine() - before
	s.Close()
	// At most, not exactly: goroutines of earlier tests may end meanwhile.
	if started > cores {
		t.Errorf("New started %d goroutines for %d cores, want %d", started, cores, cores)
	}
	// Processor goroutines exit asynchronously after Wait returns.
	for range 1000 {
		if runtime.NumGoroutine() <= before {
			break
		}
		runtime.Gosched()
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines left after Close", after-before)
	}
}
