package virtio_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/bareproxy/bareproxy/percpu"
	"github.com/bareproxy/bareproxy/tcp"
	"github.com/bareproxy/bareproxy/virtio"
	"github.com/bareproxy/bareproxy/virtio/devmodel"
)

// newDevice builds a model from mcfg and a driver on it from cfg.
func newDevice(t testing.TB, mcfg devmodel.Config, cfg virtio.Config) (*devmodel.Device, *virtio.Device) {
	t.Helper()
	m := devmodel.New(mcfg)
	d, err := virtio.New(m, m.Memory(), cfg)
	if err != nil {
		t.Fatalf("virtio.New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return m, d
}

// batch returns n receive buffers of MaxFrame bytes and their size slots.
func batch(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, percpu.MaxFrame)
	}
	return bufs, make([]int, n)
}

// ethIPv4 writes an Ethernet + IPv4 header for proto into b and returns the
// IP header offset (14).
func ethIPv4(b []byte, f tcp.Flow, proto byte, total int) {
	copy(b[0:6], []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(total-14))
	ip[8] = 64
	ip[9] = proto
	s, d := f.Src.As4(), f.Dst.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:], ^sum(ip[:20], 0))
}

// tcpFrame returns an Ethernet/IPv4/TCP frame of flow f carrying payload,
// with correct checksums.
func tcpFrame(f tcp.Flow, payload []byte) []byte {
	total := 14 + 20 + 20 + len(payload)
	b := make([]byte, total)
	ethIPv4(b, f, 6, total)
	th := b[34:]
	binary.BigEndian.PutUint16(th[0:], f.SrcPort)
	binary.BigEndian.PutUint16(th[2:], f.DstPort)
	th[12] = 5 << 4
	th[13] = 0x18
	copy(th[20:], payload)
	binary.BigEndian.PutUint16(th[16:], ^sum(th, pseudo(f, 6, len(th))))
	return b
}

// udpFrame returns an Ethernet/IPv4/UDP frame of flow f.
func udpFrame(f tcp.Flow, payload []byte) []byte {
	total := 14 + 20 + 8 + len(payload)
	b := make([]byte, total)
	ethIPv4(b, f, 17, total)
	uh := b[34:]
	binary.BigEndian.PutUint16(uh[0:], f.SrcPort)
	binary.BigEndian.PutUint16(uh[2:], f.DstPort)
	binary.BigEndian.PutUint16(uh[4:], uint16(8+len(payload)))
	copy(uh[8:], payload)
	return b
}

// pseudo is the folded IPv4 pseudo-header sum.
func pseudo(f tcp.Flow, proto byte, l4len int) uint16 {
	var p [12]byte
	s, d := f.Src.As4(), f.Dst.As4()
	copy(p[0:4], s[:])
	copy(p[4:8], d[:])
	p[9] = proto
	binary.BigEndian.PutUint16(p[10:], uint16(l4len))
	return sum(p[:], 0)
}

// sum is a plain RFC 1071 sum, independent of the driver's.
func sum(b []byte, init uint16) uint16 {
	s := uint32(init)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// flow returns a flow from a peer to 10.0.0.1 derived from r.
func flow(r uint64) tcp.Flow {
	return tcp.Flow{
		Src:     netip.AddrFrom4([4]byte{byte(r >> 56), byte(r >> 48), byte(r >> 40), byte(r >> 32)}),
		Dst:     netip.AddrFrom4([4]byte{10, 0, 0, 1}),
		SrcPort: uint16(r >> 16),
		DstPort: uint16(r),
	}
}
