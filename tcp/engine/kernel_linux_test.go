//go:build linux

package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
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
// of a fresh namespace; the pump impairs frames each way.
type kernelRig struct {
	ns *netnstest.NS
	// e is the engine; restart replaces it (cur is what the worker
	// delivers to).
	e    *engine.Engine
	cur  atomic.Pointer[engine.Engine]
	cfg  engine.Config
	kmac [6]byte
	// cut drops every frame the engine sends, as if it had crashed.
	cut atomic.Bool
	// toEngine and toKernel count what the pump did each way.
	toEngine, toKernel impairCounts
}

// impairment is what the rig's pump does to frames, the same each way, as
// probabilities per frame: drop it, swap it with the next frame of its
// batch (the next one goes first), or send it twice.
type impairment struct {
	loss, reorder, dup float64
}

func (imp impairment) String() string {
	return fmt.Sprintf("loss=%g,reorder=%g,dup=%g", imp.loss, imp.reorder, imp.dup)
}

// impairCounts counts what an impairer did.
type impairCounts struct {
	// dropped and duplicated count frames.
	dropped, duplicated atomic.Uint64
	// reordered counts swaps of two data segments of one connection that
	// put the higher sequence number first: the receiver saw data out of
	// order, not only reordered ACKs.
	reordered atomic.Uint64
}

// impairer applies an impairment to one direction's batches. It is not
// safe for concurrent use.
type impairer struct {
	imp impairment
	rng *rand.Rand
	n   *impairCounts
	out [][]byte
}

// apply returns frames impaired, in a slice reused by the next call.
func (p *impairer) apply(frames [][]byte) [][]byte {
	p.out = p.out[:0]
	for i := 0; i < len(frames); i++ {
		f := frames[i]
		if p.imp.loss > 0 && p.rng.Float64() < p.imp.loss {
			p.n.dropped.Add(1)
			continue
		}
		if p.imp.reorder > 0 && i+1 < len(frames) && p.rng.Float64() < p.imp.reorder {
			next := frames[i+1]
			if before(f, next) {
				p.n.reordered.Add(1)
			}
			p.out = append(p.out, next, f)
			i++
			continue
		}
		p.out = append(p.out, f)
		if p.imp.dup > 0 && p.rng.Float64() < p.imp.dup {
			p.n.duplicated.Add(1)
			p.out = append(p.out, f)
		}
	}
	return p.out
}

// before reports whether Ethernet frames a and b are IPv4 TCP segments of
// one connection, both with data, and a's sequence number is before b's
// (RFC 9293 3.4 modular comparison).
func before(a, b []byte) bool {
	fa, sa, ok1 := tcpData(a)
	fb, sb, ok2 := tcpData(b)
	return ok1 && ok2 && fa == fb && int32(sa-sb) < 0
}

