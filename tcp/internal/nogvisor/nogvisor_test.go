// Package nogvisor_test checks package tcp in a program that does not
// import tcp/gvisortcp, as the bare-metal image is: EngineGVisor is refused
// with a clear error, and gVisor's TCP is not among tcp's dependencies.
package nogvisor_test

import (
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/bareproxy/bareproxy/tcp"
)

// nopLink drops every frame.
type nopLink struct{}

func (nopLink) Transmit(frames [][]byte) (int, error) { return len(frames), nil }

func TestEngineGVisorNotLinked(t *testing.T) {
	cfg := func(e tcp.EngineKind) tcp.Config {
		return tcp.Config{
			Addr:     netip.MustParsePrefix("10.0.0.1/24"),
			MAC:      net.HardwareAddr{2, 0, 0, 0, 0, 1},
			Steering: tcp.MixSteering{N: 1},
			Links:    []tcp.Link{nopLink{}},
			Engine:   e,
		}
	}
	if _, err := tcp.New(cfg(tcp.EngineGVisor)); err == nil || !strings.Contains(err.Error(), "tcp/gvisortcp") {
		t.Errorf("New(EngineGVisor) without tcp/gvisortcp: %v, want an error naming tcp/gvisortcp", err)
	}
	s, err := tcp.New(cfg(tcp.EngineNative))
	if err != nil {
		t.Fatalf("New(EngineNative): %v", err)
	}
	defer s.Close()
	l, err := s.Core(0).Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 80))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	l.Close()
	u, err := s.Core(0).ListenUDP(68)
	if err != nil {
		t.Fatalf("ListenUDP: %v", err)
	}
	u.Close()
}

// TestNoGVisorTCPDependency guards the split: package tcp must not depend
// on gVisor's TCP transport, directly or through gonet, or every program
// that uses tcp links it.
func TestNoGVisorTCPDependency(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list dependencies with")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/bareproxy/bareproxy/tcp").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch dep {
		case "gvisor.dev/gvisor/pkg/tcpip/transport/tcp", "gvisor.dev/gvisor/pkg/tcpip/adapters/gonet",
			"github.com/bareproxy/bareproxy/tcp/gvisortcp":
			t.Errorf("package tcp depends on %s", dep)
		}
	}
}
