package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echoHandler writes back whatever its connections read and closes each
// after its peer's FIN, once everything is written. Bytes the send buffer
// does not take wait in pending until the handler hears that it can write.
type echoHandler struct {
	pending map[*Conn][]byte
	eof     map[*Conn]bool
	blocked atomic.Int64 // Writes that returned ErrWouldBlock
	mu      sync.Mutex
	errs    []error
}

func newEchoHandler() *echoHandler {
	return &echoHandler{pending: map[*Conn][]byte{}, eof: map[*Conn]bool{}}
}

func (h *echoHandler) Ready(c *Conn) {
	if !h.flush(c) {
		return
	}
	var buf [4096]byte
	for !h.eof[c] {
		n, err := c.Read(buf[:])
		if n > 0 {
			h.pending[c] = append(h.pending[c], buf[:n]...)
		}
		switch {
		case err == ErrWouldBlock:
			return
		case err == io.EOF:
			h.eof[c] = true
		case err != nil:
			h.fail(c, err)
			return
		}
		if !h.flush(c) {
			return
		}
	}
	delete(h.eof, c)
	c.Close()
}

// flush writes c's pending bytes and reports whether all went.
func (h *echoHandler) flush(c *Conn) bool {
	p := h.pending[c]
	if len(p) == 0 {
		return true
	}
	n, err := c.Write(p)
	if err == ErrWouldBlock {
		h.blocked.Add(1)
		h.pending[c] = p[n:]
		return false
	}
	delete(h.pending, c)
	if err != nil {
		h.fail(c, err)
		return false
	}
	return true
}

func (h *echoHandler) fail(c *Conn, err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
	delete(h.pending, c)
	delete(h.eof, c)
	c.Close()
}

func (h *echoHandler) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return errors.Join(h.errs...)
}

// TestServe runs echo connections through a served listener, from
// goroutine clients, and checks every byte: small messages, and large ones
// that fill the send buffer so that the handler must wait to write.
func TestServe(t *testing.T) {
	tests := []struct {
		name        string
		size, conns int
		mustBlock   bool
	}{
		{"one small", 100, 1, false},
		{"many small", 100, 32, false},
		{"large", 1 << 20, 4, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, l := newPairListening(t, impairment{}, nil)
			h := newEchoHandler()
			l.Serve(h)
			var wg sync.WaitGroup
			errs := make(chan error, tc.conns)
			for i := range tc.conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out := pattern(uint64(i), tc.size)
					c, err := p.b.Dial(context.Background(), netip.AddrPortFrom(p.addrA, 80))
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(20 * time.Second))
					in, err := duplex(c, out)
					switch {
					case err != nil:
						errs <- fmt.Errorf("conn %d: %v", i, err)
					case !bytes.Equal(in, out):
						errs <- fmt.Errorf("conn %d: echo of %d bytes came back as %d (equal prefix %d)", i, len(out), len(in), commonPrefix(in, out))
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if err := h.err(); err != nil {
				t.Errorf("handler: %v", err)
			}
			if b := h.blocked.Load(); tc.mustBlock && b == 0 {
				t.Errorf("no Write returned ErrWouldBlock: the large case did not test waiting for room")
			}
			if got := p.a.Stats().Accepted; got != uint64(tc.conns) {
				t.Errorf("accepted %d connections, want %d", got, tc.conns)
			}
		})
	}
}

// TestServeTakesQueued checks that connections accepted before Serve go
// to the handler too.
func TestServeTakesQueued(t *testing.T) {
	p, l := newPairListening(t, impairment{}, nil)
	c, err := p.b.Dial(context.Background(), netip.AddrPortFrom(p.addrA, 80))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); p.a.Stats().Accepted == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the connection was never accepted")
		}
		time.Sleep(time.Millisecond)
	}
	l.Serve(newEchoHandler())
	c.SetDeadline(time.Now().Add(10 * time.Second))
	in, err := duplex(c, []byte("queued"))
	if err != nil || string(in) != "queued" {
		t.Fatalf("echo = %q, %v; want %q", in, err, "queued")
	}
}

// TestDialHandler dials with a Handler that sends a request once the
// connection is up and reads the reply, and checks what it hears for a
// served port, a closed port and a SYN nobody answers.
func TestDialHandler(t *testing.T) {
	tests := []struct {
		name    string
		port    uint16
		imp     impairment
		timeout time.Duration
		wantErr error // nil: the echo comes back
	}{
		{"echo", 80, impairment{}, 0, nil},
		{"refused", 81, impairment{}, 0, syscall.ECONNREFUSED},
		{"unanswered", 80, impairment{loss: 1}, 100 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, l := newPairListening(t, tc.imp, nil)
			l.Serve(newEchoHandler())
			const req = "ping"
			result := make(chan error, 1)
			var got []byte
			sent := false
			client := HandlerFunc(func(c *Conn) {
				if !sent {
					if _, err := c.Write([]byte(req)); err != nil {
						if err == ErrWouldBlock { // still connecting
							return
						}
						c.Close()
						result <- err
						return
					}
					sent = true
					c.CloseWrite()
				}
				var buf [64]byte
				for {
					n, err := c.Read(buf[:])
					got = append(got, buf[:n]...)
					switch {
					case err == ErrWouldBlock:
						return
					case err == io.EOF:
						c.Close()
						result <- nil
						return
					case err != nil:
						c.Close()
						result <- err
						return
					}
				}
			})
			if _, err := p.b.DialHandler(netip.AddrPortFrom(p.addrA, tc.port), tc.timeout, client); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-result:
				if tc.wantErr == nil {
					if err != nil || string(got) != req {
						t.Fatalf("echo = %q, %v; want %q", got, err, req)
					}
					return
				}
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("handler heard %v, want an error matching %v", err, tc.wantErr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the handler heard nothing in 10 s")
			}
		})
	}
}

