package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
)

// spliceRig is an L4 proxy on engine a between a client and a server that
// both live on engine b: the client dials a:80, the proxy accepts, dials
// b:8080, where the server accepts, and splices the two.
type spliceRig struct {
	p              *pair
	client, server *Conn // on b
	front, back    *Conn // the proxy's, on a
}

// spliceResult is what one Splice call returned.
type spliceResult struct {
	moved   [2]int64
	side    int
	err     error
	counted [2]int64 // the sum of what the moves callback heard
}

func newSpliceRig(t *testing.T, imp impairment, mod func(*Config)) *spliceRig {
	t.Helper()
	p := newPair(t, imp, mod)
	r := &spliceRig{p: p}
	fl, err := p.a.Listen(80)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := p.b.Listen(8080)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r.client, err = p.b.Dial(ctx, netip.AddrPortFrom(p.addrA, 80)); err != nil {
		t.Fatal(err)
	}
	if r.front, err = fl.Accept(); err != nil {
		t.Fatal(err)
	}
	if r.back, err = p.a.Dial(ctx, netip.AddrPortFrom(p.addrB, 8080)); err != nil {
		t.Fatal(err)
	}
	if r.server, err = bl.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range []*Conn{r.client, r.server, r.front, r.back} {
			c.Close()
		}
	})
	return r
}

// start runs the proxy's Splice on its own goroutine.
func (r *spliceRig) start(idle [2]time.Duration) <-chan spliceResult {
	done := make(chan spliceResult, 1)
	go func() {
		var res spliceResult
		count := func(dir, n int) { res.counted[dir] += int64(n) }
		res.moved, res.side, res.err = r.front.Splice(r.back, idle, count)
		done <- res
	}()
	return done
}

// wait returns the splice's result, failing the test after 30 s.
func wait(t *testing.T, done <-chan spliceResult) spliceResult {
	t.Helper()
	select {
	case res := <-done:
		return res
	case <-time.After(30 * time.Second):
		t.Fatal("the splice did not end")
		return spliceResult{}
	}
}

func TestSpliceTransfer(t *testing.T) {
	small := func(c *Config) { c.BufferSize = 4096 }
	for _, tc := range []struct {
		name   string
		imp    impairment
		mod    func(*Config)
		ab, ba int
	}{
		{"lossless", impairment{}, nil, 1 << 20, 1 << 20},
		{"lossy", impairment{loss: 0.03, reorder: 0.05, dup: 0.01}, nil, 256 << 10, 256 << 10},
		{"small buffers", impairment{}, small, 256 << 10, 64 << 10},
		{"one way", impairment{}, nil, 0, 300 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSpliceRig(t, tc.imp, tc.mod)
			done := r.start([2]time.Duration{})
			ab, ba := pattern(3, tc.ab), pattern(4, tc.ba)
			checkExchange(t, r.client, r.server, ab, ba)
			res := wait(t, done)
			if res.err != nil {
				t.Fatalf("Splice: side %d: %v", res.side, res.err)
			}
			if res.moved != [2]int64{int64(len(ab)), int64(len(ba))} || res.counted != res.moved {
				t.Errorf("moved %v, counted %v; want [%d %d] for both", res.moved, res.counted, len(ab), len(ba))
			}
			if got, want := r.p.a.Stats().SplicedBytes, uint64(len(ab)+len(ba)); got != want {
				t.Errorf("SplicedBytes %d, want %d", got, want)
			}
			r.front.Close()
			r.back.Close()
			waitQuiet(t, r.p.a, "proxy")
			waitQuiet(t, r.p.b, "client and server")
		})
	}
}

