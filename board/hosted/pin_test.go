//go:build linux

package hosted

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestPin(t *testing.T) {
	if len(allowedCPUs) == 0 {
		t.Skip("skipping: cannot read the process's CPU affinity")
	}
	for core := range 2*len(allowedCPUs) + 1 {
		errc := make(chan error, 1)
		var got unix.CPUSet
		// Each Pin runs on a goroutine that ends locked, so the pinned
		// thread is discarded and does not leak into other tests.
		go func() {
			if err := Pin(core); err != nil {
				errc <- err
				return
			}
			errc <- unix.SchedGetaffinity(0, &got)
		}()
		if err := <-errc; err != nil {
			t.Fatalf("Pin(%d): %v", core, err)
		}
		want := allowedCPUs[core%len(allowedCPUs)]
		if got.Count() != 1 || !got.IsSet(want) {
			t.Errorf("Pin(%d): thread may run on %d CPUs (cpu %d set: %v), want only cpu %d",
				core, got.Count(), want, got.IsSet(want), want)
		}
	}
	if err := Pin(-1); err == nil {
		t.Error("Pin(-1) succeeded, want an error")
	}
}
