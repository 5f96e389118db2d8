package tcp

import (
	"flag"
	"os"
	"testing"

	_ "github.com/bareproxy/bareproxy/tcp/gvisortcp" // EngineGVisor, the tests' default
	"gvisor.dev/gvisor/pkg/refs"
)

// TestMain turns on gVisor's reference leak checker, so that a packet
// buffer this package creates and fails to DecRef fails the run. A
// benchmark run leaves it off: the checker registers every buffer in a
// map, about a tenth of BenchmarkConnect's CPU, which production does not
// pay.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		refs.SetLeakMode(refs.LeaksPanic)
	}
	code := m.Run()
	refs.DoLeakCheck()
	os.Exit(code)
}
