package tcp

import "encoding/binary"

// fastToeplitz computes exactly what a *ToeplitzSteering computes, with one
// table lookup per input byte instead of eight shifts and XORs. Toeplitz is
// linear over GF(2), so the hash of the 12-byte input is the XOR of the
// hashes of each byte alone at its position. New swaps it in for a
// *ToeplitzSteering (whose Key and Table must then stay fixed); the port
// picker uses the last two tables, which hold the DstPort bytes.
type fastToeplitz struct {
	t    *ToeplitzSteering
	mask uint32
	tab  [12][256]uint32
}

var _ Steering = (*fastToeplitz)(nil)

func newFastToeplitz(t *ToeplitzSteering) *fastToeplitz {
	f := &fastToeplitz{t: t, mask: uint32(len(t.Table) - 1)}
	var in [12]byte
	for i := range in {
		for b := range 256 {
			in[i] = byte(b)
			f.tab[i][b] = Toeplitz(&t.Key, in[:])
		}
		in[i] = 0
	}
	return f
}

// hash returns ToeplitzSteering.Hash(fl).
func (f *fastToeplitz) hash(fl Flow) uint32 {
	var in [12]byte
	s, d := fl.Src.As4(), fl.Dst.As4()
	copy(in[0:4], s[:])
	copy(in[4:8], d[:])
	binary.BigEndian.PutUint16(in[8:], fl.SrcPort)
	binary.BigEndian.PutUint16(in[10:], fl.DstPort)
	var h uint32
	for i, b := range in {
		h ^= f.tab[i][b]
	}
	return h
}

// Core implements Steering.
func (f *fastToeplitz) Core(fl Flow) int { return int(f.t.Table[f.hash(fl)&f.mask]) }

// Cores implements Steering.
func (f *fastToeplitz) Cores() int { return f.t.Cores() }

// fastSteering returns the steering Steer and the port picker use for s.
func fastSteering(s Steering) Steering {
	if t, ok := s.(*ToeplitzSteering); ok {
		return newFastToeplitz(t)
	}
	return s
}
