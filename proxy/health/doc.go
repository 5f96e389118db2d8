// Package health runs HAProxy-style server health checks: TCP connect
// checks and "option httpchk" HTTP/1.x checks, every "inter" (or
// "fastinter"/"downinter"), with "rise"/"fall" hysteresis.
//
// It owns the check schedule, the probe and the per-server check state and
// counters. It does not know about the proxy engine: it dials through a
// Dialer (one core's network) and reports state changes through a
// callback, so package proxy wires it in (proxy/checks.go) without an import
// cycle. It must not import package proxy, touch packets or balancing.
//
// Semantics follow HAProxy's configuration manual (doc/configuration.txt,
// sections "check", "inter", "rise", "fall", "option httpchk", "http-check
// expect" and "timeout check"):
//
//   - A server is UP after "rise" consecutive passing checks and DOWN after
//     "fall" consecutive failing ones. As in HAProxy, the state is a health
//     counter from 0 to rise+fall-1; the server is up while health >= rise,
//     a pass while up restores full health, a failure while down resets it
//     to 0.
//   - A checked server starts UP at health = rise, so that the first failed
//     check takes it DOWN at once and the first passing one makes it fully
//     UP: HAProxy's default (init-state not set), "up, but will fall down
//     at first failure".
//   - The interval is "inter" (default 2s) when fully UP, "fastinter" (if
//     set) while going up or down or not yet checked, "downinter" (if set)
//     when fully DOWN.
//   - Timeouts: with "timeout check", the connect is bounded by
//     min("timeout connect", "inter") and the response read by "timeout
//     check"; without it, "inter" bounds the whole check.
//   - A TCP check passes when the connection is established. An HTTP check
//     sends "METHOD URI VERSION" (HAProxy's old style of headers after the
//     version, "HTTP/1.1\r\nHost:\ www", is understood) and passes on a 2xx
//     or 3xx status, or on what "http-check expect status|string" says.
package health
