//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/bareproxy/bareproxy/board/hosted"
	"github.com/bareproxy/bareproxy/proxy/config"
	"github.com/bareproxy/bareproxy/tcp"
	_ "github.com/bareproxy/bareproxy/tcp/gvisortcp" // -engine gvisor
)

// hostedFlags are the hosted board's command line. Flags left empty take
// their value from the config's network section.
type hostedFlags struct {
	config   string
	tap      string
	queues   int
	addr     string
	gateway  string
	mac      string
	admin    string
	steering string
	// offload is on, off or auto: open the TAP with IFF_VNET_HDR and
	// segmentation offload, or not, or try it and fall back.
	offload string
	// engine is the TCP engine: gvisor or native (tcp.EngineKind).
	engine string
	// contention is the sampling for the mutex and block profiles served
	// under /debug/pprof/: 0 leaves them off.
	contention int
	// pin binds each queue's worker to a CPU of its own (hosted.Pin).
	pin bool
}

func parseFlags(args []string) (hostedFlags, error) {
	var f hostedFlags
	fs := flag.NewFlagSet("bareproxy", flag.ContinueOnError)
	fs.StringVar(&f.config, "config", "bareproxy.cfg", "HAProxy-style configuration `file`")
	fs.StringVar(&f.tap, "tap", "bp0", "multiqueue TAP `device` to attach to (created if missing)")
	fs.IntVar(&f.queues, "queues", 0, "TAP queues, one worker and one stack per queue (0: the config's cores, else GOMAXPROCS)")
	fs.StringVar(&f.addr, "addr", "", "appliance IPv4 `address/prefix` (default: the config's network address)")
	fs.StringVar(&f.gateway, "gateway", "", "default gateway `address` (default: the config's network gateway)")
	fs.StringVar(&f.mac, "mac", "", "appliance MAC `address` (default: the config's, else a locally administered one)")
	fs.StringVar(&f.admin, "admin", "", "serve per-core counters, /metrics and pprof on `addr` (host:port, or unix:/path)")
	fs.StringVar(&f.steering, "steering", "ebpf", "`mode` of flow steering: ebpf (in the TAP, software fallback if refused) or software")
	fs.StringVar(&f.offload, "offload", "auto", "`mode` of TAP offloads (IFF_VNET_HDR, checksum and TCP segmentation): on, off, or auto (on, else off if the kernel refuses)")
	fs.StringVar(&f.engine, "engine", "native", "TCP `engine`: native (the per-core engine of tcp/engine), or gvisor (gVisor's netstack, the reference)")
	fs.BoolVar(&f.pin, "pin", true, "bind each queue's worker to a CPU of its own: a lower p99 in keep-alive; -pin=false gives more connections per second where the load generator shares the CPUs")
	fs.IntVar(&f.contention, "contention", 0, "sample 1 in `n` mutex contentions and blocking events of n ns or more for /debug/pprof/mutex and /block (0: off)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.offload != "auto" && f.offload != "on" && f.offload != "off" {
		return f, fmt.Errorf("-offload %q: want auto, on or off", f.offload)
	}
	if _, err := tcp.ParseEngineKind(f.engine); err != nil {
		return f, fmt.Errorf("-engine %q: want gvisor or native", f.engine)
	}
	if f.steering != "ebpf" && f.steering != "software" {
		return f, fmt.Errorf("-steering %q: want ebpf or software", f.steering)
	}
	return f, nil
}

func main() {
	log := newLogger(os.Stderr)
	f, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		log.Error(err.Error())
		os.Exit(2)
	}
	if err := runHosted(f, log); err != nil {
		var cerr configError
		if errors.As(err, &cerr) {
			// One error per line, file:line first, as compilers print them.
			fmt.Fprintf(os.Stderr, "%v\nconfiguration rejected, not starting\n", cerr.err)
			os.Exit(2)
		}
		log.Error(err.Error())
		os.Exit(1)
	}
}