// TestSpliceBufferedBeforeStart: a request and its FIN that arrived before
// Splice go first, and the FIN follows them.
func TestSpliceBufferedBeforeStart(t *testing.T) {
	r := newSpliceRig(t, impairment{}, nil)
	req := []byte("GET / HTTP/1.0\r\n\r\n")
	if _, err := r.client.WriteClose(req); err != nil {
		t.Fatal(err)
	}
	for i := 0; r.front.bufferedForTest() < len(req) || !r.front.eofForTest(); i++ {
		if i == 1000 {
			t.Fatal("the request did not reach the proxy")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := r.start([2]time.Duration{})
	got, err := io.ReadAll(r.server)
	if err != nil || string(got) != string(req) {
		t.Fatalf("server read %q, %v; want %q and EOF", got, err, req)
	}
	if _, err := r.server.WriteClose([]byte("HTTP/1.0 200 OK\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if resp, err := io.ReadAll(r.client); err != nil || len(resp) != 19 {
		t.Fatalf("client read %q, %v", resp, err)
	}
	if res := wait(t, done); res.err != nil || res.moved != [2]int64{int64(len(req)), 19} {
		t.Fatalf("Splice: %+v", res)
	}
}

func TestSpliceEnds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		idle     [2]time.Duration
		act      func(r *spliceRig)
		side     int
		wantErr  error
		wantTime bool
	}{
		{"server resets", [2]time.Duration{}, func(r *spliceRig) {
			r.server.Write([]byte("hello"))
			r.server.abortForTest()
		}, 1, syscall.ECONNRESET, false},
		{"client resets", [2]time.Duration{}, func(r *spliceRig) { r.client.abortForTest() }, 0, syscall.ECONNRESET, false},
		{"client idle", [2]time.Duration{50 * time.Millisecond, time.Hour}, func(*spliceRig) {}, 0, os.ErrDeadlineExceeded, true},
		{"server idle", [2]time.Duration{time.Hour, 50 * time.Millisecond}, func(*spliceRig) {}, 1, os.ErrDeadlineExceeded, true},
		{"closed by the proxy", [2]time.Duration{}, func(r *spliceRig) {
			time.Sleep(10 * time.Millisecond)
			r.back.Close()
		}, 1, net.ErrClosed, false},
		// The client's direction is over, so only the server's
		// limit applies.
		{"server idle after the client's FIN", [2]time.Duration{30 * time.Millisecond, 300 * time.Millisecond}, func(r *spliceRig) {
			r.client.CloseWrite()
		}, 1, os.ErrDeadlineExceeded, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSpliceRig(t, impairment{}, nil)
			start := time.Now()
			done := r.start(tc.idle)
			tc.act(r)
			res := wait(t, done)
			if res.side != tc.side || !errors.Is(res.err, tc.wantErr) {
				t.Fatalf("Splice: side %d, %v; want side %d, %v", res.side, res.err, tc.side, tc.wantErr)
			}
			var ne net.Error
			if timeout := errors.As(res.err, &ne) && ne.Timeout(); timeout != tc.wantTime {
				t.Errorf("Timeout() = %v, want %v", timeout, tc.wantTime)
			}
			if tc.name == "server idle after the client's FIN" && time.Since(start) < 300*time.Millisecond {
				t.Errorf("ended after %v, before the server's idle limit", time.Since(start))
			}
		})
	}
}

func TestSpliceUnsupported(t *testing.T) {
	r := newSpliceRig(t, impairment{}, nil)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	for _, peer := range []net.Conn{a, r.front} {
		if _, _, err := r.front.Splice(peer, [2]time.Duration{}, nil); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Splice with %T: %v, want ErrUnsupported", peer, err)
		}
	}
	// The conns still work.
	checkExchange(t, r.client, r.front, []byte("ping"), []byte("pong"))
}

// bufferedForTest returns how many received bytes wait to be read.
func (c *Conn) bufferedForTest() int {
	c.e.lock()
	defer c.e.unlock()
	return c.t.rcv.n
}

// eofForTest reports whether the peer's FIN has arrived in order.
func (c *Conn) eofForTest() bool {
	c.e.lock()
	defer c.e.unlock()
	return c.t.rcvClosed
}

// abortForTest resets the connection, as SO_LINGER 0 and close do.
func (c *Conn) abortForTest() {
	c.e.lock()
	c.e.abortLocked(c.t, errReset, true)
	c.e.unlock()
}
