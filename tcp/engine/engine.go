package engine

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/bareproxy/bareproxy/virtio/nethdr"
)

// Config describes one core's engine.
type Config struct {
	// Addr is the IPv4 address the engine answers for. Required.
	Addr netip.Addr
	// MAC is the Ethernet source address of every frame sent. Required.
	MAC [6]byte
	// MTU is the IP MTU. Zero means 1500.
	MTU int
	// Transmit sends frames in order. Calls come from several goroutines
	// (the one calling Deliver, application goroutines, the timer
	// goroutine) but never overlap, and come in the order the engine
	// built the frames, so a connection's segments leave in sequence. It
	// must not keep the slices after it returns and must not call back
	// into any engine synchronously. Required.
	Transmit func(frames [][]byte)
	// Resolve returns the Ethernet address of an on-link IPv4 neighbour,
	// used by Dial only (replies to incoming connections go to the
	// source MAC of their SYN). It is called without the engine's lock.
	// Nil, or false, makes Dial fail.
	Resolve func(ip netip.Addr) ([6]byte, bool)
	// PickPort returns a local port for a dial to remote, e.g. one whose
	// reply hash steers to this core (Receive Flow Deliver). It is called
	// with the engine's lock held and must not call into the engine. A
	// port whose 4-tuple is in use is asked for again, up to
	// maxPortPicks times.
	// Nil means the engine's own ephemeral search over 32768-60999.
	PickPort func(remote netip.AddrPort) (uint16, bool)
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// RXChecksumOffload skips checksum verification of received frames
	// (set it only where frames cannot be corrupted, as for tcp.Config's
	// field of the same name). False means verify.
	RXChecksumOffload bool
	// ResetUnknown makes Deliver answer a TCP segment to our address that
	// matches no listener or connection with a RST (RFC 9293 3.10.7.1)
	// and report it handled. False makes Deliver return false for such
	// frames, so the caller can hand them to another stack.
	ResetUnknown bool
	// BufferSize is the size of each connection's send buffer and receive
	// buffer. Zero means 64 KiB. It bounds the receive window.
	BufferSize int
	// Backlog bounds each listener's half-open plus not-yet-accepted
	// connections. Zero means 1024.
	Backlog int
	// TimeWait is how long TIME_WAIT lasts. Zero means 1 s: RFC 9293
	// asks for 2*MSL, but a proxy that closes tens of thousands of
	// connections a second cannot hold ports for a minute; one second
	// is hundreds of LAN round trips (see tcp.DefaultTimeWait).
	TimeWait time.Duration
	// VnetHdr says that every frame given to Deliver and Transmit starts
	// with a virtio_net_hdr of nethdr.Size bytes (Linux's TAP with
	// IFF_VNET_HDR, or virtio-net). The engine leaves the TCP checksum
	// of what it sends partial (NEEDS_CSUM) for the device to finish,
	// and does not verify received ones the header calls partial or
	// valid: neither end sums the payload.
	VnetHdr bool
	// TSO, with VnetHdr, says that the device cuts segments (Linux's TAP
	// with TSO4 offload, VIRTIO_NET_F_HOST_TSO4): the engine sends
	// segments of up to 64 KiB for it to cut into MSS-sized ones, one
	// frame and one write to a TAP instead of one per MSS. Received
	// frames may be that large too. False keeps every segment within
	// one MSS.
	TSO bool
	// DisableTimestamps stops the engine offering the timestamps option
	// (RFC 7323) on its SYNs and accepting it on peers' SYNs. False
	// means timestamps are used when both sides offer them.
	DisableTimestamps bool
}

