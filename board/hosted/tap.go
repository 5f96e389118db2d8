//go:build linux

// Package hosted is the board for running the appliance as a Linux process.
// Its NIC is a multiqueue TAP device (drivers/net/tun.c, IFF_TAP|IFF_NO_PI|
// IFF_MULTI_QUEUE) with one file descriptor per queue, each one a
// percpu.Queue. An eBPF steering program (TUNSETSTEERINGEBPF, Linux 4.16 or
// later) makes the kernel put each IPv4 TCP or UDP flow on the queue that
// tcp.MixSteering picks, so that the per-core stacks see their own flows
// without software forwarding. Pin binds a worker's OS thread to a CPU.
//
// Each queue's Transmit hands its frames to the queue's writer goroutine,
// which makes the write(2)s, as a virtio device sends on bare metal (see
// txQueue).
//
// The package owns the TAP device's file descriptors, the queues' blocking
// and batching, the steering program and CPU pinning for hosted mode. It
// must not hold protocol logic: frames are opaque bytes except to the
// steering program, whose hash is defined by package tcp. OpenTAPWith with
// Options.VnetHdr adds IFF_VNET_HDR and checksum and TCP segmentation
// offload, so that frames carry a virtio_net_hdr and may be up to 64 KiB
// (what tcp.Config.VnetHdr expects). It does not set
// addresses, routes or neighbours on the kernel side of the device; the
// caller's environment (a network namespace set up with ip(8), say) does.
//
// The package is Linux only and pure Go: the steering program is assembled
// with github.com/cilium/ebpf/asm, so no C compiler is involved.
package hosted

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/virtio/nethdr"
)

// tunDevice is the clone device of the TUN/TAP driver.
const tunDevice = "/dev/net/tun"

// tapFlags asks for an Ethernet-level device without the 4-byte packet
// information prefix, with one fd per queue. OpenTAP's frames are plain
// Ethernet frames; OpenTAPWith(…, Options{VnetHdr: true}) adds
// IFF_VNET_HDR.
const tapFlags = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_MULTI_QUEUE

// Offload flags of TUNSETOFFLOAD (include/uapi/linux/if_tun.h): what the
// kernel may hand us unfinished. TUN_F_CSUM: checksums left partial
// (VIRTIO_NET_HDR_F_NEEDS_CSUM); TUN_F_TSO4: IPv4 TCP segments up to 64 KiB
// that we would have to segment were we to forward them (we terminate TCP,
// so we take them whole).
const (
	tunFCsum = 0x01
	tunFTSO4 = 0x02
)

// VnetHdrLen is the size of the struct virtio_net_hdr that starts every
// frame of a TAP opened with Options.VnetHdr: the header without
// num_buffers (package nethdr has its layout), Linux's default
// TUNSETVNETHDRSZ.
const VnetHdrLen = nethdr.Size

// MaxVnetFrame is the largest frame, header included, that a TAP opened
// with Options.VnetHdr hands over: a 64 KiB TSO segment behind its
// Ethernet and virtio_net_hdr headers. Receive buffers must be this big.
const MaxVnetFrame = VnetHdrLen + 14 + 65535

// Options are OpenTAPWith's choices. The zero value is OpenTAP's device.
type Options struct {
	// VnetHdr opens the device with IFF_VNET_HDR and turns on checksum
	// and TCPv4 segmentation offload (TUNSETOFFLOAD TUN_F_CSUM|
	// TUN_F_TSO4): every frame read or written starts with a
	// VnetHdrLen-byte virtio_net_hdr, received frames may be up to
	// MaxVnetFrame bytes with checksums left partial, and written frames
	// may ask the kernel to segment them and finish their checksums.
	// Without it the device's offloads are turned off, so that a
	// persistent device left with offloads by an earlier user does not
	// hand over unfinished frames.
	VnetHdr bool
}

// maxQueues is the kernel's limit on queues per TUN/TAP device
// (MAX_TAP_QUEUES).
const maxQueues = 256

// errTAPClosed is wrapped by errors from operations on a closed TAP.
var errTAPClosed = errors.New("tap closed")

// TAP is an open multiqueue TAP device. Queue k is the k-th file descriptor
// attached to the device, which is also the index the kernel's queue
// selection returns.
type TAP struct {
	name    string
	queues  []*queue
	closed  atomic.Bool
	vnetHdr bool

	// mu protects steering and serialises AttachSteering with Close.
	mu       sync.Mutex
	steering *ebpf.Program
}

// OpenTAP creates the TAP device name, or attaches to an existing persistent
// one of that name, with IFF_TAP|IFF_NO_PI|IFF_MULTI_QUEUE and opens queues
// file descriptors on it. A name containing "%d", or an empty name, lets the
// kernel pick; Name returns the result.
//
// The device is created in the network namespace of the calling thread, so
// a caller working in a namespace must lock its OS thread into it first.
// OpenTAP does not change the link state or addresses; call SetUp or
// configure the device from outside. Creating a device needs CAP_NET_ADMIN;
// attaching to a persistent one needs only access to its owner's uid/gid.
func OpenTAP(name string, queues int) (*TAP, error) {
	return OpenTAPWith(name, queues, Options{})
}

