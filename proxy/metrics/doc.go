// Package metrics renders the proxy engine's statistics for operators: the
// Prometheus text exposition format, version 0.0.4 (what a Prometheus server
// scrapes from /metrics), and an HTML stats page in the spirit of HAProxy's.
//
// Renderer implements proxy.StatsRenderer; the mode http engine calls it for
// the "stats uri" of a frontend and for /metrics. Every figure is read on
// demand: proxy.Proxy.Stats adds up the per-core atomic counters, and the
// per-core network counters come from the Cores callback, so rendering takes
// no lock that the data path ever takes.
//
// Metric names and labels follow HAProxy's built-in exporter (PROMEX,
// addons/promex in HAProxy) wherever the engine has the same figure:
// haproxy_frontend_*, haproxy_backend_* and haproxy_server_* with the labels
// proxy and server, and haproxy_process_* for the whole process. Figures
// HAProxy does not have (per-core counters, steering misses, connections
// refused for want of a server) are named bareproxy_*. Families and samples
// come in a fixed order (families as listed in families.go, objects in
// configuration order, cores ascending), so two scrapes diff cleanly.
//
// This package only reads: it must not change engine state (server up/down
// belongs to health checks and the admin), and it never imports the network
// stack: the board converts its counters to CoreSample.
package metrics
