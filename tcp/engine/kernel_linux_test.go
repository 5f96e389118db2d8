//go:build linux

package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/board/hosted"
	"github.com/bareproxy/bareproxy/internal/netnstest"
	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/tcp/engine"
	"golang.org/x/sys/unix"
)

var (
	kernAddr = netip.MustParseAddr("10.77.0.1")
	engAddr  = netip.MustParseAddr("10.77.0.2")
	engMAC   = [6]byte{0x02, 0x77, 0, 0, 0, 2}
)

// kernelRig is an engine on a TAP device whose other side is the kernel
// of a fresh namespace; the pump drops a fraction of frames each way.
type kernelRig struct {
	ns      *netnstest.NS
	e       *engine.Engine
	kmac    [6]byte
	dropped atomic.Uint64
}

func newKernelRig(t *testing.T, loss float64) *kernelRig {
	t.Helper()
	return newKernelRigWith(t, loss, nil)
}

// newKernelRigWith is newKernelRig with mod applied to the engine's Config.
func newKernelRigWith(t *testing.T, loss float64, mod func(*engine.Config)) *kernelRig {
	t.Helper()
	ns := netnstest.New(t)
	name := fmt.Sprintf("eng%d", os.Getpid()%100000)
	var tap *hosted.TAP
	err := ns.Do(func() (err error) { tap, err = hosted.OpenTAP(name, 1); return err })
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, os.ErrNotExist) {
		t.Skipf("skipping: cannot create TAP devices: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	r := &kernelRig{ns: ns}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", kernAddr.String() + "/24", "dev", tap.Name()},
		{"link", "set", tap.Name(), "up"},
		{"neigh", "add", engAddr.String(), "lladdr", net.HardwareAddr(engMAC[:]).String(), "dev", tap.Name(), "nud", "permanent"},
	} {
		if err := ns.IP(args...); err != nil {
			tap.Close()
			t.Fatal(err)
		}
	}
	if err := ns.Do(func() error {
		ifc, err := net.InterfaceByName(tap.Name())
		if err == nil {
			copy(r.kmac[:], ifc.HardwareAddr)
		}
		return err
	}); err != nil {
		tap.Close()
		t.Fatal(err)
	}
	q := tap.Queues()[0]
	var txMu sync.Mutex
	txRand := rand.New(rand.NewPCG(7, 8))
	var txScratch [][]byte
	cfg := engine.Config{Addr: engAddr, MAC: engMAC, ResetUnknown: true,
		Resolve: func(netip.Addr) ([6]byte, bool) { return r.kmac, true },
		Transmit: func(frames [][]byte) {
			txMu.Lock()
			defer txMu.Unlock()
			txScratch = txScratch[:0]
			for _, f := range frames {
				if loss > 0 && txRand.Float64() < loss {
					r.dropped.Add(1)
					continue
				}
				txScratch = append(txScratch, f)
			}
			if len(txScratch) > 0 {
				q.Transmit(txScratch)
			}
		}}
	if mod != nil {
		mod(&cfg)
	}
	r.e = engine.New(cfg)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the core's worker: TAP to engine
		defer wg.Done()
		rxRand := rand.New(rand.NewPCG(9, 10))
		bufs := make([][]byte, percpu.BatchSize)
		sizes := make([]int, percpu.BatchSize)
		for i := range bufs {
			bufs[i] = make([]byte, percpu.MaxFrame)
		}
		for {
			n, err := q.Receive(bufs, sizes)
			if err != nil {
				return
			}
			for i := range n {
				if loss > 0 && rxRand.Float64() < loss {
					r.dropped.Add(1)
					continue
				}
				r.e.Deliver(bufs[i][:sizes[i]])
			}
		}
	}()
	t.Cleanup(func() {
		r.e.Close()
		tap.Close()
		wg.Wait()
	})
	return r
}