// Defaults for Config's zero values and fixed tunables.
const (
	defaultMTU        = 1500
	defaultBufferSize = 64 << 10
	defaultBacklog    = 1024
	defaultTimeWait   = time.Second
	// initialRTO is RFC 6298 section 2.1's 1 s.
	initialRTO = time.Second
	// minRTO is Linux's floor, not RFC 6298's 1 s, which dwarfs LAN RTTs.
	minRTO = 200 * time.Millisecond
	// maxRTO is RFC 6298 section 2.5's upper bound.
	maxRTO = 60 * time.Second
	// maxSynRetries gives up a dial after about 15 s (1+2+4+8).
	maxSynRetries = 3
	// maxPortPicks bounds the Config.PickPort answers one dial tries. A
	// picker that walks the ports in order meets the ports of
	// connections dialled together in one run: a server's pool of idle
	// connections, dialled in a burst and kept for seconds, is such a
	// run, 128 ports long with the proxy's pool. A dial then failed at
	// 64 with ports to spare. The bound keeps a dial with the ports
	// truly exhausted to about 100 µs under the engine lock.
	maxPortPicks = 1024
	// maxRetries gives up an established connection after this many
	// consecutive RTOs (RFC 1122 4.2.3.5's R2; Linux uses 15).
	maxRetries = 12
	// finWait2Timeout bounds FIN_WAIT_2 of connections the application
	// has closed, whose peer may never send its FIN (Linux: 60 s).
	finWait2Timeout = 15 * time.Second
	// maxFreeTCBs bounds the per-engine free lists.
	maxFreeTCBs = 4096
)

// ErrClosed is returned by operations on a closed engine.
var ErrClosed = errors.New("engine: closed")

// Engine is one core's TCP engine. Its state is guarded by one lock that
// belongs to this core alone; Deliver runs segment processing to
// completion on the caller's goroutine.
type Engine struct {
	cfg      Config
	addr4    [4]byte
	mss      int  // our MSS: MTU - 40
	frameLen int  // the largest frame without TSO, virtio_net_hdr included
	room     int  // nethdr.Size with Config.VnetHdr, else 0
	rcvShift int8 // window scale we offer
	key      [2]uint64
	epoch    time.Time
	tsBase   uint32           // the wall clock in ms at epoch, modulo 2^32
	now      func() time.Time // Config.Now; nil for the real clock

	stats counters

	// freeBatches holds up to maxFreeBatches transmit batches between
	// uses, under freeMu: not a sync.Pool, so that a GC does not drop
	// their buffers, and not a channel, whose receive made the stack of
	// a goroutine writing its first segment outgrow its first 2 KiB
	// (a stack copy per new connection goroutine).
	freeMu      sync.Mutex
	freeBatches []*txBatch

	// txMu orders transmit batches: it is taken before e.mu is released,
	// so batches leave in the order they were built even though most are
	// sent outside e.mu.
	txMu sync.Mutex

	// mu protects everything below and every tcb, Listener and Conn
	// field marked "guarded by e.mu". Lock order: mu, then txMu;
	// Transmit is called with txMu held, and with mu too for full
	// batches.
	mu        sync.Mutex
	conns     map[uint64]*tcb
	listeners map[uint16]*Listener
	wheel     wheel
	freeTCBs  []*tcb
	freeBufs  [][]byte
	pending   []pendingOut
	delayed   []pendingOut // tcbs owing a delayed ACK, see delayAck
	cur       *txBatch
	portNext  uint16
	closed    bool
	tsCache   [tsCacheSize]tsEntry // see ts.go
	clockNow  int64                // see clock
	clockSet  bool
	ready     []*Conn // connections whose Handler has news, see runHandlers

	// handlerMu keeps Handler calls from overlapping (the worker and the
	// timer goroutine both run them) and guards handling, the batch
	// being called.
	handlerMu sync.Mutex
	handling  []*Conn
	// freeConns holds Conns their Handlers closed, for newConn: nobody
	// holds them any more (see Handler), and a connection run to
	// completion then allocates nothing.
	freeConns []*Conn

	done chan struct{}
	wg   sync.WaitGroup
}

// pendingOut is a tcb whose output runs before the lock is released; gen
// guards against the tcb having been recycled meanwhile.
type pendingOut struct {
	t   *tcb
	gen uint32
}

