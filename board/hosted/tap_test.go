//go:build linux

package hosted

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/bareproxy/bareproxy/internal/netnstest"
	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/tcp"
)

// Addresses inside the test namespaces: the kernel owns kernelIP on the TAP
// device, and applianceIP is the far end that the test plays through the
// queues, with a permanent neighbour entry so that no ARP is needed.
var (
	kernelIP    = netip.MustParseAddr("10.201.0.1")
	applianceIP = netip.MustParseAddr("10.201.0.2")
)

// waitLimit bounds every wait for the kernel, so that a broken device fails
// the test instead of hanging it. It is not a performance assertion.
const waitLimit = 30 * time.Second

// tapName returns a device name unique to this process and test.
func tapName(tag string) string { return fmt.Sprintf("hq%s%d", tag, os.Getpid()%100000) }

// setupLink gives the kernel side of tap its MAC, address and neighbour,
// and sets the link up.
func setupLink(t testing.TB, ns *netnstest.NS, tap *TAP) {
	t.Helper()
	name := tap.Name()
	steps := [][]string{
		{"link", "set", "dev", name, "address", testKernelMAC.String()},
		{"addr", "add", kernelIP.String() + "/24", "dev", name},
		{"neigh", "replace", applianceIP.String(), "lladdr", testApplianceMAC.String(), "dev", name, "nud", "permanent"},
	}
	for i, args := range steps {
		if i == 1 {
			if err := ns.Do(tap.SetUp); err != nil {
				t.Fatal(err)
			}
		}
		if err := ns.IP(args...); err != nil {
			t.Fatal(err)
		}
	}
}

// sendUDP sends one datagram from the kernel's src port to the appliance's
// dst port. It must run in the namespace.
func sendUDP(sport, dport uint16) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(sport), Addr: kernelIP.As4()}); err != nil {
		return fmt.Errorf("bind port %d: %w", sport, err)
	}
	return unix.Sendto(fd, []byte("steer me"), 0, &unix.SockaddrInet4{Port: int(dport), Addr: applianceIP.As4()})
}

// sendSYN makes the kernel send a TCP SYN from its src port to the
// appliance's dst port. It must run in the namespace.
func sendSYN(sport, dport uint16) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	// Closing a socket in SYN-SENT sends nothing more.
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(sport), Addr: kernelIP.As4()}); err != nil {
		return fmt.Errorf("bind port %d: %w", sport, err)
	}
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(dport), Addr: applianceIP.As4()})
	if err != unix.EINPROGRESS {
		return fmt.Errorf("connect to port %d: %v, want EINPROGRESS", dport, err)
	}
	return nil
}

// arrival is a TCP or UDP frame for the appliance seen on a queue.
type arrival struct {
	flow  tcp.Flow
	proto layers.IPProtocol
	queue int
}

// receiveFlows reads queue k until it is closed and reports every TCP and
// UDP frame addressed to the appliance. It never blocks on out.
func receiveFlows(q percpu.Queue, k int, out chan<- arrival) {
	bufs, sizes := newBatch(percpu.BatchSize)
	for {
		n, err := q.Receive(bufs, sizes)
		if err != nil {
			return
		}
		for i := range n {
			f, proto, ok := parseFlow(bufs[i][:sizes[i]])
			if !ok || f.Dst != applianceIP {
				continue // IPv6 router solicitations and the like
			}
			select {
			case out <- arrival{flow: f, proto: proto, queue: k}:
			default:
			}
		}
	}
}

func newBatch(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, percpu.MaxFrame)
	}
	return bufs, make([]int, n)
}

