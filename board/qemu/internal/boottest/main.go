//go:build tamago

// Command boottest is a throwaway guest for board/qemu's boot test: it brings
// the board up, shows a goroutine running on every core, reports the clock,
// sleeps one second by the guest's clock (the host times it between the
// "sleep begin" and "sleep end" lines), lists the virtio-mmio devices and
// exits through isa-debug-exit with status 0 (QEMU status 1).
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bareproxy/bareproxy/board/qemu"
)

// spinLimit bounds the wait for every core to pick up a goroutine.
const spinLimit = 2 * time.Second

func main() {
	fmt.Printf("boottest: up %v cores %d gomaxprocs %d clock %s tsc %d Hz\n",
		qemu.Uptime(), qemu.Cores(), runtime.GOMAXPROCS(0), qemu.Clock(), qemu.TSCFrequency())
	fmt.Printf("boottest: wall clock %s\n", time.Now().UTC().Format(time.RFC3339))

	showCores()

	fmt.Println("boottest: sleep begin")
	t0 := time.Now()
	time.Sleep(time.Second)
	fmt.Printf("boottest: sleep end guest-elapsed %v\n", time.Since(t0))

	for _, d := range qemu.VirtioDevices() {
		fmt.Printf("boottest: virtio slot %d base %#x irq %d id %d version %d features %#x\n",
			d.Slot, d.Base, d.IRQ, d.DeviceID, d.Version, d.Features())
	}
	if d, ok := qemu.FindNet(); ok {
		fmt.Printf("boottest: net at %#x irq %d\n", d.Base, d.IRQ)
	}

	fmt.Println("boottest: done")
	os.Exit(0)
}

// showCores starts one goroutine per core; each spins, yielding, until every
// core has been seen by some goroutine, and prints its core the first time
// that core is seen.
func showCores() {
	n := qemu.Cores()
	var seen atomic.Uint64
	all := uint64(1)<<n - 1
	deadline := time.Now().Add(spinLimit)

	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spinUntilAllSeen(&seen, all, deadline)
		}()
	}
	wg.Wait()
}

func spinUntilAllSeen(seen *atomic.Uint64, all uint64, deadline time.Time) {
	for seen.Load() != all && time.Now().Before(deadline) {
		id := qemu.AMD64.ID()
		bit := uint64(1) << id
		if old := seen.Or(bit); old&bit == 0 {
			fmt.Printf("cpu %d online\n", id)
		}
		runtime.Gosched()
	}
}
