package tcp

import (
	"errors"
	"net"
	"net/netip"

	"github.com/bareproxy/bareproxy/tcp/internal/gvnet"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// ListenUDP binds a UDP socket to 0.0.0.0:port on this core, for protocols
// whose peer picks the port the answer goes to, such as DHCP (client port
// 68, RFC 2131, 4.1). It receives the datagrams to port that the NIC steers
// to this core, addressed to the appliance or broadcast (255.255.255.255 or
// the subnet's); as with Listen, every core that should receive must
// listen, because the NIC hashes each datagram's 4-tuple to one core.
//
// The socket may send to any address, including 255.255.255.255: it has
// SO_BROADCAST set and is bound to the core's NIC, which gVisor needs to
// route the limited broadcast address. Its source address is the
// appliance's current one.
//
// Unlike DialUDP, replies to what it sends are not steered back to this
// core: the peer's port and ours decide the hash.
func (c *Core) ListenUDP(port uint16) (net.PacketConn, error) {
	addr := netip.AddrPortFrom(netip.IPv4Unspecified(), port)
	if port == 0 {
		return nil, opError("listen", "udp", addr, errors.New("tcp: ListenUDP needs a port other than 0"))
	}
	wq := new(waiter.Queue)
	ep, terr := c.stack.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	if terr != nil {
		return nil, opError("listen", "udp", addr, gvnet.ConvertErr(terr))
	}
	opts := ep.SocketOptions()
	opts.SetBroadcast(true)
	if terr := opts.SetBindToDevice(int32(nicID)); terr != nil {
		ep.Close()
		return nil, opError("listen", "udp", addr, gvnet.ConvertErr(terr))
	}
	if terr := ep.Bind(tcpip.FullAddress{Port: port}); terr != nil {
		ep.Close()
		return nil, opError("bind", "udp", addr, gvnet.ConvertErr(terr))
	}
	return newUDPConn(ep, wq), nil
}
