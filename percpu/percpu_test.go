package percpu

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeQueue hands out the frames pushed into rx, one batch per push, and
// records what is transmitted.
type fakeQueue struct {
	rx     chan [][]byte
	closed chan struct{}

	mu   sync.Mutex // mu protects sent
	sent [][]byte
	fail bool // Transmit sends nothing and fails
}

func newFakeQueue() *fakeQueue {
	return &fakeQueue{rx: make(chan [][]byte, 16), closed: make(chan struct{})}
}

func (q *fakeQueue) Receive(bufs [][]byte, sizes []int) (int, error) {
	select {
	case batch := <-q.rx:
		for i, f := range batch {
			sizes[i] = copy(bufs[i], f)
		}
		return len(batch), nil
	case <-q.closed:
		return 0, ErrClosed
	}
}

func (q *fakeQueue) Transmit(frames [][]byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail {
		return 0, errors.New("link down")
	}
	for _, f := range frames {
		q.sent = append(q.sent, append([]byte(nil), f...))
	}
	return len(frames), nil
}

// fakeStack steers by the frame's first byte: 0xff is All, 0xee is Drop,
// anything else is the core of that number. It records what it is given.
type fakeStack struct {
	mu        sync.Mutex // mu protects delivered
	delivered []byte     // first bytes of delivered frames
}

func (s *fakeStack) Steer(frame []byte) int {
	switch frame[0] {
	case 0xff:
		return All
	case 0xee:
		return Drop
	}
	return int(frame[0])
}

func (s *fakeStack) Deliver(frames [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range frames {
		s.delivered = append(s.delivered, f[0])
	}
}

func (s *fakeStack) got() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.delivered...)
}

// runtimeOf runs n workers over fake queues and stacks until the test ends.
func runtimeOf(t *testing.T, n int) (*Runtime, []*fakeQueue, []*fakeStack) {
	t.Helper()
	queues := make([]Queue, n)
	fqs := make([]*fakeQueue, n)
	stacks := make([]Stack, n)
	fss := make([]*fakeStack, n)
	for i := range n {
		fqs[i], fss[i] = newFakeQueue(), &fakeStack{}
		queues[i], stacks[i] = fqs[i], fss[i]
	}
	rt := New(queues)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx, stacks) }()
	t.Cleanup(func() {
		cancel()
		for _, q := range fqs {
			close(q.closed)
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return rt, fqs, fss
}

// eventually polls cond for up to five seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		name       string
		arriveOn   int
		frames     []byte // first byte of each frame
		wantOn     [3]int // frames each core's stack receives
		wantMisses uint64 // on the arrival core
		wantDrops  uint64
	}{
		{"own frames stay local", 1, []byte{1, 1, 1}, [3]int{0, 3, 0}, 0, 0},
		{"other cores' frames are forwarded and counted", 0, []byte{0, 1, 2, 2}, [3]int{1, 1, 2}, 3, 0},
		{"ARP-like frames reach every core", 2, []byte{0xff}, [3]int{1, 1, 1}, 0, 0},
		{"malformed frames are dropped", 1, []byte{0xee, 1, 0xee}, [3]int{0, 1, 0}, 0, 2},
		{"an out-of-range core is a drop", 0, []byte{7}, [3]int{0, 0, 0}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, queues, stacks := runtimeOf(t, 3)
			batch := make([][]byte, len(tt.frames))
			for i, b := range tt.frames {
				batch[i] = []byte{b, 0x42}
			}
			queues[tt.arriveOn].rx <- batch
			eventually(t, "the batch to be counted", func() bool {
				return rt.Counters(tt.arriveOn).FramesIn.Load() == uint64(len(batch))
			})
			for core, want := range tt.wantOn {
				eventually(t, "delivery", func() bool { return len(stacks[core].got()) == want })
			}
			c := rt.Counters(tt.arriveOn).Snapshot()
			if c.SteeringMisses != tt.wantMisses || c.Drops != tt.wantDrops {
				t.Errorf("core %d counters %+v, want %d misses and %d drops", tt.arriveOn, c, tt.wantMisses, tt.wantDrops)
			}
			// Give stray deliveries a moment to show up before the
			// final check.
			time.Sleep(20 * time.Millisecond)
			for core, want := range tt.wantOn {
				if got := len(stacks[core].got()); got != want {
					t.Errorf("core %d got %d frames, want %d", core, got, want)
				}
			}
		})
	}
}

func TestLinkCountsFramesOutAndFailures(t *testing.T) {
	rt, queues, _ := runtimeOf(t, 2)
	l := rt.Link(1)
	if n, err := l.Transmit([][]byte{{1}, {2}}); n != 2 || err != nil {
		t.Fatalf("Transmit = %d, %v", n, err)
	}
	queues[1].mu.Lock()
	queues[1].fail = true
	queues[1].mu.Unlock()
	if n, err := l.Transmit([][]byte{{3}}); n != 0 || err == nil {
		t.Fatalf("Transmit on a failing queue = %d, %v; want 0 and an error", n, err)
	}
	got := rt.Counters(1).Snapshot()
	if got.FramesOut != 2 || got.Drops != 1 {
		t.Errorf("counters %+v, want 2 frames out and 1 drop", got)
	}
	if other := rt.Counters(0).Snapshot(); other != (Snapshot{}) {
		t.Errorf("core 0 counted %+v for core 1's link", other)
	}
}

func TestRunStopsWhenQueuesClose(t *testing.T) {
	q := newFakeQueue()
	rt := New([]Queue{q})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx, []Stack{&fakeStack{}}) }()
	close(q.closed)
	select {
	case err := <-done:
		// A closed queue is how the board stops the workers, not a
		// failure: Run waits for its context.
		t.Fatalf("Run returned %v before its context ended", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after cancel, want nil", err)
	}
}

func TestRunRejectsMismatchedStacks(t *testing.T) {
	rt := New([]Queue{newFakeQueue(), newFakeQueue()})
	if err := rt.Run(context.Background(), []Stack{&fakeStack{}}); err == nil {
		t.Error("Run accepted 1 stack for 2 queues")
	}
}

func TestQueueErrorEndsRun(t *testing.T) {
	rt := New([]Queue{brokenQueue{}})
	done := make(chan error, 1)
	go func() { done <- rt.Run(context.Background(), []Stack{&fakeStack{}}) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Run returned nil after a queue failed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after a queue failed")
	}
}

type brokenQueue struct{}

func (brokenQueue) Receive([][]byte, []int) (int, error) { return 0, errors.New("device gone") }
func (brokenQueue) Transmit(f [][]byte) (int, error)     { return 0, errors.New("device gone") }
