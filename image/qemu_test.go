//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/internal/syncbuf"
	"github.com/bareproxy/bareproxy/internal/tamagotest"
	"github.com/bareproxy/bareproxy/tcp/dhcp/dhcptest"
)

// The QEMU tests boot the bare-metal image (GOOS=tamago) on QEMU microvm
// under TCG with 2 vCPUs and a 2-queue TAP in the demo topology, and drive
// it from the client namespace as the hosted tests do. One boot carries the
// traffic test; the others boot with a fw_cfg override or a bad embedded
// configuration and stop early.

const (
	// qemuVCPUs is the vCPU and queue pair count of every boot.
	qemuVCPUs = 2
	// guestTimeout bounds one guest's whole run.
	guestTimeout = 4 * time.Minute
	// lineTimeout bounds the wait for one expected console line. TCG on a
	// loaded 2-core host is slow; a quiet host is ready in 0.2 s.
	lineTimeout = time.Minute
)

// buildImage builds ./image with the TamaGo compiler (skipping the test in
// one line without it), embedding the configuration at cfgPath when not
// empty instead of image/embedded.cfg.
func buildImage(t *testing.T, cfgPath string) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("skipping: qemu-system-x86_64 is not installed (.ci/run installs it)")
	}
	b := tamagotest.Build{Root: "..", Package: "./image"}
	if cfgPath != "" {
		embedded, err := filepath.Abs("embedded.cfg")
		if err != nil {
			t.Fatal(err)
		}
		b.Overlay = filepath.Join(t.TempDir(), "overlay.json")
		overlay := fmt.Sprintf(`{"Replace":{%q:%q}}`, embedded, cfgPath)
		if err := os.WriteFile(b.Overlay, []byte(overlay), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tamagotest.Image(t, b)
}

// guest is one QEMU run of the image, with its serial console.
type guest struct {
	start time.Time
	done  chan struct{}

	mu sync.Mutex
	// mu protects lines and status.
	lines  []consoleLine
	status int
}

type consoleLine struct {
	at   time.Duration
	text string
}

// bootGuest starts elf under qemu/run.sh in namespace ns (the current one
// when empty) with TAP tap ("-" for no NIC) and extra QEMU arguments, and stops it at cleanup.
func bootGuest(t *testing.T, elf, ns, tap string, extra ...string) *guest {
	t.Helper()
	script, err := filepath.Abs("../qemu/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guestTimeout)
	args := append([]string{"/bin/sh", script, elf, strconv.Itoa(qemuVCPUs), tap}, extra...)
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Stdin = nil
	stderr := new(syncbuf.Buffer)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	g := &guest{start: time.Now(), done: make(chan struct{}), status: -1}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start QEMU: %v", err)
	}
	go g.read(out)
	go func() {
		err := cmd.Wait()
		g.mu.Lock()
		g.status = cmd.ProcessState.ExitCode()
		if err != nil && g.status == -1 {
			g.status = 255
		}
		g.mu.Unlock()
		close(g.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-g.done
		if t.Failed() {
			t.Logf("serial console:\n%s\nQEMU stderr:\n%s", g.console(), stderr.String())
		}
	})
	return g
}

// read collects console lines with the time since QEMU started.
func (g *guest) read(out interface{ Read([]byte) (int, error) }) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := consoleLine{at: time.Since(g.start), text: strings.TrimRight(sc.Text(), "\r")}
		g.mu.Lock()
		g.lines = append(g.lines, line)
		g.mu.Unlock()
	}
}

// console returns every line so far, each with its time.
func (g *guest) console() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var b strings.Builder
	for _, l := range g.lines {
		fmt.Fprintf(&b, "%8.3fs %s\n", l.at.Seconds(), l.text)
	}
	return b.String()
}

