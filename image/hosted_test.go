//go:build linux

package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/bareproxy/bareproxy/tcp"
)

const l4Config = `
defaults
    mode tcp
    timeout connect 5s
    timeout client  30s
    timeout server  30s

frontend web
    bind :80
    default_backend nginx

backend nginx
    balance roundrobin
    server web1 ` + backendAddr + `
`

// fetchFromClient fetches path through the appliance n times with up to
// parallel connections at once, each on a new connection from the client
// namespace, and checks every body against want. Each connection has
// fetchTimeout to deliver its body.
func fetchFromClient(t *testing.T, tp *topology, path string, want []byte, n, parallel int) {
	t.Helper()
	fetchFromClientWithin(t, tp, path, want, n, parallel, fetchTimeout)
}

// fetchFromClientWithin is fetchFromClient with timeout for each connection.
func fetchFromClientWithin(t *testing.T, tp *topology, path string, want []byte, n, parallel int, timeout time.Duration) {
	t.Helper()
	var (
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
	)
	jobs := make(chan int, n)
	for i := range n {
		jobs <- i
	}
	close(jobs)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := inNetns(tp.client, func() error {
				for i := range jobs {
					conn, err := net.Dial("tcp4", applianceIP+":80")
					if err != nil {
						return fmt.Errorf("connection %d: %w", i, err)
					}
					body, err := fetchWithin(conn, path, timeout)
					conn.Close()
					if err != nil {
						return fmt.Errorf("connection %d: %w", i, err)
					}
					if !bytes.Equal(body, want) {
						return fmt.Errorf("connection %d: body of %d bytes differs from the %d served", i, len(body), len(want))
					}
				}
				return nil
			})
			if err != nil {
				mu.Lock()
				failures = append(failures, err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d workers failed, first: %s", len(failures), parallel, failures[0])
	}
}

// tcpCounters reads the kernel's TCP MIB of namespace ns.
func tcpCounters(t *testing.T, ns string) map[string]int64 {
	t.Helper()
	var snmp []byte
	err := inNetns(ns, func() (err error) {
		snmp, err = os.ReadFile("/proc/thread-self/net/snmp")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var names, values []string
	for line := range strings.Lines(string(snmp)) {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = fields[1:]
		} else {
			values = fields[1:]
		}
	}
	m := make(map[string]int64)
	for i := range min(len(names), len(values)) {
		m[names[i]], _ = strconv.ParseInt(values[i], 10, 64)
	}
	return m
}

// engines are the appliance's -engine values that the end-to-end tests
// run over.
var engines = []string{"gvisor", "native"}

// withEachEngine runs test as a subtest for each TCP engine.
func withEachEngine(t *testing.T, test func(t *testing.T, engine string)) {
	for _, engine := range engines {
		t.Run("engine="+engine, func(t *testing.T) { test(t, engine) })
	}
}

// requireCurl skips t where curl is missing.
func requireCurl(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("skipping: curl is not installed (.ci/run installs it)")
	}
}

// TestL4ThroughKernelClientToNginx fetches through the appliance in mode
// tcp, with each TCP engine: byte-exact bodies, no resets in the client's
// namespace, no steering misses, and connections on both cores.
func TestL4ThroughKernelClientToNginx(t *testing.T) {
	withEachEngine(t, testL4ThroughKernelClientToNginx)
}

func testL4ThroughKernelClientToNginx(t *testing.T, engine string) {
	tp := newTopology(t)
	app := startAppliance(t, tp, l4Config, 2, "-engine", engine)
	if log := app.stderr.String(); !strings.Contains(log, "engine="+engine) {
		t.Fatalf("the appliance's log does not say engine=%s:\n%s", engine, log)
	}
	want := tp.file(t, "4k.bin")
	before := tcpCounters(t, tp.client)

	t.Run("1000 sequential", func(t *testing.T) {
		fetchFromClient(t, tp, "/4k.bin", want, 1000, 1)
	})
	t.Run("200 concurrent", func(t *testing.T) {
		fetchFromClient(t, tp, "/4k.bin", want, 200, 200)
	})
	// Bodies many windows long: TSO segments, window updates and, with
	// the native engine, the splice's backpressure, against the
	// kernel's TCP on both sides.
	t.Run("20 of 1 MiB", func(t *testing.T) {
		big := make([]byte, 1<<20)
		rand.NewChaCha8([32]byte{1}).Read(big)
		if err := os.WriteFile(filepath.Join(tp.www, "www", "1m.bin"), big, 0o644); err != nil {
			t.Fatal(err)
		}
		fetchFromClient(t, tp, "/1m.bin", big, 20, 4)
	})

	after := tcpCounters(t, tp.client)
	for _, c := range []string{"EstabResets", "OutRsts", "AttemptFails"} {
		if d := after[c] - before[c]; d != 0 {
			t.Errorf("client namespace Tcp %s grew by %d, want 0", c, d)
		}
	}
	cores := app.cores(t)
	busy, accepted, dialled := 0, uint64(0), uint64(0)
	for _, c := range cores {
		if c.Accepted > 0 {
			busy++
		}
		accepted += c.Accepted
		dialled += c.Dialled
		if c.SteeringMisses != 0 {
			t.Errorf("core %d: %d steering misses, want 0 (replies to backend dials must land on the dialling core)", c.Core, c.SteeringMisses)
		}
	}
	if busy < 2 {
		t.Errorf("connections accepted on %d queues, want at least 2: %+v", busy, cores)
	}
	if accepted < 1200 || dialled < 1200 {
		t.Errorf("accepted %d and dialled %d connections, want at least 1200 each", accepted, dialled)
	}
	if engine == "native" {
		// The engine moves the bytes itself (Conn.Splice): every
		// connection is spliced, and each carried a request and a body.
		var splices, spliced uint64
		for _, c := range cores {
			splices += c.Stack.Engine.Splices
			spliced += c.Stack.Engine.SplicedBytes
		}
		if splices < 1200 || spliced < 1200*uint64(len(want)) {
			t.Errorf("the engine spliced %d connections and %d bytes, want at least 1200 and %d", splices, spliced, 1200*len(want))
		}
		// With TAP offloads, a 4 KiB body leaves as one segment for
		// the kernel to cut (TSO).
		if strings.Contains(app.stderr.String(), "TAP offloads on") {
			var tso uint64
			for _, c := range cores {
				tso += c.Stack.Engine.TSOSent
			}
			if tso < 1200 {
				t.Errorf("the engine sent %d TSO segments, want at least one per 4 KiB body (1200)", tso)
			}
		}
	}
	t.Logf("per core: %+v", cores)
}

func TestBackendDialsLandOnDiallingCore(t *testing.T) {
	tp := newTopology(t)
	app := startAppliance(t, tp, l4Config, 2)
	want := tp.file(t, "index.html")
	fetchFromClient(t, tp, "/index.html", want, 500, 8)
	var dialled uint64
	for _, c := range app.cores(t) {
		dialled += c.Dialled
		if c.Dialled == 0 {
			t.Errorf("core %d dialled nothing", c.Core)
		}
		if c.SteeringMisses != 0 {
			t.Errorf("core %d: %d steering misses, want 0", c.Core, c.SteeringMisses)
		}
	}
	if dialled != 500 {
		t.Errorf("dialled %d backend connections, want 500", dialled)
	}
}

func TestARPPingAndICMPErrorSteering(t *testing.T) {
	tp := newTopology(t)
	app := startAppliance(t, tp, l4Config, 2)

	out, err := exec.Command("ip", "netns", "exec", tp.client, "ping", "-c", "3", "-i", "0.2", "-W", "2", applianceIP).CombinedOutput()
	if err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte(" 0% packet loss")) {
		t.Errorf("ping lost packets:\n%s", out)
	}
	neigh, _ := exec.Command("ip", "-n", tp.client, "neigh", "show", applianceIP).CombinedOutput()
	if wantMAC := localMAC(netip.MustParseAddr(applianceIP)).String(); !bytes.Contains(neigh, []byte(wantMAC)) {
		t.Errorf("client's neighbour entry %q lacks the appliance MAC %s", neigh, wantMAC)
	}

	// Hold a connection owned by core 1, so that the ICMP error, which the
	// TAP steers to queue 0, must be forwarded to reach it.
	steering := tcp.MixSteering{N: 2}
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	var owned net.Conn
	err = inNetns(tp.client, func() error {
		for range 64 {
			c, err := net.Dial("tcp4", applianceIP+":80")
			if err != nil {
				return err
			}
			conns = append(conns, c)
			local := c.LocalAddr().(*net.TCPAddr).AddrPort()
			f := tcp.Flow{Src: local.Addr().Unmap(), Dst: netip.MustParseAddr(applianceIP), SrcPort: local.Port(), DstPort: 80}
			if steering.Core(f) == 1 {
				owned = c
				return nil
			}
		}
		return fmt.Errorf("no connection of 64 hashed to core 1")
	})
	if err != nil {
		t.Fatal(err)
	}
	before := app.cores(t)[1].Stack.ICMPErrors
	local := owned.LocalAddr().(*net.TCPAddr)
	if err := sendICMPUnreachable(tp.client, local.IP.To4(), local.Port); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ICMP error to reach core 1", func() bool {
		return app.cores(t)[1].Stack.ICMPErrors > before
	})
}

