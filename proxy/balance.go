package proxy

import (
	"math/rand/v2"
	"net/netip"
	"sync/atomic"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// balancer is one backend's balancing state on one core. The schedules are
// built once and shared read-only by every core; only the cursor is per
// core, so picking takes no lock and touches no other core's cache lines.
type balancer struct {
	primary []int32 // weighted, interleaved schedule of non-backup servers
	backup  []int32 // the same for backup servers
	cursor  atomic.Uint64
	_       [48]byte
}

// schedule interleaves server indexes by weight with smooth weighted round
// robin (each round, the server with the highest running credit goes next),
// so weights 3:1 give a b a a, not a a a b. Weights are divided by their
// common divisor first to keep the schedule short.
func schedule(servers []*Server, backup bool) []int32 {
	var idx []int32
	var w []int
	g := 0
	for i, s := range servers {
		if s.Config.Backup != backup || s.Config.Weight <= 0 {
			continue
		}
		idx = append(idx, int32(i))
		w = append(w, s.Config.Weight)
		g = gcd(g, s.Config.Weight)
	}
	total := 0
	for i := range w {
		w[i] /= g
		total += w[i]
	}
	credit := make([]int, len(w))
	seq := make([]int32, 0, total)
	for range total {
		best := 0
		for i := range w {
			credit[i] += w[i]
			if credit[i] > credit[best] {
				best = i
			}
		}
		credit[best] -= total
		seq = append(seq, idx[best])
	}
	return seq
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// initBalancers builds each core's balancer; core k's cursor starts k/n of
// the way round so cores do not all start on the first server.
func (b *Backend) initBalancers(cores int) {
	primary, backup := schedule(b.Servers, false), schedule(b.Servers, true)
	b.lb = make([]balancer, cores)
	for k := range b.lb {
		b.lb[k].primary, b.lb[k].backup = primary, backup
		if len(primary) > 0 {
			b.lb[k].cursor.Store(uint64(k * len(primary) / cores))
		}
	}
}

// pick chooses a server for a connection on core. key is the hash for
// source, uri, url_param and hdr balancing (hasKey false falls back to
// round robin, as HAProxy does without the data to hash). Servers in tried
// are avoided while any other is available. It returns nil when no server
// is available.
func (b *Backend) pick(core int, key uint64, hasKey bool, tried []*Server) *Server {
	if s := b.pickTier(core, key, hasKey, tried); s != nil {
		return s
	}
	return b.pickTier(core, key, hasKey, nil)
}

// pickTier tries the primary servers, then the backups.
func (b *Backend) pickTier(core int, key uint64, hasKey bool, tried []*Server) *Server {
	lb := &b.lb[core]
	for _, seq := range [2][]int32{lb.primary, lb.backup} {
		if len(seq) == 0 {
			continue
		}
		if s := b.pickSeq(core, seq, key, hasKey, tried); s != nil {
			return s
		}
	}
	return nil
}

func (b *Backend) usable(s *Server, tried []*Server) bool {
	if !s.up.Load() || s.full() {
		return false
	}
	for _, t := range tried {
		if t == s {
			return false
		}
	}
	return true
}

func (b *Backend) pickSeq(core int, seq []int32, key uint64, hasKey bool, tried []*Server) *Server {
	lb := &b.lb[core]
	n := uint64(len(seq))
	switch b.Config.Balance.Algorithm {
	case config.LeastConn:
		// Least loaded relative to weight, on this core; ties rotate.
		start := lb.cursor.Add(1)
		var best *Server
		var bestLoad uint64
		for i := uint64(0); i < n; i++ {
			s := b.Servers[seq[(start+i)%n]]
			if !b.usable(s, tried) {
				continue
			}
			load := uint64(s.counters[core].cur.Load()+1) * 256 / uint64(s.Config.Weight)
			if best == nil || load < bestLoad {
				best, bestLoad = s, load
			}
		}
		return best
	case config.First:
		// The first server in declaration order with a free slot.
		for _, s := range b.Servers {
			if s.Config.Weight > 0 && containsIdx(seq, s.Index) && b.usable(s, tried) {
				return s
			}
		}
		return nil
	case config.Random:
		draws := b.Config.Balance.Draws
		if draws == 0 {
			draws = 2
		}
		var best *Server
		for range draws {
			s := b.Servers[seq[rand.Uint64N(n)]]
			if b.usable(s, tried) && (best == nil || sumCur(s.counters) < sumCur(best.counters)) {
				best = s
			}
		}
		if best != nil {
			return best
		}
		// Every draw was unusable: fall through to a scan.
	case config.Source, config.URI, config.URLParam, config.Header:
		if hasKey {
			for i := uint64(0); i < n; i++ {
				if s := b.Servers[seq[(key+i)%n]]; b.usable(s, tried) {
					return s
				}
			}
			return nil
		}
	}
	// Round robin. A retry (tried not empty) takes the next server without
	// consuming a turn, so a dead server does not shift the rotation.
	retry := len(tried) > 0
	var start uint64
	if retry {
		start = lb.cursor.Load()
	} else {
		start = lb.cursor.Add(1) - 1
	}
	for i := uint64(0); i < n; i++ {
		if s := b.Servers[seq[(start+i)%n]]; b.usable(s, tried) {
			if i > 0 && !retry {
				lb.cursor.Add(i) // skip what was unusable
			}
			return s
		}
	}
	return nil
}

func containsIdx(seq []int32, i int) bool {
	for _, v := range seq {
		if int(v) == i {
			return true
		}
	}
	return false
}

// hashKey hashes b with FNV-1a; every core computes the same value, so a
// key maps to the same server on every core.
func hashKey(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	// Finalise (splitmix) so that nearby keys spread over the schedule.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// sourceKey returns what balance source hashes for a client address: its
// four bytes for IPv4 (IPv4-mapped IPv6 alike, so a client hashes the
// same however it was announced), its sixteen for IPv6. ok is false for
// no address (an unknown peer), which falls back to round robin.
func sourceKey(a netip.Addr) (key uint64, ok bool) {
	switch {
	case a.Is4() || a.Is4In6():
		b := a.As4()
		return hashKey(b[:]), true
	case a.Is6():
		b := a.As16()
		return hashKey(b[:]), true
	}
	return 0, false
}
