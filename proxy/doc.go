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
// Both modes are served here, each by a Handler per frontend (WithHandler
// replaces one). mode tcp splices (tcp.go, splice.go): the network's TCP
// engine moves the bytes itself where it can (the native engine's
// Conn.Splice, found through an optional interface), else two goroutines
// copy them. mode http (http*.go)
// reads each request with package proxy/http1 (the wire layer; the engine
// does not use net/http), applies ACLs, http-request/http-response rules,
// use_backend and option forwardfor, and relays it over a server connection
// taken from a per-core idle pool or dialled on the same core, with
// client-side keep-alive, server maxconn queues, Upgrade/CONNECT tunnels,
// HAProxy's httplog line, and a stats page and Prometheus exporter drawn by
// a StatsRenderer (WithStats). The PROXY
// protocol (accept-proxy, send-proxy, send-proxy-v2) is read and written with
// package proxyproto.
package proxy
