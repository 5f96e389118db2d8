// Package gvisortcp offers gVisor's TCP (gvisor.dev/gvisor/pkg/tcpip/
// transport/tcp) to package tcp as tcp.EngineGVisor. Import it for its side
// effect, as database/sql drivers are imported:
//
//	import _ "github.com/bareproxy/bareproxy/tcp/gvisortcp"
//
// A binary that does not import it cannot select EngineGVisor (tcp.New
// says so), and does not link gVisor's TCP transport nor what only that
// pulls in: the bare-metal image runs the native engine alone.
//
// The package owns the gVisor side of TCP: the transport protocol and its
// tunables, listening and connecting over gVisor endpoints, and the
// net.Conn and net.Listener over them. Package tcp keeps the rest (source
// port selection, counters, steering). It must not import package tcp,
// whose tests import it; the two meet in tcp/internal/gvnet.
package gvisortcp

import "github.com/bareproxy/bareproxy/tcp/internal/gvnet"

func init() { gvnet.Register(gvisorTCP{}) }