// New makes an engine and starts its timer goroutine; Close stops it. It
// panics on an invalid Config (misconfiguration at init).
func New(cfg Config) *Engine {
	if !cfg.Addr.Is4() {
		panic(fmt.Sprintf("engine: address %q is not IPv4", cfg.Addr.String()))
	}
	if cfg.Transmit == nil {
		panic("engine: no Transmit")
	}
	if cfg.TSO && !cfg.VnetHdr {
		panic("engine: TSO without VnetHdr")
	}
	if cfg.MTU == 0 {
		cfg.MTU = defaultMTU
	}
	if cfg.MTU < 576 || cfg.MTU > 9000 {
		panic(fmt.Sprintf("engine: MTU %d out of range [576, 9000]", cfg.MTU))
	}
	if cfg.BufferSize == 0 {
		cfg.BufferSize = defaultBufferSize
	}
	if cfg.BufferSize < 4096 || cfg.BufferSize > 1<<30 {
		panic(fmt.Sprintf("engine: buffer size %d out of range", cfg.BufferSize))
	}
	if cfg.Backlog == 0 {
		cfg.Backlog = defaultBacklog
	}
	if cfg.TimeWait == 0 {
		cfg.TimeWait = defaultTimeWait
	}
	e := &Engine{
		cfg:       cfg,
		addr4:     cfg.Addr.As4(),
		mss:       cfg.MTU - ipv4HdrLen - tcpHdrLen,
		frameLen:  ethHdrLen + cfg.MTU,
		now:       cfg.Now,
		conns:     make(map[uint64]*tcb),
		listeners: make(map[uint16]*Listener),
		pending:   make([]pendingOut, 0, 64),
		done:      make(chan struct{}),
	}
	if cfg.VnetHdr {
		e.room = nethdr.Size
		e.frameLen += nethdr.Size
	}
	// The smallest shift that lets the window field cover the buffer.
	for (cfg.BufferSize >> e.rcvShift) > 0xffff {
		e.rcvShift++
	}
	var k [16]byte
	if _, err := crand.Read(k[:]); err != nil {
		panic(fmt.Sprintf("engine: isn key: %v", err))
	}
	e.key = [2]uint64{binary.LittleEndian.Uint64(k[:]), binary.LittleEndian.Uint64(k[8:])}
	if e.now != nil {
		e.epoch = e.now()
	} else {
		e.epoch = time.Now()
	}
	e.tsBase = uint32(e.epoch.UnixMilli()) // see ts.go
	e.portNext = uint16(32768 + binary.LittleEndian.Uint16(k[:2])%28232)
	e.wheel.init(e.clock())
	e.wg.Add(1)
	go e.timerLoop()
	return e
}

// lock takes e.mu and starts a locked section with a fresh clock.
func (e *Engine) lock() {
	e.mu.Lock()
	e.clockSet = false
}

// clock returns nanoseconds since the engine started, read once per locked
// section: a section lasts microseconds, every use of the clock tolerates
// that (the RTO floor is 200 ms, TSval ticks in milliseconds), and a
// connection's life used to read it about a dozen times per end, 12% of
// the engine's CPU at 43 ns a read. The real clock is read with
// time.Since, which reads only the monotonic clock where time.Now also
// reads the wall clock.
func (e *Engine) clock() int64 {
	if !e.clockSet {
		if e.now != nil {
			e.clockNow = int64(e.now().Sub(e.epoch))
		} else {
			e.clockNow = int64(time.Since(e.epoch))
		}
		e.clockSet = true
	}
	return e.clockNow
}

// Close aborts every connection (sending RSTs), closes every listener and
// stops the timer goroutine; Handlers hear of their connections' end before
// it returns, so a Handler must not call it. Close is idempotent.
func (e *Engine) Close() {
	e.lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	for _, l := range e.listeners {
		e.closeListenerLocked(l)
	}
	for _, t := range e.conns {
		e.abortLocked(t, ErrClosed, true)
	}
	close(e.done)
	e.unlockAndHandle() // handlers hear of their connections' end, as Reads would
	e.wg.Wait()
}

// MSS returns the MSS the engine offers: MTU minus 40.
func (e *Engine) MSS() int { return e.mss }

// Deliver processes one received frame and reports whether it was the
// engine's business: an IPv4 TCP segment to its address that matched a
// listener or connection (or any such segment, with Config.ResetUnknown).
// Malformed segments to our address are counted, dropped and reported
// handled. Frames that are not IPv4 TCP to our address (ARP, ICMP, other
// addresses) return false untouched. Deliver copies what it keeps.
func (e *Engine) Deliver(frame []byte) bool {
	var s segment
	switch e.parse(frame, &s) {
	case parseNotOurs:
		return false
	case parseMalformed, parseFragment:
		e.stats.malformed.Add(1)
		return true
	case parseBadSum:
		e.stats.badChecksum.Add(1)
		return true
	}
	e.lock()
	ok := e.inputLocked(&s)
	e.unlockAndHandle()
	return ok
}

