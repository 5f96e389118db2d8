package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/bareproxy/bareproxy/tcp"
)

// Control virtqueue commands (virtio 1.2, 5.1.6.5).
const (
	CtrlClassMQ      = 4 // VIRTIO_NET_CTRL_MQ
	CtrlMQVQPairsSet = 0 // VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET: le16 virtqueue_pairs
	CtrlMQRSSConfig  = 1 // VIRTIO_NET_CTRL_MQ_RSS_CONFIG: struct virtio_net_rss_config

	CtrlOK  = 0 // VIRTIO_NET_OK
	CtrlErr = 1 // VIRTIO_NET_ERR
)

// RSS hash types (virtio 1.2, 5.1.6.5.6.1). The driver asks for the IPv4
// ones only; TCPv4 and UDPv4 hash srcIP, dstIP, srcPort, dstPort exactly as
// tcp.ToeplitzSteering does, IPv4 (for other protocols and fragments) hashes
// the addresses only.
const (
	HashTypeIPv4  = 1 << 0 // VIRTIO_NET_RSS_HASH_TYPE_IPv4
	HashTypeTCPv4 = 1 << 1 // VIRTIO_NET_RSS_HASH_TYPE_TCPv4
	HashTypeUDPv4 = 1 << 2 // VIRTIO_NET_RSS_HASH_TYPE_UDPv4

	wantHashTypes = HashTypeIPv4 | HashTypeTCPv4 | HashTypeUDPv4
)

const (
	// ctrlQueueSize is the control queue's ring size: commands are
	// synchronous and use at most a handful of descriptors.
	ctrlQueueSize = 16
	// ctrlBufSize is the control buffer: class, command, data, ack.
	ctrlBufSize = 4096
	// ctrlDataOff is where command data starts in the control buffer.
	ctrlDataOff = 64
	// ctrlSpins bounds the yields spent waiting for a control command.
	// Devices answer the control queue synchronously in practice (QEMU
	// handles it in the notifying vCPU's exit), so this is a safety net.
	ctrlSpins = 1 << 20
)

// errCtrlTimeout is returned when the device never answers a command.
var errCtrlTimeout = errors.New("virtio: control command not answered")

// ctrlQueue is the control virtqueue. Commands run one at a time.
type ctrlQueue struct {
	t  Transport
	vq int

	mu sync.Mutex
	// mu protects ring and buf.
	ring *splitRing
	buf  Region
}

func newCtrlQueue(t Transport, mem Memory, vq int, f Features) (*ctrlQueue, error) {
	size := min(roundDownPow2(t.MaxQueueSize(vq)), ctrlQueueSize)
	if size < 4 {
		return nil, fmt.Errorf("virtio: control queue %d has size %d", vq, t.MaxQueueSize(vq))
	}
	r, err := newSplitRing(mem, size, f.Has(RingEventIdx))
	if err != nil {
		return nil, err
	}
	buf, err := mem.Alloc(ctrlBufSize, 64)
	if err != nil {
		return nil, fmt.Errorf("virtio: allocate control buffer: %w", err)
	}
	r.suppress() // commands are polled
	c := &ctrlQueue{t: t, vq: vq, ring: r, buf: buf}
	d, drv, dev := r.addrs()
	if err := t.SetupQueue(vq, size, d, drv, dev); err != nil {
		return nil, err
	}
	return c, nil
}

