// Package tcp is the appliance's partitioned TCP/IP stack: N gVisor tcpip
// stack instances, one per core, that share one IPv4 address and one MAC
// but each keep their own listen table, connection table and ports
// (Fastsocket's partitioned design).
//
// TCP itself is the native engine (tcp/engine, EngineNative), one per core
// beside its gVisor stack, which then does ARP, ICMP and UDP only; or
// gVisor's TCP (EngineGVisor), which a program offers by importing
// tcp/gvisortcp. Package tcp never imports gVisor's TCP transport itself,
// so the bare-metal image, which runs native only, does not link it.
//
// The package owns:
//   - the partitioned stack (Stack, Core) and its tunables;
//   - the flow hash (hash.go: MixSteering for hosted mode's eBPF program,
//     ToeplitzSteering for virtio-net RSS), which every frame is steered by;
//   - steering of received frames (Core.Steer), including ICMP errors, which
//     are steered by the TCP or UDP header they embed;
//   - ARP sharing: ARP goes to every core, every core learns neighbours from
//     it, and only core 0 answers requests, so the peer sees one reply;
//   - source-port selection for dials (Receive Flow Deliver): a dial on core
//     k binds a local port whose reply flow hashes to k;
//   - a narrow API (Listen, Dial, DialUDP on core k; net.Conn and
//     net.Listener out), so that a purpose-built per-core engine can replace
//     gVisor behind it. gVisor types and tcpip.Error never cross the API.
//
// It must not import proxy/ and knows nothing of HTTP. It builds for Linux
// and GOOS=tamago alike: it makes no system calls, and frames reach it only
// through Core.Deliver and leave only through the Link each core was given.
//
// IPv4 only; IPv6 frames are dropped by Steer.
package tcp
