//go:build linux

package hosted

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bareproxy/bareproxy/internal/netnstest"
)

// openTestTAP opens a TAP device in ns and closes it at cleanup.
func openTestTAP(t testing.TB, ns *netnstest.NS, name string, queues int) *TAP {
	t.Helper()
	var tap *TAP
	err := ns.Do(func() (err error) {
		tap, err = OpenTAP(name, queues)
		return err
	})
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		t.Skipf("skipping: cannot create TAP devices: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tap.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return tap
}
