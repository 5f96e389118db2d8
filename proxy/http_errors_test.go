package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHTTPServerErrors checks 502, 503 and 504 answers, their termination
// states in the log and their counters.
func TestHTTPServerErrors(t *testing.T) {
	badHead := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		readHead(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok")
	})
	closes := rawBackend(t, func(c net.Conn, br *bufio.Reader) { readHead(br) })
	silent := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		readHead(br)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		br.ReadByte() // until the proxy gives up
	})
	dead := deadAddr(t)
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    use_backend bad if { path /bad }
    use_backend closes if { path /closes }
    use_backend silent if { path /silent }
    use_backend dead if { path /dead }
    use_backend down if { path /down }
    default_backend none
backend bad
    server s %s
backend closes
    server s %s
backend silent
    timeout server 200ms
    server s %s
backend dead
    retries 2
    server s %s
backend down
    server s 127.0.0.1:1 disabled
backend none
`, port, badHead, closes, silent, dead), host())
	tests := []struct {
		path   string
		status int
		log    string // server and termination state in the log line
	}{
		{"/bad", 502, " bad/s "},
		{"/closes", 502, " closes/s "},
		{"/silent", 504, " silent/s "},
		{"/dead", 503, " dead/s "},
		{"/down", 503, " down/<NOSRV> "},
		{"/none", 503, " none/<NOSRV> "},
	}
	terms := map[string]string{"/bad": "PH--", "/closes": "SH--", "/silent": "sH--", "/dead": "SC--", "/down": "SC--", "/none": "SC--"}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := rawExchange(t, r.addr, "GET "+tt.path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("got %v, want %d", resp, tt.status)
			}
			if !strings.Contains(body, fmt.Sprint(tt.status)) {
				t.Errorf("body %q, want it to name %d", body, tt.status)
			}
			line := r.waitLog(t, `"GET `+tt.path+` HTTP/1.1"`, 1)[0]
			if !strings.Contains(line, tt.log) || !strings.Contains(line, fmt.Sprintf(" %d ", tt.status)) || !strings.Contains(line, " "+terms[tt.path]+" ") {
				t.Errorf("log line %q, want %q, status %d and %s", line, tt.log, tt.status, terms[tt.path])
			}
		})
	}
	st := r.p.Stats()
	byName := map[string]BackendStats{}
	for _, b := range st.Backends {
		byName[b.Name] = b
	}
	for name, want := range map[string][3]uint64{ // 5xx, failed responses, connect errors
		"bad": {1, 1, 0}, "closes": {1, 1, 0}, "silent": {1, 1, 0}, "dead": {1, 0, 3}, "down": {1, 0, 0}, "none": {1, 0, 0},
	} {
		b := byName[name]
		if got := [3]uint64{b.Responses[4], b.FailedResponses, b.ConnectErrors}; got != want {
			t.Errorf("backend %s: 5xx, failed responses, connect errors = %v, want %v", name, got, want)
		}
	}
	if fe := st.Frontends[0]; fe.Responses[4] != uint64(len(tests)) {
		t.Errorf("frontend 5xx = %d, want %d", fe.Responses[4], len(tests))
	}
}

// TestHTTPQueue checks server maxconn: a second request waits in the
// queue and is served when the first ends; with a short timeout queue it
// gets 503 sQ instead.
func TestHTTPQueue(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	entered := make(chan struct{}, 4)
	be := newGoBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "done "+r.URL.Path)
	})
	for _, tt := range []struct {
		name, queue string
		want        int
	}{
		{"served after wait", "10s", 200},
		{"timeout queue", "100ms", 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := startHTTP(t, oneBackend{
				be:      []string{"timeout queue " + tt.queue},
				servers: []string{"s1 " + be.addr() + " maxconn 1"},
			}, host())
			release = make(chan struct{})
			once = sync.Once{}
			first := goStatus(t, r.addr, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
			<-entered
			second := goStatus(t, r.addr, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
			if tt.want == 200 {
				// Wait until the second request is queued, then free the slot.
				if !eventually(5*time.Millisecond, func() bool { return r.p.Stats().Backends[0].QueueCur != 0 }) {
					t.Fatal("request never queued")
				}
				once.Do(func() { close(release) })
			}
			if got := <-second; got != tt.want {
				t.Errorf("queued request got %d, want %d", got, tt.want)
			}
			once.Do(func() { close(release) })
			if got := <-first; got != 200 {
				t.Errorf("first request got %d, want 200", got)
			}
			st := r.p.Stats().Backends[0]
			if tt.want == 503 {
				if st.QueueTimeouts != 1 {
					t.Errorf("queue timeouts %d, want 1", st.QueueTimeouts)
				}
				line := r.waitLog(t, `"GET /next HTTP/1.1"`, 1)[0]
				if !strings.Contains(line, " 503 ") || !strings.Contains(line, " sQ-- ") {
					t.Errorf("log line %q, want 503 sQ--", line)
				}
			}
			if st.QueueCur != 0 || st.QueueMax != 1 {
				t.Errorf("queue now %d max %d, want 0 and 1", st.QueueCur, st.QueueMax)
			}
		})
	}
}

// goStatus sends req on a new connection to addr from a goroutine and
// delivers the response's status, or 0 when there is none.
func goStatus(t *testing.T, addr, req string) <-chan int {
	t.Helper()
	status := make(chan int, 1)
	go func() {
		resp, _, err := tryExchange(addr, req)
		if err != nil {
			t.Error(err)
		}
		if resp == nil {
			status <- 0
			return
		}
		status <- resp.StatusCode
	}()
	return status
}
