//go:build linux

package hosted

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// netns is a fresh network namespace held by one locked OS thread. Work
// that creates namespaced objects (TAP devices, sockets, ip(8) commands)
// runs on that thread through do; file descriptors made there stay valid
// and usable from any goroutine.
type netns struct {
	work chan func()
}

// newNetns makes a namespace for the test, or skips the test when the
// machine cannot. The namespace goes away at cleanup: its thread exits
// still locked, so the runtime destroys the thread instead of reusing it.
func newNetns(t testing.TB) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: network namespaces and TAP devices need root")
	}
	if _, err := os.Stat(tunDevice); err != nil {
		t.Skipf("skipping: no %s: %v", tunDevice, err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: ip(8) not installed")
	}
	ns := &netns{work: make(chan func())}
	started := make(chan error, 1)
	go ns.serve(started)
	if err := <-started; err != nil {
		t.Skipf("skipping: cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() { close(ns.work) })
	return ns
}

// serve is the namespace thread's loop.
func (ns *netns) serve(started chan<- error) {
	runtime.LockOSThread()
	// Never unlocked: the thread is in the test's namespace for good.
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		started <- err
		return
	}
	started <- nil
	for fn := range ns.work {
		fn()
	}
}

// do runs fn on the namespace's thread and returns its error.
func (ns *netns) do(fn func() error) error {
	errc := make(chan error, 1)
	ns.work <- func() { errc <- fn() }
	return <-errc
}

// ip runs ip(8) with args inside the namespace.
func (ns *netns) ip(args ...string) error {
	return ns.do(func() error {
		// The child inherits the namespace of the thread that forks it.
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	})
}

// openTestTAP opens a TAP device in ns and closes it at cleanup.
func openTestTAP(t testing.TB, ns *netns, name string, queues int) *TAP {
	t.Helper()
	var tap *TAP
	err := ns.do(func() (err error) {
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
