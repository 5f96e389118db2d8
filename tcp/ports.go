package tcp

import (
	"net/netip"
)

// The ephemeral range dials take source ports from: Linux's default
// (net.ipv4.ip_local_port_range), which keeps clear of the ports services
// usually listen on. Each core can use the ports whose reply flows hash to
// it, about a 1/N share; a port is reusable at once towards a different
// remote address or port, since dials bind with ReuseAddress and gVisor
// only refuses a duplicate 4-tuple.
const (
	ephemeralFirst = 32768
	ephemeralLast  = 60999
	ephemeralCount = ephemeralLast - ephemeralFirst + 1
)

// maxBindAttempts bounds the ports one dial tries before it gives up with
// ErrPortsExhausted. A port only fails while its 4-tuple is taken, so a
// dial normally needs one attempt.
const maxBindAttempts = 64

// portHasher computes the core that a reply flow steers to, for every
// candidate local port of a dial (Receive Flow Deliver). gVisor has no
// port-picker hook, so a dial picks the port itself and binds it.
type portHasher struct {
	steering Steering
	// toeplitz is set when steering is Toeplitz. Its hash is linear over
	// GF(2): the hash of a flow is the hash with DstPort zero XOR the
	// hashes of DstPort's two bytes alone, so each candidate port costs
	// two table loads and two XORs.
	toeplitz *fastToeplitz
}

// newPortHasher returns the port hasher for s, which is the result of
// fastSteering.
func newPortHasher(s Steering) portHasher {
	t, _ := s.(*fastToeplitz)
	return portHasher{steering: s, toeplitz: t}
}

// replyFlows is the family of flows Flow{remote, local, remotePort, p}
// over local ports p: what the NIC sees when the peer of one dial answers.
type replyFlows struct {
	h    *portHasher
	flow Flow
	base uint32 // Toeplitz hash of flow with DstPort 0
}

// flows prepares the reply flows of a dial from local to remote.
func (h *portHasher) flows(remote netip.AddrPort, local netip.Addr) replyFlows {
	r := replyFlows{h: h, flow: Flow{Src: remote.Addr(), Dst: local, SrcPort: remote.Port()}}
	if h.toeplitz != nil {
		r.base = h.toeplitz.hash(r.flow)
	}
	return r
}

// core returns the core that the reply to local port p steers to.
func (r *replyFlows) core(p uint16) int {
	if t := r.h.toeplitz; t != nil {
		h := r.base ^ t.tab[10][p>>8] ^ t.tab[11][p&0xff]
		return int(t.t.Table[h&t.mask])
	}
	f := r.flow
	f.DstPort = p
	return r.h.steering.Core(f)
}

// next scans at most limit ports of the ephemeral range, starting at offset
// off and wrapping, for one whose reply steers to core k. It returns the
// port, the offset just after it, and how many candidates it looked at.
func (r *replyFlows) next(k int, off uint32, limit int) (port uint16, after uint32, scanned int, ok bool) {
	off %= ephemeralCount
	for scanned < limit {
		p := uint16(ephemeralFirst + off)
		off = (off + 1) % ephemeralCount
		scanned++
		if r.core(p) == k {
			return p, off, scanned, true
		}
	}
	return 0, off, scanned, false
}
