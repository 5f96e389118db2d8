package virtio_test

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bareproxy/bareproxy/tcp"
	"github.com/bareproxy/bareproxy/virtio"
	"github.com/bareproxy/bareproxy/virtio/devmodel"
)

// TestRSSSteering programs a random key and a shuffled table and checks that
// 1000 random TCP and UDP flows land, in the device, on the queue
// tcp.ToeplitzSteering.Core names, and come out of that queue pair intact.
func TestRSSSteering(t *testing.T) {
	const pairs = 4
	rng := rand.New(rand.NewPCG(1, 2))
	s := tcp.NewToeplitzSteering(pairs)
	for i := range s.Key {
		s.Key[i] = byte(rng.Uint32())
	}
	rng.Shuffle(len(s.Table), func(i, j int) { s.Table[i], s.Table[j] = s.Table[j], s.Table[i] })

	m, d := newDevice(t, devmodel.Config{MaxPairs: pairs}, virtio.Config{Pairs: pairs, Steering: s})
	if !d.RSS() {
		t.Fatal("RSS() = false on a device with RSS")
	}
	got, types := m.RSS()
	if got == nil || got.Key != s.Key || !slices.Equal(got.Table, s.Table) || got.N != pairs {
		t.Fatalf("device steering = %+v, want key and table of %+v", got, s)
	}
	if want := uint32(virtio.HashTypeIPv4 | virtio.HashTypeTCPv4 | virtio.HashTypeUDPv4); types != want {
		t.Errorf("hash types = %#x, want %#x", types, want)
	}

	bufs, sizes := batch(4)
	perQueue := make([]int, pairs)
	for i := range 1000 {
		f := flow(rng.Uint64())
		frame := tcpFrame(f, []byte("hello"))
		if i%2 == 1 {
			frame = udpFrame(f, []byte("hello"))
		}
		want := s.Core(f)
		q, ok := m.Deliver(frame)
		if !ok || q != want {
			t.Fatalf("flow %v: device queue %d (ok %v), ToeplitzSteering.Core %d", f, q, ok, want)
		}
		n, err := d.Pairs()[q].Receive(bufs, sizes)
		if err != nil || n != 1 || !bytes.Equal(bufs[0][:sizes[0]], frame) {
			t.Fatalf("flow %v: Receive on pair %d = %d, %v", f, q, n, err)
		}
		perQueue[q]++
	}
	for q, n := range perQueue {
		if n == 0 {
			t.Errorf("queue %d got no flows of 1000: %v", q, perQueue)
		}
	}
}

// TestRSSFallback checks that a steering the device cannot take is not
// programmed, and that the driver says so.
func TestRSSFallback(t *testing.T) {
	bad := tcp.NewToeplitzSteering(4) // table names queues 2 and 3
	tests := []struct {
		name  string
		model devmodel.Config
		cfg   virtio.Config
	}{
		{"table names missing queues", devmodel.Config{MaxPairs: 2}, virtio.Config{Steering: bad}},
		{"device lacks RSS", devmodel.Config{MaxPairs: 4, Features: devmodel.DefaultFeatures &^ virtio.NetRSS}, virtio.Config{}},
		{"key too short", devmodel.Config{MaxPairs: 4, RSSMaxKey: 16}, virtio.Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, d := newDevice(t, tt.model, tt.cfg)
			if d.RSS() {
				t.Error("RSS() = true")
			}
			if s, _ := m.RSS(); s != nil {
				t.Errorf("device has RSS programmed: %+v", s)
			}
			if m.Pairs() != len(d.Pairs()) {
				t.Errorf("device pairs %d, driver pairs %d", m.Pairs(), len(d.Pairs()))
			}
		})
	}
}
