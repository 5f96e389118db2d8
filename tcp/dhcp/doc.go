// Package dhcp is a minimal DHCPv4 client (RFC 2131, options from RFC 2132)
// for the bare-metal image: DISCOVER, OFFER, REQUEST, ACK (or NAK and start
// again), with the subnet mask, router, DNS servers, lease time and renewal
// times of the lease.
//
// It runs on raw Ethernet frames through a Conn, before the per-core stacks
// exist: a stack needs its address when it is built, and the NIC's RSS may
// put the server's reply on any queue, so the board polls every queue while
// the client waits. The client sets the BROADCAST flag (RFC 2131, 4.1) so
// that the server answers before the appliance can answer ARP.
//
// Once the stacks run, Renewer keeps the lease (RFC 2131, 4.4.5) over UDP
// through a Transport: UDPTransport reads port 68 on every core's socket,
// since RSS hashes the server's answer to any core. At T1 it unicasts a
// REQUEST (ciaddr set) to the server, retransmitting after half the time
// left to T2, at least 60 s; at T2 it broadcasts the REQUEST, retransmitting
// after half the time left to expiry; an ACK extends the lease. A NAK or an
// expiry is reported and followed by DISCOVER rounds (Client.Acquire over
// the Transport) until a lease comes back, with a backoff; moving the stack
// to a new address is the caller's business (Renewer.OnEvent).
//
// The package owns the DHCP message codec (Message, Parse, Append), the
// Ethernet, IPv4 and UDP framing of DHCP messages (AppendFrame, ParseFrame),
// the client state machine (Client.Acquire) and lease maintenance (Renewer).
// It must not import the stack or the drivers; dhcptest holds a server for
// tests.
//
// Not done: DHCPDECLINE after an ARP probe (RFC 5227), DHCPRELEASE, option
// overload (option 52) and relays. DISCOVER after a NAK or an expiry goes
// out from the old address, not 0.0.0.0 (the stack always has an address);
// servers answer on chaddr and the BROADCAST flag, not the IP source.
// Malformed messages are counted and dropped, never fatal.
package dhcp
