package virtio_test

import (
	"encoding/binary"
	"testing"

	"github.com/bareproxy/bareproxy/virtio"
	"github.com/bareproxy/bareproxy/virtio/devmodel"
	"github.com/bareproxy/bareproxy/virtio/nethdr"
)

// FuzzReceive feeds the RX path what a device controls: used entries (id and
// length), virtio_net_hdr flags and checksum offsets, and frame bytes. The
// queue must count and drop what is wrong, never panic, and still deliver
// the good frame that follows. Each input gets a fresh device: a hostile
// device can always starve the driver (Receive then waits, as it should), so
// state carried between inputs would only test the harness.
func FuzzReceive(f *testing.F) {
	f.Add(uint32(0), uint32(100), uint8(0), uint16(0), uint16(0), []byte("frame"))
	f.Add(uint32(9999), uint32(1<<20), uint8(nethdr.NeedsCsum), uint16(0xffff), uint16(0xffff), []byte{})
	f.Add(uint32(3), uint32(5), uint8(nethdr.NeedsCsum), uint16(0), uint16(0), []byte{1})
	f.Add(uint32(1), uint32(11), uint8(0xff), uint16(1), uint16(1), make([]byte, 1600))
	bufs, sizes := batch(16)
	f.Fuzz(func(t *testing.T, id, length uint32, flags uint8, start, off uint16, frame []byte) {
		m, d := newDevice(t, devmodel.Config{MaxQueueSize: 16}, virtio.Config{QueueSize: 16})
		q := d.Pairs()[0]
		m.InjectUsed(0, id, length)
		m.CorruptNextRX(0, length)
		m.DeliverTo(0, devmodel.Hdr{Flags: flags, CsumStart: start, CsumOffset: off}, frame)
		var probe [8]byte
		binary.LittleEndian.PutUint64(probe[:], uint64(id))
		if !m.DeliverTo(0, devmodel.Hdr{}, probe[:]) {
			t.Fatal("probe not delivered")
		}
		n, err := q.Receive(bufs, sizes)
		if err != nil || n == 0 {
			t.Fatalf("Receive = %d, %v", n, err)
		}
		for i := range n {
			if sizes[i] > len(bufs[i]) {
				t.Fatalf("size %d beyond buffer", sizes[i])
			}
		}
		if got := bufs[n-1][:sizes[n-1]]; string(got) != string(probe[:]) {
			t.Fatalf("last frame %x, want the probe %x", got, probe)
		}
	})
}
