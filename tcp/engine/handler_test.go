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
			p := newPair(t, impairment{}, nil)
			l, err := p.a.Listen(80)
			if err != nil {
				t.Fatal(err)
			}
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
	p := newPair(t, impairment{}, nil)
	l, err := p.a.Listen(80)
	if err != nil {
		t.Fatal(err)
	}
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
			p := newPair(t, tc.imp, nil)
			l, err := p.a.Listen(80)
			if err != nil {
				t.Fatal(err)
			}
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
