package engine

import "encoding/binary"

// Header sizes and field values (IEEE 802.3, RFC 791, RFC 9293).
const (
	ethHdrLen     = 14
	ipv4HdrLen    = 20
	tcpHdrLen     = 20
	etherTypeIPv4 = 0x0800
	protoTCP      = 6
	ipv4DF        = 0x4000 // don't fragment (RFC 791 section 3.1)
	ipv4MF        = 0x2000 // more fragments
	ipv4OffMask   = 0x1fff
	defaultTTL    = 64
	// tcpCsumOffset is the checksum field's offset in the TCP header.
	tcpCsumOffset = 16
	// maxTSOLen bounds a TSO segment's IPv4 total length (16 bits).
	maxTSOLen = 65535
)

// TCP control bits (RFC 9293 section 3.1).
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
	flagURG = 0x20
)

// TCP option kinds (RFC 9293 section 3.2, RFC 7323).
const (
	optEnd = 0
	optNOP = 1
	optMSS = 2
	optWS  = 3
	optTS  = 8
)

// tsOptLen is the space the timestamps option takes on every segment once
// negotiated: two NOPs and the 10-byte option (RFC 7323 appendix A).
const tsOptLen = 12

// maxWScale is the largest window shift RFC 7323 section 2.3 allows.
const maxWScale = 14

// segment is a parsed TCP segment. payload aliases the received frame.
type segment struct {
	srcMAC           [6]byte
	srcIP            [4]byte
	srcPort, dstPort uint16
	seq, ack         uint32
	flags            uint8
	wnd              uint16
	payload          []byte
	// mss is the MSS option, 0 if absent; ws the window-scale option,
	// -1 if absent. Both are only meaningful on SYNs.
	mss uint16
	ws  int8
	// tsOK says the segment carried the timestamps option (RFC 7323
	// section 3), with tsVal and tsEcr.
	tsOK         bool
	tsVal, tsEcr uint32
}

// seqLen is the segment's length in sequence space (RFC 9293 3.4).
func (s *segment) seqLen() uint32 {
	n := uint32(len(s.payload))
	if s.flags&flagSYN != 0 {
		n++
	}
	if s.flags&flagFIN != 0 {
		n++
	}
	return n
}

// parseResult says what parse made of a frame.
type parseResult int

const (
	parseOK        parseResult = iota
	parseNotOurs               // not IPv4/TCP to our address: someone else's business
	parseMalformed             // ours but truncated or inconsistent
	parseBadSum                // ours but a checksum failed
	parseFragment              // an IP fragment: not reassembled, dropped
)

// parse reads an Ethernet/IPv4/TCP frame addressed to addr into s. It checks
// every length before touching a field and never panics. verify asks for
// the IPv4 and TCP checksums to be checked.
func parse(frame []byte, addr [4]byte, verify bool, s *segment) parseResult {
	if len(frame) < ethHdrLen+ipv4HdrLen {
		if len(frame) >= ethHdrLen && binary.BigEndian.Uint16(frame[12:]) == etherTypeIPv4 {
			return parseMalformed
		}
		return parseNotOurs
	}
	if binary.BigEndian.Uint16(frame[12:]) != etherTypeIPv4 {
		return parseNotOurs
	}
	ip := frame[ethHdrLen:]
	if ip[0]>>4 != 4 {
		return parseNotOurs
	}
	if ip[9] != protoTCP || [4]byte(ip[16:20]) != addr {
		return parseNotOurs
	}
	ihl := int(ip[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < ipv4HdrLen || total < ihl || total > len(ip) {
		return parseMalformed
	}
	if frag := binary.BigEndian.Uint16(ip[6:]); frag&(ipv4MF|ipv4OffMask) != 0 {
		return parseFragment
	}
	ip = ip[:total] // drop Ethernet padding
	if verify && checksum(ip[:ihl], 0) != 0 {
		return parseBadSum
	}
	tcp := ip[ihl:]
	if len(tcp) < tcpHdrLen {
		return parseMalformed
	}
	doff := int(tcp[12]>>4) * 4
	if doff < tcpHdrLen || doff > len(tcp) {
		return parseMalformed
	}
	if verify && checksum(tcp, pseudoSum([4]byte(ip[12:16]), addr, len(tcp))) != 0 {
		return parseBadSum
	}
	copy(s.srcMAC[:], frame[6:12])
	s.srcIP = [4]byte(ip[12:16])
	s.srcPort = binary.BigEndian.Uint16(tcp[0:])
	s.dstPort = binary.BigEndian.Uint16(tcp[2:])
	s.seq = binary.BigEndian.Uint32(tcp[4:])
	s.ack = binary.BigEndian.Uint32(tcp[8:])
	s.flags = tcp[13] & 0x3f
	s.wnd = binary.BigEndian.Uint16(tcp[14:])
	s.payload = tcp[doff:]
	s.mss, s.ws, s.tsOK = 0, -1, false
	if !parseOptions(tcp[tcpHdrLen:doff], s) {
		return parseMalformed
	}
	return parseOK
}

// parseOptions reads the MSS, window-scale and timestamps options. Unknown options are
// skipped by their length; a length that overruns the header is malformed
// (RFC 9293 section 3.2 asks to be ready for any option).
func parseOptions(opts []byte, s *segment) bool {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case optEnd:
			return true
		case optNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return false
		}
		n := int(opts[i+1])
		if n < 2 || i+n > len(opts) {
			return false
		}
		switch opts[i] {
		case optMSS:
			if n != 4 {
				return false
			}
			s.mss = binary.BigEndian.Uint16(opts[i+2:])
		case optWS:
			if n != 3 {
				return false
			}
			ws := opts[i+2]
			if ws > maxWScale { // RFC 7323 section 2.3: use 14
				ws = maxWScale
			}
			s.ws = int8(ws)
		case optTS:
			if n != 10 {
				return false
			}
			s.tsOK = true
			s.tsVal = binary.BigEndian.Uint32(opts[i+2:])
			s.tsEcr = binary.BigEndian.Uint32(opts[i+6:])
		}
		i += n
	}
	return true
}

