package tcp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// connPair dials from B to A over a one-core pair and returns both ends.
func connPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ctx := testContext(t)
	p := newPair(t, MixSteering{N: 1}, MixSteering{N: 1})
	l, err := p.a.Core(0).Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 80))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Errorf("Accept: %v", err)
		}
		accepted <- c
	}()
	client, err = p.b.Core(0).Dial(ctx, netip.AddrPortFrom(ipA, 80))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	select {
	case server = <-accepted:
	case <-ctx.Done():
		t.Fatal("no connection accepted")
	}
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

func TestConnAddresses(t *testing.T) {
	client, server := connPair(t)
	if got, want := client.RemoteAddr().String(), netip.AddrPortFrom(ipA, 80).String(); got != want {
		t.Errorf("client RemoteAddr = %q, want %q", got, want)
	}
	if got, want := server.RemoteAddr().String(), client.LocalAddr().String(); got != want {
		t.Errorf("server RemoteAddr = %q, want client's LocalAddr %q", got, want)
	}
	if got := client.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != ipB {
		t.Errorf("client LocalAddr address = %v, want %v", got, ipB)
	}
}

// TestConnDeadlines checks the net.Conn deadline contract: a deadline in
// the past fails at once, one in the future unblocks a waiting Read, a
// later one or the zero time lets it carry on.
func TestConnDeadlines(t *testing.T) {
	client, server := connPair(t)
	buf := make([]byte, 10)

	tests := []struct {
		name string
		set  func()
	}{
		{"past", func() { client.SetReadDeadline(time.Now().Add(-time.Second)) }},
		{"soon", func() { client.SetReadDeadline(time.Now().Add(20 * time.Millisecond)) }},
		{"both soon", func() { client.SetDeadline(time.Now().Add(20 * time.Millisecond)) }},
		{"moved earlier", func() {
			client.SetReadDeadline(time.Now().Add(time.Hour))
			client.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.set()
			_, err := client.Read(buf)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read = %v, want os.ErrDeadlineExceeded", err)
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("Read error %v is not a net.Error timeout", err)
			}
		})
	}

	t.Run("cleared", func(t *testing.T) {
		client.SetReadDeadline(time.Now().Add(-time.Second))
		client.SetReadDeadline(time.Time{})
		go server.Write([]byte("hello"))
		n, err := client.Read(buf)
		if err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("Read = %d, %v (%q), want hello", n, err, buf[:n])
		}
	})
	t.Run("extended while blocked", func(t *testing.T) {
		client.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		client.SetReadDeadline(time.Now().Add(time.Hour))
		go func() {
			time.Sleep(30 * time.Millisecond)
			server.Write([]byte("later"))
		}()
		n, err := client.Read(buf)
		if err != nil || string(buf[:n]) != "later" {
			t.Fatalf("Read = %d, %v (%q), want later", n, err, buf[:n])
		}
	})
	t.Run("write past", func(t *testing.T) {
		client.SetWriteDeadline(time.Now().Add(-time.Second))
		if _, err := client.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write = %v, want os.ErrDeadlineExceeded", err)
		}
		client.SetWriteDeadline(time.Time{})
	})
}

// TestConnCloseUnblocks checks that Close wakes a blocked Read, which then
// reports net.ErrClosed, and that a second Close says so too.
func TestConnCloseUnblocks(t *testing.T) {
	client, _ := connPair(t)
	done := make(chan error, 1)
	go func() {
		_, err := client.Read(make([]byte, 10))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := client.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close = %v, want net.ErrClosed", err)
		}
	case <-testContext(t).Done():
		t.Fatal("Read still blocked after Close")
	}
	if err := client.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
}

// TestConnHalfClose checks CloseWrite: the peer reads EOF and can still
// answer.
func TestConnHalfClose(t *testing.T) {
	client, server := connPair(t)
	if _, err := client.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := client.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "request" {
		t.Fatalf("server ReadAll = %q, %v, want request", got, err)
	}
	big := bytes.Repeat([]byte("r"), 1<<20) // more than the send buffer: Write waits
	go func() {
		server.Write(big)
		server.Close()
	}()
	got, err = io.ReadAll(client)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("client ReadAll = %d bytes, %v, want %d", len(got), err, len(big))
	}
}

// TestListenerCloseUnblocks checks that Close wakes a blocked Accept.
func TestListenerCloseUnblocks(t *testing.T) {
	p := newPair(t, MixSteering{N: 1}, MixSteering{N: 1})
	l, err := p.a.Core(0).Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 81))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-testContext(t).Done():
		t.Fatal("Accept still blocked after Close")
	}
}

// TestConnReadWriteAllocs checks that a Read of data already received and
// a Write that fits the send buffer allocate nothing of their own.
func TestConnReadWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts do not hold under the race detector (sync.Pool drops items)")
	}
	client, server := connPair(t)
	msg := []byte("0123456789")
	buf := make([]byte, len(msg))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(server, buf); err != nil {
			t.Fatal(err)
		}
	})
	// gVisor itself allocates per segment sent (packet buffers, views);
	// this bounds what the conn adds on top of that.
	t.Logf("%.1f allocations per write+read of %d bytes", allocs, len(msg))
	if allocs > 4 {
		t.Errorf("%.1f allocations per write+read, want at most 4", allocs)
	}
}
