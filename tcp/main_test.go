package tcp

import (
	"os"
	"testing"

	"gvisor.dev/gvisor/pkg/refs"
)

// TestMain turns on gVisor's reference leak checker, so that a packet
// buffer this package creates and fails to DecRef fails the run.
func TestMain(m *testing.M) {
	refs.SetLeakMode(refs.LeaksPanic)
	code := m.Run()
	refs.DoLeakCheck()
	os.Exit(code)
}
