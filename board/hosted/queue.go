//go:build linux

package hosted

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bareproxy/bareproxy/percpu"
)

// queue is one TAP file descriptor: frames the kernel sends to the device
// are read from it, and frames written to it enter the kernel's stack.
//
// The fd is non-blocking and registered with the runtime's poller. Receive
// hands the poller a callback (built once, so that no call allocates) that
// loops over read(2) until the batch is done or the fd reports EAGAIN, and
// only then parks the goroutine. Transmit writes straight to the fd, from
// any number of goroutines at once (a TAP takes concurrent writes, each
// one frame), and only when the fd reports EAGAIN falls back to a locked
// poller callback that waits for room.
type queue struct {
	tap  *TAP
	file *os.File
	raw  syscall.RawConn
	fd   int

	// fdMu guards fd against Close: Transmit's fast path holds it for
	// reading while it writes, and Close takes it for writing before it
	// closes the file, so that fd is never written after it is reused.
	fdMu     sync.RWMutex
	fdClosed bool

	// drops counts received frames larger than the caller's buffer.
	drops atomic.Uint64

	// Receive state. Only the queue's worker calls Receive, so these
	// need no lock; they hold the caller's slices only during a call.
	rxBufs  [][]byte
	rxSizes []int
	rxN     int
	rxErr   error
	rxFn    func(fd uintptr) bool

	// txMu protects the state of Transmit's poller path, which any
	// goroutine may take.
	txMu     sync.Mutex
	txFrames [][]byte
	txNext   int // index of the next frame to write
	txSent   int // frames the kernel accepted
	txErr    error
	txFn     func(fd uintptr) bool

	// tx holds frames between Transmit and the writer goroutine.
	tx txQueue
}

var _ percpu.Queue = (*queue)(nil)

// newQueue wraps f, which must be a non-blocking TAP fd.
func newQueue(t *TAP, f *os.File) (*queue, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	q := &queue{tap: t, file: f, raw: raw, fd: -1}
	if err := raw.Control(func(fd uintptr) { q.fd = int(fd) }); err != nil {
		return nil, err
	}
	q.rxFn = q.readBatch
	q.txFn = q.writeBatch
	q.tx.init()
	go q.tx.run(q.writeFrames)
	return q, nil
}

// Receive implements percpu.Queue. It waits for the first frame, then reads
// every frame that is ready without waiting again, up to len(bufs). Frames
// longer than their buffer are counted in TAP.Dropped and skipped. After
// Close it returns percpu.ErrClosed.
func (q *queue) Receive(bufs [][]byte, sizes []int) (int, error) {
	if len(sizes) < len(bufs) {
		bufs = bufs[:len(sizes)]
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	if q.tap.closed.Load() {
		return 0, percpu.ErrClosed
	}
	q.rxBufs, q.rxSizes, q.rxN, q.rxErr = bufs, sizes, 0, nil
	err := q.raw.Read(q.rxFn)
	n, rxErr := q.rxN, q.rxErr
	q.rxBufs, q.rxSizes, q.rxErr = nil, nil, nil
	if err == nil {
		err = rxErr
	}
	switch {
	case err == nil:
		return n, nil
	case n > 0:
		// Hand over what was read; the error recurs on the next call.
		return n, nil
	case q.tap.closed.Load() || errors.Is(err, os.ErrClosed):
		return 0, percpu.ErrClosed
	default:
		return 0, fmt.Errorf("hosted: receive on %q: %w", q.file.Name(), err)
	}
}

// readBatch is the poller callback of Receive. It returns false to wait for
// readability, which it does only while nothing has been read.
func (q *queue) readBatch(fd uintptr) bool {
	for q.rxN < len(q.rxBufs) {
		buf := q.rxBufs[q.rxN]
		n, err := unix.Read(int(fd), buf)
		switch err {
		case nil:
			// With IFF_NO_PI the kernel copies what fits and returns
			// the frame's full length (tun_put_user), so a frame
			// larger than buf shows as n > len(buf).
			if n <= 0 || n > len(buf) {
				q.drops.Add(1)
				continue
			}
			q.rxSizes[q.rxN] = n
			q.rxN++
		case unix.EINTR:
		case unix.EAGAIN:
			return q.rxN > 0
		default:
			q.rxErr = err
			return true
		}
	}
	return true
}

// Transmit implements percpu.Queue. It copies the frames into the queue's
// transmit queue, for its writer goroutine to write (see txQueue), and
// returns how many it took: frames shorter than an Ethernet header are
// refused at once. It waits while the transmit queue is full. Frames the
// kernel then refuses are counted in TAP.Dropped. After Close it returns
// percpu.ErrClosed.
func (q *queue) Transmit(frames [][]byte) (int, error) {
	return q.tx.enqueue(frames)
}

// writeFrames writes each frame with one write(2) and returns how many the
// kernel accepted. A frame the kernel rejects as malformed (EINVAL) is
// skipped. If the fd is not writable (EAGAIN, the device's send buffer is
// full) it waits in the poller until it is. Other errors end the call.
func (q *queue) writeFrames(frames [][]byte) (int, error) {
	if len(frames) == 0 {
		return 0, nil
	}
	next, sent, err := q.writeDirect(frames)
	if err == nil && next == len(frames) {
		return sent, nil
	}
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return sent, percpu.ErrClosed
		}
		return sent, fmt.Errorf("hosted: transmit on %q: %w", q.file.Name(), err)
	}
	n, err := q.transmitPolled(frames[next:])
	return sent + n, err
}

