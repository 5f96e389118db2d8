package engine

import "math/bits"

// isn returns the initial sequence number of a connection (RFC 6528
// section 3): a keyed hash of the 4-tuple under a per-engine random key,
// plus a clock that ticks every 4 µs. The hash is SipHash-2-4 of the
// 4-tuple packed into two words.
func (e *Engine) isn(lport uint16, rip [4]byte, rport uint16, now int64) uint32 {
	m0 := uint64(e.addr4[0])<<56 | uint64(e.addr4[1])<<48 | uint64(e.addr4[2])<<40 | uint64(e.addr4[3])<<32 |
		uint64(rip[0])<<24 | uint64(rip[1])<<16 | uint64(rip[2])<<8 | uint64(rip[3])
	m1 := uint64(lport)<<16 | uint64(rport)
	return uint32(sipHash(e.key[0], e.key[1], m0, m1)) + uint32(now/4000)
}

// sipHash is SipHash-2-4 of the 16-byte message m0, m1 under key k0, k1.
func sipHash(k0, k1, m0, m1 uint64) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	for _, m := range [3]uint64{m0, m1, 16 << 56} {
		v3 ^= m
		round()
		round()
		v0 ^= m
	}
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
