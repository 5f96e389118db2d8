package engine

// Sequence-number arithmetic modulo 2^32 (RFC 9293 section 3.4, RFC 1982):
// a is before b when the signed distance from b to a is negative.

func seqLT(a, b uint32) bool  { return int32(a-b) < 0 }
func seqLEQ(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool  { return int32(a-b) > 0 }
func seqGEQ(a, b uint32) bool { return int32(a-b) >= 0 }

// seqInWindow reports whether start <= s < start+size.
func seqInWindow(s, start, size uint32) bool { return s-start < size }

// seqMax returns the later of a and b.
func seqMax(a, b uint32) uint32 {
	if seqGT(a, b) {
		return a
	}
	return b
}