// tcpData returns the addresses and ports of an Ethernet IPv4 TCP frame
// with payload, and its sequence number.
func tcpData(f []byte) (flow [12]byte, seq uint32, ok bool) {
	const eth = 14
	if len(f) < eth+20 || f[12] != 0x08 || f[13] != 0x00 || f[eth+9] != 6 {
		return flow, 0, false
	}
	ip := f[eth:]
	ihl := int(ip[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total > len(ip) || total < ihl+20 {
		return flow, 0, false
	}
	tcp := ip[ihl:total]
	off := int(tcp[12]>>4) * 4
	if off < 20 || off >= len(tcp) { // no payload
		return flow, 0, false
	}
	copy(flow[:8], ip[12:20])
	copy(flow[8:], tcp[:4])
	return flow, binary.BigEndian.Uint32(tcp[4:]), true
}

func newKernelRig(t *testing.T, imp impairment) *kernelRig {
	t.Helper()
	return newKernelRigWith(t, imp, nil)
}

// newKernelRigWith is newKernelRig with mod applied to the engine's Config.
func newKernelRigWith(t *testing.T, imp impairment, mod func(*engine.Config)) *kernelRig {
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
	var txMu sync.Mutex // guards tx
	tx := &impairer{imp: imp, rng: rand.New(rand.NewPCG(7, 8)), n: &r.toKernel}
	cfg := engine.Config{Addr: engAddr, MAC: engMAC, ResetUnknown: true,
		Resolve: func(netip.Addr) ([6]byte, bool) { return r.kmac, true },
		Transmit: func(frames [][]byte) {
			if r.cut.Load() {
				return
			}
			txMu.Lock()
			defer txMu.Unlock()
			if out := tx.apply(frames); len(out) > 0 {
				q.Transmit(out)
			}
		}}
	if mod != nil {
		mod(&cfg)
	}
	r.cfg = cfg
	r.e = engine.New(cfg)
	r.cur.Store(r.e)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the core's worker: TAP to engine
		defer wg.Done()
		rx := &impairer{imp: imp, rng: rand.New(rand.NewPCG(9, 10)), n: &r.toEngine}
		bufs := make([][]byte, percpu.BatchSize)
		sizes := make([]int, percpu.BatchSize)
		frames := make([][]byte, percpu.BatchSize)
		for i := range bufs {
			bufs[i] = make([]byte, percpu.MaxFrame)
		}
		for {
			n, err := q.Receive(bufs, sizes)
			if err != nil {
				return
			}
			for i := range n {
				frames[i] = bufs[i][:sizes[i]]
			}
			for _, f := range rx.apply(frames[:n]) {
				r.cur.Load().Deliver(f)
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

// crash replaces the engine as restart does, but the old engine's last
// frames (the RSTs of its open connections) are lost, as when the
// appliance crashes or its NIC goes first.
func (r *kernelRig) crash() {
	r.cut.Store(true)
	r.e.Close()
	r.cut.Store(false)
	r.e = engine.New(r.cfg)
	r.cur.Store(r.e)
}

// restart replaces the engine with a new one of the same Config, as an
// appliance restart does: its ISN key, clocks and tables are new. It
// waits for the old engine's connections to finish first, and returns the
// old engine's counters.
func (r *kernelRig) restart(t *testing.T) engine.Stats {
	old := r.e
	engine.WaitQuiet(t, old, "engine before restart")
	old.Close()
	time.Sleep(2 * time.Millisecond) // a restart takes longer than a TSval tick
	r.e = engine.New(r.cfg)
	r.cur.Store(r.e)
	return old.Stats()
}

// kernelStat returns counter name of the rig namespace's TcpExt MIB
// (/proc/net/netstat, as nstat shows it without the prefix).
func (r *kernelRig) kernelStat(t *testing.T, name string) uint64 {
	t.Helper()
	var data []byte
	if err := r.ns.Do(func() (err error) {
		// thread-self: the namespace is the thread's, not the process's.
		data, err = os.ReadFile("/proc/thread-self/net/netstat")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) {
			continue
		}
		for j, n := range names {
			if n == name {
				v, err := strconv.ParseUint(values[j], 10, 64)
				if err != nil {
					t.Fatalf("TcpExt %s = %q: %v", name, values[j], err)
				}
				return v
			}
		}
	}
	t.Fatalf("no TcpExt %s in /proc/net/netstat", name)
	return 0
}

// TestKernelPeer runs kernel clients against an engine listener and the
// engine against a kernel listener, 100 B and 1 MiB each way, byte-exact,
// over a link that loses, reorders and duplicates frames. Each impairment
// row also checks that it took effect: frames were dropped and the engine
// retransmitted, data segments reached each side out of order, frames were
// duplicated.
func TestKernelPeer(t *testing.T) {
	for _, imp := range []impairment{
		{},
		{loss: 0.03},
		{reorder: 0.1},
		// Less loss than above: each lost SYN costs a 1 s RTO, and this
		// row is about recovering from loss among reordered and
		// duplicated segments.
		{loss: 0.01, reorder: 0.1, dup: 0.02},
	} {
		t.Run(imp.String(), func(t *testing.T) {
			r := newKernelRig(t, imp)
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()

			// Kernel clients to the engine's listener.
			l := r.listenEngine(t, 80)
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
			kl := r.listen(t)
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
			r.checkImpaired(t, imp)
		})
	}
}

// checkImpaired fails t if imp did nothing the engine and kernel had to
// recover from, or if a frame reached the engine damaged. Reordering is
// checked on the rig's count and on the engine's OutOfOrderQueued. On a
// clean link the kernel must queue nothing out of order: the engine's
// segments leave in sequence.
func (r *kernelRig) checkImpaired(t *testing.T, imp impairment) {
	t.Helper()
	st := r.e.Stats()
	ofo := r.kernelStat(t, "TCPOFOQueue")
	t.Logf("to the engine: %d dropped, %d data reordered, %d duplicated; to the kernel: %d, %d, %d; kernel TCPOFOQueue %d; engine stats: %+v",
		r.toEngine.dropped.Load(), r.toEngine.reordered.Load(), r.toEngine.duplicated.Load(),
		r.toKernel.dropped.Load(), r.toKernel.reordered.Load(), r.toKernel.duplicated.Load(), ofo, st)
	if st.Malformed != 0 || st.BadChecksum != 0 {
		t.Errorf("engine counted %d malformed frames and %d bad checksums, want none", st.Malformed, st.BadChecksum)
	}
	for _, d := range []struct {
		name string
		n    *impairCounts
	}{{"to the engine", &r.toEngine}, {"to the kernel", &r.toKernel}} {
		if imp.loss > 0 && d.n.dropped.Load() == 0 {
			t.Errorf("loss %g: no frame dropped %s", imp.loss, d.name)
		}
		if imp.reorder > 0 && d.n.reordered.Load() == 0 {
			t.Errorf("reorder %g: no data segment reordered %s", imp.reorder, d.name)
		}
		if imp.dup > 0 && d.n.duplicated.Load() == 0 {
			t.Errorf("dup %g: no frame duplicated %s", imp.dup, d.name)
		}
	}
	if imp.reorder > 0 && st.OutOfOrderQueued == 0 {
		t.Errorf("reorder %g: the engine queued no segment out of order", imp.reorder)
	}
	if imp == (impairment{}) && ofo != 0 {
		t.Errorf("clean link: the kernel queued %d segments out of order, want 0", ofo)
	}
	if imp.loss > 0 && st.Retransmits+st.FastRetransmits == 0 {
		t.Errorf("loss %g: the engine never retransmitted", imp.loss)
	}
}

// listenEngine listens on the rig's engine at port.
func (r *kernelRig) listenEngine(t *testing.T, port uint16) *engine.Listener {
	t.Helper()
	l, err := r.e.Listen(port)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// newOnePortRig is a kernel rig whose engine dials from local port port
// only, and a kernel listener in the rig's namespace for it to dial.
func newOnePortRig(t *testing.T, port uint16) (*kernelRig, net.Listener) {
	t.Helper()
	r := newKernelRigWith(t, impairment{}, func(c *engine.Config) {
		c.PickPort = func(netip.AddrPort) (uint16, bool) { return port, true }
	})
	return r, r.listen(t)
}

// listen opens a kernel listener on an ephemeral port of the rig's
// namespace, closed when the test ends.
func (r *kernelRig) listen(t *testing.T) net.Listener {
	t.Helper()
	var kl net.Listener
	if err := r.ns.Do(func() (err error) {
		kl, err = net.Listen("tcp", netip.AddrPortFrom(kernAddr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kl.Close() })
	return kl
}

// TestKernelTimeWaitReuse dials a kernel listener again and again from one
// local port. The kernel closes first each time, so it holds TIME_WAIT for
// the 4-tuple when the next SYN comes; 1 MiB per connection moves the
// engine's sequence numbers past the next ISN, so only the timestamps
// (RFC 7323, RFC 6191) let the kernel take the new SYN at once instead of
// answering it with an ACK of the old connection (then the SYN would be
// resent after the 1 s RTO). Every other round starts from a new engine,
// as after an appliance restart: the TSval clock must still be past the
// old engine's.
func TestKernelTimeWaitReuse(t *testing.T) {
	const port = 45678
	r, kl := newOnePortRig(t, port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
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
	var st engine.Stats
	for i := range rounds {
		if i%2 == 1 {
			st = st.Add(r.restart(t))
		}
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
	st = st.Add(r.e.Stats())
	t.Logf("engine stats, all engines: %+v", st)
	if st.SynRetransmits != 0 || st.ResetsSent != 0 {
		t.Errorf("%d SYN retransmissions, %d RSTs sent over %d dials of one 4-tuple held in the kernel's TIME_WAIT (2 after restarts); want none",
			st.SynRetransmits, st.ResetsSent, rounds)
	}
	if st.Dialled != rounds {
		t.Errorf("%d connections dialled, want %d", st.Dialled, rounds)
	}
}

// TestKernelStaleConnection dials from a 4-tuple on which the kernel still
// holds an established connection of an engine that crashed. The kernel
// answers the SYN with a challenge ACK (RFC 5961 4.2); the engine's RST
// ends the stale connection and its SYN goes again at once, so the dial
// needs no retransmission timeout.
func TestKernelStaleConnection(t *testing.T) {
	const port = 45679
	r, kl := newOnePortRig(t, port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := kl.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	to := netip.AddrPortFrom(kernAddr, uint16(kl.Addr().(*net.TCPAddr).Port))
	if _, err := r.e.Dial(ctx, to); err != nil {
		t.Fatal(err)
	}
	stale := <-accepted
	defer stale.Close()
	r.crash()

	c, err := r.e.Dial(ctx, to)
	if err != nil {
		t.Fatalf("dial over the stale connection: %v", err)
	}
	defer c.Close()
	fresh := <-accepted
	defer fresh.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(fresh, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("kernel read %q, %v on the new connection", buf, err)
	}
	stale.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := stale.Read(buf); !errors.Is(err, unix.ECONNRESET) {
		t.Errorf("stale connection read: %v, want it reset", err)
	}
	if st := r.e.Stats(); st.SynRetransmits != 0 || st.ResetsSent != 1 {
		t.Errorf("%d SYN retransmissions on timeout and %d RSTs, want 0 and 1 (the answer to the challenge ACK)", st.SynRetransmits, st.ResetsSent)
	}
}

// TestKernelPeerServe runs kernel clients against a listener served by a
// Handler, which echoes on the engine's worker without a goroutine per
// connection: 100 small echoes and one of 1 MiB, which must wait for room
// in the send buffer, on a clean link and one that loses 3% of frames.
func TestKernelPeerServe(t *testing.T) {
	for _, imp := range []impairment{{}, {loss: 0.03}} {
		t.Run(imp.String(), func(t *testing.T) {
			r := newKernelRig(t, imp)
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			l := r.listenEngine(t, 80)
			h := engine.NewEchoHandler()
			l.Serve(h)
			echo := func(i int, msg []byte) {
				t.Helper()
				var c net.Conn
				err := r.ns.Do(func() (err error) {
					d := net.Dialer{Timeout: 30 * time.Second}
					c, err = d.DialContext(ctx, "tcp", netip.AddrPortFrom(engAddr, 80).String())
					return err
				})
				if err != nil {
					t.Fatalf("kernel dial %d: %v", i, err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				got, err := engine.Duplex(c, msg)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("kernel client %d: echo of %d bytes came back as %d (equal prefix %d), err %v",
						i, len(msg), len(got), engine.CommonPrefix(got, msg), err)
				}
			}
			for i := range 100 {
				echo(i, engine.Pattern(uint64(i), 100))
			}
			echo(100, engine.Pattern(100, 1<<20))
			if err := h.Err(); err != nil {
				t.Errorf("handler: %v", err)
			}
			if h.Blocked() == 0 {
				t.Error("no Write returned ErrWouldBlock: the 1 MiB echo did not test waiting for room")
			}
			engine.WaitQuiet(t, r.e, "engine")
			if st := r.e.Stats(); st.Accepted != 101 {
				t.Errorf("engine accepted %d connections, want 101", st.Accepted)
			}
		})
	}
}