// wait returns the first console line at index from or later that matches
// re, its submatches, and the index after it. It fails t if the guest stops
// or lineTimeout passes first.
func (g *guest) wait(t *testing.T, re *regexp.Regexp, from int) (consoleLine, []string, int) {
	t.Helper()
	deadline := time.Now().Add(lineTimeout)
	for {
		g.mu.Lock()
		for i := from; i < len(g.lines); i++ {
			if m := re.FindStringSubmatch(g.lines[i].text); m != nil {
				l := g.lines[i]
				g.mu.Unlock()
				return l, m, i + 1
			}
		}
		from = len(g.lines)
		g.mu.Unlock()
		select {
		case <-g.done:
			// The last lines may still be in the reader.
			time.Sleep(100 * time.Millisecond)
			if l, m, next, ok := g.find(re, from); ok {
				return l, m, next
			}
			t.Fatalf("QEMU exited with status %d before a console line matched %q", g.exitStatus(), re)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no console line matched %q within %v", re, lineTimeout)
		}
	}
}

func (g *guest) find(re *regexp.Regexp, from int) (consoleLine, []string, int, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := from; i < len(g.lines); i++ {
		if m := re.FindStringSubmatch(g.lines[i].text); m != nil {
			return g.lines[i], m, i + 1, true
		}
	}
	return consoleLine{}, nil, 0, false
}

// exitStatus waits for QEMU to exit and returns its status.
func (g *guest) exitStatus() int {
	select {
	case <-g.done:
	case <-time.After(lineTimeout):
		return -1
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.status
}

var (
	reBooting   = regexp.MustCompile(`msg="bareproxy booting" cores=(\d+)`)
	reCPU       = regexp.MustCompile(`msg="cpu (\d+) online"`)
	reQueue     = regexp.MustCompile(`msg="queue (\d+) active"`)
	reRSS       = regexp.MustCompile(`msg="RSS (on|off)`)
	reConfig    = regexp.MustCompile(`msg="config loaded" name=(\S+) source=(\w+)`)
	reReady     = regexp.MustCompile(`msg="ready in (\d+) ms" addr=(\S+)`)
	reCounters  = regexp.MustCompile(`msg="per-core counters" core0\.accepted=(\d+) .*core1\.accepted=(\d+) .*core1\.misses=(\d+)`)
	reRejected  = regexp.MustCompile(`msg="fw_cfg configuration rejected, keeping the embedded one"`)
	reLease     = regexp.MustCompile(`msg="dhcp: lease" addr=(\S+)`)
	reBadConfig = regexp.MustCompile(`level=ERROR msg="embedded configuration rejected, not starting" exit=(\d+)`)
	reFeatures  = regexp.MustCompile(`msg=virtio-net .* features=(\S+)`)
)

// bootToReady waits for the boot lines every boot prints up to "ready" and
// checks them; it returns the index after the ready line.
func bootToReady(t *testing.T, g *guest, wantSource string) int {
	t.Helper()
	first, _, _ := g.wait(t, regexp.MustCompile(`.`), 0)
	_, m, next := g.wait(t, reBooting, 0)
	if m[1] != strconv.Itoa(qemuVCPUs) {
		t.Errorf("booted with %s cores, want %d", m[1], qemuVCPUs)
	}
	cpus := map[string]bool{}
	for range qemuVCPUs {
		_, m, next = g.wait(t, reCPU, next)
		cpus[m[1]] = true
	}
	if len(cpus) != qemuVCPUs {
		t.Errorf("cores online %v, want %d distinct", cpus, qemuVCPUs)
	}
	_, m, next = g.wait(t, reConfig, next)
	if m[2] != wantSource {
		t.Errorf("config source %q, want %q", m[2], wantSource)
	}
	queues := map[string]bool{}
	for range qemuVCPUs {
		_, m, next = g.wait(t, reQueue, next)
		queues[m[1]] = true
	}
	if len(queues) != qemuVCPUs {
		t.Errorf("queues active %v, want %d distinct", queues, qemuVCPUs)
	}
	_, m, next = g.wait(t, reRSS, next)
	if m[1] != "on" {
		t.Errorf("RSS %s, want on (run.sh offers rss=on)", m[1])
	}
	ready, m, next := g.wait(t, reReady, next)
	t.Logf("QEMU start to first console line %v; guest says ready in %s ms after its clock started; QEMU start to ready line %v; address %s",
		first.at.Round(time.Millisecond), m[1], ready.at.Round(time.Millisecond), m[2])
	return next
}

// ping pings the appliance from the client namespace.
func ping(t *testing.T, tp *topology) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", tp.client, "ping", "-c", "3", "-W", "5", applianceIP).CombinedOutput()
	if err != nil {
		t.Fatalf("ping %s: %v\n%s", applianceIP, err, out)
	}
}

