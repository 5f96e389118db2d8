package virtio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/virtio"
	"github.com/bareproxy/bareproxy/virtio/devmodel"
	"github.com/bareproxy/bareproxy/virtio/nethdr"
)

// seqFrame writes a frame of n bytes whose first 8 bytes are seq and the rest
// a pattern derived from it.
func seqFrame(b []byte, seq uint64, n int) []byte {
	b = b[:n]
	binary.LittleEndian.PutUint64(b, seq)
	for i := 8; i < n; i++ {
		b[i] = byte(seq) + byte(i)
	}
	return b
}

func checkSeqFrame(t *testing.T, got []byte, seq uint64, n int) {
	t.Helper()
	want := seqFrame(make([]byte, n), seq, n)
	if !bytes.Equal(got, want) {
		t.Fatalf("frame %d: got %d bytes %x..., want %d bytes %x...", seq, len(got), got[:min(16, len(got))], n, want[:16])
	}
}

// TestWraparound pushes many times the ring size through small rings in
// both directions, with varying batch sizes, so every index wraps the ring
// many times and the 16-bit idx wraps too.
func TestWraparound(t *testing.T) {
	for _, eventIdx := range []bool{true, false} {
		name := "event_idx"
		f := devmodel.DefaultFeatures
		if !eventIdx {
			name, f = "no_event_idx", f&^virtio.RingEventIdx
		}
		t.Run(name, func(t *testing.T) {
			const total = 70000 // > 65536: the idx fields wrap
			m, d := newDevice(t, devmodel.Config{Features: f, MaxQueueSize: 16}, virtio.Config{QueueSize: 16})
			q := d.Pairs()[0]
			bufs, sizes := batch(7)
			frames := make([][]byte, 11)
			for i := range frames {
				frames[i] = make([]byte, percpu.MaxFrame)
			}
			var txSeq uint64
			m.OnTransmit(func(_ int, fr []byte) {
				checkSeqFrame(t, fr, txSeq, 60+int(txSeq%1400))
				txSeq++
			})
			var in, out uint64
			for out < total {
				// RX: deliver up to 13, receive in batches of 7.
				k := 0
				for ; k < 13 && in < total; k++ {
					if !m.DeliverTo(0, devmodel.Hdr{}, seqFrame(frames[0], in, 60+int(in%1400))) {
						break
					}
					in++
				}
				for out < in {
					n, err := q.Receive(bufs, sizes)
					if err != nil {
						t.Fatal(err)
					}
					for i := range n {
						checkSeqFrame(t, bufs[i][:sizes[i]], out, 60+int(out%1400))
						out++
					}
				}
			}
			var txed uint64
			for txed < total {
				n := min(uint64(len(frames)), total-txed)
				batch := frames[:n]
				for i := range batch {
					s := txed + uint64(i)
					batch[i] = seqFrame(batch[i][:cap(batch[i])], s, 60+int(s%1400))
				}
				sent, err := q.Transmit(batch)
				if err != nil || sent != int(n) {
					t.Fatalf("Transmit = %d, %v, want %d", sent, err, n)
				}
				txed += n
			}
			if txSeq != total {
				t.Errorf("device got %d TX frames, want %d", txSeq, total)
			}
			c := q.Counters().Snapshot()
			if c.RxFrames != total || c.TxFrames != total || c.RxMalformed+c.RxDrops+c.TxDrops+c.TxMalformed != 0 {
				t.Errorf("counters %+v", c)
			}
			if got := m.Stats().BadChains.Load(); got != 0 {
				t.Errorf("device rejected %d chains", got)
			}
		})
	}
}

