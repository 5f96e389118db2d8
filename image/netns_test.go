//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bareproxy/bareproxy/internal/syncbuf"
)

// The end-to-end tests run the appliance binary in the demo topology of
// qemu/topology.sh, under a prefix of their own, with the Linux kernel as
// client and nginx as backend.

const (
	applianceIP = "10.77.0.2"
	backendAddr = "10.77.0.20:8080"
)

var (
	buildOnce  sync.Once
	binaryPath string
	buildErr   error
)

// applianceBinary builds the hosted appliance once per test binary.
func applianceBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bareproxy-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binaryPath = filepath.Join(dir, "bareproxy")
		out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binaryPath
}

// requireNetns skips the test unless it can make namespaces and run nginx.
func requireNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: end-to-end tests need root to create network namespaces")
	}
	for _, tool := range []string{"ip", "nginx"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed (.ci/run installs it)", tool)
		}
	}
}

// topology is one instance of qemu/topology.sh.
type topology struct {
	prefix string
	hub    string
	client string
	tap    string
	www    string
}

var topologyCount int

func newTopology(t testing.TB) *topology {
	t.Helper()
	requireNetns(t)
	topologyCount++
	prefix := fmt.Sprintf("bpt%d-%d", os.Getpid()%100000, topologyCount)
	tp := &topology{
		prefix: prefix,
		hub:    prefix + "-hub",
		client: prefix + "-client",
		tap:    prefix + "t",
		www:    filepath.Join(t.TempDir(), "nginx"),
	}
	script := func(verb string) ([]byte, error) {
		cmd := exec.Command("../qemu/topology.sh", verb)
		cmd.Env = append(os.Environ(), "BP_PREFIX="+prefix, "BP_TAP="+tp.tap, "BP_NGINX_DIR="+tp.www)
		return cmd.CombinedOutput()
	}
	t.Cleanup(func() { script("down") })
	if out, err := script("up"); err != nil {
		t.Fatalf("topology up: %v\n%s", err, out)
	}
	return tp
}

// file returns a file that nginx serves.
func (tp *topology) file(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tp.www, "www", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inNetns runs fn on an OS thread that has entered namespace ns. Sockets
// that fn opens belong to ns for their whole life. The thread is never
// unlocked, so the runtime discards it when fn returns.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// runningAppliance is a hosted appliance process.
type runningAppliance struct {
	cmd    *exec.Cmd
	admin  string
	stderr *syncbuf.Buffer
	done   chan error
}

// startAppliance runs the appliance in tp's hub namespace with config text
// cfg and waits until its admin socket answers.
func startAppliance(t testing.TB, tp *topology, cfg string, queues int, args ...string) *runningAppliance {
	t.Helper()
	bin := applianceBinary(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "bareproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a := &runningAppliance{admin: filepath.Join(dir, "admin.sock"), stderr: &syncbuf.Buffer{}, done: make(chan error, 1)}
	argv := append([]string{"netns", "exec", tp.hub, bin,
		"-config", cfgPath, "-tap", tp.tap, "-queues", fmt.Sprint(queues),
		"-addr", applianceIP + "/24", "-admin", "unix:" + a.admin}, args...)
	a.cmd = exec.Command("ip", argv...)
	a.cmd.Stderr = a.stderr
	a.cmd.Stdout = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() {
		a.cmd.Process.Signal(os.Interrupt)
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
			a.cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("appliance log:\n%s", a.stderr.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-a.done:
			t.Fatalf("appliance exited: %v\n%s", err, a.stderr.String())
		default:
		}
		if _, err := a.get("/cores"); err == nil {
			return a
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("appliance admin socket never answered\n%s", a.stderr.String())
	return nil
}

// get fetches path from the appliance's admin socket.
func (a *runningAppliance) get(path string) ([]byte, error) {
	c := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", a.admin)
		}},
	}
	resp, err := c.Get("http://admin" + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return b, err
}

// cores reads the per-core counters.
func (a *runningAppliance) cores(t testing.TB) []coreReport {
	t.Helper()
	b, err := a.get("/cores")
	if err != nil {
		t.Fatal(err)
	}
	var r []coreReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode /cores: %v\n%s", err, b)
	}
	return r
}

// fetchTimeout is how long a connection of the end-to-end tests has to
// deliver its response.
const fetchTimeout = 10 * time.Second

// fetch sends an HTTP/1.0 GET for path over conn and returns the response
// body after checking for a 200 status, within fetchTimeout.
func fetch(conn net.Conn, path string) ([]byte, error) {
	return fetchWithin(conn, path, fetchTimeout)
}

// fetchWithin is fetch with its own time limit.
func fetchWithin(conn net.Conn, path string, timeout time.Duration) ([]byte, error) {
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: bareproxy\r\n\r\n", path); err != nil {
		return nil, err
	}
	resp, err := io.ReadAll(conn)
	if err != nil {
		return nil, err
	}
	head, body, ok := bytes.Cut(resp, []byte("\r\n\r\n"))
	if !ok {
		return nil, fmt.Errorf("no end of head in %d bytes", len(resp))
	}
	if !strings.HasPrefix(string(head), "HTTP/1.1 200 ") {
		return nil, fmt.Errorf("status line %q", strings.SplitN(string(head), "\r\n", 2)[0])
	}
	return body, nil
}

// waitFor polls cond for up to ten seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
