package engine

// ring is a byte ring buffer. The send side keeps unacknowledged and unsent
// bytes in it (it is the retransmission queue); the receive side keeps
// in-order bytes in [0, n) and out-of-order bytes beyond n, at their
// offset from RCV.NXT.
//
// A ring has its size from the start but holds a buffer only while it
// stores bytes: the engine gives it one from its free list before the
// first write (Engine.bufFor) and takes it back once it is empty
// (Engine.releaseBuf). An idle keep-alive connection then holds no
// buffer, where it held two of 64 KiB, and the few buffers in use stay
// warm in the cache.
type ring struct {
	buf  []byte // nil while empty
	size int    // capacity; 0 once the direction is closed for good
	head int    // index of the first byte
	n    int    // bytes stored
}

func (r *ring) free() int { return r.size - r.n }

// write appends as much of p as fits and returns how much.
func (r *ring) write(p []byte) int {
	m := min(len(p), r.free())
	r.writeAt(0, p[:m])
	r.n += m
	return m
}

// writeAt copies p to offset off beyond the stored bytes without storing
// it; off+len(p) must not exceed free().
func (r *ring) writeAt(off int, p []byte) {
	size := len(r.buf)
	if size == 0 {
		return
	}
	i := (r.head + r.n + off) % size
	c := copy(r.buf[i:], p)
	copy(r.buf, p[c:])
}

// read moves up to len(p) bytes out and returns how many.
func (r *ring) read(p []byte) int {
	a, b := r.peek(0, min(len(p), r.n))
	c := copy(p, a)
	c += copy(p[c:], b)
	r.discard(c)
	return c
}

// discard drops the first k stored bytes.
func (r *ring) discard(k int) {
	// The head moves even when the ring empties: out-of-order bytes
	// beyond the tail stay where they were written.
	if k > r.n {
		k = r.n
	}
	if len(r.buf) > 0 {
		r.head = (r.head + k) % len(r.buf)
	}
	r.n -= k
}

// peek returns stored bytes [off, off+k) as two slices.
func (r *ring) peek(off, k int) ([]byte, []byte) {
	if k <= 0 {
		return nil, nil
	}
	size := len(r.buf)
	i := (r.head + off) % size
	if i+k <= size {
		return r.buf[i : i+k], nil
	}
	return r.buf[i:], r.buf[:k-(size-i)]
}