// TestNotificationSuppression checks both directions of VIRTIO_F_EVENT_IDX:
// the driver notifies only when its new avail entries cross avail_event, and
// the device interrupts only when used entries cross used_event.
func TestNotificationSuppression(t *testing.T) {
	frames := [][]byte{make([]byte, 64), make([]byte, 64), make([]byte, 64)}
	t.Run("tx event_idx", func(t *testing.T) {
		m, d := newDevice(t, devmodel.Config{}, virtio.Config{})
		q := d.Pairs()[0]
		txvq := 1
		steps := []struct {
			process bool // device drains TX before this step's Transmit
			want    uint64
		}{
			{false, 1}, // avail_event 0: the first batch crosses it
			{false, 1}, // device busy (has not caught up): no notify
			{false, 1},
			{true, 2}, // device drained and asked again
			{false, 2},
			{true, 3},
		}
		for i, s := range steps {
			if s.process {
				m.ProcessTX(0, func(int, []byte) {})
			}
			if n, _ := q.Transmit(frames); n != len(frames) {
				t.Fatalf("step %d: sent %d", i, n)
			}
			if got := m.Notifies(txvq); got != s.want {
				t.Fatalf("step %d: %d notifications, want %d", i, got, s.want)
			}
		}
	})
	t.Run("tx no event_idx", func(t *testing.T) {
		m, d := newDevice(t, devmodel.Config{Features: devmodel.DefaultFeatures &^ virtio.RingEventIdx}, virtio.Config{})
		q := d.Pairs()[0]
		for i := range 3 {
			q.Transmit(frames)
			if got := m.Notifies(1); got != uint64(i+1) {
				t.Fatalf("batch %d: %d notifications, want %d", i, got, i+1)
			}
		}
	})
	t.Run("rx refill", func(t *testing.T) {
		m, d := newDevice(t, devmodel.Config{MaxQueueSize: 8}, virtio.Config{QueueSize: 8})
		q := d.Pairs()[0]
		bufs, sizes := batch(8)
		start := m.Notifies(0) // the one kick at DRIVER_OK
		for range 100 {
			m.DeliverTo(0, devmodel.Hdr{}, frames[0])
			q.Receive(bufs, sizes)
		}
		if got := m.Notifies(0) - start; got != 0 {
			t.Errorf("%d refill notifications while the device had buffers, want 0", got)
		}
		// Exhaust the ring: the device asks to be told of new buffers.
		for range 8 {
			m.DeliverTo(0, devmodel.Hdr{}, frames[0])
		}
		if m.DeliverTo(0, devmodel.Hdr{}, frames[0]) {
			t.Fatal("delivered into a full ring")
		}
		q.Receive(bufs, sizes)
		if got := m.Notifies(0) - start; got != 1 {
			t.Errorf("%d refill notifications after the ring ran dry, want 1", got)
		}
	})
	t.Run("rx interrupts suppressed while polling", func(t *testing.T) {
		for _, f := range []virtio.Features{devmodel.DefaultFeatures, devmodel.DefaultFeatures &^ virtio.RingEventIdx} {
			m, d := newDevice(t, devmodel.Config{Features: f}, virtio.Config{})
			q := d.Pairs()[0]
			bufs, sizes := batch(16)
			for range 5000 {
				m.DeliverTo(0, devmodel.Hdr{}, frames[0])
				q.Receive(bufs, sizes)
			}
			if got := m.Interrupts(0) + m.Interrupts(1); got != 0 {
				t.Errorf("features %q: %d interrupts in polling mode, want 0", f, got)
			}
		}
	})
}