// OpenTAPWith is OpenTAP with options. An error from the offload set-up
// (a kernel without IFF_VNET_HDR, say) closes what was opened; the caller
// may fall back to OpenTAP.
func OpenTAPWith(name string, queues int, opts Options) (*TAP, error) {
	if queues < 1 || queues > maxQueues {
		return nil, fmt.Errorf("hosted: open tap %q: %d queues, want 1 to %d", name, queues, maxQueues)
	}
	if len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("hosted: open tap %q: name longer than %d bytes", name, unix.IFNAMSIZ-1)
	}
	t := &TAP{name: name, vnetHdr: opts.VnetHdr}
	for i := range queues {
		q, err := t.openQueue(i)
		if err != nil {
			t.Close()
			return nil, err
		}
		t.queues = append(t.queues, q)
	}
	if err := t.setOffload(); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// setOffload sets the device-wide header size and offloads on the first
// queue's fd: with VnetHdr a 10-byte header and TUN_F_CSUM|TUN_F_TSO4,
// else no offloads.
func (t *TAP) setOffload() error {
	q := t.queues[0]
	var offload uint = 0
	if t.vnetHdr {
		offload = tunFCsum | tunFTSO4
		if err := unix.IoctlSetPointerInt(q.fd, unix.TUNSETVNETHDRSZ, VnetHdrLen); err != nil {
			return fmt.Errorf("hosted: tap %q: TUNSETVNETHDRSZ %d: %w", t.name, VnetHdrLen, err)
		}
	}
	if err := unix.IoctlSetInt(q.fd, unix.TUNSETOFFLOAD, int(offload)); err != nil {
		return fmt.Errorf("hosted: tap %q: TUNSETOFFLOAD %#x: %w", t.name, offload, err)
	}
	return nil
}

// VnetHdr reports whether every frame starts with a virtio_net_hdr
// (Options.VnetHdr).
func (t *TAP) VnetHdr() bool { return t.vnetHdr }

// openQueue opens one more fd on the device and wraps it as queue i. The
// first call also learns the device's name from the kernel.
func (t *TAP) openQueue(i int) (*queue, error) {
	fd, err := unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("hosted: open %q: %w", tunDevice, err)
	}
	ifr, err := unix.NewIfreq(t.name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("hosted: open tap %q: %w", t.name, err)
	}
	flags := uint16(tapFlags)
	if t.vnetHdr {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("hosted: open tap %q queue %d: TUNSETIFF: %w", t.name, i, err)
	}
	t.name = ifr.Name()
	// The fd is non-blocking, so os.NewFile registers it with the
	// runtime's poller: Receive parks the goroutine, not the thread.
	f := os.NewFile(uintptr(fd), fmt.Sprintf("%s/%s#%d", tunDevice, t.name, i))
	q, err := newQueue(t, f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("hosted: open tap %q queue %d: %w", t.name, i, err)
	}
	return q, nil
}

// Name returns the device's interface name.
func (t *TAP) Name() string { return t.name }

// Queues returns one percpu.Queue per file descriptor, in the kernel's
// queue order. Each Receive returns every frame that is ready, up to the
// batch size, after waiting for the first; Transmit queues frames for the
// queue's writer goroutine, which writes one frame per write(2).
func (t *TAP) Queues() []percpu.Queue {
	qs := make([]percpu.Queue, len(t.queues))
	for i, q := range t.queues {
		qs[i] = q
	}
	return qs
}

// Dropped returns how many frames were dropped: received frames larger
// than the caller's buffer, and frames to send that the kernel refused or
// that Close discarded before they were written.
func (t *TAP) Dropped() uint64 {
	var n uint64
	for _, q := range t.queues {
		n += q.drops.Load() + q.tx.dropped.Load()
	}
	return n
}

// SetUp sets the device's link up (SIOCSIFFLAGS with IFF_UP). Like OpenTAP
// it works in the calling thread's network namespace, which must be the
// device's, and needs CAP_NET_ADMIN.
func (t *TAP) SetUp() error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("hosted: set %q up: %w", t.name, err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(t.name)
	if err != nil {
		return fmt.Errorf("hosted: set %q up: %w", t.name, err)
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("hosted: set %q up: SIOCGIFFLAGS: %w", t.name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("hosted: set %q up: SIOCSIFFLAGS: %w", t.name, err)
	}
	return nil
}

// Close closes every queue and releases the steering program. Blocked
// Receive and Transmit calls return percpu.ErrClosed. Closing the last fd
// of a device that is not persistent removes the device. Close is safe to
// call more than once.
func (t *TAP) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, q := range t.queues {
		errs = append(errs, q.close())
	}
	if t.steering != nil {
		errs = append(errs, t.steering.Close())
		t.steering = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("hosted: close tap %q: %w", t.name, err)
	}
	return nil
}