func runHosted(f hostedFlags, log *slog.Logger) error {
	cfg, warnings, err := config.Load(f.config)
	if err != nil {
		return configError{err}
	}
	for _, w := range warnings {
		log.Warn(w.String())
	}
	addr, gw, mac, err := hostedAddress(f, cfg)
	if err != nil {
		return err
	}
	queues := f.queues
	if queues == 0 {
		queues = cfg.Cores()
	}
	if queues == 0 {
		queues = runtime.GOMAXPROCS(0)
	}

	log.Info("TCP engine", "engine", f.engine)
	tap, err := openTAP(f, queues, log)
	if err != nil {
		return err
	}
	if f.steering == "ebpf" {
		if err := tap.AttachSteering(); err != nil {
			log.Warn("the kernel refused eBPF TAP steering; falling back to software dispatch", "err", err)
		} else {
			log.Info("eBPF steering attached", "tap", f.tap, "queues", queues)
		}
	} else {
		log.Info("software dispatch: frames are steered to their core after they are received", "tap", f.tap)
	}

	engineKind, _ := tcp.ParseEngineKind(f.engine) // checked by parseFlags
	frameSize := 0
	if tap.VnetHdr() { // GRO hands over segments of up to 64 KiB
		frameSize = tcp.MaxVnetFrame
	}
	app, err := newAppliance(cfg, settings{
		queues:    tap.Queues(),
		steering:  tcp.MixSteering{N: queues},
		pin:       pinFunc(f.pin),
		addr:      addr,
		gateway:   gw,
		mac:       mac,
		closeNIC:  tap.Close,
		vnetHdr:   tap.VnetHdr(),
		tso:       tap.VnetHdr(), // the TAP's offloads include TSO4
		frameSize: frameSize,
		engine:    engineKind,
		// The kernel builds a TAP's frames in memory: their checksums
		// are either complete or, with offloads, deliberately partial.
		rxChecksum: true,
	}, log)
	if err != nil {
		tap.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.contention > 0 {
		runtime.SetMutexProfileFraction(f.contention)
		runtime.SetBlockProfileRate(f.contention)
	}
	if f.admin != "" {
		if err := serveAdmin(ctx, f.admin, app, log); err != nil {
			tap.Close()
			return err
		}
	}
	log.Info("ready", "addr", addr, "mac", mac, "cores", queues, "config", f.config)
	err = app.run(ctx)
	log.Info("stopped")
	return err
}

// openTAP opens the TAP as -offload says.
func openTAP(f hostedFlags, queues int, log *slog.Logger) (*hosted.TAP, error) {
	if f.offload == "off" {
		return hosted.OpenTAP(f.tap, queues)
	}
	tap, err := hosted.OpenTAPWith(f.tap, queues, hosted.Options{VnetHdr: true})
	if err == nil {
		log.Info("TAP offloads on: virtio_net_hdr, checksum and TCP segmentation offload", "tap", f.tap)
		return tap, nil
	}
	if f.offload == "on" {
		return nil, err
	}
	log.Warn("TAP offloads refused; plain frames", "err", err)
	return hosted.OpenTAP(f.tap, queues)
}

// configError is a configuration the appliance refused to start with.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }

// hostedAddress takes each network setting from its flag, else the config.
func hostedAddress(f hostedFlags, cfg *config.Config) (netip.Prefix, netip.Addr, net.HardwareAddr, error) {
	addr, gw, mac := cfg.Network.Address, cfg.Network.Gateway, cfg.Network.MAC
	var err error
	if f.addr != "" {
		if addr, err = netip.ParsePrefix(f.addr); err != nil || !addr.Addr().Is4() {
			return addr, gw, mac, fmt.Errorf("-addr %q: want an IPv4 address with prefix length, such as 10.77.0.2/24", f.addr)
		}
	}
	if f.gateway != "" {
		if gw, err = netip.ParseAddr(f.gateway); err != nil || !gw.Is4() {
			return addr, gw, mac, fmt.Errorf("-gateway %q: want an IPv4 address", f.gateway)
		}
	}
	if f.mac != "" {
		if mac, err = net.ParseMAC(f.mac); err != nil || len(mac) != 6 {
			return addr, gw, mac, fmt.Errorf("-mac %q: want six bytes such as 02:00:00:00:00:01", f.mac)
		}
	}
	if !addr.IsValid() {
		return addr, gw, mac, fmt.Errorf("no address: give -addr or an address line in the network section of %s (hosted mode has no DHCP)", f.config)
	}
	if mac == nil {
		mac = localMAC(addr.Addr())
	}
	return addr, gw, mac, nil
}

// localMAC derives a locally administered unicast MAC from the address, so
// that restarts keep the same MAC and peers' neighbour caches stay valid.
func localMAC(a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, 0xbb, b[0], b[1], b[2], b[3]}
}

// pinFunc is the worker pinning of -pin: hosted.Pin, or none.
func pinFunc(pin bool) func(core int) error {
	if !pin {
		return nil
	}
	return hosted.Pin
}
