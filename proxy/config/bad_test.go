package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// okTail completes a config so that only the line under test is wrong.
const okTail = `
frontend okfe
    bind :1
    default_backend okbe
backend okbe
    server s 10.0.0.1:80
`

func TestParseBad(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // substrings, each must appear in the error text
	}{
		{"misspelt server", "backend app\n    severr s1 10.0.0.1:80\n" + okTail,
			[]string{`haproxy.cfg:2: unknown keyword "severr" in backend "app"; did you mean "server"?`}},
		{"bad time unit", "defaults\n  timeout client 5x\n" + okTail,
			[]string{`haproxy.cfg:2: timeout client: time "5x": unknown unit "x"; use us, ms, s, m, h or d`}},
		{"unknown timeout", "defaults\n  timeout cliente 5s\n" + okTail,
			[]string{`haproxy.cfg:2: unknown timeout "cliente"; did you mean "client"?`}},
		{"outside section", "maxconn 10\n" + okTail,
			[]string{`haproxy.cfg:1: keyword "maxconn" outside any section`}},
		{"no frontend", "backend b\n server s 10.0.0.1:1\n",
			[]string{`haproxy.cfg: no frontend or listen section`}},
		{"missing backend", "frontend f\n bind :80\n default_backend ap\nbackend app\n server s 10.0.0.1:1\n",
			[]string{`haproxy.cfg:3: default_backend "ap": no backend named "ap"; did you mean "app"?`}},
		{"missing use_backend", "frontend f\n bind :80\n acl a path /\n use_backend nope if a\n" + okTail,
			[]string{`haproxy.cfg:4: use_backend "nope": no backend named "nope"`}},
		{"undefined acl", "frontend f\n bind :80\n acl is_api path_beg /api\n use_backend okbe if is_apy\n" + okTail,
			[]string{`haproxy.cfg:4: condition uses acl "is_apy", which is not defined in frontend "f"; did you mean "is_api"?`}},
		{"undefined acl in rule", "frontend f\n mode http\n bind :80\n http-request deny if !ok\n default_backend h\nbackend h\n mode http\n server s 10.0.0.1:1\n",
			[]string{`haproxy.cfg:4: condition uses acl "ok"`}},
		{"mode mismatch http->tcp", "frontend f\n mode http\n bind :80\n default_backend b\nbackend b\n server s 10.0.0.1:1\n",
			[]string{`haproxy.cfg:4: frontend "f" (mode http) cannot use backend "b" (mode tcp)`}},
		{"mode mismatch tcp->http", "frontend f\n bind :80\n default_backend b\nbackend b\n mode http\n server s 10.0.0.1:1\n",
			[]string{`haproxy.cfg:3: frontend "f" (mode tcp) cannot use backend "b" (mode http)`}},
		{"duplicate bind", "frontend f\n bind :80\n default_backend okbe\nfrontend g\n bind 10.0.0.2:80\n default_backend okbe\n" + okTail,
			[]string{`haproxy.cfg:5: bind 10.0.0.2:80 in "g" overlaps bind 0.0.0.0:80 of "f" at line 2`}},
		{"unknown service", "frontend f\n mode http\n bind :80\n http-request use-service promex\n default_backend h\nbackend h\n mode http\n server s 10.0.0.1:1\n",
			[]string{`haproxy.cfg:4: service "promex" is not supported; the only service is prometheus-exporter`}},
		{"use-service without name", "frontend f\n mode http\n bind :80\n http-request use-service\n default_backend h\nbackend h\n mode http\n server s 10.0.0.1:1\n",
			[]string{`haproxy.cfg:4: "http-request use-service" needs exactly one service name`}},
		{"no bind", "frontend f\n default_backend okbe\n" + okTail,
			[]string{`haproxy.cfg:1: frontend "f" has no bind line`}},
		{"hostname server", "backend b\n server s db.local:5432\n" + okTail,
			[]string{`haproxy.cfg:2: server "s" address "db.local:5432": expected an IPv4 address`}},
		{"server without port", "backend b\n server s 10.0.0.1\n" + okTail,
			[]string{`haproxy.cfg:2: server "s" address "10.0.0.1": missing port`}},
		{"ipv6 server", "backend b\n server s [::1]:80\n" + okTail,
			[]string{`haproxy.cfg:2: server "s" address "[::1]:80": IPv6 is not supported`}},
		{"bad weight", "backend b\n server s 10.0.0.1:80 weight 300\n" + okTail,
			[]string{`haproxy.cfg:2: weight 300 is out of range; use 0 to 256`}},
		{"unknown server kw", "backend b\n server s 10.0.0.1:80 chek\n" + okTail,
			[]string{`haproxy.cfg:2: unknown server keyword "chek"; did you mean "check"?`}},
		{"ssl server", "backend b\n server s 10.0.0.1:443 ssl verify none\n" + okTail,
			[]string{`haproxy.cfg:2: server keyword "ssl" is not supported`}},
		{"duplicate server", "backend b\n server s 10.0.0.1:80\n server s 10.0.0.2:80\n" + okTail,
			[]string{`haproxy.cfg:3: server "s" is already defined in backend "b" at line 2`}},
		{"duplicate backend", "backend okbe\n server x 10.0.0.1:1\n" + okTail,
			[]string{`haproxy.cfg:7: backend "okbe" is already defined at line 1`}},
		{"bad balance", "backend b\n balance roundrobbin\n" + okTail,
			[]string{`haproxy.cfg:2: unknown balance algorithm "roundrobbin"; did you mean "roundrobin"?`}},
		{"bad mode", "defaults\n mode htp\n" + okTail,
			[]string{`haproxy.cfg:2: unknown mode "htp"; did you mean "http"?`}},
		{"bind ssl", "frontend f\n bind :443 ssl crt /x.pem\n default_backend okbe\n" + okTail,
			[]string{`haproxy.cfg:2: bind keyword "ssl" is not supported`}},
		{"bind no port", "frontend f\n bind 10.0.0.1\n default_backend okbe\n" + okTail,
			[]string{`haproxy.cfg:2: bind "10.0.0.1": missing port`}},
		{"bind ipv6", "frontend f\n bind :::80\n default_backend okbe\n" + okTail,
			[]string{`haproxy.cfg:2: bind ":::80": IPv6 is not supported`}},
		{"server in frontend", "frontend f\n bind :80\n server s 10.0.0.1:1\n" + okTail,
			[]string{`haproxy.cfg:3: "server" is not allowed in frontend "f"`}},
		{"bind in defaults", "defaults\n bind :80\n" + okTail,
			[]string{`haproxy.cfg:2: "bind" is not allowed in defaults section`}},
		{"unterminated quote", "frontend f\n bind \":80\n" + okTail,
			[]string{`haproxy.cfg:2: unterminated " quote`}},
		{"legacy clitimeout", "defaults\n clitimeout 5000\n" + okTail,
			[]string{`haproxy.cfg:2: "clitimeout" was removed from HAProxy; write "timeout client 5000"`}},
		{"unknown option", "defaults\n option forwardfro\n" + okTail,
			[]string{`haproxy.cfg:2: unknown option "forwardfro" in defaults section; did you mean "forwardfor"?`}},
		{"bad acl criterion", "frontend f\n bind :80\n acl a pth_beg /x\n default_backend okbe\n" + okTail,
			[]string{`haproxy.cfg:3: unknown acl criterion "pth_beg"; did you mean "path_beg"?`}},
		{"bad acl regex", "frontend f\n bind :80\n acl a path_reg (\n default_backend okbe\n" + okTail,
			[]string{`haproxy.cfg:3: acl regex "("`}},
		{"bad acl src", "frontend f\n bind :80\n acl a src 10.0.0.300\n default_backend okbe\n" + okTail,
			[]string{`haproxy.cfg:3: acl src value "10.0.0.300"`}},
		{"acl without value", "frontend f\n bind :80\n acl a path_beg\n default_backend okbe\n" + okTail,
			[]string{`haproxy.cfg:3: acl path_beg needs at least one value`}},
		{"dangling or", "frontend f\n bind :80\n acl a path /\n use_backend okbe if a or\n" + okTail,
			[]string{`haproxy.cfg:4: condition ends without an ACL`}},
		{"unclosed brace", "frontend f\n bind :80\n use_backend okbe if { src 10.0.0.1\n" + okTail,
			[]string{`haproxy.cfg:3: anonymous acl "{" has no closing "}"`}},
		{"bad http-request action", "frontend f\n mode http\n bind :80\n http-request sett-header X y\n" + okTail,
			[]string{`haproxy.cfg:4: http-request action "sett-header" is not supported; did you mean "set-header"?`}},
		{"bad redirect code", "frontend f\n mode http\n bind :80\n http-request redirect scheme https code 304\n" + okTail,
			[]string{`haproxy.cfg:4: redirect code "304"`}},
		{"bad log facility", "global\n log 10.0.0.1 locl0\n" + okTail,
			[]string{`haproxy.cfg:2: unknown log facility "locl0"; did you mean "local0"?`}},
		{"bad global keyword", "global\n nbthred 2\n" + okTail,
			[]string{`haproxy.cfg:2: unknown keyword "nbthred" in global section; did you mean "nbthread"?`}},
		{"network bad address", "network\n address 10.0.0.2\n" + okTail,
			[]string{`haproxy.cfg:2: address "10.0.0.2": expected A.B.C.D/N`, `haproxy.cfg:1: network section has no address`}[:1]},
		{"network gateway outside", "network\n address 10.0.0.2/24\n gateway 10.0.1.1\n" + okTail,
			[]string{`haproxy.cfg:1: gateway 10.0.1.1 is outside the network of address 10.0.0.2/24`}},
		{"network multicast mac", "network\n address dhcp\n mac 01:00:5e:00:00:01\n" + okTail,
			[]string{`haproxy.cfg:3: mac "01:00:5e:00:00:01" is a multicast address`}},
		{"network cores vs nbthread", "global\n nbthread 2\nnetwork\n address dhcp\n cores 4\n" + okTail,
			[]string{`haproxy.cfg:3: network cores 4 disagrees with global nbthread 2`}},
		{"network unknown", "network\n adress dhcp\n" + okTail,
			[]string{`haproxy.cfg:2: unknown keyword "adress" in network section; did you mean "address"?`}},
		{"missing from", "frontend f from nodef\n bind :80\n default_backend okbe\n" + okTail,
			[]string{`haproxy.cfg:1: no defaults section named "nodef"`}},
		{"bad proxy name", "backend a/b\n server s 10.0.0.1:1\n" + okTail,
			[]string{`haproxy.cfg:1: backend name "a/b" contains '/'`}},
		{"several errors at once", "backend b\n server s 10.0.0.1:80 weight x\n balnce first\n timeout server 1q\n" + okTail,
			[]string{`haproxy.cfg:2: weight "x"`, `haproxy.cfg:3: unknown keyword "balnce"`, `haproxy.cfg:4: timeout server: time "1q"`}},
		{"NUL byte", "frontend f\x00\n" + okTail, []string{`haproxy.cfg:1: line contains a NUL byte`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := Parse("haproxy.cfg", []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded, want errors %q", tt.want)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want Errors", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
		})
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("global\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, " bogus%d\n", i)
	}
	_, _, err := Parse("x.cfg", []byte(b.String()))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error = %v", err)
	}
	if len(es) != MaxErrors+1 || !strings.Contains(es[MaxErrors].Msg, "too many errors") {
		t.Errorf("got %d errors, last %q; want %d and a too-many note", len(es), es[len(es)-1].Msg, MaxErrors+1)
	}
}
