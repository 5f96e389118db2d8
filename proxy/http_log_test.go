package proxy

import (
	"net/netip"
	"regexp"
	"testing"
	"time"
)

func TestAppendHTTPLog(t *testing.T) {
	date := time.Date(2009, time.February, 6, 12, 14, 14, 655_000_000, time.Local)
	src := netip.MustParseAddrPort("10.0.1.2:33317")
	tests := []struct {
		name string
		l    httpLog
		want string
	}{{
		name: "the manual's example",
		l: httpLog{src: src, date: date, fe: "http-in", be: "static", srv: "srv1",
			tr: 10, tw: 0, tc: 30, tresp: 69, ta: 109, status: 200, bytes: 2750, term: [4]byte{'-', '-', '-', '-'},
			actconn: 1, feconn: 1, beconn: 1, srvconn: 1, request: []byte("GET /index.html HTTP/1.1")},
		want: `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`,
	}, {
		name: "bad request",
		l: httpLog{src: src, date: date, fe: "fe", be: "fe", srv: "<NOSRV>",
			tr: -1, tw: -1, tc: -1, tresp: -1, ta: 2, status: 400, bytes: 187, term: [4]byte{'P', 'R', '-', '-'},
			actconn: 3, feconn: 2},
		want: `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] fe fe/<NOSRV> -1/-1/-1/-1/2 400 187 - - PR-- 3/2/0/0/0 0/0 "<BADREQ>"`,
	}, {
		name: "queue timeout",
		l: httpLog{src: src, date: date, fe: "fe", be: "app", srv: "s1",
			tr: 0, tw: 1000, tc: -1, tresp: -1, ta: 1000, status: 503, bytes: 212, term: [4]byte{'s', 'Q', '-', '-'},
			actconn: 9, feconn: 9, beconn: 8, srvconn: 4, retries: 0, beQueue: 3, request: []byte("POST /api HTTP/1.1")},
		want: `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] fe app/s1 0/1000/-1/-1/1000 503 212 - - sQ-- 9/9/8/4/0 0/3 "POST /api HTTP/1.1"`,
	}, {
		name: "stats applet, escaped request",
		l: httpLog{src: src, date: date, fe: "fe", be: "fe", srv: "<STATS>",
			tr: 1, tw: -1, tc: -1, tresp: -1, ta: 3, status: 200, bytes: 5000, term: [4]byte{'L', 'R', '-', '-'},
			actconn: 1, feconn: 1, request: []byte("GET /q?\"a\"#\x7f HTTP/1.1")},
		want: `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] fe fe/<STATS> 1/-1/-1/-1/3 200 5000 - - LR-- 1/1/0/0/0 0/0 "GET /q?#22a#22#23#7F HTTP/1.1"`,
	}, {
		name: "retries and server timeout",
		l: httpLog{src: src, date: date, fe: "fe", be: "app", srv: "s2",
			tr: 0, tw: 0, tc: 1, tresp: -1, ta: 30001, status: 504, bytes: 200, term: [4]byte{'s', 'H', '-', '-'},
			actconn: 1, feconn: 1, beconn: 1, srvconn: 1, retries: 2, request: []byte("GET / HTTP/1.0")},
		want: `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] fe app/s2 0/0/1/-1/30001 504 200 - - sH-- 1/1/1/1/2 0/0 "GET / HTTP/1.0"`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendHTTPLog(nil, &tt.l)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestHTTPLogLive checks the shape of real lines: a served request, a
// keep-alive second one, and a bad request.
func TestHTTPLogLive(t *testing.T) {
	be := newGoBackend(t, hello("s1"))
	port := freePort(t)
	r := start(t, cfgf(`
frontend fe
    bind 127.0.0.1:%d
    default_backend app
backend app
    server s1 %s
`, port, be.addr()), host())
	rawExchange(t, r.addr, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	rawExchange(t, r.addr, "GET /c HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")
	date := `\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\]`
	for _, tt := range []struct{ sub, re string }{
		{`"GET /a HTTP/1.1"`, `^127\.0\.0\.1:\d+ ` + date + ` fe app/s1 \d+/0/\d+/\d+/\d+ 200 \d+ - - ---- \d+/\d+/1/1/0 0/0 "GET /a HTTP/1.1"$`},
		{`"GET /b HTTP/1.1"`, `^127\.0\.0\.1:\d+ ` + date + ` fe app/s1 \d+/0/0/\d+/\d+ 200 \d+ - - ---- \d+/\d+/1/1/0 0/0 "GET /b HTTP/1.1"$`},
		{`<BADREQ>`, `^127\.0\.0\.1:\d+ ` + date + ` fe fe/<NOSRV> -1/-1/-1/-1/\d+ 400 \d+ - - PR-- \d+/\d+/0/0/0 0/0 "<BADREQ>"$`},
	} {
		line := r.waitLog(t, tt.sub, 1)[0]
		if !regexp.MustCompile(tt.re).MatchString(line) {
			t.Errorf("log line\n%s\ndoes not match\n%s", line, tt.re)
		}
	}
}
