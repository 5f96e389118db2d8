package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// pattern returns n deterministic bytes for seed.
func pattern(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// duplex sends out on c while reading everything the peer sends until
// EOF, closes c's write side after out, and returns what it read.
func duplex(c net.Conn, out []byte) ([]byte, error) {
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(out)
		if err == nil {
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				err = cw.CloseWrite()
			}
		}
		errc <- err
	}()
	in, rerr := io.ReadAll(c)
	werr := <-errc
	return in, errors.Join(rerr, werr)
}

// exchangeBoth runs one connection from client (dialling) to server
// (listening, l) with out each way, checking both directions byte-exact.
func checkExchange(t testing.TB, client net.Conn, server net.Conn, ab, ba []byte) {
	t.Helper()
	var wg sync.WaitGroup
	var got1, got2 []byte
	var err1, err2 error
	wg.Add(2)
	go func() { defer wg.Done(); got1, err1 = duplex(client, ab) }()
	go func() { defer wg.Done(); got2, err2 = duplex(server, ba) }()
	wg.Wait()
	if err1 != nil || err2 != nil {
		t.Fatalf("client: %v; server: %v", err1, err2)
	}
	if !bytes.Equal(got1, ba) {
		t.Fatalf("client read %d bytes, want %d (equal prefix %d)", len(got1), len(ba), commonPrefix(got1, ba))
	}
	if !bytes.Equal(got2, ab) {
		t.Fatalf("server read %d bytes, want %d (equal prefix %d)", len(got2), len(ab), commonPrefix(got2, ab))
	}
	client.Close()
	server.Close()
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// waitQuiet waits (bounded) until every connection of e is gone or in
// TIME_WAIT, and fails otherwise.
func waitQuiet(t testing.TB, e *Engine, name string) {
	t.Helper()
	var m map[State]int
	for range 1500 { // up to 30 s: a FIN lost several times backs off
		m = e.states()
		busy := 0
		for s, n := range m {
			if s != StateTimeWait {
				busy += n
			}
		}
		if busy == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: connections left: %v", name, m)
}

var impairments = []struct {
	name string
	imp  impairment
}{
	{"lossless", impairment{}},
	{"lossy", impairment{loss: 0.05, reorder: 0.10, dup: 0.02}},
}

func TestTransfer(t *testing.T) {
	for _, tc := range impairments {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, tc.imp, nil)
			cc, sc := p.connect(t, 60*time.Second)
			if got, want := cc.LocalAddrPort(), sc.RemoteAddrPort(); got != want {
				t.Errorf("client local %v, server sees %v", got, want)
			}
			checkExchange(t, cc, sc, pattern(1, 1<<20), pattern(2, 1<<20))
			waitQuiet(t, p.a, "server")
			waitQuiet(t, p.b, "client")
			st := p.a.Stats()
			t.Logf("server stats: %+v", st)
			t.Logf("client stats: %+v", p.b.Stats())
		})
	}
}

func TestManyConns(t *testing.T) {
	for _, tc := range impairments {
		t.Run(tc.name, func(t *testing.T) {
			p, l := newPairListening(t, tc.imp, nil)
			const conns = 200
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						buf := make([]byte, 4096)
						for {
							n, err := c.Read(buf)
							if n > 0 {
								c.Write(buf[:n])
							}
							if err != nil {
								c.CloseWrite()
								return
							}
						}
					}()
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for i := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := p.b.Dial(ctx, netip.AddrPortFrom(p.addrA, 80))
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					msg := pattern(uint64(i), 100+i*37)
					got, err := duplex(c, msg)
					if err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(got, msg) {
						errs <- fmt.Errorf("conn %d: echo of %d bytes came back as %d", i, len(msg), len(got))
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			waitQuiet(t, p.a, "server")
			waitQuiet(t, p.b, "client")
		})
	}
}

// connect dials from engine b to a listener on a's port 80 within timeout
// and returns both ends.
func (p *pair) connect(t *testing.T, timeout time.Duration) (client, server *Conn) {
	t.Helper()
	l, err := p.a.Listen(80)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client, err = p.b.Dial(ctx, netip.AddrPortFrom(p.addrA, 80))
	if err != nil {
		t.Fatal(err)
	}
	if server, err = l.Accept(); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// TestIdleConnHoldsNoBuffers: a connection holds its buffers only while
// they hold bytes, so an idle keep-alive connection costs no 64 KiB
// buffers.
func TestIdleConnHoldsNoBuffers(t *testing.T) {
	p := newPair(t, impairment{}, nil)
	cc, sc := p.connect(t, 10*time.Second)
	held := func(c *Conn) (snd, rcv bool) {
		c.e.lock()
		defer c.e.unlock()
		return c.t.snd.buf != nil, c.t.rcv.buf != nil
	}
	if s, r := held(cc); s || r {
		t.Fatalf("a new connection holds buffers: send %v, receive %v", s, r)
	}
	var buf [64]byte
	for round := range 3 {
		if _, err := cc.Write([]byte("request")); err != nil {
			t.Fatal(err)
		}
		if n, err := sc.Read(buf[:]); err != nil || string(buf[:n]) != "request" {
			t.Fatalf("round %d: server read %q, %v", round, buf[:n], err)
		}
		if _, err := sc.Write([]byte("response")); err != nil {
			t.Fatal(err)
		}
		if n, err := cc.Read(buf[:]); err != nil || string(buf[:n]) != "response" {
			t.Fatalf("round %d: client read %q, %v", round, buf[:n], err)
		}
	}
	// The last ACKs may be a tick away (delayed ACKs).
	for i, c := range []*Conn{cc, sc} {
		for try := 0; ; try++ {
			s, r := held(c)
			if !s && !r {
				break
			}
			if try == 200 {
				t.Fatalf("conn %d still holds buffers when idle: send %v, receive %v", i, s, r)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	cc.Close()
	sc.Close()
}

// TestDialEndsWithItsLimit dials a peer that drops every frame, so that
// only the context or DialTimeout's limit can end the dial, and checks
// that it ends with their error, well before the first SYN
// retransmission, and leaves no connection behind.
func TestDialEndsWithItsLimit(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		timeout time.Duration
		want    error
	}{
		{"context deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, 0, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, 0, context.Canceled},
		{"DialTimeout", func() (context.Context, context.CancelFunc) {
			return context.Background(), func() {}
		}, 50 * time.Millisecond, context.DeadlineExceeded},
		{"DialTimeout, cancellable context", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, 50 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, impairment{loss: 1}, nil)
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			c, err := p.b.DialTimeout(ctx, netip.AddrPortFrom(p.addrA, 80), tt.timeout)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Dial = %v, %v; want error %v", c, err, tt.want)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("Dial took %v to end", d)
			}
			if n := len(p.b.states()); n != 0 {
				t.Errorf("engine holds %d connections after the dial ended: %v", n, p.b.states())
			}
		})
	}
}