// DeliverBatch is Deliver for several frames under one lock acquisition;
// ACKs for segments of one connection in the batch are coalesced. handled,
// if not nil, receives Deliver's result per frame.
func (e *Engine) DeliverBatch(frames [][]byte, handled []bool) {
	e.lock()
	for i, f := range frames {
		var s segment
		ok := true
		switch e.parse(f, &s) {
		case parseNotOurs:
			ok = false
		case parseMalformed, parseFragment:
			e.stats.malformed.Add(1)
		case parseBadSum:
			e.stats.badChecksum.Add(1)
		default:
			ok = e.inputLocked(&s)
		}
		if handled != nil {
			handled[i] = ok
		}
	}
	e.unlockAndHandle()
}

// parse parses a received frame, after its virtio_net_hdr with
// Config.VnetHdr. A checksum the header calls partial or valid is not
// verified.
func (e *Engine) parse(frame []byte, s *segment) parseResult {
	verify := !e.cfg.RXChecksumOffload
	if e.room > 0 {
		if len(frame) < e.room {
			return parseMalformed
		}
		if nethdr.Parse(frame).Flags&(nethdr.NeedsCsum|nethdr.DataValid) != 0 {
			verify = false
		}
		frame = frame[e.room:]
	}
	return parse(frame, e.addr4, verify, s)
}

// unlock runs pending output, takes the transmit batch, releases e.mu and
// transmits the batch outside it, in turn (txMu).
func (e *Engine) unlock() {
	for i := 0; i < len(e.pending); i++ {
		p := e.pending[i]
		p.t.inPending = false
		if p.t.gen == p.gen {
			e.outputLocked(p.t)
		}
	}
	e.pending = e.pending[:0]
	b := e.cur
	e.cur = nil
	if b == nil {
		e.mu.Unlock()
		return
	}
	e.txMu.Lock()
	e.mu.Unlock()
	e.transmit(b)
	e.txMu.Unlock()
}

// unlockAndHandle is unlock, then the Handler calls that the locked
// section queued (see runHandlers), if any: a section without news costs
// no more than unlock.
func (e *Engine) unlockAndHandle() {
	news := len(e.ready) > 0
	e.unlock()
	if news {
		e.runHandlers()
	}
}

// schedule queues t's output (data, or an ACK when t.ackNow) for the end
// of the current locked section.
func (e *Engine) schedule(t *tcb) {
	if t.inPending {
		return
	}
	t.inPending = true
	e.pending = append(e.pending, pendingOut{t, t.gen})
}

// delayAck owes the peer an ACK by the next timer tick instead of now
// (RFC 9293 3.8.6.3, RFC 1122 4.2.3.2). A proxy answers most segments
// within a tick, and the answer carries the ACK: for one request per
// connection this saves two of the seven segments the engine would send,
// and each segment costs a TAP write and the peer's receive path. The
// delay is at most one tick (10 ms), well under the RFC's 500 ms and
// Linux's 40 ms minimum, so a peer that waits for our ACK (Nagle, or an
// odd segment at the end of its window) stalls for less than that.
func (e *Engine) delayAck(t *tcb) {
	if t.ackDelayed {
		return
	}
	t.ackDelayed = true
	e.delayed = append(e.delayed, pendingOut{t, t.gen})
}

// flushDelayedAcks sends the ACKs that no segment carried since delayAck.
func (e *Engine) flushDelayedAcks() {
	for i, p := range e.delayed {
		e.delayed[i] = pendingOut{}
		if p.t.gen != p.gen || !p.t.ackDelayed {
			continue
		}
		p.t.ackDelayed = false
		switch p.t.state {
		case StateEstablished, StateCloseWait, StateFinWait1, StateFinWait2, StateClosing, StateLastAck, StateTimeWait:
			e.stats.delayedAcks.Add(1)
			e.sendAck(p.t)
		}
	}
	e.delayed = e.delayed[:0]
}

// txBatchSize is how many frames a transmit batch holds.
const txBatchSize = 64