// TestInterruptMode blocks Receive until the model's interrupt line wakes it.
func TestInterruptMode(t *testing.T) {
	for _, f := range []virtio.Features{devmodel.DefaultFeatures, devmodel.DefaultFeatures &^ virtio.RingEventIdx} {
		m, d := newDevice(t, devmodel.Config{Features: f}, virtio.Config{Mode: virtio.Interrupts})
		m.OnInterrupt(d.HandleInterrupt)
		q := d.Pairs()[0]
		bufs, sizes := batch(4)
		frame := make([]byte, 100)
		for i := range 200 {
			done := make(chan int)
			sleeps := q.Counters().RxSleeps.Load()
			go func() {
				n, _ := q.Receive(bufs, sizes)
				done <- n
			}()
			if i%2 == 0 { // half the time, deliver only once Receive sleeps
				for q.Counters().RxSleeps.Load() == sleeps {
					runtime.Gosched()
				}
			}
			m.DeliverTo(0, devmodel.Hdr{}, frame)
			if n := <-done; n != 1 {
				t.Fatalf("features %q round %d: Receive = %d, want 1", f, i, n)
			}
		}
		if got := m.Interrupts(0); got < 100 || got > 200 {
			t.Errorf("features %q: %d RX interrupts for 200 wake-ups", f, got)
		}
		// A blocked Receive follows a switch to polling.
		done := make(chan int)
		go func() {
			n, _ := q.Receive(bufs, sizes)
			done <- n
		}()
		q.SetMode(virtio.Polling)
		m.OnInterrupt(nil)
		m.DeliverTo(0, devmodel.Hdr{}, frame)
		if n := <-done; n != 1 {
			t.Fatalf("after SetMode(Polling): Receive = %d", n)
		}
		// Close unblocks a waiting Receive.
		q.SetMode(virtio.Interrupts)
		errc := make(chan error)
		go func() {
			_, err := q.Receive(bufs, sizes)
			errc <- err
		}()
		d.Close()
		if err := <-errc; !errors.Is(err, percpu.ErrClosed) {
			t.Fatalf("Receive after Close: %v, want ErrClosed", err)
		}
		if _, err := q.Transmit([][]byte{frame}); !errors.Is(err, percpu.ErrClosed) {
			t.Fatalf("Transmit after Close: %v, want ErrClosed", err)
		}
	}
}

// TestMalformedUsed has the device return used entries it should not: every
// one is counted and skipped, and the queue keeps working.
func TestMalformedUsed(t *testing.T) {
	m, d := newDevice(t, devmodel.Config{MaxQueueSize: 16}, virtio.Config{QueueSize: 16})
	q := d.Pairs()[0]
	bufs, sizes := batch(16)
	frame := make([]byte, 80)

	m.InjectUsed(0, 9999, 100)  // id out of range
	m.InjectUsed(0, 1<<31, 100) // id far out of range
	m.CorruptNextRX(0, 1<<20)   // length beyond the buffer
	m.CorruptNextRX(0, 5)       // length under virtio_net_hdr
	m.DeliverTo(0, devmodel.Hdr{}, frame)
	n, err := q.Receive(bufs, sizes)
	if err != nil || n != 1 || sizes[0] != len(frame) {
		t.Fatalf("Receive = %d, %v (size %d), want the one good frame", n, err, sizes[0])
	}
	if got := q.Counters().RxMalformed.Load(); got != 4 {
		t.Errorf("RxMalformed = %d, want 4", got)
	}

	m.InjectUsed(1, 4242, 0) // TX: id out of range
	m.InjectUsed(1, 3, 0)    // TX: id not in flight
	if n, _ := q.Transmit([][]byte{frame}); n != 1 {
		t.Fatalf("Transmit = %d", n)
	}
	if got := q.Counters().TxMalformed.Load(); got != 2 {
		t.Errorf("TxMalformed = %d, want 2", got)
	}
	// The rings still run: many frames through both. The device was
	// notified of the first frame while it had no sink; it catches up now.
	m.OnTransmit(func(int, []byte) {})
	m.ProcessTX(0, func(int, []byte) {})
	for i := range 1000 {
		m.DeliverTo(0, devmodel.Hdr{}, frame)
		if n, err := q.Receive(bufs, sizes); n != 1 || err != nil {
			t.Fatalf("round %d: Receive = %d, %v", i, n, err)
		}
		if n, _ := q.Transmit([][]byte{frame}); n != 1 {
			t.Fatalf("round %d: Transmit = %d", i, n)
		}
	}
}

// TestTransmitDrops covers frames the queue cannot send.
func TestTransmitDrops(t *testing.T) {
	m, d := newDevice(t, devmodel.Config{MaxQueueSize: 16}, virtio.Config{QueueSize: 16})
	q := d.Pairs()[0]
	ok := make([]byte, 60)
	frames := [][]byte{ok, {}, make([]byte, percpu.MaxFrame+1), ok}
	if n, _ := q.Transmit(frames); n != 2 {
		t.Errorf("Transmit = %d, want 2 (empty and oversized skipped)", n)
	}
	// The device takes nothing: the ring fills.
	many := make([][]byte, 20)
	for i := range many {
		many[i] = ok
	}
	if n, _ := q.Transmit(many); n != 14 {
		t.Errorf("Transmit into a ring with 14 free = %d", n)
	}
	if got := q.Counters().TxDrops.Load(); got != 2+6 {
		t.Errorf("TxDrops = %d, want 8", got)
	}
	if got := m.PendingTX(0); got != 16 {
		t.Errorf("device has %d pending, want 16", got)
	}
	var got int
	m.ProcessTX(0, func(int, []byte) { got++ })
	if n, _ := q.Transmit(many[:5]); n != 5 || got != 16 {
		t.Errorf("after the device drained 16: Transmit = %d", n)
	}
}