// exec sends one command whose data is segs, one descriptor per segment,
// and waits for the device's ack (virtio 1.2, 5.1.6.5: class and command
// device-readable, data device-readable, ack device-writable).
func (c *ctrlQueue) exec(class, cmd uint8, segs ...[]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, b, addr := c.ring, c.buf.Bytes, c.buf.Addr
	if len(segs)+2 > int(r.mask)+1 {
		return fmt.Errorf("virtio: control command with %d segments", len(segs))
	}
	b[0], b[1] = class, cmd
	r.setDesc(0, addr, 2, descFNext, 1)
	off := ctrlDataOff
	for i, s := range segs {
		if off+len(s)+8 > len(b) {
			return fmt.Errorf("virtio: control command of %d bytes too long", off+len(s))
		}
		copy(b[off:], s)
		r.setDesc(uint16(i+1), addr+uint64(off), uint32(len(s)), descFNext, uint16(i+2))
		off = roundUp(off+len(s), 8)
	}
	b[off] = 0xff // anything but CtrlOK until the device writes it
	r.setDesc(uint16(len(segs)+1), addr+uint64(off), 1, descFWrite, 0)
	r.push(0)
	r.publish()
	if r.kick() {
		c.t.Notify(c.vq)
	}
	for i := 0; r.usedIdx() == r.lastUsed; i++ {
		if i == ctrlSpins {
			return errCtrlTimeout
		}
		runtime.Gosched()
	}
	id, _ := r.usedElem(r.lastUsed)
	r.lastUsed = r.usedIdx()
	r.suppress()
	if id != 0 {
		return fmt.Errorf("virtio: control queue returned descriptor %d", id)
	}
	if ack := b[off]; ack != CtrlOK {
		return fmt.Errorf("virtio: device refused control command %d.%d (ack %d)", class, cmd, ack)
	}
	return nil
}

// setPairs sends VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET.
func (c *ctrlQueue) setPairs(n int) error {
	return c.exec(CtrlClassMQ, CtrlMQVQPairsSet, binary.LittleEndian.AppendUint16(nil, uint16(n)))
}

// rssLimits are the device's RSS capabilities from configuration space.
type rssLimits struct {
	maxKey, maxTable int
	hashTypes        uint32
}

// rssUsable reports why s cannot be programmed into a device with limits l
// and pairs queue pairs, or nil if it can.
func rssUsable(s *tcp.ToeplitzSteering, l rssLimits, pairs int) error {
	switch n := len(s.Table); {
	case l.hashTypes&HashTypeTCPv4 == 0:
		return fmt.Errorf("virtio: device cannot hash TCPv4 (hash types %#x)", l.hashTypes)
	case l.maxKey < tcp.ToeplitzKeySize:
		return fmt.Errorf("virtio: device RSS key of %d bytes is under %d", l.maxKey, tcp.ToeplitzKeySize)
	case n == 0 || n&(n-1) != 0:
		return fmt.Errorf("virtio: indirection table of %d entries is not a power of two", n)
	case n > l.maxTable:
		return fmt.Errorf("virtio: indirection table of %d entries exceeds the device's %d", n, l.maxTable)
	}
	for i, q := range s.Table {
		if int(q) >= pairs {
			return fmt.Errorf("virtio: indirection table entry %d is queue %d of %d", i, q, pairs)
		}
	}
	return nil
}

// setRSS sends VIRTIO_NET_CTRL_MQ_RSS_CONFIG (virtio 1.2, 5.1.6.5.7.1) with
// s's key and table, hash types types, and pairs transmit queues. The
// struct goes out in three descriptors, as its variable-length table splits
// it: the fixed head, the indirection table, and max_tx_vq with the key.
func (c *ctrlQueue) setRSS(s *tcp.ToeplitzSteering, types uint32, pairs int) error {
	head := binary.LittleEndian.AppendUint32(nil, types)
	head = binary.LittleEndian.AppendUint16(head, uint16(len(s.Table)-1)) // indirection_table_mask
	head = binary.LittleEndian.AppendUint16(head, 0)                      // unclassified_queue
	table := make([]byte, 0, 2*len(s.Table))
	for _, q := range s.Table {
		table = binary.LittleEndian.AppendUint16(table, q)
	}
	tail := binary.LittleEndian.AppendUint16(nil, uint16(pairs)) // max_tx_vq
	tail = append(tail, tcp.ToeplitzKeySize)
	tail = append(tail, s.Key[:]...)
	return c.exec(CtrlClassMQ, CtrlMQRSSConfig, head, table, tail)
}

// roundDownPow2 returns the largest power of two <= n, or 0.
func roundDownPow2(n int) int {
	if n <= 0 {
		return 0
	}
	p := 1
	for p*2 <= n {
		p *= 2
	}
	return p
}