// sendICMPUnreachable sends, from namespace ns, a port-unreachable error
// quoting a segment that the appliance sent from port 80 to client:port.
func sendICMPUnreachable(ns string, client net.IP, port int) error {
	quoted := gopacket.NewSerializeBuffer()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.ParseIP(applianceIP).To4(), DstIP: client}
	seg := &layers.TCP{SrcPort: 80, DstPort: layers.TCPPort(port), ACK: true, Window: 1024}
	seg.SetNetworkLayerForChecksum(ip)
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(quoted, opts, ip, seg); err != nil {
		return err
	}
	msg := gopacket.NewSerializeBuffer()
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort)}
	if err := gopacket.SerializeLayers(msg, opts, icmp, gopacket.Payload(quoted.Bytes()[:28])); err != nil {
		return err
	}
	return inNetns(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		dst := &unix.SockaddrInet4{Addr: [4]byte(net.ParseIP(applianceIP).To4())}
		return unix.Sendto(fd, msg.Bytes(), 0, dst)
	})
}

func TestMalformedFramesAreCountedAndDropped(t *testing.T) {
	tp := newTopology(t)
	app := startAppliance(t, tp, l4Config, 2)
	want := tp.file(t, "index.html")
	fetchFromClient(t, tp, "/index.html", want, 5, 1)

	malformed := func() (n uint64) {
		for _, c := range app.cores(t) {
			n += c.Stack.Malformed
		}
		return n
	}
	before := malformed()
	dst := localMAC(netip.MustParseAddr(applianceIP))
	frames := malformedFrames(dst)
	if err := sendFrames(tp.client, "eth0", frames); err != nil {
		t.Fatal(err)
	}
	// The kernel's own IPv6 chatter is counted as unsupported, not as
	// malformed, so the count is exact.
	waitFor(t, "every malformed frame to be counted", func() bool {
		return malformed()-before == uint64(len(frames))
	})
	fetchFromClient(t, tp, "/index.html", want, 20, 4)
}