// tracker wraps a Handler and checks the Conn reuse contract: a Conn keeps
// its addresses from the handler's first call until the handler closes it,
// so a Conn handed out again while held shows up as new addresses.
type tracker struct {
	inner      Handler
	held       map[*Conn][2]netip.AddrPort
	seen       map[*Conn]bool
	conns      int
	violations atomic.Int64
}

func newTracker(inner Handler) *tracker {
	return &tracker{inner: inner, held: map[*Conn][2]netip.AddrPort{}, seen: map[*Conn]bool{}}
}

func (tr *tracker) Ready(c *Conn) {
	addrs := [2]netip.AddrPort{c.LocalAddrPort(), c.RemoteAddrPort()}
	if was, ok := tr.held[c]; !ok {
		tr.held[c] = addrs
		tr.seen[c] = true
		tr.conns++
	} else if was != addrs {
		tr.violations.Add(1)
	}
	tr.inner.Ready(c)
	if c.closed.Load() {
		delete(tr.held, c)
	}
}

// churnServer closes some connections at once, some after reading without
// answering, and echoes the rest, by the client's port.
func churnServer(echo *echoHandler) HandlerFunc {
	return func(c *Conn) {
		switch c.RemoteAddrPort().Port() % 4 {
		case 0:
			c.Close()
		case 1:
			var buf [64]byte
			if n, err := c.Read(buf[:]); n > 0 || err != ErrWouldBlock {
				c.Close() // with bytes unread, often: a RST
			}
		default:
			echo.Ready(c)
		}
	}
}

// churnClient dials total connections with DialHandler, inFlight at a
// time. By its count, a connection is closed as soon as it is dialled, as
// soon as it is up, or sends 1 KB, shuts down writing and reads to the end.
type churnClient struct {
	e          *Engine
	h          Handler // what DialHandler gets: a tracker around the client
	to         netip.AddrPort
	left, open int
	started    int
	outcomes   map[string]int
	done       chan struct{}
	sent       map[*Conn]bool
}

func (cl *churnClient) dial() {
	for cl.left > 0 && cl.open < 16 {
		cl.left--
		cl.started++
		c, err := cl.e.DialHandler(cl.to, 2*time.Second, cl.h)
		if err != nil {
			cl.outcomes["dial error"]++
			continue
		}
		cl.open++
		if cl.started%5 == 0 {
			cl.end(c, "closed while dialling")
		}
	}
	if cl.open == 0 && cl.left == 0 {
		close(cl.done)
	}
}

func (cl *churnClient) end(c *Conn, outcome string) {
	c.Close()
	delete(cl.sent, c)
	cl.open--
	cl.outcomes[outcome]++
}

func (cl *churnClient) Ready(c *Conn) {
	defer cl.dial()
	if !cl.sent[c] {
		if c.LocalAddrPort().Port()%7 == 0 {
			cl.end(c, "closed once up")
			return
		}
		if _, err := c.Write(make([]byte, 1024)); err != nil {
			cl.end(c, "write failed")
			return
		}
		c.CloseWrite()
		cl.sent[c] = true
	}
	var buf [2048]byte
	for {
		_, err := c.Read(buf[:])
		switch {
		case err == ErrWouldBlock:
			return
		case err == io.EOF:
			cl.end(c, "read to EOF")
			return
		case err != nil:
			cl.end(c, "read failed")
			return
		}
	}
}

// TestHandlerChurn runs 600 connections run to completion at both ends
// over a lossy, reordering link, with clients and servers that close early,
// reset and echo, so that Conns are reused while segments of their last
// connections are still about. Every dial must end, both engines must go
// quiet, and no Conn may be handed out while its handler holds it.
func TestHandlerChurn(t *testing.T) {
	p, l := newPairListening(t, impairment{loss: 0.02, reorder: 0.05}, nil)
	server := newTracker(churnServer(newEchoHandler()))
	l.Serve(server)
	cl := &churnClient{e: p.b, to: netip.AddrPortFrom(p.addrA, 80), left: 600,
		outcomes: map[string]int{}, done: make(chan struct{}), sent: map[*Conn]bool{}}
	client := newTracker(cl)
	cl.h = client
	// The first dials come from here, the later ones from the client's
	// handler on the worker: handlerMu keeps the two apart.
	p.b.handlerMu.Lock()
	cl.dial()
	p.b.handlerMu.Unlock()
	select {
	case <-cl.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("dials left open after 60 s: %d; outcomes so far %v", cl.open, cl.outcomes)
	}
	waitQuiet(t, p.a, "server")
	waitQuiet(t, p.b, "client")
	t.Logf("outcomes %v; server saw %d connections in %d Conns, client %d in %d",
		cl.outcomes, server.conns, len(server.seen), client.conns, len(client.seen))
	if v := server.violations.Load() + client.violations.Load(); v != 0 {
		t.Errorf("%d Conns handed out again while their handler held them", v)
	}
	if cl.outcomes["read to EOF"] == 0 {
		t.Errorf("no connection completed its echo: %v", cl.outcomes)
	}
	if len(server.seen) >= server.conns || len(client.seen) >= client.conns {
		t.Errorf("no Conn was reused (server %d Conns for %d connections, client %d for %d)",
			len(server.seen), server.conns, len(client.seen), client.conns)
	}
}