func TestKernelPeer(t *testing.T) {
	for _, loss := range []float64{0, 0.03} {
		t.Run(fmt.Sprintf("loss=%g", loss), func(t *testing.T) {
			r := newKernelRig(t, loss)
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()

			// Kernel clients to the engine's listener.
			l, err := r.e.Listen(80)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go func() { // echo until EOF, then close
						defer c.Close()
						buf := make([]byte, 32<<10)
						for {
							n, err := c.Read(buf)
							if n > 0 {
								if _, werr := c.Write(buf[:n]); werr != nil {
									return
								}
							}
							if err != nil {
								c.CloseWrite()
								return
							}
						}
					}()
				}
			}()
			kdial := func() (net.Conn, error) {
				var c net.Conn
				err := r.ns.Do(func() (err error) {
					d := net.Dialer{Timeout: 30 * time.Second}
					c, err = d.DialContext(ctx, "tcp", netip.AddrPortFrom(engAddr, 80).String())
					return err
				})
				return c, err
			}
			for i := range 200 {
				c, err := kdial()
				if err != nil {
					t.Fatalf("kernel dial %d: %v", i, err)
				}
				msg := engine.Pattern(uint64(i), 100)
				got, err := engine.Duplex(c, msg)
				c.Close()
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("kernel client %d: got %d bytes, err %v", i, len(got), err)
				}
			}
			c, err := kdial()
			if err != nil {
				t.Fatal(err)
			}
			big := engine.Pattern(99, 1<<20)
			got, err := engine.Duplex(c, big)
			c.Close()
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("kernel client 1 MiB echo: got %d bytes (equal prefix %d), err %v", len(got), engine.CommonPrefix(got, big), err)
			}

			// The engine dialling a kernel listener.
			var kl net.Listener
			if err := r.ns.Do(func() (err error) {
				kl, err = net.Listen("tcp", netip.AddrPortFrom(kernAddr, 0).String())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer kl.Close()
			kport := uint16(kl.Addr().(*net.TCPAddr).Port)
			accepted := make(chan net.Conn)
			go func() {
				for {
					c, err := kl.Accept()
					if err != nil {
						close(accepted)
						return
					}
					accepted <- c
				}
			}()
			to := netip.AddrPortFrom(kernAddr, kport)
			for i := range 201 {
				cc, err := r.e.Dial(ctx, to)
				if err != nil {
					t.Fatalf("engine dial %d: %v", i, err)
				}
				sc := <-accepted
				n := 100
				if i == 200 {
					n = 1 << 20
				}
				engine.CheckExchange(t, cc, sc, engine.Pattern(uint64(1000+i), n), engine.Pattern(uint64(2000+i), n))
			}
			engine.WaitQuiet(t, r.e, "engine")
			t.Logf("dropped %d frames; engine stats: %+v", r.dropped.Load(), r.e.Stats())
		})
	}
}

// TestKernelTimeWaitReuse dials a kernel listener again and again from one
// local port. The kernel closes first each time, so it holds TIME_WAIT for
// the 4-tuple when the next SYN comes; 1 MiB per connection moves the
// engine's sequence numbers past the next ISN, so only the timestamps
// (RFC 7323, RFC 6191) let the kernel take the new SYN at once instead of
// answering it with an ACK of the old connection (then the SYN would be
// resent after the 1 s RTO).
func TestKernelTimeWaitReuse(t *testing.T) {
	const port = 45678
	r := newKernelRigWith(t, 0, func(c *engine.Config) {
		c.PickPort = func(netip.AddrPort) (uint16, bool) { return port, true }
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var kl net.Listener
	if err := r.ns.Do(func() (err error) {
		kl, err = net.Listen("tcp", netip.AddrPortFrom(kernAddr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer kl.Close()
	const size = 1 << 20
	served := make(chan error, 1)
	go func() { // read size bytes, then close first: kernel TIME_WAIT
		for {
			c, err := kl.Accept()
			if err != nil {
				return
			}
			_, err = io.ReadFull(c, make([]byte, size))
			c.Close()
			served <- err
		}
	}()
	to := netip.AddrPortFrom(kernAddr, uint16(kl.Addr().(*net.TCPAddr).Port))
	const rounds = 5
	for i := range rounds {
		var c *engine.Conn
		var err error
		for range 100000 { // until the last round's connection has left the table
			if c, err = r.e.Dial(ctx, to); !errors.Is(err, unix.EADDRNOTAVAIL) {
				break
			}
			runtime.Gosched()
		}
		if err != nil {
			t.Fatalf("round %d: dial: %v", i, err)
		}
		if got := c.LocalAddrPort().Port(); got != port {
			t.Fatalf("round %d: local port %d, want %d", i, got, port)
		}
		if _, err := c.Write(engine.Pattern(uint64(i), size)); err != nil {
			t.Fatalf("round %d: write: %v", i, err)
		}
		if err := <-served; err != nil {
			t.Fatalf("round %d: kernel read: %v", i, err)
		}
		if _, err := io.ReadAll(c); err != nil { // the kernel's FIN
			t.Fatalf("round %d: read: %v", i, err)
		}
		c.Close()
	}
	st := r.e.Stats()
	t.Logf("engine stats: %+v", st)
	if st.SynRetransmits != 0 || st.ResetsSent != 0 {
		t.Errorf("%d SYN retransmissions, %d RSTs sent over %d dials of one 4-tuple held in the kernel's TIME_WAIT; want none",
			st.SynRetransmits, st.ResetsSent, rounds)
	}
	if st.Dialled != rounds {
		t.Errorf("%d connections dialled, want %d", st.Dialled, rounds)
	}
}
