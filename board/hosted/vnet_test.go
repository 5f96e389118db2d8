//go:build linux

package hosted

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bareproxy/bareproxy/internal/netnstest"
	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/tcp"
	_ "github.com/bareproxy/bareproxy/tcp/gvisortcp" // EngineGVisor: the native engine takes no virtio_net_hdr
)

// bigCounter counts received frames larger than an Ethernet frame: GRO or
// TSO segments the kernel handed over whole.
type bigCounter struct {
	percpu.Queue
	big *atomic.Int64
}

func (q bigCounter) Receive(bufs [][]byte, sizes []int) (int, error) {
	n, err := q.Queue.Receive(bufs, sizes)
	for _, s := range sizes[:n] {
		if s > VnetHdrLen+14+1500 {
			q.big.Add(1)
		}
	}
	return n, err
}

// TestTAPVnetHdrKernelTCP runs a TCP connection between the kernel and the
// partitioned stack over a TAP opened with IFF_VNET_HDR and offloads: 8 MiB
// each way. The kernel hands over segments larger than the MTU with partial
// checksums, which the stack takes whole; the stack sends 64 KiB segments
// with partial checksums, which the kernel must accept, segment where
// needed and check. The data must arrive intact both ways.
func TestTAPVnetHdrKernelTCP(t *testing.T) {
	if tcp.VnetHdrLen != VnetHdrLen || tcp.MaxVnetFrame != MaxVnetFrame {
		t.Fatalf("tcp's header %d/%d and the board's %d/%d differ", tcp.VnetHdrLen, tcp.MaxVnetFrame, VnetHdrLen, MaxVnetFrame)
	}
	ns := netnstest.New(t)
	var tap *TAP
	err := ns.Do(func() (err error) {
		tap, err = OpenTAPWith(tapName("v"), 2, Options{VnetHdr: true})
		return err
	})
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		t.Skipf("skipping: cannot create TAP devices: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tap.Close() })
	if !tap.VnetHdr() {
		t.Fatal("VnetHdr() = false after OpenTAPWith(VnetHdr)")
	}
	if err := tap.AttachSteering(); err != nil {
		t.Logf("no steering (%v): frames are forwarded between cores", err)
	}
	setupLink(t, ns, tap)

	var big atomic.Int64
	var queues []percpu.Queue
	for _, q := range tap.Queues() {
		queues = append(queues, bigCounter{q, &big})
	}
	rt := percpu.New(queues)
	rt.FrameSize = MaxVnetFrame
	links := make([]tcp.Link, len(queues))
	for k := range links {
		links[k] = rt.Link(k)
	}
	st, err := tcp.New(tcp.Config{
		Addr:     netip.PrefixFrom(applianceIP, 24),
		MAC:      testApplianceMAC,
		Steering: tcp.MixSteering{N: len(queues)},
		Links:    links,
		VnetHdr:  true,
		TSO:      true,
		// The kernel leaves checksums partial, as image/hosted.go says.
		RXChecksumOffload: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	stacks := []percpu.Stack{st.Core(0), st.Core(1)}
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx, stacks) }()
	t.Cleanup(func() {
		cancel()
		tap.Close()
		<-done
		st.Close()
	})
	// A stuck transfer fails the test instead of hanging it.
	go func() {
		<-ctx.Done()
		tap.Close()
	}()

	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i*31 + i>>8)
	}
	for k := range st.Cores() {
		l, err := st.Core(k).Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 80))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			got := make([]byte, len(data))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, data) {
				t.Errorf("stack received %v, intact %v", err, bytes.Equal(got, data))
				return
			}
			c.Write(got)
		}()
	}

	var conn net.Conn
	err = ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), "kernel-client")
		defer f.Close()
		if err := unix.Connect(fd, &unix.SockaddrInet4{Port: 80, Addr: applianceIP.As4()}); err != nil {
			return err
		}
		conn, err = net.FileConn(f)
		return err
	})
	if err != nil {
		t.Fatalf("kernel connect: %v", err)
	}
	defer conn.Close()
	go conn.Write(data)
	got := make([]byte, len(data))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("kernel read back: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data came back corrupted")
	}
	if big.Load() == 0 {
		t.Errorf("the kernel handed over no frame larger than the MTU: segmentation offload is off")
	}
	for k := range st.Cores() {
		// Malformed is not checked: the kernel sends IPv6 router
		// solicitations, which Steer drops and counts there.
		if s := st.Core(k).Stats(); s.TxErrors != 0 || s.ResetsSent != 0 {
			t.Errorf("core %d: %d tx errors, %d resets sent", k, s.TxErrors, s.ResetsSent)
		}
	}
	t.Logf("%d frames larger than the MTU received", big.Load())
}
