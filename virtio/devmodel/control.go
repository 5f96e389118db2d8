package devmodel

import (
	"encoding/binary"
	"net/netip"

	"github.com/bareproxy/bareproxy/tcp"
	"github.com/bareproxy/bareproxy/virtio"
)

// processControl answers every pending control command (virtio 1.2,
// 5.1.6.5): class and command, data, then one device-writable ack byte.
func (d *Device) processControl(q *vq) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.ready {
		return
	}
	old := q.usedIdx
	for {
		head, ok := q.pop()
		if !ok {
			break
		}
		segs, err := q.walk(head)
		if err != nil || len(segs) < 2 || !segs[len(segs)-1].write || len(segs[len(segs)-1].b) < 1 {
			d.stats.BadChains.Add(1)
			q.putUsed(uint32(head), 0)
			continue
		}
		cmd := q.gather(segs)
		ack := byte(virtio.CtrlErr)
		if len(cmd) >= 2 && !d.cfg.RejectControl && d.command(cmd[0], cmd[1], cmd[2:]) {
			ack = virtio.CtrlOK
		}
		if ack != virtio.CtrlOK {
			d.stats.BadCommands.Add(1)
		}
		segs[len(segs)-1].b[0] = ack
		q.putUsed(uint32(head), 1)
	}
	q.setAvailEvent(q.lastAvail)
	if q.publish(old) {
		q.interrupts.Add(1)
		go d.interrupt(1) // q.mu is held; the line is asynchronous anyway
	}
}

// command executes one control command and reports success.
func (d *Device) command(class, cmd byte, data []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.driverFeat
	if class != virtio.CtrlClassMQ {
		return false
	}
	switch cmd {
	case virtio.CtrlMQVQPairsSet:
		if !f.Has(virtio.NetMQ) || len(data) != 2 {
			return false
		}
		n := int(binary.LittleEndian.Uint16(data))
		if n < 1 || n > d.cfg.MaxPairs {
			return false
		}
		// As QEMU does, VQ_PAIRS_SET leaves RSS mode.
		d.pairs, d.rss = n, nil
		return true
	case virtio.CtrlMQRSSConfig:
		if !f.Has(virtio.NetRSS) {
			return false
		}
		return d.rssConfigLocked(data)
	}
	return false
}

// rssConfigLocked parses struct virtio_net_rss_config (virtio 1.2,
// 5.1.6.5.7.1) and checks it as the device requirements of that section say.
func (d *Device) rssConfigLocked(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	types := binary.LittleEndian.Uint32(b[0:])
	n := int(binary.LittleEndian.Uint16(b[4:])) + 1
	unclass := int(binary.LittleEndian.Uint16(b[6:]))
	if types&^d.cfg.HashTypes != 0 || n&(n-1) != 0 || n > d.cfg.RSSMaxTable ||
		unclass >= d.cfg.MaxPairs || len(b) < 8+2*n+3 {
		return false
	}
	table := make([]uint16, n)
	for i := range table {
		table[i] = binary.LittleEndian.Uint16(b[8+2*i:])
		if int(table[i]) >= d.cfg.MaxPairs {
			return false
		}
	}
	rest := b[8+2*n:]
	txq := int(binary.LittleEndian.Uint16(rest[0:]))
	keyLen := int(rest[2])
	if txq < 1 || txq > d.cfg.MaxPairs || keyLen > d.cfg.RSSMaxKey ||
		keyLen > tcp.ToeplitzKeySize || len(rest) < 3+keyLen {
		return false
	}
	s := &tcp.ToeplitzSteering{Table: table, N: txq}
	copy(s.Key[:], rest[3:3+keyLen])
	d.rss, d.hashTypes, d.unclass, d.pairs = s, types, unclass, txq
	return true
}

// Pairs returns how many queue pairs the driver enabled.
func (d *Device) Pairs() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pairs
}

// RSS returns the steering the driver programmed and its hash types, or nil.
func (d *Device) RSS() (*tcp.ToeplitzSteering, uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rss, d.hashTypes
}

// Steer returns the RX queue pair a frame goes to. With RSS programmed, an
// IPv4 TCP or UDP frame (not a fragment) whose hash type is enabled goes to
// the programmed steering's Core of its flow, any other IPv4 frame with the
// IPv4 type enabled by the hash of its addresses, and the rest to the
// unclassified queue (virtio 1.2, 5.1.6.4.3). Without RSS everything goes to
// pair 0.
func (d *Device) Steer(frame []byte) int {
	d.mu.Lock()
	s, types, unclass := d.rss, d.hashTypes, d.unclass
	d.mu.Unlock()
	if s == nil {
		return 0
	}
	if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
		return unclass
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || len(ip) < ihl {
		return unclass
	}
	src := netip.AddrFrom4([4]byte(ip[12:16]))
	dst := netip.AddrFrom4([4]byte(ip[16:20]))
	fragment := binary.BigEndian.Uint16(ip[6:])&0x3fff != 0
	proto := ip[9]
	l4 := ip[ihl:]
	if !fragment && len(l4) >= 4 &&
		(proto == 6 && types&virtio.HashTypeTCPv4 != 0 || proto == 17 && types&virtio.HashTypeUDPv4 != 0) {
		return s.Core(tcp.Flow{
			Src: src, Dst: dst,
			SrcPort: binary.BigEndian.Uint16(l4[0:]),
			DstPort: binary.BigEndian.Uint16(l4[2:]),
		})
	}
	if types&virtio.HashTypeIPv4 != 0 {
		h := tcp.Toeplitz(&s.Key, ip[12:20])
		return int(s.Table[h&uint32(len(s.Table)-1)])
	}
	return unclass
}
