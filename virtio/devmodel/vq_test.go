package devmodel

import (
	"encoding/binary"
	"errors"
	"testing"
)

// ring is a hand-built split ring of 8 entries with 8 buffers of 64 bytes,
// driven from the driver's side without the virtio package.
type ring struct {
	q    *vq
	desc []byte
	bufs []byte
	base uint64 // device address of bufs
}

func newRing(t *testing.T) *ring {
	t.Helper()
	m := &Memory{}
	const n = 8
	d, _ := m.Alloc(descSize*n, 16)
	a, _ := m.Alloc(4+2*n+4, 4)
	u, _ := m.Alloc(4+8*n+4, 4)
	b, _ := m.Alloc(64*n, 8)
	q := &vq{mem: m}
	if !q.setup(n, d.Addr, a.Addr, u.Addr, true) {
		t.Fatal("setup refused valid areas")
	}
	return &ring{q: q, desc: d.Bytes, bufs: b.Bytes, base: b.Addr}
}

func (r *ring) set(i int, addr uint64, length uint32, flags, next uint16) {
	d := r.desc[i*descSize:]
	binary.LittleEndian.PutUint64(d[0:], addr)
	binary.LittleEndian.PutUint32(d[8:], length)
	binary.LittleEndian.PutUint16(d[12:], flags)
	binary.LittleEndian.PutUint16(d[14:], next)
}

func TestWalk(t *testing.T) {
	tests := []struct {
		name    string
		build   func(r *ring)
		head    uint16
		wantErr error
		want    []int  // segment lengths
		write   []bool // segment directions
	}{
		{
			name:  "single",
			build: func(r *ring) { r.set(0, r.base, 64, 0, 0) },
			want:  []int{64}, write: []bool{false},
		},
		{
			name: "read read write",
			build: func(r *ring) {
				r.set(2, r.base, 2, descFNext, 5)
				r.set(5, r.base+64, 10, descFNext, 1)
				r.set(1, r.base+128, 1, descFWrite, 0)
			},
			head: 2, want: []int{2, 10, 1}, write: []bool{false, false, true},
		},
		{
			name: "loop",
			build: func(r *ring) {
				r.set(0, r.base, 8, descFNext, 1)
				r.set(1, r.base, 8, descFNext, 0)
			},
			wantErr: errLoop,
		},
		{
			name:    "head out of range",
			build:   func(r *ring) {},
			head:    8,
			wantErr: errBadHead,
		},
		{
			name:    "next out of range",
			build:   func(r *ring) { r.set(0, r.base, 8, descFNext, 9) },
			wantErr: errBadNext,
		},
		{
			name:    "address outside memory",
			build:   func(r *ring) { r.set(0, 0x1000, 8, 0, 0) },
			wantErr: errBadAddr,
		},
		{
			name:    "length past the region",
			build:   func(r *ring) { r.set(0, r.base+64*7, 65, 0, 0) },
			wantErr: errBadAddr,
		},
		{
			name: "readable after writable",
			build: func(r *ring) {
				r.set(0, r.base, 8, descFWrite|descFNext, 1)
				r.set(1, r.base+64, 8, 0, 0)
			},
			wantErr: errOrder,
		},
		{
			name:    "indirect not negotiated",
			build:   func(r *ring) { r.set(0, r.base, 16, descFIndirect, 0) },
			wantErr: errIndirect,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(t)
			tt.build(r)
			segs, err := r.q.walk(tt.head)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("walk error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if len(segs) != len(tt.want) {
				t.Fatalf("walk gave %d segments, want %d", len(segs), len(tt.want))
			}
			for i, s := range segs {
				if len(s.b) != tt.want[i] || s.write != tt.write[i] {
					t.Errorf("segment %d: %d bytes write=%v, want %d write=%v", i, len(s.b), s.write, tt.want[i], tt.write[i])
				}
			}
		})
	}
}

func TestGatherAcrossDescriptors(t *testing.T) {
	r := newRing(t)
	copy(r.bufs[0:], "abc")
	copy(r.bufs[64:], "defg")
	r.set(0, r.base, 3, descFNext, 1)
	r.set(1, r.base+64, 4, descFNext, 2)
	r.set(2, r.base+128, 1, descFWrite, 0)
	segs, err := r.q.walk(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(r.q.gather(segs)); got != "abcdefg" {
		t.Errorf("gather = %q, want %q", got, "abcdefg")
	}
}

func TestMemorySlice(t *testing.T) {
	m := &Memory{}
	a, _ := m.Alloc(100, 64)
	b, _ := m.Alloc(10, 8)
	if a.Addr%64 != 0 {
		t.Errorf("address %#x not aligned to 64", a.Addr)
	}
	tests := []struct {
		addr uint64
		n    int
		ok   bool
	}{
		{a.Addr, 100, true},
		{a.Addr + 99, 1, true},
		{a.Addr + 99, 2, false},
		{a.Addr + 100, 1, false},
		{b.Addr, 10, true},
		{b.Addr + 10, 0, true},
		{a.Addr - 1, 1, false},
		{0, 1, false},
		{b.Addr + 1, -1, false},
	}
	for _, tt := range tests {
		if _, ok := m.Slice(tt.addr, tt.n); ok != tt.ok {
			t.Errorf("Slice(%#x, %d) ok = %v, want %v", tt.addr, tt.n, ok, tt.ok)
		}
	}
}
