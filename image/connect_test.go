//go:build linux

package main

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// silentPort is where the backend namespace listens without accepting.
const silentPort = 8099

const connectTimeoutConfig = `
global
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    retries 1
    timeout connect 300ms
    timeout client  10s
    timeout server  10s

frontend web
    bind :80
    default_backend full

backend full
    server s1 10.77.0.20:8099
`

// TestConnectTimeout sends requests to a server that drops SYNs: a Linux
// listener whose accept queue is full drops them without an answer. Each
// try must give up after timeout connect, and after one retry the client
// gets a 503 with termination state sC, as from HAProxy. It runs with each
// engine: the native one keeps the limit in its timer wheel (DialTimeout),
// gVisor gets it as a context.
func TestConnectTimeout(t *testing.T) {
	requireCurl(t)
	withEachEngine(t, testConnectTimeout)
}

func testConnectTimeout(t *testing.T, engine string) {
	tp := newTopology(t)
	fillAcceptQueue(t, tp.prefix+"-backend")
	app := startAppliance(t, tp, connectTimeoutConfig, 2, "-engine", engine)
	for range 2 {
		start := time.Now()
		out, err := exec.Command("ip", "netns", "exec", tp.client, "curl", "-sS", "--max-time", "10",
			"-o", "/dev/null", "-w", "%{http_code}", "http://"+applianceIP+"/").CombinedOutput()
		took := time.Since(start)
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		if string(out) != "503" {
			t.Errorf("status %s, want 503", out)
		}
		// Two tries of 300 ms; the engines' timers tick every 10 ms.
		if took < 550*time.Millisecond || took > 3*time.Second {
			t.Errorf("the 503 came after %v, want about 600 ms (two tries of timeout connect 300ms)", took)
		}
	}
	waitFor(t, "two log lines with termination state sC", func() bool {
		n := 0
		for _, line := range strings.Split(app.stderr.String(), "\n") {
			if strings.Contains(line, "full/s1") && strings.Contains(line, " sC") {
				n++
			}
		}
		return n == 2
	})
}

// fillAcceptQueue listens on silentPort in namespace ns with a backlog of
// 0 and fills the accept queue with one connection from ns itself; from
// then on the kernel drops every SYN to the port. Both sockets close when
// the test ends.
func fillAcceptQueue(t *testing.T, ns string) {
	t.Helper()
	var lfd int
	var filler net.Conn
	err := inNetns(ns, func() error {
		var err error
		if lfd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.Bind(lfd, &unix.SockaddrInet4{Port: silentPort, Addr: [4]byte{10, 77, 0, 20}}); err != nil {
			return err
		}
		if err := unix.Listen(lfd, 0); err != nil {
			return err
		}
		filler, err = net.DialTimeout("tcp", "10.77.0.20:8099", 2*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("listener with a full accept queue in %s: %v", ns, err)
	}
	t.Cleanup(func() {
		filler.Close()
		unix.Close(lfd)
	})
}
