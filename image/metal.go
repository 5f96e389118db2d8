//go:build tamago

package main

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bareproxy/bareproxy/board/qemu"
	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/tcp"
)

// The bare-metal main program for QEMU microvm (GOOS=tamago). Importing
// board/qemu brings the machine up before main runs: clock, every vCPU
// (GOMAXPROCS is the core count), the COM1 console, isa-debug-exit and the
// DMA region. main then picks the configuration, brings up virtio-net with
// one queue pair per core, gets its address (static or DHCP), wires the
// appliance and runs it for ever. Every line goes to the serial console.

// embeddedConfig is the configuration built into the image; fw_cfg file
// opt/bareproxy/config replaces it at boot when that parses.
//
//go:embed embedded.cfg
var embeddedConfig []byte

const (
	// countersEvery is how often the per-core counters line is printed
	// (only when a counter moved).
	countersEvery = 2 * time.Second
	// coresSeenWithin bounds the wait for a goroutine on every core.
	coresSeenWithin = 2 * time.Second
)

func main() {
	log := newLogger(os.Stdout)
	log.Info("bareproxy booting", "cores", qemu.Cores(), "gomaxprocs", runtime.GOMAXPROCS(0),
		"clock", string(qemu.Clock()), "tsc_hz", qemu.TSCFrequency(), "uptime", qemu.Uptime().String())
	showCores(log)

	bc := loadConfig(log)
	cfg := bc.cfg

	nic, err := openNIC(cfg, log)
	if err != nil {
		fail(log, exitNoNetwork, err)
	}
	addr, gw, err := address(cfg, nic, log)
	if err != nil {
		fail(log, exitNoNetwork, err)
	}

	app, err := newAppliance(cfg, settings{
		queues:   nic.dev.Queues(),
		steering: nic.dev.Steering(),
		addr:     addr,
		gateway:  gw,
		mac:      nic.mac,
		closeNIC: nic.dev.Close,
		// The driver hands frames over behind a virtio_net_hdr
		// (virtio.Config.VnetHdr), so that the device finishes the
		// engine's checksums and cuts its segments where it can
		// (HOST_TSO4), and hands over the host's large segments whole
		// (GUEST_TSO4).
		vnetHdr:   true,
		tso:       nic.dev.TSO(),
		frameSize: nic.frameSize(),
		// The image links the native engine only (it does not import
		// tcp/gvisortcp).
		engine: tcp.EngineNative,
	}, log)
	if err != nil {
		fail(log, exitFailed, err)
	}
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() { errc <- app.run(ctx) }()
	select {
	case <-app.proxy.Ready():
	case err := <-errc:
		fail(log, exitFailed, fmt.Errorf("appliance stopped before it was ready: %w", err))
	}
	log.Info(fmt.Sprintf("ready in %d ms", qemu.Uptime().Milliseconds()),
		"addr", addr.String(), "gateway", gatewayText(gw), "mac", nic.mac.String(), "cores", len(nic.dev.Pairs()),
		"engine", tcp.EngineNative.String(), "config", bc.source)
	maintainLease(ctx, cfg, nic, app.stack, log)
	go reportCounters(app, log)
	err = <-errc
	fail(log, exitFailed, fmt.Errorf("appliance stopped: %v", err))
}

// fail logs err and stops the machine with code through isa-debug-exit.
func fail(log *slog.Logger, code int, err error) {
	log.Error(err.Error(), "exit", code)
	qemu.Exit(code)
}

// loadConfig picks the embedded configuration or its fw_cfg override, and
// stops the machine when the embedded one does not parse.
func loadConfig(log *slog.Logger) bootConfig {
	override, ok, ferr := qemu.FwCfgFile(fwCfgConfigName)
	bc, err := chooseConfig(embeddedConfig, override, ok, ferr)
	if err != nil {
		log.Error(errBadEmbedded.Error(), "exit", exitBadConfig)
		printLines(err.Error())
		qemu.Exit(exitBadConfig)
	}
	if bc.rejected != nil {
		log.Warn("fw_cfg configuration rejected, keeping the embedded one", "file", fwCfgConfigName)
		printLines(bc.rejected.Error())
	}
	for _, w := range bc.warnings {
		log.Warn(w.String())
	}
	name := embeddedConfigName
	if bc.source == "fw_cfg" {
		name = fwCfgConfigName
	}
	log.Info("config loaded", "name", name, "source", bc.source,
		"frontends", len(bc.cfg.Frontends), "backends", len(bc.cfg.Backends))
	return bc
}

// printLines prints configuration errors as they are, one "file:line: what"
// per console line, for the operator to read.
func printLines(text string) {
	for line := range strings.Lines(text) {
		if line = strings.TrimRight(line, "\n"); line != "" && line != errBadEmbedded.Error()+":" {
			fmt.Println("    " + line)
		}
	}
}

// showCores starts one goroutine per core; each yields in a loop until some
// goroutine has run on every core (by local APIC ID), and the first to see a
// core prints "cpu K online" from that core.
func showCores(log *slog.Logger) {
	n := qemu.Cores()
	if n > 64 {
		n = 64
	}
	var seen atomic.Uint64
	all := uint64(1)<<n - 1
	deadline := time.Now().Add(coresSeenWithin)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seen.Load() != all && time.Now().Before(deadline) {
				id := qemu.AMD64.ID()
				if id < 64 {
					if bit := uint64(1) << id; seen.Or(bit)&bit == 0 {
						log.Info(fmt.Sprintf("cpu %d online", id))
					}
				}
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	if seen.Load() != all {
		log.Warn("not every core ran a goroutine", "seen", fmt.Sprintf("%#x", seen.Load()), "cores", n)
	}
}

// reportCounters prints one line with every core's counters every
// countersEvery, when any of them changed.
func reportCounters(app *appliance, log *slog.Logger) {
	var last []percpu.Snapshot
	for range time.Tick(countersEvery) {
		cores := app.cores()
		changed := len(last) != len(cores)
		attrs := make([]any, 0, len(cores))
		for i, c := range cores {
			if !changed && c.Snapshot != last[i] {
				changed = true
			}
			attrs = append(attrs, slog.Group(fmt.Sprintf("core%d", c.Core),
				"accepted", c.Accepted, "dialled", c.Dialled,
				"frames_in", c.FramesIn, "frames_out", c.FramesOut,
				"misses", c.SteeringMisses, "drops", c.Drops))
		}
		if !changed {
			continue
		}
		last = last[:0]
		for _, c := range cores {
			last = append(last, c.Snapshot)
		}
		log.Info("per-core counters", attrs...)
	}
}
