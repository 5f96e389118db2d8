package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tool returns the path of a client program, or skips the test.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

// run runs a program, for two minutes at most, and returns its output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// toolsProxy starts a proxy in front of a server that answers GET with a
// small body and POST with the body's length and SHA-256.
func toolsProxy(t *testing.T) (*running, *goBackend) {
	t.Helper()
	be := newGoBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" || r.Method == "PUT" {
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %s", n, hex.EncodeToString(h.Sum(nil)))
			return
		}
		io.WriteString(w, "hello from s1\n")
	})
	r := startHTTP(t, oneBackend{fe: []string{"no log"}, servers: []string{"s1 " + be.addr()}}, host())
	return r, be
}

// TestHTTPCurl checks curl keep-alive, a large upload with Expect:
// 100-continue, and a chunked upload through the proxy.
func TestHTTPCurl(t *testing.T) {
	curl := tool(t, "curl")
	r, be := toolsProxy(t)
	url := "http://" + r.addr
	// Two URLs in one run share the client connection.
	out := run(t, curl, "-sS", "-v", url+"/a", url+"/b")
	if strings.Count(out, "hello from s1") != 2 || !strings.Contains(out, "Re-using existing connection") {
		t.Errorf("curl keep-alive output:\n%s", out)
	}
	// A 3 MB upload: curl sends Expect: 100-continue, relayed from the
	// server; and a chunked upload from stdin.
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 31)
	}
	f := filepath.Join(t.TempDir(), "body")
	os.WriteFile(f, data, 0o600)
	sum := sha256.Sum256(data)
	want := fmt.Sprintf("%d %s", len(data), hex.EncodeToString(sum[:]))
	if got := run(t, curl, "-sS", "--data-binary", "@"+f, url+"/up"); got != want {
		t.Errorf("upload echo %q, want %q", got, want)
	}
	if got := run(t, curl, "-sS", "-H", "Transfer-Encoding: chunked", "-T", f, url+"/put"); got != want {
		t.Errorf("chunked upload echo %q, want %q", got, want)
	}
	if got := be.reqs.Load(); got != 4 {
		t.Errorf("server saw %d requests, want 4", got)
	}
}

// TestHTTPApacheBench runs ab with keep-alive and checks that every
// request succeeds on few server connections.
func TestHTTPApacheBench(t *testing.T) {
	ab := tool(t, "ab")
	r, be := toolsProxy(t)
	out := run(t, ab, "-k", "-n", "2000", "-c", "8", "http://"+r.addr+"/")
	for _, want := range []string{"Complete requests:      2000", "Failed requests:        0", "Keep-Alive requests:    2000"} {
		if !strings.Contains(out, want) {
			t.Errorf("ab output lacks %q:\n%s", want, out)
		}
	}
	// Eight client connections need at most eight server connections.
	if got := be.accepts.Load(); got > 8 {
		t.Errorf("server accepted %d connections for 8 keep-alive clients", got)
	}
}

// TestHTTPH2loadH1 runs h2load in HTTP/1.1 mode and checks every request
// gets a 2xx.
func TestHTTPH2loadH1(t *testing.T) {
	h2load := tool(t, "h2load")
	r, _ := toolsProxy(t)
	out := run(t, h2load, "--h1", "-n", "2000", "-c", "8", "http://"+r.addr+"/")
	if !strings.Contains(out, "2000 succeeded, 0 failed, 0 errored") || !strings.Contains(out, "status codes: 2000 2xx") {
		t.Errorf("h2load output:\n%s", out)
	}
}

// TestHTTPWrk runs wrk for a second and checks the proxy answered every
// request it counted with a 2xx.
func TestHTTPWrk(t *testing.T) {
	wrk := tool(t, "wrk")
	r, _ := toolsProxy(t)
	out := run(t, wrk, "-t", "2", "-c", "16", "-d", "1s", "http://"+r.addr+"/")
	if strings.Contains(out, "Socket errors") || strings.Contains(out, "Non-2xx") {
		t.Errorf("wrk reported errors:\n%s", out)
	}
	m := regexp.MustCompile(`(\d+) requests in`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("wrk output:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	st := r.p.Stats().Frontends[0]
	if n == 0 || st.Responses[1] < uint64(n) {
		t.Errorf("wrk did %d requests, proxy answered %d with 2xx", n, st.Responses[1])
	}
}
