// Package syslog ships the proxy's log lines to the "log" targets of the
// configuration: syslog servers over UDP, as RFC 3164 (BSD syslog,
// HAProxy's default format) or RFC 5424 datagrams, or HAProxy's other
// formats (local, short, priority, timed, iso, raw), and the console for
// "log stdout" and "log stderr".
//
// Handler is a slog.Handler. Handle never blocks and never does I/O: it
// copies the line into a free entry of a bounded queue, or counts it as
// dropped when the queue is full, so a slow or unreachable syslog server
// costs the data path nothing. One goroutine per Handler drains the queue,
// formats each line once per target and sends it. UDP sockets come from a
// Dialer, so that on bare metal they are opened on the appliance's own
// stack (tcp.Core.DialUDP) and in a hosted run on the kernel's.
//
// This package owns the wire formats and the queue; what a line says
// (HAProxy's tcplog and httplog) belongs to package proxy, and which lines
// are logged at all ("log global", "no log", dontlognull) is the engine's
// decision.
package syslog