// writeDirect writes frames without the poller until they are done or the
// fd reports EAGAIN. It returns the index of the first frame not handled
// and how many were sent.
func (q *queue) writeDirect(frames [][]byte) (next, sent int, err error) {
	q.fdMu.RLock()
	defer q.fdMu.RUnlock()
	if q.fdClosed {
		return 0, 0, os.ErrClosed
	}
	for next < len(frames) {
		_, err := unix.Write(q.fd, frames[next])
		switch err {
		case nil:
			sent++
			next++
		case unix.EINTR:
		case unix.EAGAIN:
			return next, sent, nil
		case unix.EINVAL:
			next++
		default:
			return next, sent, err
		}
	}
	return next, sent, nil
}

// transmitPolled writes frames through the poller, waiting for room
// whenever the fd reports EAGAIN.
func (q *queue) transmitPolled(frames [][]byte) (int, error) {
	q.txMu.Lock()
	defer q.txMu.Unlock()
	if q.tap.closed.Load() {
		return 0, percpu.ErrClosed
	}
	q.txFrames, q.txNext, q.txSent, q.txErr = frames, 0, 0, nil
	err := q.raw.Write(q.txFn)
	sent, txErr := q.txSent, q.txErr
	q.txFrames, q.txErr = nil, nil
	if err == nil {
		err = txErr
	}
	switch {
	case err == nil:
		return sent, nil
	case q.tap.closed.Load() || errors.Is(err, os.ErrClosed):
		return sent, percpu.ErrClosed
	default:
		return sent, fmt.Errorf("hosted: transmit on %q: %w", q.file.Name(), err)
	}
}

// close stops the writer and closes the fd once no write is using it.
// Closing the fd also frees a writer waiting in the poller for room.
func (q *queue) close() error {
	q.tx.stop()
	q.fdMu.Lock()
	q.fdClosed = true
	q.fdMu.Unlock()
	err := q.file.Close()
	<-q.tx.done
	return err
}

// writeBatch is the poller callback of Transmit. It returns false to wait
// for writability.
func (q *queue) writeBatch(fd uintptr) bool {
	for q.txNext < len(q.txFrames) {
		_, err := unix.Write(int(fd), q.txFrames[q.txNext])
		switch err {
		case nil:
			q.txSent++
			q.txNext++
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		case unix.EINVAL:
			q.txNext++
		default:
			q.txErr = err
			return true
		}
	}
	return true
}