// TestTransmitConcurrent sends from several goroutines at once.
func TestTransmitConcurrent(t *testing.T) {
	m, d := newDevice(t, devmodel.Config{}, virtio.Config{})
	q := d.Pairs()[0]
	var got atomic.Uint64
	m.OnTransmit(func(_ int, f []byte) {
		if len(f) != 100 || f[0] != f[99] {
			t.Errorf("corrupt frame")
		}
		got.Add(1)
	})
	const senders, per = 4, 2000
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			f := bytes.Repeat([]byte{byte(s)}, 100)
			for range per {
				if n, err := q.Transmit([][]byte{f, f}); n != 2 || err != nil {
					t.Errorf("Transmit = %d, %v", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got.Load() != senders*per*2 {
		t.Errorf("device got %d frames, want %d", got.Load(), senders*per*2)
	}
}

// TestChecksum covers NEEDS_CSUM completion and DATA_VALID.
func TestChecksum(t *testing.T) {
	m, d := newDevice(t, devmodel.Config{}, virtio.Config{})
	q := d.Pairs()[0]
	bufs, sizes := batch(1)
	for _, payload := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("abc"), 333)} {
		f := flow(0x0a000002c0a8000113885000 >> 32)
		want := tcpFrame(f, payload)
		partial := bytes.Clone(want)
		// What a host stack hands over with CHECKSUM_PARTIAL: the
		// pseudo-header sum where the checksum goes.
		binary.BigEndian.PutUint16(partial[34+16:], pseudo(f, 6, len(partial)-34))
		m.DeliverTo(0, devmodel.Hdr{Flags: nethdr.NeedsCsum, CsumStart: 34, CsumOffset: 16}, partial)
		if n, _ := q.Receive(bufs, sizes); n != 1 || !bytes.Equal(bufs[0][:sizes[0]], want) {
			t.Errorf("payload %d bytes: completed frame differs from the checksummed one", len(payload))
		}
	}
	m.DeliverTo(0, devmodel.Hdr{Flags: nethdr.DataValid}, make([]byte, 60))
	m.DeliverTo(0, devmodel.Hdr{Flags: nethdr.NeedsCsum, CsumStart: 50, CsumOffset: 16}, make([]byte, 60))
	bufs, sizes = batch(2)
	if n, _ := q.Receive(bufs, sizes); n != 1 {
		t.Errorf("Receive = %d, want 1 (bad csum offsets dropped)", n)
	}
	c := q.Counters().Snapshot()
	if c.RxCsumCompleted != 3 || c.RxCsumValid != 1 || c.RxDrops != 1 {
		t.Errorf("counters: completed %d valid %d drops %d, want 3 1 1", c.RxCsumCompleted, c.RxCsumValid, c.RxDrops)
	}
}

// TestVnetHdr checks Config.VnetHdr both ways. Receive hands each frame
// over behind a virtio_net_hdr whose only flag is DATA_VALID, for frames
// the device validated and for NEEDS_CSUM frames it completed. Transmit
// passes a NEEDS_CSUM header on to a device with VIRTIO_NET_F_CSUM,
// finishes the checksum itself for one without, and drops frames that ask
// for segmentation.
func TestVnetHdr(t *testing.T) {
	f := flow(0x0a000002c0a8000113885000 >> 32)
	want := tcpFrame(f, bytes.Repeat([]byte("abc"), 333))
	partial := bytes.Clone(want)
	binary.BigEndian.PutUint16(partial[34+16:], pseudo(f, 6, len(partial)-34))
	needsCsum := nethdr.Hdr{Flags: nethdr.NeedsCsum, CsumStart: 34, CsumOffset: 16}

	t.Run("receive", func(t *testing.T) {
		tests := []struct {
			name      string
			hdr       nethdr.Hdr
			frame     []byte
			wantFlags uint8
		}{
			{"partial", needsCsum, partial, nethdr.DataValid},
			{"valid", nethdr.Hdr{Flags: nethdr.DataValid}, want, nethdr.DataValid},
			{"plain", nethdr.Hdr{}, want, 0},
		}
		m, d := newDevice(t, devmodel.Config{}, virtio.Config{VnetHdr: true})
		q := d.Pairs()[0]
		bufs := [][]byte{make([]byte, nethdr.Size+percpu.MaxFrame)}
		sizes := make([]int, 1)
		for _, tc := range tests {
			m.DeliverTo(0, tc.hdr, tc.frame)
			n, err := q.Receive(bufs, sizes)
			if n != 1 || err != nil {
				t.Fatalf("%s: Receive = %d, %v", tc.name, n, err)
			}
			got := bufs[0][:sizes[0]]
			if h := nethdr.Parse(got); h != (nethdr.Hdr{Flags: tc.wantFlags}) {
				t.Errorf("%s: header %+v, want flags %d alone", tc.name, h, tc.wantFlags)
			}
			if !bytes.Equal(got[nethdr.Size:], want) {
				t.Errorf("%s: the frame behind the header differs from the checksummed one", tc.name)
			}
		}
	})

	t.Run("transmit", func(t *testing.T) {
		tso := needsCsum
		tso.GSOType, tso.GSOSize = nethdr.GSOTCPv4, 100
		tests := []struct {
			name      string
			refuse    virtio.Features
			hdr       nethdr.Hdr
			wantSent  bool
			wantFlags uint8
			wantFrame []byte
		}{
			{"device finishes", 0, needsCsum, true, nethdr.NeedsCsum, partial},
			{"driver finishes", virtio.NetCsum, needsCsum, true, 0, want},
			{"complete already", 0, nethdr.Hdr{}, true, 0, want},
			{"device segments", 0, tso, true, nethdr.NeedsCsum, partial},
			{"no segmentation offload", virtio.NetHostTSO4, tso, false, 0, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				m, d := newDevice(t, devmodel.Config{}, virtio.Config{VnetHdr: true, Refuse: tc.refuse})
				q := d.Pairs()[0]
				frame := make([]byte, nethdr.Size, nethdr.Size+len(partial))
				tc.hdr.Put(frame)
				if tc.hdr.Flags&nethdr.NeedsCsum != 0 {
					frame = append(frame, partial...)
				} else {
					frame = append(frame, want...)
				}
				sent, _ := q.Transmit([][]byte{frame})
				var gotHdr nethdr.Hdr
				var got []byte
				m.ProcessTXHdr(0, func(_ int, h nethdr.Hdr, f []byte) { gotHdr, got = h, bytes.Clone(f) })
				if sent == 1 != tc.wantSent {
					t.Fatalf("Transmit sent %d, want sent %v", sent, tc.wantSent)
				}
				if !tc.wantSent {
					if drops := q.Counters().Snapshot().TxDrops; drops != 1 {
						t.Errorf("TxDrops = %d, want 1", drops)
					}
					return
				}
				if gotHdr.Flags != tc.wantFlags || gotHdr.GSOType != tc.hdr.GSOType || gotHdr.GSOSize != tc.hdr.GSOSize {
					t.Errorf("device saw header %+v, want flags %d and GSO %d/%d", gotHdr, tc.wantFlags, tc.hdr.GSOType, tc.hdr.GSOSize)
				}
				if !bytes.Equal(got, tc.wantFrame) {
					t.Errorf("device saw a frame of %d bytes that differs from the one expected", len(got))
				}
			})
		}
	})
}

