package tcp

import (
	"sync/atomic"

	"github.com/bareproxy/bareproxy/tcp/engine"
)

// CoreStats are one core's counters, read with Core.Stats.
type CoreStats struct {
	// Malformed counts frames Steer or Deliver could not parse (runts,
	// bad IPv4 headers, truncated TCP/UDP/ICMP).
	Malformed uint64
	// Unsupported counts well-formed frames of protocols the appliance
	// does not speak (IPv6, VLAN tags, LLDP and other EtherTypes).
	Unsupported uint64
	// NotForUs counts unicast frames for another MAC.
	NotForUs uint64
	// DroppedDetached counts frames delivered before the stack was
	// attached or after Close.
	DroppedDetached uint64
	// ICMPErrors counts ICMP errors (destination unreachable, source
	// quench, time exceeded, parameter problem) delivered to this core.
	ICMPErrors uint64
	// ARPRepliesSuppressed counts ARP replies this core's stack wrote
	// and the link dropped, because only core 0 answers ARP.
	ARPRepliesSuppressed uint64
	// TxErrors counts frames the Link did not send or that were too big.
	TxErrors uint64
	// Dials counts Dial and DialUDP calls, DialFailures those that
	// failed.
	Dials, DialFailures uint64
	// BindAttempts counts local ports tried by dials; ideally one per
	// dial. PortsExhausted counts dials that found no free port.
	BindAttempts, PortsExhausted uint64
	// Accepted counts connections accepted by this core's listeners.
	Accepted uint64
	// ResetsSent and ResetsReceived come from the TCP stack. On a
	// well-steered core, resets do not come from misrouted segments.
	ResetsSent, ResetsReceived uint64
	// CurrentEstablished is the number of connections in ESTABLISHED or
	// CLOSE_WAIT.
	CurrentEstablished uint64
	// Engine holds the native engine's counters (Config.Engine
	// EngineNative), zero otherwise. Its malformed and bad-checksum
	// frames are also in Malformed, its resets in ResetsSent and
	// ResetsReceived.
	Engine engine.Stats
}

// coreStats are the atomic counters behind CoreStats that this package
// keeps itself.
type coreStats struct {
	malformed, unsupported, notForUs, droppedDetached   atomic.Uint64
	icmpErrors                                          atomic.Uint64
	arpRepliesSuppressed, txErrors, dials, dialFailures atomic.Uint64
	bindAttempts, portsExhausted, accepted              atomic.Uint64
}

// Stats returns a snapshot of the core's counters.
func (c *Core) Stats() CoreStats {
	tcp := c.stack.Stats().TCP
	var es engine.Stats
	if c.native {
		es = c.engineStats()
	}
	return CoreStats{
		Engine:               es,
		Malformed:            c.stats.malformed.Load() + es.Malformed + es.BadChecksum,
		Unsupported:          c.stats.unsupported.Load(),
		NotForUs:             c.stats.notForUs.Load(),
		DroppedDetached:      c.stats.droppedDetached.Load(),
		ICMPErrors:           c.stats.icmpErrors.Load(),
		ARPRepliesSuppressed: c.stats.arpRepliesSuppressed.Load(),
		TxErrors:             c.stats.txErrors.Load(),
		Dials:                c.stats.dials.Load(),
		DialFailures:         c.stats.dialFailures.Load(),
		BindAttempts:         c.stats.bindAttempts.Load(),
		PortsExhausted:       c.stats.portsExhausted.Load(),
		Accepted:             c.stats.accepted.Load(),
		ResetsSent:           tcp.ResetsSent.Value() + es.ResetsSent,
		ResetsReceived:       tcp.ResetsReceived.Value() + es.ResetsReceived,
		CurrentEstablished:   tcp.CurrentEstablished.Value(),
	}
}
