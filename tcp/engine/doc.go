// Package engine is the appliance's purpose-built per-core TCP engine for
// IPv4 over Ethernet (RFC 9293): one instance per core behind package
// tcp's API, in place of gVisor's TCP, which stays as the reference it is
// tested against.
//
// One Engine serves one core: its connection table, listeners, timer
// wheel, free lists and lock belong to that core alone. Received frames are
// processed to completion on the goroutine calling Deliver (the core's
// worker); application goroutines calling Read and Write take the same
// per-engine lock; one timer goroutine per engine drives a 10 ms hashed
// timer wheel. Nothing on the per-segment path allocates: send and receive
// buffers are per-connection rings whose buffers come from a per-engine
// free list while they hold bytes (an idle connection holds none), and
// outgoing frames are built into pooled transmit batches.
//
// Conn.Splice joins two connections of one engine: what either receives
// is copied into the other's send buffer on the receive path, and its FIN
// follows. An L4 proxy's bytes then move without waking any goroutine.
//
// A Handler runs connections to completion instead (Listener.Serve,
// Engine.DialHandler): the engine tells it of each connection's news after
// a batch of frames, on the core's worker, and its Reads and Writes return
// ErrWouldBlock instead of waiting. No goroutine is woken per connection.
//
// Implemented: three-way handshake both ways (and simultaneous open), MSS
// and window-scale options (RFC 7323 section 2), sequence arithmetic with
// wrap-around, the receive window with receiver and sender silly-window
// avoidance, a bounded out-of-order queue (8 ranges kept in the receive
// ring itself), retransmission from the send ring, RTO per RFC 6298 (SRTT,
// RTTVAR, 200 ms floor, exponential backoff, Karn), fast retransmit and
// NewReno recovery (RFC 5681, RFC 6582) with IW10 (RFC 6928), zero-window
// probing, FIN handling in every state, a short TIME_WAIT (1 s by default,
// see Config.TimeWait) that a new SYN may end (RFC 6191), RST generation
// for segments nobody wants (Config.ResetUnknown), RST and SYN checks of
// RFC 5961 (exact-sequence RST, challenge ACKs), a SYN backlog, and ISNs
// from SipHash-2-4 of the 4-tuple under a per-engine random key plus a
// 4 µs clock (RFC 6528). Timestamps (RFC 7323 sections 3 to 5, see ts.go)
// are offered on every SYN and used when the peer's SYN carries them:
// TSval is a millisecond clock plus a keyed-hash offset per address pair
// (raised past the last TSval of a just-finished connection on the same
// 4-tuple), TS.Recent follows RFC 7323 4.3, and PAWS drops (and counts)
// old duplicates. With them, a peer holding TIME_WAIT for a reused
// 4-tuple accepts the new SYN at once (RFC 6191). RTT is still sampled
// once per flight with Karn's rule, not from TSecr; segments without TSopt
// on a timestamped connection are accepted (RFC 7323 3.2's SHOULD drop is
// not followed).
//
// ACKs of in-order data, and of a dial's SYN-ACK, are delayed by up to one
// tick so that the reply carries them; every second full-sized segment, a
// segment that fills a hole, out-of-order data and FINs are ACKed at once.
//
// With Config.VnetHdr (a Linux TAP with IFF_VNET_HDR, or virtio-net),
// frames carry a virtio_net_hdr and checksums are left to the device both
// ways. With Config.TSO as well, the engine takes the kernel's large (GRO)
// segments whole and sends segments of up to 64 KiB for the device to cut,
// so a 4 KiB response is one write to the TAP.
//
// Not implemented: SACK (RFC 2018), SYN cookies, Nagle, keep-alives,
// urgent data (URG is ignored), IP options (accepted and skipped), IP
// fragment reassembly (fragments are counted as malformed and dropped),
// ICMP (PMTU discovery, soft errors), IPv6, ARP (Config.Resolve supplies
// neighbours), and RFC 5961's ACK range check.
//
// # How package tcp uses it
//
// With tcp.Config.Engine set to tcp.EngineNative (the image's engine and
// the hosted board's default), each core runs an Engine next to its
// gVisor stack, which keeps ARP, ICMP, UDP and DHCP and has no TCP.
// Core.Deliver offers frames to DeliverBatch first and gives gVisor those
// it declines; the engine answers TCP segments for unknown connections
// with a RST itself (Config.ResetUnknown). Core.Listen
// and Core.Dial return the engine's Listener (as a net.Listener) and *Conn;
// the neighbour table and the RFD port picker come from package tcp, and
// tcp.Config.VnetHdr and TSO become Config.VnetHdr and TSO.
//
// The package must not import package tcp or gVisor (its tests use gVisor
// as a reference peer), and makes no system calls: frames arrive through
// Deliver and leave through Config.Transmit.
package engine