// TestTSO sends TCPv4 GSO frames larger than a TX buffer to a device with
// HOST_TSO4, more of them in one Transmit than there are large buffers, so
// that Transmit reuses each large buffer once the device has returned it.
// Every frame must reach the device whole, with its GSO header. Without
// Config.VnetHdr, HOST_TSO4 is not negotiated.
func TestTSO(t *testing.T) {
	if _, d := newDevice(t, devmodel.Config{}, virtio.Config{}); d.TSO() {
		t.Error("HOST_TSO4 negotiated without VnetHdr")
	}
	m, d := newDevice(t, devmodel.Config{}, virtio.Config{VnetHdr: true})
	if !d.TSO() {
		t.Fatalf("HOST_TSO4 not negotiated; features %s", d.Features())
	}
	q := d.Pairs()[0]
	var got [][]byte
	var hdrs []nethdr.Hdr
	// The device takes each frame when Transmit kicks it, as it would
	// when its queue is being served.
	m.OnTransmitHdr(func(_ int, h nethdr.Hdr, f []byte) {
		hdrs, got = append(hdrs, h), append(got, bytes.Clone(f))
	})
	f := flow(0x0a000002c0a8000113885000 >> 32)
	const frames = 40
	batch := make([][]byte, frames)
	for i := range batch {
		frame := tcpFrame(f, bytes.Repeat([]byte{byte(i)}, 8000+i))
		h := nethdr.Hdr{Flags: nethdr.NeedsCsum, CsumStart: 34, CsumOffset: 16,
			GSOType: nethdr.GSOTCPv4, GSOSize: 1448, HdrLen: 54}
		b := make([]byte, nethdr.Size, nethdr.Size+len(frame))
		h.Put(b)
		batch[i] = append(b, frame...)
	}
	for i := range batch { // one at a time first: each kick hands one over
		if n, err := q.Transmit(batch[i : i+1]); n != 1 || err != nil {
			t.Fatalf("Transmit of frame %d = %d, %v", i, n, err)
		}
	}
	if n, err := q.Transmit(batch); n != frames || err != nil {
		t.Fatalf("Transmit of %d frames at once = %d, %v", frames, n, err)
	}
	if len(got) != 2*frames {
		t.Fatalf("device took %d frames, want %d", len(got), 2*frames)
	}
	for i, g := range got {
		want := batch[i%frames]
		if !bytes.Equal(g, want[nethdr.Size:]) || hdrs[i] != nethdr.Parse(want) {
			t.Fatalf("frame %d: %d bytes with header %+v, want %d bytes with %+v", i, len(g), hdrs[i], len(want)-nethdr.Size, nethdr.Parse(want))
		}
	}
	if c := q.Counters().Snapshot(); c.TxDrops != 0 {
		t.Errorf("TxDrops = %d, want 0", c.TxDrops)
	}
}

