package virtio_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/virtio"
	"github.com/bareproxy/bareproxy/virtio/devmodel"
	"github.com/bareproxy/bareproxy/virtio/nethdr"
)

// TestNoAllocs proves that the steady state allocates nothing per packet:
// a batch through Receive (with refill) and a batch through Transmit (with
// reclaim), in the driver and the model together, with plain frames and
// with Config.VnetHdr's.
func TestNoAllocs(t *testing.T) {
	for _, vnetHdr := range []bool{false, true} {
		t.Run(fmt.Sprintf("vnethdr=%v", vnetHdr), func(t *testing.T) {
			m, d := newDevice(t, devmodel.Config{}, virtio.Config{VnetHdr: vnetHdr})
			q := d.Pairs()[0]
			m.OnTransmit(func(int, []byte) {})
			bufs := make([][]byte, percpu.BatchSize)
			for i := range bufs {
				bufs[i] = make([]byte, nethdr.Size+percpu.MaxFrame)
			}
			sizes := make([]int, percpu.BatchSize)
			frames := make([][]byte, percpu.BatchSize)
			for i := range frames {
				frames[i] = make([]byte, 64+i)
			}
			rx := testing.AllocsPerRun(200, func() {
				m.DeliverBatch(0, frames)
				if n, _ := q.Receive(bufs, sizes); n != len(frames) {
					t.Fatalf("Receive = %d", n)
				}
			})
			tx := testing.AllocsPerRun(200, func() {
				if n, _ := q.Transmit(frames); n != len(frames) {
					t.Fatalf("Transmit = %d", n)
				}
			})
			if rx != 0 || tx != 0 {
				t.Errorf("allocations per batch: Receive %v, Transmit %v, want 0", rx, tx)
			}
		})
	}
}

// benchmark frame sizes: minimum Ethernet and a full 1500-byte MTU frame.
var benchSizes = []int{64, 1514}

// BenchmarkReceive measures Receive (copy out, refill, one kick at most)
// with the model delivering in the same goroutine, 64 frames per batch.
// Each op is one packet.
func BenchmarkReceive(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			m, d := newDevice(b, devmodel.Config{}, virtio.Config{})
			q := d.Pairs()[0]
			bufs, sizes := batch(percpu.BatchSize)
			frames := make([][]byte, percpu.BatchSize)
			for i := range frames {
				frames[i] = make([]byte, size)
			}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			start := time.Now()
			for i := 0; i < b.N; i += len(frames) {
				m.DeliverBatch(0, frames)
				q.Receive(bufs, sizes)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkts/s")
		})
	}
}

// BenchmarkTransmit measures Transmit (reclaim, copy in, publish, kick)
// with the model consuming on notify in the same goroutine, 64 frames per
// batch. Each op is one packet.
func BenchmarkTransmit(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			m, d := newDevice(b, devmodel.Config{}, virtio.Config{})
			q := d.Pairs()[0]
			m.OnTransmit(func(int, []byte) {})
			frames := make([][]byte, percpu.BatchSize)
			for i := range frames {
				frames[i] = make([]byte, size)
			}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			start := time.Now()
			for i := 0; i < b.N; i += len(frames) {
				q.Transmit(frames)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkts/s")
		})
	}
}

// BenchmarkTransmitDriverOnly measures the driver's TX side alone: the
// device drains the ring only every 128 packets (half the ring), outside the
// timer.
func BenchmarkTransmitDriverOnly(b *testing.B) {
	m, d := newDevice(b, devmodel.Config{}, virtio.Config{})
	q := d.Pairs()[0]
	frames := make([][]byte, percpu.BatchSize)
	for i := range frames {
		frames[i] = make([]byte, 64)
	}
	sink := func(int, []byte) {}
	b.ReportAllocs()
	var elapsed time.Duration
	for i := 0; i < b.N; i += len(frames) {
		if i%128 == 0 {
			b.StopTimer()
			m.ProcessTX(0, sink)
			b.StartTimer()
		}
		start := time.Now()
		q.Transmit(frames)
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pkts/s")
}

// BenchmarkTransmitTSO measures Transmit of 64 KiB TCPv4 GSO frames
// (Config.VnetHdr with HOST_TSO4), 16 per batch so that every large TX
// buffer is used, with the model consuming on notify. Each op is one
// frame, which the device cuts into 45 segments of 1448 bytes.
func BenchmarkTransmitTSO(b *testing.B) {
	m, d := newDevice(b, devmodel.Config{}, virtio.Config{VnetHdr: true})
	if !d.TSO() {
		b.Skip("skipping: HOST_TSO4 not negotiated")
	}
	q := d.Pairs()[0]
	m.OnTransmit(func(int, []byte) {})
	const size = 14 + 20 + 20 + 45*1448
	h := nethdr.Hdr{Flags: nethdr.NeedsCsum, CsumStart: 34, CsumOffset: 16, GSOType: nethdr.GSOTCPv4, GSOSize: 1448, HdrLen: 54}
	frames := make([][]byte, 16)
	for i := range frames {
		frames[i] = make([]byte, nethdr.Size+size)
		h.Put(frames[i])
	}
	b.ReportAllocs()
	b.SetBytes(size)
	start := time.Now()
	for i := 0; i < b.N; i += len(frames) {
		if n, _ := q.Transmit(frames); n != len(frames) {
			b.Fatalf("Transmit = %d", n)
		}
	}
	b.ReportMetric(float64(b.N)*45/time.Since(start).Seconds(), "segments/s")
}
