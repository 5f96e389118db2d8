// Package proxy is the proxy engine: it runs a parsed configuration
// (package proxy/config) on a set of per-core networks. On each core it
// listens on every bind address, accepts, picks a server, dials it from the
// same core, and splices bytes both ways with HAProxy's timeouts, counters
// and connection log.
//
// The engine never touches packets: it reaches the network only through the
// Network interface, one per core (tcp.Core on the appliance, HostNetwork on
// Linux), and keeps no locks on the per-connection path: balancing cursors,
// counters and buffer pools are per core, and statistics aggregate the cores
// when read.
//
// mode tcp is served here. Other modes plug in through a Handler per
// frontend (see WithHandler): the L7 (mode http) engine lives elsewhere and
// uses Session.Connect and Session.Splice from this package. The PROXY
// protocol (accept-proxy, send-proxy, send-proxy-v2) is read and written with
// package proxyproto.
package proxy