// TestQEMUImage builds the image once (skipping in one line without the
// TamaGo compiler) and boots it four times.
func TestQEMUImage(t *testing.T) {
	elf := buildImage(t, "")
	embedded, err := os.ReadFile("embedded.cfg")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("l4", func(t *testing.T) { testQEMUServesL4(t, elf) })
	t.Run("fw_cfg_bad", func(t *testing.T) { testQEMUFwCfgBad(t, elf, embedded) })
	t.Run("fw_cfg_dhcp", func(t *testing.T) { testQEMUFwCfgDHCP(t, elf, embedded) })
	t.Run("bad_embedded", func(t *testing.T) { testQEMUBadEmbedded(t, embedded) })
}

// testQEMUServesL4 boots the image with its embedded configuration
// (image/examples/l4.cfg) and proxies 200 connections, 20 at a time, from
// the client namespace to nginx; both cores must take connections. The
// device must have taken checksum and segmentation offload both ways
// (VIRTIO_NET_F_CSUM, HOST_TSO4, GUEST_TSO4), so that each 4 KiB response
// arrives from nginx as one segment and leaves as one with a partial
// checksum, for QEMU's tap and the kernel behind it to cut and finish;
// curl's byte-exact check then covers all of it.
func testQEMUServesL4(t *testing.T, elf string) {
	tp := newTopology(t)
	g := bootGuest(t, elf, tp.hub, tp.tap)
	next := bootToReady(t, g, "embedded")
	_, m, _ := g.wait(t, reFeatures, 0)
	for _, want := range []string{"CSUM", "HOST_TSO4", "GUEST_TSO4"} {
		if !slices.Contains(strings.Split(m[1], "|"), want) {
			t.Errorf("virtio-net features %s: want %s, for partial checksums and large segments both ways", m[1], want)
		}
	}

	ping(t, tp)
	const conns, parallel = 200, 20
	fetchFromClient(t, tp, "/4k.bin", tp.file(t, "4k.bin"), conns, parallel)

	// The counters line comes every 2 s while counters move.
	for {
		l, m, after := g.wait(t, reCounters, next)
		next = after
		a0, _ := strconv.Atoi(m[1])
		a1, _ := strconv.Atoi(m[2])
		if a0+a1 < conns {
			continue
		}
		t.Logf("%v: %s", l.at.Round(time.Millisecond), l.text)
		if a0 == 0 || a1 == 0 {
			t.Errorf("connections per core %d and %d: want both cores to take some", a0, a1)
		}
		break
	}
}

// testQEMUFwCfgBad boots with a bad fw_cfg configuration, which leaves the
// embedded one in force with the reason on the console.
func testQEMUFwCfgBad(t *testing.T, elf string, embedded []byte) {
	tp := newTopology(t)
	bad := badConfig(t, embedded)
	g := bootGuest(t, elf, tp.hub, tp.tap, "-fw_cfg", "name="+fwCfgConfigName+",file="+bad)
	_, _, next := g.wait(t, reRejected, 0)
	l, _, _ := g.wait(t, regexp.MustCompile(`^\s+`+regexp.QuoteMeta(fwCfgConfigName)+`:\d+: unknown keyword "severr"`), next)
	t.Logf("console says why: %s", strings.TrimSpace(l.text))
	bootToReady(t, g, "embedded")
	fetchFromClient(t, tp, "/index.html", tp.file(t, "index.html"), 4, 2)
}

