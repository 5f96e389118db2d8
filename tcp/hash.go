package tcp

import (
	"encoding/binary"
	"net/netip"
)

// Flow is the 4-tuple of an IPv4 packet as it is received: Src is the peer
// that sent it, Dst is this appliance. Every steering decision, in the NIC,
// in the eBPF program and in the port picker, is taken on a received flow, so
// that one function serves dispatch and Receive Flow Deliver alike.
type Flow struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
}

// Steering maps a received flow to the core (NIC queue) that owns it. An
// implementation must compute exactly what the NIC computes, or replies land
// on the wrong core and are counted as steering misses.
type Steering interface {
	// Core returns the core in [0, Cores()) that receives f.
	Core(f Flow) int
	// Cores returns the number of cores the hash spreads over.
	Cores() int
}

// MixSteering is the hash run by hosted mode's TAP steering eBPF program
// (board/hosted). It needs only 32-bit loads, XORs, one multiply and one
// shift, so the program stays a handful of instructions.
//
//	h := srcIP ^ dstIP ^ (srcPort<<16 | dstPort)
//	h ^= h >> 16
//	h *= 0x9E3779B1
//	h ^= h >> 16
//	core := uint16(h) % n
//
// The first fold brings the source port into the low half, the multiply
// carries every low bit upwards and the last fold brings the result back
// down, so every port bit reaches the queue index. Without the first fold the
// source port only reaches bit 16 and up, and since Linux picks even source
// ports for connect (bit 0 fixed), every connection from one client landed on
// one queue of two. The uint16 truncation matches the kernel's
// tun_ebpf_select_queue, which keeps the program's return value in a u16
// before it takes the remainder by the queue count.
type MixSteering struct {
	// N is the number of queues. Zero is treated as one.
	N int
}

// MixMultiplier is the odd constant of MixSteering's multiply (2^32 divided
// by the golden ratio), exported so that the eBPF program is built from the
// same value.
const MixMultiplier = 0x9E3779B1

// MixHash is MixSteering's hash of a received flow.
func MixHash(f Flow) uint32 {
	h := addr32(f.Src) ^ addr32(f.Dst) ^ (uint32(f.SrcPort)<<16 | uint32(f.DstPort))
	h ^= h >> 16
	h *= MixMultiplier
	h ^= h >> 16
	return h
}

// Core implements Steering.
func (m MixSteering) Core(f Flow) int {
	return int(uint16(MixHash(f)) % uint16(m.Cores()))
}

// Cores implements Steering.
func (m MixSteering) Cores() int { return max(m.N, 1) }

// ToeplitzKeySize is the RSS key length that virtio-net devices accept
// (virtio 1.2, 5.1.6.5.7.1: rss_max_key_size is at least 40).
const ToeplitzKeySize = 40

// DefaultToeplitzKey is the de-facto standard RSS key from Microsoft's
// "Verifying the RSS Hash Calculation", used by most NIC drivers by default.
var DefaultToeplitzKey = [ToeplitzKeySize]byte{
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
	0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
	0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
	0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
	0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
}

// ToeplitzSteering is the RSS hash of virtio-net and most physical NICs: a
// Toeplitz hash of srcIP, dstIP, srcPort, dstPort (12 bytes in network
// order) looked up in an indirection table. The driver programs the same
// Key and Table into the device (VIRTIO_NET_CTRL_MQ_RSS_CONFIG).
type ToeplitzSteering struct {
	// Key is the secret hash key.
	Key [ToeplitzKeySize]byte
	// Table maps the low bits of the hash to a core. Its length must be a
	// power of two, as virtio requires of indirection_table_mask + 1.
	Table []uint16
	// N is the number of cores the table spreads over.
	N int
}

// NewToeplitzSteering returns steering over n cores with the default key and
// a 128-entry table filled round-robin.
func NewToeplitzSteering(n int) *ToeplitzSteering {
	n = max(n, 1)
	t := &ToeplitzSteering{Key: DefaultToeplitzKey, Table: make([]uint16, 128), N: n}
	for i := range t.Table {
		t.Table[i] = uint16(i % n)
	}
	return t
}

// Hash returns the Toeplitz hash of f.
func (t *ToeplitzSteering) Hash(f Flow) uint32 {
	var in [12]byte
	s, d := f.Src.As4(), f.Dst.As4()
	copy(in[0:4], s[:])
	copy(in[4:8], d[:])
	binary.BigEndian.PutUint16(in[8:], f.SrcPort)
	binary.BigEndian.PutUint16(in[10:], f.DstPort)
	return Toeplitz(&t.Key, in[:])
}

// Core implements Steering.
func (t *ToeplitzSteering) Core(f Flow) int {
	return int(t.Table[t.Hash(f)&uint32(len(t.Table)-1)])
}

// Cores implements Steering.
func (t *ToeplitzSteering) Cores() int { return t.N }

// Toeplitz returns the Toeplitz hash of input under key. For every set bit i
// of the input (most significant first), it XORs in the 32 key bits that
// start at bit i. The input may be at most len(key)-4 bytes long.
func Toeplitz(key *[ToeplitzKeySize]byte, input []byte) uint32 {
	var h uint32
	window := binary.BigEndian.Uint32(key[0:4])
	for i, b := range input {
		next := key[i+4]
		for bit := 7; bit >= 0; bit-- {
			if b&(1<<bit) != 0 {
				h ^= window
			}
			window = window<<1 | uint32(next>>bit)&1
		}
	}
	return h
}

func addr32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}
