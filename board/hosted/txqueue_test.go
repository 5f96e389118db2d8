//go:build linux

package hosted

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/percpu"
)

// TestTxQueueOrderAndBound: frames from one caller reach the writer in
// order, none is lost, and the queue never holds more than its limit.
func TestTxQueueOrderAndBound(t *testing.T) {
	var tq txQueue
	tq.init()
	var mu sync.Mutex
	var got []uint32
	maxPending := 0
	const total = 3 * txQueueLimit
	all := make(chan struct{})
	go tq.run(func(frames [][]byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		tq.mu.Lock()
		maxPending = max(maxPending, len(tq.pending))
		tq.mu.Unlock()
		for _, f := range frames {
			got = append(got, binary.BigEndian.Uint32(f[minEthernetFrame:]))
		}
		if len(got) == total {
			close(all)
		}
		return len(frames), nil
	})
	frame := make([]byte, minEthernetFrame+4)
	short := make([]byte, minEthernetFrame-1)
	for i := uint32(0); i < total; i++ {
		binary.BigEndian.PutUint32(frame[minEthernetFrame:], i)
		n, err := tq.enqueue([][]byte{frame, short})
		if n != 1 || err != nil {
			t.Fatalf("enqueue = %d, %v; want 1, nil (the short frame refused)", n, err)
		}
	}
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the writer got %d of %d frames", len(got), total)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, v := range got {
		if v != uint32(i) {
			t.Fatalf("frame %d carried %d: out of order", i, v)
		}
	}
	if maxPending > txQueueLimit {
		t.Errorf("the queue held %d frames, more than its limit %d", maxPending, txQueueLimit)
	}
	tq.stop()
	<-tq.done
	if _, err := tq.enqueue([][]byte{frame}); !errors.Is(err, percpu.ErrClosed) {
		t.Errorf("enqueue after close = %v, want percpu.ErrClosed", err)
	}
}
