//go:build linux

// Package netnstest gives tests a fresh network namespace held by one locked
// OS thread, for work that creates namespaced objects: TAP devices, sockets,
// ip(8) commands. File descriptors made there stay valid and usable from any
// goroutine. It is for tests only and needs root.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// NS is a network namespace and the thread that lives in it.
type NS struct {
	work chan func()
}

// New makes a namespace for the test, or skips the test with one line when
// the machine cannot: not root, no /dev/net/tun, no ip(8), or unshare
// refused. The namespace goes away at cleanup: its thread exits still
// locked, so the runtime destroys the thread instead of reusing it.
func New(t testing.TB) *NS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: network namespaces and TAP devices need root")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("skipping: no /dev/net/tun: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: ip(8) not installed")
	}
	ns := &NS{work: make(chan func())}
	started := make(chan error, 1)
	go ns.serve(started)
	if err := <-started; err != nil {
		t.Skipf("skipping: cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() { close(ns.work) })
	return ns
}

// serve is the namespace thread's loop.
func (ns *NS) serve(started chan<- error) {
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

// Do runs fn on the namespace's thread and returns its error.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	ns.work <- func() { errc <- fn() }
	return <-errc
}

// IP runs ip(8) with args inside the namespace.
func (ns *NS) IP(args ...string) error {
	return ns.Do(func() error {
		// The child inherits the namespace of the thread that forks it.
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	})
}