func TestTAPSteering(t *testing.T) {
	ns := netnstest.New(t)
	const queues = 2
	tap := openTestTAP(t, ns, tapName("s"), queues)
	if err := tap.AttachSteering(); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("skipping: kernel refuses the steering program: %v", err)
		}
		t.Fatal(err)
	}
	setupLink(t, ns, tap)

	arrivals := make(chan arrival, 1024)
	for k, q := range tap.Queues() {
		go receiveFlows(q, k, arrivals)
	}

	// Half the flows are UDP datagrams, half TCP SYNs; source ports are
	// unique across both.
	const flows = 200
	type sentFlow struct {
		dport uint16
		proto layers.IPProtocol
		seen  bool
	}
	rng := rand.New(rand.NewPCG(3, 4))
	sent := map[uint16]*sentFlow{} // by source port
	for len(sent) < flows {
		sport := uint16(1024 + rng.IntN(60000))
		if _, dup := sent[sport]; dup {
			continue
		}
		s := &sentFlow{dport: uint16(1 + rng.IntN(65535)), proto: layers.IPProtocolUDP}
		send := sendUDP
		if len(sent)%2 == 1 {
			s.proto, send = layers.IPProtocolTCP, sendSYN
		}
		sent[sport] = s
		if err := ns.Do(func() error { return send(sport, s.dport) }); err != nil {
			t.Fatal(err)
		}
	}

	steering := tcp.MixSteering{N: queues}
	perQueue := make([]int, queues)
	mismatches := 0
	timeout := time.After(waitLimit)
	for seen := 0; seen < flows; {
		var a arrival
		select {
		case a = <-arrivals:
		case <-timeout:
			t.Fatalf("only %d of %d flows reached the queues", seen, flows)
		}
		s := sent[a.flow.SrcPort]
		if s == nil || s.dport != a.flow.DstPort || s.proto != a.proto || a.flow.Src != kernelIP {
			t.Fatalf("unexpected %s frame %+v", a.proto, a.flow)
		}
		if s.seen {
			continue // a retransmitted SYN
		}
		s.seen = true
		seen++
		perQueue[a.queue]++
		if want := steering.Core(a.flow); a.queue != want {
			mismatches++
			t.Errorf("%s flow %+v arrived on queue %d, MixSteering says %d", a.proto, a.flow, a.queue, want)
		}
	}
	t.Logf("%d flows, per queue %v, %d mismatches", flows, perQueue, mismatches)
	for k, n := range perQueue {
		if n == 0 {
			t.Errorf("queue %d received nothing: per queue %v", k, perQueue)
		}
	}
}

// echoRequest is an ICMP echo request from the appliance to the kernel.
func echoRequest(t testing.TB) []byte {
	return buildFrame(t, frameSpec{
		flow:     tcp.Flow{Src: applianceIP, Dst: kernelIP},
		proto:    layers.IPProtocolICMPv4,
		icmpEcho: true,
		payload:  []byte("hosted board echo"),
	})
}

// isEchoReply reports whether frame is an ICMP echo reply to the appliance.
func isEchoReply(frame []byte) bool {
	if len(frame) < 14+20+8 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
		return false
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	return ip[9] == 1 && ihl >= 20 && len(ip) > ihl &&
		netip.AddrFrom4([4]byte(ip[16:20])) == applianceIP && ip[ihl] == 0
}

// awaitEchoReply receives on q until an echo reply arrives. Other frames
// are skipped.
func awaitEchoReply(q percpu.Queue, bufs [][]byte, sizes []int) error {
	for {
		n, err := q.Receive(bufs, sizes)
		if err != nil {
			return err
		}
		for i := range n {
			if isEchoReply(bufs[i][:sizes[i]]) {
				return nil
			}
		}
	}
}

// echoSetup opens a steered TAP with a configured link, and closes it if
// the test is still waiting on the kernel after waitLimit.
func echoSetup(t testing.TB, tag string) *TAP {
	t.Helper()
	ns := netnstest.New(t)
	tap := openTestTAP(t, ns, tapName(tag), 2)
	if err := tap.AttachSteering(); err != nil {
		t.Logf("no steering (%v): echo replies may land on either queue", err)
	}
	setupLink(t, ns, tap)
	watchdog := time.AfterFunc(waitLimit, func() { tap.Close() })
	t.Cleanup(func() { watchdog.Stop() })
	return tap
}

func TestTAPTransmitReceive(t *testing.T) {
	tap := echoSetup(t, "t")
	qs := tap.Queues()
	short := []byte{1, 2, 3, 4, 5} // shorter than an Ethernet header
	n, err := qs[1].Transmit([][]byte{short, echoRequest(t)})
	if err != nil || n != 1 {
		t.Fatalf("Transmit(short, echo) = %d, %v; want 1, nil", n, err)
	}
	// The reply is ICMP, which the steering program sends to queue 0.
	bufs, sizes := newBatch(8)
	if err := awaitEchoReply(qs[0], bufs, sizes); err != nil {
		t.Fatalf("waiting for the echo reply: %v", err)
	}
}

