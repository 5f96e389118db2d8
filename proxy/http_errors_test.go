package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawBackend serves each connection with a function on the raw socket,
// for servers that misbehave on purpose.
func rawBackend(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	return backend(t, func(c net.Conn) { serve(c, bufio.NewReader(c)) })
}

// readHead reads a request head (up to the empty line).
func readHead(br *bufio.Reader) string {
	var b strings.Builder
	for {
		l, err := br.ReadString('\n')
		b.WriteString(l)
		if err != nil || l == "\r\n" {
			return b.String()
		}
	}
}

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
				t.Errorf("body %q", body)
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

// TestHTTPUpgradeTunnel switches protocols with a websocket-like handshake
// and echoes bytes both ways through the tunnel.
func TestHTTPUpgradeTunnel(t *testing.T) {
	srv := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		head := readHead(br)
		if !strings.Contains(strings.ToLower(head), "upgrade: websocket") || !strings.Contains(strings.ToLower(head), "connection: upgrade") {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhi!")
		io.Copy(c, br) // echo
	})
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    timeout tunnel 10s
    server s1 %s
`, port, srv), host())
	c, err := net.Dial("tcp4", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
	greet := make([]byte, 3)
	if _, err := io.ReadFull(br, greet); err != nil || string(greet) != "hi!" {
		t.Fatalf("greeting %q %v", greet, err)
	}
	msg := bytes.Repeat([]byte("0123456789"), 50_000)
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the tunnel: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	if n, _ := io.Copy(io.Discard, br); n != 0 {
		t.Errorf("%d bytes after close", n)
	}
	line := r.waitLog(t, `"GET /ws HTTP/1.1"`, 1)[0]
	if !strings.Contains(line, " 101 ") {
		t.Errorf("log line %q, want status 101", line)
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
			port := freePort(t)
			r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend be
backend be
    timeout queue %s
    server s1 %s maxconn 1
`, port, tt.queue, be.addr()), host())
			release = make(chan struct{})
			once = sync.Once{}
			first := make(chan int, 1)
			go func() {
				resp, _ := rawExchange(t, r.addr, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
				if resp == nil {
					first <- 0
					return
				}
				first <- resp.StatusCode
			}()
			<-entered
			second := make(chan int, 1)
			go func() {
				resp, _ := rawExchange(t, r.addr, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
				if resp == nil {
					second <- 0
					return
				}
				second <- resp.StatusCode
			}()
			if tt.want == 200 {
				// Wait until the second request is queued, then free the slot.
				for i := 0; r.p.Stats().Backends[0].QueueCur == 0; i++ {
					if i > 2000 {
						t.Fatal("request never queued")
					}
					time.Sleep(5 * time.Millisecond)
				}
				once.Do(func() { close(release) })
			}
			if got := <-second; got != tt.want {
				t.Errorf("queued request got %d, want %d", got, tt.want)
			}
			once.Do(func() { close(release) })
			if got := <-first; got != 200 {
				t.Errorf("first request got %d", got)
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
