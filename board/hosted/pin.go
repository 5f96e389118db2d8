//go:build linux

package hosted

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// allowedCPUs is the CPU set the process started with, captured before any
// thread is pinned: a pinned thread's own mask would report just one CPU.
var allowedCPUs = startupCPUs()

// startupCPUs lists the CPUs in the calling thread's affinity mask; at
// package initialisation that is the main thread's, the process's.
func startupCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var cpus []int
	for cpu := 0; cpu < len(set)*64 && len(cpus) < set.Count(); cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus
}

// Pin locks the calling goroutine to its OS thread (runtime.LockOSThread)
// and binds that thread to one CPU with sched_setaffinity: the
// (core mod n)-th of the n CPUs the process was allowed at start, which is
// CPU core % runtime.NumCPU() when the process may use every CPU. It fits
// percpu.Runtime.Pin. On error the goroutine is unlocked again. A pinned
// goroutine should end without calling runtime.UnlockOSThread, so that the
// runtime discards the pinned thread instead of reusing it elsewhere.
//
// Hosted mode only: on bare metal (TamaGo) a locked goroutine that blocks
// makes the scheduler panic, so the qemu board must not use Pin.
func Pin(core int) error {
	if core < 0 {
		return fmt.Errorf("hosted: pin to core %d: negative core", core)
	}
	runtime.LockOSThread()
	cpu := core % runtime.NumCPU()
	if len(allowedCPUs) > 0 {
		cpu = allowedCPUs[core%len(allowedCPUs)]
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("hosted: pin core %d to cpu %d: %w", core, cpu, err)
	}
	return nil
}