// TestGuestTSO checks that with Config.GuestTSO the driver takes a 30 KB
// TCPv4 segment (the host's GRO) whole, its checksum completed, in an RX
// ring of 64, and that GUEST_TSO4 is negotiated only with GuestTSO,
// VnetHdr and GUEST_CSUM.
func TestGuestTSO(t *testing.T) {
	tests := []struct {
		name string
		cfg  virtio.Config
		want bool
	}{
		{"GuestTSO", virtio.Config{VnetHdr: true, GuestTSO: true}, true},
		{"VnetHdr alone", virtio.Config{VnetHdr: true}, false},
		{"GuestTSO without VnetHdr", virtio.Config{GuestTSO: true}, false},
		{"no GUEST_CSUM", virtio.Config{VnetHdr: true, GuestTSO: true, Refuse: virtio.NetGuestCsum}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, d := newDevice(t, devmodel.Config{}, tc.cfg)
			if d.GuestTSO() != tc.want {
				t.Errorf("GuestTSO() = %v, want %v (features %s)", d.GuestTSO(), tc.want, d.Features())
			}
		})
	}

	m, d := newDevice(t, devmodel.Config{}, virtio.Config{VnetHdr: true, GuestTSO: true})
	q := d.Pairs()[0]
	f := flow(0x0a000002c0a8000113885000 >> 32)
	want := tcpFrame(f, bytes.Repeat([]byte("gro"), 10000))
	partial := bytes.Clone(want)
	binary.BigEndian.PutUint16(partial[34+16:], pseudo(f, 6, len(partial)-34))
	h := nethdr.Hdr{Flags: nethdr.NeedsCsum, CsumStart: 34, CsumOffset: 16, GSOType: nethdr.GSOTCPv4, GSOSize: 1448, HdrLen: 54}
	if !m.DeliverTo(0, h, partial) {
		t.Fatal("the device found no RX buffer for a 30 KB segment")
	}
	bufs := [][]byte{make([]byte, nethdr.Size+14+65535)}
	sizes := make([]int, 1)
	if n, err := q.Receive(bufs, sizes); n != 1 || err != nil {
		t.Fatalf("Receive = %d, %v", n, err)
	}
	got := bufs[0][:sizes[0]]
	if nethdr.Parse(got).Flags != nethdr.DataValid || !bytes.Equal(got[nethdr.Size:], want) {
		t.Errorf("got %d bytes with header %+v, want the %d-byte segment completed and DATA_VALID", len(got)-nethdr.Size, nethdr.Parse(got), len(want))
	}
	// 64 KiB buffers make rings of at most 64, not DefaultQueueSize.
	posted := 0
	for m.DeliverTo(0, nethdr.Hdr{}, want) {
		posted++
	}
	if posted != 64 {
		t.Errorf("the RX ring took %d frames before it was full, want 64", posted)
	}
}

