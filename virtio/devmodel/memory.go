package devmodel

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/bareproxy/bareproxy/virtio"
)

// Memory is ordinary Go memory handed out as DMA memory with identity
// addresses: a region's device address is the address of its first byte. It
// keeps every region alive and translates device addresses back to bytes for
// the model, refusing addresses outside the regions it handed out, as an
// IOMMU would.
type Memory struct {
	mu sync.Mutex
	// mu serialises Alloc; readers use the published snapshot.
	regions atomic.Pointer[[]region] // sorted by addr, copy on write
}

type region struct {
	addr uint64
	b    []byte
}

var _ virtio.Memory = (*Memory)(nil)

// Alloc implements virtio.Memory.
func (m *Memory) Alloc(size, align int) (virtio.Region, error) {
	if size <= 0 || align < 0 || align&(align-1) != 0 {
		return virtio.Region{}, fmt.Errorf("devmodel: bad allocation of %d bytes aligned to %d", size, align)
	}
	align = max(align, 8)
	raw := make([]byte, size+align)
	base := uintptr(unsafe.Pointer(&raw[0]))
	off := int((uintptr(align) - base%uintptr(align)) % uintptr(align))
	b := raw[off : off+size : off+size]
	r := region{addr: uint64(uintptr(unsafe.Pointer(&b[0]))), b: b}

	m.mu.Lock()
	defer m.mu.Unlock()
	var next []region
	if cur := m.regions.Load(); cur != nil {
		next = slices.Clone(*cur)
	}
	next = append(next, r)
	slices.SortFunc(next, func(a, b region) int {
		switch {
		case a.addr < b.addr:
			return -1
		case a.addr > b.addr:
			return 1
		}
		return 0
	})
	m.regions.Store(&next)
	return virtio.Region{Addr: r.addr, Bytes: b}, nil
}

// Slice returns the n bytes at device address addr, or false if they are not
// inside one allocated region.
func (m *Memory) Slice(addr uint64, n int) ([]byte, bool) {
	p := m.regions.Load()
	if p == nil || n < 0 {
		return nil, false
	}
	rs := *p
	// Last region starting at or below addr.
	lo, hi := 0, len(rs)
	for lo < hi {
		mid := (lo + hi) / 2
		if rs[mid].addr <= addr {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return nil, false
	}
	r := rs[lo-1]
	off := addr - r.addr
	if off > uint64(len(r.b)) || uint64(n) > uint64(len(r.b))-off {
		return nil, false
	}
	return r.b[off : off+uint64(n)], true
}