// pseudoSum is the unfolded sum of the TCP pseudo-header (RFC 9293 3.1).
func pseudoSum(src, dst [4]byte, tcpLen int) uint64 {
	return uint64(binary.BigEndian.Uint32(src[:])) + uint64(binary.BigEndian.Uint32(dst[:])) +
		protoTCP + uint64(tcpLen)
}

// sum adds b to acc as big-endian 16-bit words (RFC 1071), 8 bytes at a
// time. An odd trailing byte is padded with zero.
func sum(b []byte, acc uint64) uint64 {
	for len(b) >= 8 {
		acc += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	if len(b) >= 4 {
		acc += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold folds a sum to 16 bits and complements it.
func fold(acc uint64) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return ^uint16(acc)
}

// checksum returns the Internet checksum of b over the initial sum acc;
// zero means a received header verifies.
func checksum(b []byte, acc uint64) uint16 { return fold(sum(b, acc)) }

// hdr describes an outgoing segment for build.
type hdr struct {
	dstMAC           [6]byte
	dstIP            [4]byte
	srcPort, dstPort uint16
	seq, ack         uint32
	flags            uint8
	wnd              uint16
}

// build writes an Ethernet/IPv4/TCP frame into buf (which must hold
// ethHdrLen+ipv4HdrLen+tcpHdrLen+len(opts)+len(p1)+len(p2) bytes) and
// returns it. opts must be a multiple of 4 bytes. The payload is p1 then p2
// (a ring buffer's two halves). With partial, the TCP checksum field holds
// only the pseudo-header's sum, for a device to finish (checksum offload).
func build(buf []byte, srcMAC [6]byte, srcIP [4]byte, h *hdr, opts, p1, p2 []byte, partial bool) []byte {
	tcpLen := tcpHdrLen + len(opts) + len(p1) + len(p2)
	n := ethHdrLen + ipv4HdrLen + tcpLen
	f := buf[:n]
	copy(f[0:6], h.dstMAC[:])
	copy(f[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(f[12:], etherTypeIPv4)
	ip := f[ethHdrLen:]
	ip[0] = 0x45
	ip[1] = 0
	binary.BigEndian.PutUint16(ip[2:], uint16(ipv4HdrLen+tcpLen))
	binary.BigEndian.PutUint32(ip[4:], ipv4DF) // ID 0 is fine for atomic datagrams (RFC 6864)
	ip[8] = defaultTTL
	ip[9] = protoTCP
	ip[10], ip[11] = 0, 0
	copy(ip[12:16], srcIP[:])
	copy(ip[16:20], h.dstIP[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip[:ipv4HdrLen], 0))
	tcp := ip[ipv4HdrLen:]
	binary.BigEndian.PutUint16(tcp[0:], h.srcPort)
	binary.BigEndian.PutUint16(tcp[2:], h.dstPort)
	binary.BigEndian.PutUint32(tcp[4:], h.seq)
	binary.BigEndian.PutUint32(tcp[8:], h.ack)
	tcp[12] = byte((tcpHdrLen + len(opts)) / 4 << 4)
	tcp[13] = h.flags
	binary.BigEndian.PutUint16(tcp[14:], h.wnd)
	tcp[16], tcp[17], tcp[18], tcp[19] = 0, 0, 0, 0
	o := tcpHdrLen
	o += copy(tcp[o:], opts)
	o += copy(tcp[o:], p1)
	copy(tcp[o:], p2)
	if partial {
		binary.BigEndian.PutUint16(tcp[tcpCsumOffset:], ^fold(pseudoSum(srcIP, h.dstIP, tcpLen)))
		return f
	}
	binary.BigEndian.PutUint16(tcp[tcpCsumOffset:], checksum(tcp, pseudoSum(srcIP, h.dstIP, tcpLen)))
	return f
}

// optBuf holds the options of one outgoing segment: at most MSS (4),
// NOP+window scale (4) and NOP+NOP+timestamps (12).
type optBuf [20]byte

// synOptions writes the options of a SYN or SYN-ACK into b and returns
// them: MSS, then window scale when ws >= 0, then timestamps when ts,
// each padded with NOPs to a 4-byte boundary.
func synOptions(b *optBuf, mss uint16, ws int8, ts bool, tsVal, tsEcr uint32) []byte {
	b[0], b[1] = optMSS, 4
	binary.BigEndian.PutUint16(b[2:], mss)
	n := 4
	if ws >= 0 {
		b[4], b[5], b[6], b[7] = optNOP, optWS, 3, byte(ws)
		n = 8
	}
	if ts {
		n += putTS(b[n:], tsVal, tsEcr)
	}
	return b[:n]
}

// putTS writes NOP, NOP and the timestamps option into b and returns
// tsOptLen.
func putTS(b []byte, tsVal, tsEcr uint32) int {
	b[0], b[1], b[2], b[3] = optNOP, optNOP, optTS, 10
	binary.BigEndian.PutUint32(b[4:], tsVal)
	binary.BigEndian.PutUint32(b[8:], tsEcr)
	return tsOptLen
}
