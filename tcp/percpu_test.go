package tcp

import (
	"context"
	"net/netip"
	"sync"
	"testing"

	"github.com/bareproxy/bareproxy/percpu"
)

var _ Link = (*percpu.Link)(nil)

// nic is a fake multiqueue NIC with RSS: frames sent to it land on the
// queue its steering picks for TCP and UDP, and on queue 0 for anything
// else, as RSS leaves non-IP frames on the default queue. It does not parse
// ICMP errors: those land where steerFrame would send them, via the
// worker's software steering, and count as misses.
type nic struct {
	steer  Steering
	queues []*nicQueue
}

type nicQueue struct {
	in   chan []byte
	peer *nic // where Transmit sends
	once sync.Once
	done chan struct{}
}

func newNIC(s Steering) *nic {
	n := &nic{steer: fastSteering(s)}
	for range s.Cores() {
		n.queues = append(n.queues, &nicQueue{in: make(chan []byte, 4096), done: make(chan struct{})})
	}
	return n
}

// rx puts a frame on the right receive queue.
func (n *nic) rx(f []byte) {
	k := steerFrame(n.steer, f)
	if k < 0 { // ARP and garbage: the default queue
		k = 0
	}
	select {
	case n.queues[k].in <- append([]byte(nil), f...):
	default:
	}
}

func (q *nicQueue) Receive(bufs [][]byte, sizes []int) (int, error) {
	select {
	case <-q.done:
		return 0, percpu.ErrClosed
	case f := <-q.in:
		sizes[0] = copy(bufs[0], f)
	}
	n := 1
	for n < len(bufs) {
		select {
		case f := <-q.in:
			sizes[n] = copy(bufs[n], f)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

func (q *nicQueue) Transmit(frames [][]byte) (int, error) {
	for _, f := range frames {
		q.peer.rx(f)
	}
	return len(frames), nil
}

func (q *nicQueue) close() { q.once.Do(func() { close(q.done) }) }

// runStack builds a Stack on rt's links and runs rt until the test ends.
func runStack(t *testing.T, n *nic, addr netip.Prefix, mac []byte, s Steering) (*Stack, *percpu.Runtime) {
	queues := make([]percpu.Queue, len(n.queues))
	for k, q := range n.queues {
		queues[k] = q
	}
	rt := percpu.New(queues)
	links := make([]Link, rt.Cores())
	counters := make([]*percpu.Counters, rt.Cores())
	stacks := make([]percpu.Stack, rt.Cores())
	for k := range links {
		links[k], counters[k] = rt.Link(k), rt.Counters(k)
	}
	st, err := New(Config{Addr: addr, MAC: mac, Steering: s, Links: links, Counters: counters})
	if err != nil {
		t.Fatal(err)
	}
	for k := range stacks {
		stacks[k] = st.Core(k)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx, stacks) }()
	t.Cleanup(func() {
		st.Close()
		cancel()
		for _, q := range n.queues {
			q.close()
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return st, rt
}

// TestWithPerCPURuntime runs both stacks under percpu runtimes over fake
// RSS NICs, the way the boards wire them, and checks that no TCP frame
// needed forwarding between cores: incoming connections and dial replies
// alike arrived on their owning queue.
func TestWithPerCPURuntime(t *testing.T) {
	ctx := testContext(t)
	sa, sb := NewToeplitzSteering(2), MixSteering{N: 2}
	nicA, nicB := newNIC(sa), newNIC(sb)
	for _, q := range nicA.queues {
		q.peer = nicB
	}
	for _, q := range nicB.queues {
		q.peer = nicA
	}
	a, rtA := runStack(t, nicA, addrA, macA, sa)
	b, rtB := runStack(t, nicB, addrB, macB, sb)
	listenAll(t, a, 80, nil)
	for k := range b.Cores() {
		for range 10 {
			if _, err := exchange(ctx, b.Core(k), netip.AddrPortFrom(ipA, 80)); err != nil {
				t.Fatalf("dial from core %d: %v", k, err)
			}
		}
	}
	for name, rt := range map[string]*percpu.Runtime{"A": rtA, "B": rtB} {
		for k := range rt.Cores() {
			c := rt.Counters(k).Snapshot()
			// Only ARP, which RSS leaves on queue 0, may be forwarded;
			// it is steered to All, which percpu does not count as a miss.
			if c.SteeringMisses != 0 || c.Drops != 0 {
				t.Errorf("%s core %d: %d steering misses, %d drops, want 0", name, k, c.SteeringMisses, c.Drops)
			}
		}
	}
	var dialled, accepted uint64
	for k := range 2 {
		dialled += rtB.Counters(k).Dialled.Load()
		accepted += rtA.Counters(k).Accepted.Load()
	}
	if dialled != 20 || accepted != 20 {
		t.Errorf("dialled %d, accepted %d, want 20, 20", dialled, accepted)
	}
}