// TestPartialTCP checks Config.PartialTCP: a TCP frame the host left
// partial is passed on as it is, behind NEEDS_CSUM and its offsets, and a
// UDP one is still completed and marked DATA_VALID.
func TestPartialTCP(t *testing.T) {
	f := flow(0x0a000002c0a8000113885000 >> 32)
	tcpWant := tcpFrame(f, bytes.Repeat([]byte("tcp"), 300))
	tcpPartial := bytes.Clone(tcpWant)
	binary.BigEndian.PutUint16(tcpPartial[34+16:], pseudo(f, 6, len(tcpPartial)-34))
	udpWant := udpFrame(f, bytes.Repeat([]byte("udp"), 300))
	binary.BigEndian.PutUint16(udpWant[34+6:], ^sum(udpWant[34:], pseudo(f, 17, len(udpWant)-34)))
	udpPartial := bytes.Clone(udpWant)
	binary.BigEndian.PutUint16(udpPartial[34+6:], pseudo(f, 17, len(udpPartial)-34))

	tests := []struct {
		name      string
		in        []byte
		hdr       nethdr.Hdr
		wantHdr   nethdr.Hdr
		wantFrame []byte
	}{
		{"tcp", tcpPartial, nethdr.Hdr{Flags: nethdr.NeedsCsum, CsumStart: 34, CsumOffset: 16},
			nethdr.Hdr{Flags: nethdr.NeedsCsum, CsumStart: 34, CsumOffset: 16}, tcpPartial},
		{"udp", udpPartial, nethdr.Hdr{Flags: nethdr.NeedsCsum, CsumStart: 34, CsumOffset: 6},
			nethdr.Hdr{Flags: nethdr.DataValid}, udpWant},
	}
	m, d := newDevice(t, devmodel.Config{}, virtio.Config{VnetHdr: true, PartialTCP: true})
	q := d.Pairs()[0]
	bufs := [][]byte{make([]byte, nethdr.Size+percpu.MaxFrame)}
	sizes := make([]int, 1)
	for _, tc := range tests {
		m.DeliverTo(0, tc.hdr, tc.in)
		if n, err := q.Receive(bufs, sizes); n != 1 || err != nil {
			t.Fatalf("%s: Receive = %d, %v", tc.name, n, err)
		}
		got := bufs[0][:sizes[0]]
		if h := nethdr.Parse(got); h != tc.wantHdr || !bytes.Equal(got[nethdr.Size:], tc.wantFrame) {
			t.Errorf("%s: header %+v and a frame equal to the one wanted: %v; want header %+v",
				tc.name, h, bytes.Equal(got[nethdr.Size:], tc.wantFrame), tc.wantHdr)
		}
	}
	if c := q.Counters().Snapshot(); c.RxCsumPartial != 1 || c.RxCsumCompleted != 1 {
		t.Errorf("counters: %d passed partial, %d completed; want 1 and 1", c.RxCsumPartial, c.RxCsumCompleted)
	}
}