// testQEMUFwCfgDHCP boots with a fw_cfg configuration that asks for DHCP,
// served by dhcptest from the client namespace.
func testQEMUFwCfgDHCP(t *testing.T, elf string, embedded []byte) {
	tp := newTopology(t)
	srv := &dhcptest.Server{
		ID:    netip.MustParseAddr("10.77.0.10"),
		Pool:  netip.MustParsePrefix("10.77.0.0/24"),
		First: netip.MustParseAddr(applianceIP),
		Lease: time.Hour,
	}
	serveDHCP(t, tp.client, srv)
	cfg := filepath.Join(t.TempDir(), "dhcp.cfg")
	src := strings.Replace(string(embedded), "address 10.77.0.2/24", "address dhcp", 1)
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	g := bootGuest(t, elf, tp.hub, tp.tap, "-fw_cfg", "name="+fwCfgConfigName+",file="+cfg)
	_, m, _ := g.wait(t, reLease, 0)
	if m[1] != applianceIP+"/24" {
		t.Errorf("lease %s, want %s/24", m[1], applianceIP)
	}
	bootToReady(t, g, "fw_cfg")
	ping(t, tp)
	fetchFromClient(t, tp, "/4k.bin", tp.file(t, "4k.bin"), 10, 2)
}

// serveDHCP runs s on UDP port 67 in namespace ns, on its eth0, until the
// test ends.
func serveDHCP(t *testing.T, ns string, s *dhcptest.Server) {
	t.Helper()
	var conn net.PacketConn
	err := inNetns(ns, func() error {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, "eth0")
			})
			if err != nil {
				return err
			}
			return serr
		}}
		var err error
		conn, err = lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:67")
		return err
	})
	if err != nil {
		t.Fatalf("dhcp server in %s: %v", ns, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.ServeUDP(conn) }()
	t.Cleanup(func() {
		conn.Close()
		if err := <-errc; err != nil {
			t.Errorf("dhcp server: %v", err)
		}
	})
}

// badConfig writes embedded with its server keyword misspelt (line 19) to
// a temporary file and returns its path.
func badConfig(t *testing.T, embedded []byte) string {
	t.Helper()
	bad := filepath.Join(t.TempDir(), "bad.cfg")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(embedded), "server web1", "severr web1", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return bad
}

// TestConfigCheck is the Makefile's guard against a bad embedded
// configuration: cfgcheck fails the build with file:line errors, and passes
// the configurations the repository ships.
func TestConfigCheck(t *testing.T) {
	embedded, err := os.ReadFile("embedded.cfg")
	if err != nil {
		t.Fatal(err)
	}
	bad := badConfig(t, embedded)
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goCmd, "run", "./internal/cfgcheck", bad).CombinedOutput()
	if err == nil {
		t.Fatalf("cfgcheck accepted a bad configuration:\n%s", out)
	}
	if want := bad + `:19: unknown keyword "severr"`; !strings.Contains(string(out), want) {
		t.Errorf("cfgcheck output lacks %q:\n%s", want, out)
	}
	if out, err := exec.Command(goCmd, "run", "./internal/cfgcheck", "embedded.cfg", "examples/l4.cfg").CombinedOutput(); err != nil {
		t.Errorf("cfgcheck rejected the shipped configurations: %v\n%s", err, out)
	}
}

// testQEMUBadEmbedded builds an image with a bad embedded configuration
// anyway (as if the check were skipped): it refuses to boot, with the
// errors on the console and exit code exitBadConfig.
func testQEMUBadEmbedded(t *testing.T, embedded []byte) {
	elf := buildImage(t, badConfig(t, embedded))
	g := bootGuest(t, elf, "", "-")
	_, m, next := g.wait(t, reBadConfig, 0)
	if m[1] != strconv.Itoa(exitBadConfig) {
		t.Errorf("exit code %s, want %d", m[1], exitBadConfig)
	}
	g.wait(t, regexp.MustCompile(`^\s+embedded\.cfg:19: unknown keyword "severr"`), next)
	if got, want := g.exitStatus(), exitBadConfig<<1|1; got != want {
		t.Errorf("QEMU exit status %d, want %d (code %d through isa-debug-exit)", got, want, exitBadConfig)
	}
}
