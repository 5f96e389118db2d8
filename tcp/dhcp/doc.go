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
// The package owns the DHCP message codec (Message, Parse, Append), the
// Ethernet, IPv4 and UDP framing of DHCP messages (AppendFrame, ParseFrame)
// and the client state machine (Client.Acquire). It must not import the stack
// or the drivers; dhcptest holds a server for tests.
//
// Not done: renewing the lease (T1/T2) once the appliance runs, DHCPDECLINE
// after an ARP probe (RFC 5227), DHCPRELEASE, option overload (option 52)
// and relays. Malformed messages are counted and dropped, never fatal.
package dhcp
