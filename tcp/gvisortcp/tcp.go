package gvisortcp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bareproxy/bareproxy/tcp/internal/gvnet"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	gtcp "gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// gvisorTCP implements gvnet.TCP.
type gvisorTCP struct{}

var _ gvnet.TCP = gvisorTCP{}

// listenBacklog is each core's accept queue. A proxy accepts at once; when
// the queue overflows, gVisor falls back to SYN cookies.
const listenBacklog = 1024

// Protocol implements gvnet.TCP.
func (gvisorTCP) Protocol() stack.TransportProtocolFactory { return gtcp.NewProtocol }

// Tune implements gvnet.TCP. It pins the stack's tunables, each for a
// reason, rather than inherit gVisor's defaults, which are chosen for a
// sandboxed host.
func (gvisorTCP) Tune(st *stack.Stack, timeWait time.Duration) error {
	const kb = 1 << 10
	sack := tcpip.TCPSACKEnabled(true)                       // RFC 2018: recover several losses per RTT.
	nagle := tcpip.TCPDelayEnabled(false)                    // Nagle off: a proxy forwards what it reads now (RFC 896 vs delayed ACKs).
	moderate := tcpip.TCPModerateReceiveBufferOption(true)   // grow windows only for flows that need it.
	tw := tcpip.TCPTimeWaitTimeoutOption(timeWait)           // see tcp.DefaultTimeWait.
	linger := tcpip.TCPLingerTimeoutOption(15 * time.Second) // FIN_WAIT2 of vanished peers: 15 s, not 60 s.
	minRTO := tcpip.TCPMinRTOOption(200 * time.Millisecond)  // Linux's floor; RFC 6298's 1 s dwarfs LAN RTTs.
	synRetries := tcpip.TCPSynRetriesOption(3)               // give up a dead backend after ~15 s, not ~2 min.
	cc := tcpip.CongestionControlOption("cubic")             // RFC 9438, what Linux peers run.
	// Buffers: the default covers a 10 Gb/s x 100 µs LAN bandwidth-delay
	// product without making idle connections big; auto-tuning grows long
	// fat flows up to 4 MB.
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4 * kb, Default: 128 * kb, Max: 4 << 20}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4 * kb, Default: 128 * kb, Max: 4 << 20}
	// gVisor has no delayed-ACK timer: it acks each batch of segments it
	// processes (QuickAck is on by default), which suits request/response.
	for _, opt := range []tcpip.SettableTransportProtocolOption{
		&sack, &nagle, &moderate, &tw, &linger, &minRTO, &synRetries, &cc, &rcv, &snd,
	} {
		if err := st.SetTransportProtocolOption(gtcp.ProtocolNumber, opt); err != nil {
			return fmt.Errorf("set tcp option %T: %s", opt, err)
		}
	}
	return nil
}

// Listen implements gvnet.TCP.
func (gvisorTCP) Listen(st *stack.Stack, addr netip.AddrPort) (net.Listener, error) {
	var full tcpip.FullAddress
	full.Port = addr.Port()
	if !addr.Addr().IsUnspecified() {
		full.Addr = tcpip.AddrFrom4(addr.Addr().As4())
	}
	na := net.TCPAddrFromAddrPort(addr)
	wq := new(waiter.Queue)
	ep, terr := st.NewEndpoint(gtcp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	if terr != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: na, Err: gvnet.ConvertErr(terr)}
	}
	if terr := ep.Bind(full); terr != nil {
		ep.Close()
		return nil, &net.OpError{Op: "bind", Net: "tcp", Addr: na, Err: gvnet.ConvertErr(terr)}
	}
	if terr := ep.Listen(listenBacklog); terr != nil {
		ep.Close()
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: na, Err: gvnet.ConvertErr(terr)}
	}
	l := &listener{ep: ep, wq: wq, addr: na}
	if a, err := ep.GetLocalAddress(); err == nil {
		l.addr = gvnet.TCPAddr(a)
	}
	l.acc.Init(wq, waiter.ReadableEvents|waiter.EventHUp|waiter.EventErr)
	return l, nil
}

// listener is a net.Listener over a listening endpoint. Like conn, it
// keeps one waiter entry registered for its life.
type listener struct {
	ep   tcpip.Endpoint
	wq   *waiter.Queue
	addr *net.TCPAddr

	// acceptMu serialises Accept, so that one waiter at a time takes the
	// readiness token.
	acceptMu sync.Mutex
	acc      gvnet.Direction
	closed   atomic.Bool
}

// Accept implements net.Listener. The conns implement CloseWrite,
// CloseRead and SetLinger.
func (l *listener) Accept() (net.Conn, error) {
	l.acceptMu.Lock()
	defer l.acceptMu.Unlock()
	for {
		if l.closed.Load() {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
		}
		ep, wq, terr := l.ep.Accept(nil)
		switch terr.(type) {
		case nil:
			return newConn(ep, wq), nil
		case *tcpip.ErrWouldBlock:
			<-l.acc.Ready()
		default:
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: gvnet.ConvertErr(terr)}
		}
	}
}

// Close implements net.Listener: it closes the endpoint, which resets the
// connections not yet accepted, and unblocks Accept.
func (l *listener) Close() error {
	if l.closed.Swap(true) {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
	l.ep.Close()
	l.acc.Unregister(l.wq)
	return nil
}

// Addr implements net.Listener.
func (l *listener) Addr() net.Addr { return l.addr }

// Connect implements gvnet.TCP.
func (gvisorTCP) Connect(ctx context.Context, st *stack.Stack, nic tcpip.NICID, p uint16, addr netip.AddrPort) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wq := new(waiter.Queue)
	ep, terr := st.NewEndpoint(gtcp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	if terr != nil {
		return nil, gvnet.ConvertErr(terr)
	}
	// ReuseAddress lets dials to different peers share a source port;
	// gVisor still refuses a duplicate 4-tuple at Connect.
	ep.SocketOptions().SetReuseAddress(true)
	if terr := ep.Bind(tcpip.FullAddress{Port: p}); terr != nil {
		ep.Close()
		if _, busy := terr.(*tcpip.ErrPortInUse); busy {
			return nil, gvnet.ErrPortBusy
		}
		return nil, gvnet.ConvertErr(terr)
	}
	// The conn's entries are registered before Connect, so that its
	// write side's wake-up serves for the handshake too.
	conn := newConn(ep, wq)
	terr = ep.Connect(tcpip.FullAddress{NIC: nic, Addr: tcpip.AddrFrom4(addr.Addr().As4()), Port: addr.Port()})
	if _, started := terr.(*tcpip.ErrConnectStarted); started {
		for ep.Readiness(waiter.WritableEvents|waiter.EventHUp|waiter.EventErr) == 0 {
			select {
			case <-ctx.Done():
				conn.Close()
				return nil, ctx.Err()
			case <-conn.Wr.Ready():
			}
		}
		terr = ep.LastError()
	}
	if terr != nil {
		conn.Close()
		switch terr.(type) {
		case *tcpip.ErrBadLocalAddress, *tcpip.ErrPortInUse: // 4-tuple taken
			return nil, gvnet.ErrPortBusy
		}
		return nil, gvnet.ConvertErr(terr)
	}
	conn.readAddresses()
	return conn, nil
}
