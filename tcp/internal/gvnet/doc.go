// Package gvnet is the plumbing that package tcp (UDP sockets) and
// tcp/gvisortcp (gVisor's TCP) share over gVisor transport endpoints: the
// errors callers branch on and the conversion of tcpip.Error to them, the
// wake-up and deadline state of one direction of a socket, and the hook
// through which tcp/gvisortcp offers gVisor's TCP to package tcp.
//
// It sits below both so that neither imports the other: package tcp's own
// tests can then import tcp/gvisortcp. It must not import gVisor's TCP
// transport (gvisor.dev/gvisor/pkg/tcpip/transport/tcp): only binaries that
// import tcp/gvisortcp may link it.
package gvnet