// malformedFrames are addressed to dst and are each broken in another way.
func malformedFrames(dst net.HardwareAddr) [][]byte {
	src := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	eth := func(etherType uint16, payload ...byte) []byte {
		f := append(append(append([]byte{}, dst...), src...), byte(etherType>>8), byte(etherType))
		return append(f, payload...)
	}
	ipv4 := []byte{0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 77, 0, 10, 10, 77, 0, 2}
	return [][]byte{
		eth(0x0800),               // no IPv4 header at all
		eth(0x0800, ipv4[:12]...), // truncated IPv4 header
		eth(0x0800, append([]byte{0x4f}, ipv4[1:]...)...), // IHL of 60 bytes in a 20-byte header
		eth(0x0800, append([]byte{0x65}, ipv4[1:]...)...), // version 6 in an IPv4 frame
		eth(0x0800, append(ipv4, 0, 80)...),               // TCP header cut after 2 bytes
		eth(0x0800, bytes.Repeat([]byte{0xff}, 46)...),    // garbage
	}
}

// sendFrames writes raw Ethernet frames on interface ifname of namespace ns.
func sendFrames(ns, ifname string, frames [][]byte) error {
	return inNetns(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
		for _, f := range frames {
			copy(to.Addr[:], f[:6])
			// The protocol, in network order, becomes the frame's
			// skb protocol; veth drops frames whose protocol is 0.
			to.Protocol = uint16(f[12]) | uint16(f[13])<<8
			if err := unix.Sendto(fd, f, 0, to); err != nil {
				return err
			}
		}
		return nil
	})
}

func TestBadConfigIsRejectedWithFileAndLine(t *testing.T) {
	bin := applianceBinary(t)
	tests := []struct {
		name   string
		config string
		want   []string
	}{
		{
			name:   "unknown keyword",
			config: "frontend web\n    bind :80\n    default_backend app\n\nbackend app\n    severr a 10.0.0.1:80\n",
			want:   []string{"bad.cfg:6:", `"severr"`, `did you mean "server"`},
		},
		{
			name:   "missing backend",
			config: "frontend web\n    bind :80\n    default_backend nowhere\n\nbackend app\n    server a 10.0.0.1:80\n",
			want:   []string{"bad.cfg:3:", `"nowhere"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.cfg")
			if err := os.WriteFile(path, []byte(tt.config), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "-config", path, "-tap", "bp-never", "-addr", "10.0.0.2/24")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("appliance accepted a bad config:\n%s", out)
			}
			if code := cmd.ProcessState.ExitCode(); code != 2 {
				t.Errorf("exit code %d for a bad config, want 2", code)
			}
			for _, want := range tt.want {
				if !bytes.Contains(out, []byte(want)) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if bytes.Contains(out, []byte("msg=ready")) {
				t.Errorf("appliance became ready with a bad config:\n%s", out)
			}
		})
	}
}