func TestTAPReceiveBatches(t *testing.T) {
	ns := netnstest.New(t)
	tap := openTestTAP(t, ns, tapName("b"), 2)
	if err := tap.AttachSteering(); err != nil {
		t.Skipf("skipping: steering unavailable: %v", err)
	}
	setupLink(t, ns, tap)
	const datagrams = 10
	err := ns.Do(func() error {
		for range datagrams {
			if err := sendUDP(5000, 6000); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f := tcp.Flow{Src: kernelIP, Dst: applianceIP, SrcPort: 5000, DstPort: 6000}
	q := tap.Queues()[tcp.MixSteering{N: 2}.Core(f)]
	// The datagrams are queued in the device before Receive is called,
	// so one call must return all of them.
	bufs, sizes := newBatch(percpu.BatchSize)
	n, err := q.Receive(bufs, sizes)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for i := range n {
		if g, ok := parseUDP(bufs[i][:sizes[i]]); ok && g == f {
			got++
		}
	}
	if got != datagrams {
		t.Errorf("one Receive returned %d frames, %d of them the flow's; want all %d", n, got, datagrams)
	}
}

func TestTAPNoAllocs(t *testing.T) {
	tap := echoSetup(t, "a")
	q := tap.Queues()[0]
	echo := [][]byte{echoRequest(t)}
	bufs, sizes := newBatch(percpu.BatchSize)
	var failure error
	roundTrip := func() {
		if failure != nil {
			return
		}
		if _, err := q.Transmit(echo); err != nil {
			failure = err
			return
		}
		failure = awaitEchoReply(q, bufs, sizes)
	}
	roundTrip() // warm up the poller registration and the neighbour entry
	allocs := testing.AllocsPerRun(100, roundTrip)
	if failure != nil {
		t.Fatal(failure)
	}
	if allocs != 0 {
		t.Errorf("echo round trip through Transmit and Receive: %v allocations, want 0", allocs)
	}
}

func TestTAPCloseUnblocksReceive(t *testing.T) {
	ns := netnstest.New(t)
	tap := openTestTAP(t, ns, tapName("c"), 2)
	errs := make(chan error, 2)
	for _, q := range tap.Queues() {
		go func() {
			bufs, sizes := newBatch(4)
			_, err := q.Receive(bufs, sizes)
			errs <- err
		}()
	}
	time.Sleep(10 * time.Millisecond) // let the receivers park; the test passes without it too
	if err := tap.Close(); err != nil {
		t.Fatal(err)
	}
	for range tap.Queues() {
		select {
		case err := <-errs:
			if !errors.Is(err, percpu.ErrClosed) {
				t.Errorf("Receive after Close = %v, want percpu.ErrClosed", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("Close did not unblock Receive")
		}
	}
	if _, err := tap.Queues()[0].Transmit([][]byte{make([]byte, 60)}); !errors.Is(err, percpu.ErrClosed) {
		t.Errorf("Transmit after Close = %v, want percpu.ErrClosed", err)
	}
	if err := tap.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestOpenTAPNames(t *testing.T) {
	ns := netnstest.New(t)
	persistent := tapName("p")
	if err := ns.IP("tuntap", "add", "dev", persistent, "mode", "tap", "multi_queue"); err != nil {
		t.Fatal(err)
	}
	tap := openTestTAP(t, ns, persistent, 3)
	if tap.Name() != persistent || len(tap.Queues()) != 3 {
		t.Errorf("attached to %q with %d queues, want %q with 3", tap.Name(), len(tap.Queues()), persistent)
	}
	picked := openTestTAP(t, ns, "hq%d", 1)
	if !strings.HasPrefix(picked.Name(), "hq") || strings.Contains(picked.Name(), "%") {
		t.Errorf("kernel-picked name %q, want hq<n>", picked.Name())
	}
}

func TestOpenTAPBadArguments(t *testing.T) {
	tests := []struct {
		name   string
		queues int
	}{
		{"hq0", 0},
		{"hq0", -1},
		{"hq0", maxQueues + 1},
		{"a-name-far-too-long", 1},
	}
	for _, tt := range tests {
		if tap, err := OpenTAP(tt.name, tt.queues); err == nil {
			tap.Close()
			t.Errorf("OpenTAP(%q, %d) succeeded, want an error", tt.name, tt.queues)
		}
	}
}

// BenchmarkTAPEchoRoundTrip measures one ICMP echo through the kernel:
// Transmit on queue 0, then Receive until the reply is back.
func BenchmarkTAPEchoRoundTrip(b *testing.B) {
	tap := echoSetup(b, "e")
	q := tap.Queues()[0]
	echo := [][]byte{echoRequest(b)}
	bufs, sizes := newBatch(percpu.BatchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := q.Transmit(echo); err != nil {
			b.Fatal(err)
		}
		if err := awaitEchoReply(q, bufs, sizes); err != nil {
			b.Fatal(err)
		}
	}
}