// maxFreeBatches bounds the transmit batches an engine keeps for reuse.
const maxFreeBatches = 8

// txBatch is a batch of frames for one Transmit call, carved in turn from
// the batch's own memory.
type txBatch struct {
	frames [][]byte
	mem    []byte
	used   int
}

// newTxBatch makes a batch with room for txBatchSize frames of frameLen
// bytes, and with TSO for at least four of the largest segments.
func (e *Engine) newTxBatch() *txBatch {
	size := txBatchSize * e.frameLen
	if e.cfg.TSO {
		size = max(size, 4*(e.room+ethHdrLen+maxTSOLen))
	}
	return &txBatch{frames: make([][]byte, 0, txBatchSize), mem: make([]byte, size)}
}

// frameBuf returns a buffer of size bytes for the next outgoing frame; the
// caller must append the built frame with addFrame.
func (e *Engine) frameBuf(size int) []byte {
	if b := e.cur; b != nil && (len(b.frames) == txBatchSize || len(b.mem)-b.used < size) {
		e.cur = nil
		e.txMu.Lock() // a full batch goes now, under the lock
		e.transmit(b)
		e.txMu.Unlock()
	}
	if e.cur == nil {
		e.freeMu.Lock()
		if n := len(e.freeBatches); n > 0 {
			e.cur = e.freeBatches[n-1]
			e.freeBatches[n-1] = nil
			e.freeBatches = e.freeBatches[:n-1]
		}
		e.freeMu.Unlock()
		if e.cur == nil {
			e.cur = e.newTxBatch()
		}
	}
	b := e.cur
	return b.mem[b.used : b.used+size : b.used+size]
}

func (e *Engine) addFrame(f []byte) {
	e.cur.frames = append(e.cur.frames, f)
	e.cur.used += len(f)
	e.stats.segsOut.Add(1)
}

func (e *Engine) transmit(b *txBatch) {
	if len(b.frames) > 0 {
		e.cfg.Transmit(b.frames)
	}
	clear(b.frames)
	b.frames = b.frames[:0]
	b.used = 0
	e.freeMu.Lock()
	if len(e.freeBatches) < maxFreeBatches {
		e.freeBatches = append(e.freeBatches, b)
	}
	e.freeMu.Unlock()
}

// timerTick is the timer wheel's granularity.
const timerTick = 10 * time.Millisecond

// timerLoop advances the timer wheel every tick until Close.
func (e *Engine) timerLoop() {
	defer e.wg.Done()
	tk := time.NewTicker(timerTick)
	defer tk.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-tk.C:
		}
		e.lock()
		e.wheel.advance(e.clock(), e.fireLocked)
		e.flushDelayedAcks()
		e.unlockAndHandle()
	}
}

// connKey is the demultiplexing key: remote address, remote port, local
// port (the local address is the engine's).
func connKey(rip [4]byte, rport, lport uint16) uint64 {
	return uint64(binary.BigEndian.Uint32(rip[:]))<<32 | uint64(rport)<<16 | uint64(lport)
}

// getBuf returns a buffer of BufferSize bytes, from the free list if it can.
func (e *Engine) getBuf() []byte {
	if n := len(e.freeBufs); n > 0 {
		b := e.freeBufs[n-1]
		e.freeBufs[n-1] = nil
		e.freeBufs = e.freeBufs[:n-1]
		return b
	}
	return make([]byte, e.cfg.BufferSize)
}

func (e *Engine) putBuf(b []byte) {
	if b != nil && len(e.freeBufs) < 2*maxFreeTCBs {
		e.freeBufs = append(e.freeBufs, b)
	}
}

// bufFor gives r a buffer before bytes are written to it (see ring).
func (e *Engine) bufFor(r *ring) {
	if r.buf == nil && r.size > 0 {
		r.buf = e.getBuf()
		r.head = 0
	}
}

// releaseBuf takes back the buffer of r once it holds nothing; keep says
// it still holds bytes beyond n (out-of-order data).
func (e *Engine) releaseBuf(r *ring, keep bool) {
	if r.n == 0 && !keep && r.buf != nil {
		e.putBuf(r.buf)
		r.buf = nil
		r.head = 0
	}
}
