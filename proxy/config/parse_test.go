package config

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// defSettings are the settings a proxy gets with no defaults section.
func defSettings() Settings { return baseSettings() }

// tcpDefaults is the defaults section most tests use.
const tcpDefaults = `defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
`

func withTimeouts(s Settings) Settings {
	s.Timeouts.Connect, s.Timeouts.Client, s.Timeouts.Server = 5*time.Second, 30*time.Second, 30*time.Second
	return s
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func srv(name, addr string, line int) Server {
	s := baseSettings().DefaultServer
	s.Name, s.Addr, s.Line = name, ap(addr), line
	return s
}

func TestParseGood(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want func() *Config
	}{{
		name: "minimal tcp",
		src: tcpDefaults + `
frontend fe
    bind :8080
    default_backend be
backend be
    server s1 10.0.0.1:80
`,
		want: func() *Config {
			s := withTimeouts(defSettings())
			return &Config{
				Frontends: []*Frontend{{Name: "fe", Line: 7, Settings: s, DefaultBackend: "be",
					Binds: []Bind{{Addr: ap("0.0.0.0:8080"), Line: 8}}}},
				Backends: []*Backend{{Name: "be", Line: 10, Settings: s,
					Servers: []Server{srv("s1", "10.0.0.1:80", 11)}}},
			}
		},
	}, {
		name: "defaults inheritance takes the last preceding section",
		src: `defaults
    mode http
    timeout client 1m
    timeout connect 2s
    timeout server 3000
    retries 5
    option httplog
    log global
frontend web
    bind 10.0.0.2:80,10.0.0.2:81 name web
    default_backend app
backend app
    balance leastconn
    server a 10.0.0.1:80
defaults
    mode tcp
    timeout client 10s
    timeout connect 1s
    timeout server 10s
frontend db
    bind :5432-5433 accept-proxy
    retries 1
    default_backend pg
backend pg
    retries 0
    server p 10.0.0.5:5432
`,
		want: func() *Config {
			h := defSettings()
			h.Mode = ModeHTTP
			h.Timeouts = Timeouts{Client: time.Minute, Connect: 2 * time.Second, Server: 3 * time.Second}
			h.Retries = 5
			h.Options.HTTPLog = true
			h.Log.Global = true
			hb := h
			hb.Balance.Algorithm = LeastConn
			tc := defSettings()
			tc.Timeouts = Timeouts{Client: 10 * time.Second, Connect: time.Second, Server: 10 * time.Second}
			tcb := tc
			tcb.Retries = 0
			return &Config{
				Frontends: []*Frontend{
					{Name: "web", Line: 9, Settings: h, DefaultBackend: "app", Binds: []Bind{
						{Addr: ap("10.0.0.2:80"), Name: "web", Line: 10}, {Addr: ap("10.0.0.2:81"), Name: "web", Line: 10}}},
					{Name: "db", Line: 20, Settings: tc, DefaultBackend: "pg", Binds: []Bind{
						{Addr: ap("0.0.0.0:5432"), AcceptProxy: true, Line: 21}, {Addr: ap("0.0.0.0:5433"), AcceptProxy: true, Line: 21}}},
				},
				Backends: []*Backend{
					{Name: "app", Line: 12, Settings: hb, Servers: []Server{srv("a", "10.0.0.1:80", 14)}},
					{Name: "pg", Line: 24, Settings: tcb, Servers: []Server{srv("p", "10.0.0.5:5432", 26)}},
				},
			}
		},
	}, {
		name: "listen is a frontend and a backend",
		src: tcpDefaults + `
listen mysql
    bind 0.0.0.0:3306
    balance source
    maxconn 100
    server m1 10.0.0.7:3306 check inter 500ms rise 1 fall 2 maxconn 50
    server m2 10.0.0.8:3306 backup disabled send-proxy-v2
`,
		want: func() *Config {
			s := withTimeouts(defSettings())
			s.Balance.Algorithm = Source
			s.MaxConn = 100
			m1 := srv("m1", "10.0.0.7:3306", 11)
			m1.Check, m1.Inter, m1.Rise, m1.Fall, m1.MaxConn = true, 500*time.Millisecond, 1, 2, 50
			m2 := srv("m2", "10.0.0.8:3306", 12)
			m2.Backup, m2.Disabled, m2.SendProxyV2 = true, true, true
			be := s
			be.MaxConn = 0 // maxconn has frontend capability only
			return &Config{
				Frontends: []*Frontend{{Name: "mysql", Line: 7, Listen: true, Settings: s, DefaultBackend: "mysql",
					Binds: []Bind{{Addr: ap("0.0.0.0:3306"), Line: 8}}}},
				Backends: []*Backend{{Name: "mysql", Line: 7, Listen: true, Settings: s,
					Servers: []Server{m1, m2}}},
			}
		},
	}, {
		name: "http frontend with acls, rules and stats",
		src: `defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option forwardfor except 127.0.0.0/8 header X-Real-IP
frontend www
  bind :80
  acl is_api path_beg /api /v2
  acl is_api hdr(Host) -i api.example.com
  acl bad_net src 192.0.2.0/24 198.51.100.7
  acl img path_reg -i \.(png|jpe?g)$
  http-request deny deny_status 429 if bad_net !LOCALHOST
  http-request redirect scheme https code 301 unless { hdr(x-forwarded-proto) https }
  http-request set-header X-Via "bare proxy" if is_api
  http-request del-header X-Debug
  http-response set-header Server bare
  use_backend api if is_api or img
  default_backend app
  stats enable
  monitor-uri /healthz
backend api
  option httpchk GET /health
  http-check expect status 200-299
  http-reuse always
  balance hdr(X-User)
  default-server check inter 1s
  server a1 10.0.1.1:8080
backend app
  server b1 10.0.1.2:8080 weight 0
`,
		want: func() *Config {
			s := withTimeouts(defSettings())
			s.Mode = ModeHTTP
			s.Options.ForwardFor = &ForwardFor{Except: netip.MustParsePrefix("127.0.0.0/8"), Header: "X-Real-IP"}
			isAPI := &ACL{Name: "is_api", Tests: []ACLTest{
				{Fetch: FetchPath, Match: MatchBeg, Values: []string{"/api", "/v2"}, Line: 9},
				{Fetch: FetchHeader, Arg: "host", Match: MatchStr, IgnoreCase: true, Values: []string{"api.example.com"}, Line: 10},
			}}
			badNet := &ACL{Name: "bad_net", Tests: []ACLTest{{Fetch: FetchSrc, Match: MatchIP,
				Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.7/32")}, Line: 11}}}
			img := &ACL{Name: "img", Tests: []ACLTest{{Fetch: FetchPath, Match: MatchReg, IgnoreCase: true,
				Values: []string{`\.(png|jpe?g)$`}, Regexps: []*regexp.Regexp{regexp.MustCompile(`(?i)\.(png|jpe?g)$`)}, Line: 12}}}
			api := s
			api.Options.HTTPCheck = &HTTPCheck{Method: "GET", URI: "/health", Version: "HTTP/1.0",
				Expect: &CheckExpect{Statuses: [][2]int{{200, 299}}}}
			api.HTTPReuse = ReuseAlways
			api.Balance = Balance{Algorithm: Header, Arg: "x-user"}
			api.DefaultServer.Check, api.DefaultServer.Inter = true, time.Second
			a1 := api.DefaultServer
			a1.Name, a1.Addr, a1.Line = "a1", ap("10.0.1.1:8080"), 28
			b1 := srv("b1", "10.0.1.2:8080", 30)
			b1.Weight = 0
			return &Config{
				Frontends: []*Frontend{{Name: "www", Line: 7, Settings: s,
					Binds:          []Bind{{Addr: ap("0.0.0.0:80"), Line: 8}},
					ACLs:           []*ACL{isAPI, badNet, img},
					DefaultBackend: "app",
					UseBackends: []UseBackend{{Backend: "api", Line: 18, Cond: &Condition{Or: [][]Term{
						{{ACL: "is_api"}}, {{ACL: "img"}}}}}},
					HTTPRequest: []Rule{
						{Action: ActionDeny, Status: 429, Line: 13, Cond: &Condition{Or: [][]Term{{{ACL: "bad_net"}, {ACL: "LOCALHOST", Negate: true}}}}},
						{Action: ActionRedirect, Redirect: RedirectScheme, Target: "https", Status: 301, Line: 14,
							Cond: &Condition{Unless: true, Or: [][]Term{{{Anon: &ACLTest{Fetch: FetchHeader, Arg: "x-forwarded-proto", Values: []string{"https"}, Line: 14}}}}}},
						{Action: ActionSetHeader, Header: "X-Via", Value: "bare proxy", Line: 15, Cond: &Condition{Or: [][]Term{{{ACL: "is_api"}}}}},
						{Action: ActionDelHeader, Header: "X-Debug", Line: 16},
					},
					HTTPResponse: []Rule{{Action: ActionSetHeader, Header: "Server", Value: "bare", Line: 17}},
					Stats:        Stats{Enable: true, URI: "/haproxy?stats"},
					MonitorURI:   "/healthz",
				}},
				Backends: []*Backend{
					{Name: "api", Line: 22, Settings: api, Servers: []Server{a1}},
					{Name: "app", Line: 29, Settings: s, Servers: []Server{b1}},
				},
			}
		},
	}, {
		name: "global, network, quoting and units",
		src: `# appliance config
global
    nbthread 2
    maxconn 20000
    tune.bufsize 16k
    log 10.0.0.9 len 2048 local0 info   # default port 514
    log stdout format raw daemon
network
    address 10.0.0.2/24
    gateway 10.0.0.1
    mac 52:54:00:12:34:56
    cores 2
defaults
    timeout connect 500ms
    timeout client 1h
    timeout server 2m
    timeout tunnel 1d
    timeout check 100us
frontend "fe-1"
    bind ':9000'
    default_backend b1   # escaped \# is not a comment: "\#"
backend b1
    server s 10.0.0.3:9000
`,
		want: func() *Config {
			s := defSettings()
			s.Timeouts = Timeouts{Connect: 500 * time.Millisecond, Client: time.Hour, Server: 2 * time.Minute,
				Tunnel: 24 * time.Hour, Check: 100 * time.Microsecond}
			mac, _ := net.ParseMAC("52:54:00:12:34:56")
			return &Config{
				Global: Global{NbThread: 2, MaxConn: 20000, BufSize: 16384, Logs: []LogTarget{
					{Addr: ap("10.0.0.9:514"), MaxLen: 2048, Facility: 16, Level: 6, Line: 6},
					{Kind: LogStdout, Format: "raw", Facility: 3, Level: 7, Line: 7},
				}},
				Network: Network{Address: netip.MustParsePrefix("10.0.0.2/24"), Gateway: netip.MustParseAddr("10.0.0.1"),
					MAC: mac, Cores: 2, Line: 8},
				Frontends: []*Frontend{{Name: "fe-1", Line: 19, Settings: s, DefaultBackend: "b1",
					Binds: []Bind{{Addr: ap("0.0.0.0:9000"), Line: 20}}}},
				Backends: []*Backend{{Name: "b1", Line: 22, Settings: s, Servers: []Server{srv("s", "10.0.0.3:9000", 23)}}},
			}
		},
	}, {
		name: "named defaults and from",
		src: `defaults base
    mode http
    timeout client 5s
defaults
    mode tcp
frontend f from base
    bind :80
    default_backend b
backend b from base
    server s 10.0.0.3:80
`,
		want: func() *Config {
			s := defSettings()
			s.Mode = ModeHTTP
			s.Timeouts.Client = 5 * time.Second
			return &Config{
				Frontends: []*Frontend{{Name: "f", Line: 6, Settings: s, DefaultBackend: "b",
					Binds: []Bind{{Addr: ap("0.0.0.0:80"), Line: 7}}}},
				Backends: []*Backend{{Name: "b", Line: 9, Settings: s, Servers: []Server{srv("s", "10.0.0.3:80", 10)}}},
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warns, err := Parse("haproxy.cfg", []byte(tt.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := tt.want()
			want.File = "haproxy.cfg"
			if d := diff(want, got); d != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", d)
			}
			for _, w := range warns {
				t.Logf("%s", w)
			}
		})
	}
}

// TestDefaultsNotShared checks that changing a proxy never leaks into the
// defaults section or a sibling proxy.
func TestDefaultsNotShared(t *testing.T) {
	src := `defaults
    mode http
    option forwardfor
    default-server inter 3s
frontend a
    bind :1
    option forwardfor header X-A
    default_backend b
frontend c
    bind :2
    default_backend b
backend b
    server s 10.0.0.1:1
`
	cfg, _, err := Parse("t.cfg", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Frontends[0].Options.ForwardFor.Header; got != "X-A" {
		t.Errorf("frontend a header = %q, want X-A", got)
	}
	if got := cfg.Frontends[1].Options.ForwardFor.Header; got != "X-Forwarded-For" {
		t.Errorf("frontend c header = %q, want X-Forwarded-For", got)
	}
	if got := cfg.Backends[0].Servers[0].Inter; got != 3*time.Second {
		t.Errorf("server inter = %v, want 3s from defaults' default-server", got)
	}
}

func TestWarnings(t *testing.T) {
	src := `global
    daemon
    chroot /var/empty
    user haproxy
    stats socket /run/haproxy.sock
defaults
    option dontlognull
    option redispatch
    option splice-auto
frontend f
    mode tcp
    bind :80
    option httplog
    default_backend b
backend b
    timeout client 1s
    server s 10.0.0.1:80
`
	cfg, warns, err := Parse("h.cfg", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	wantSubs := []string{
		`h.cfg:2: warning: "daemon" is ignored`,
		`h.cfg:3: warning: "chroot" is ignored`,
		`h.cfg:4: warning: "user" is ignored`,
		`h.cfg:5: warning: "stats" is ignored`,
		`h.cfg:9: warning: "option splice-auto" is ignored`,
		`h.cfg:16: warning: "timeout client" is ignored in backend "b"`,
		`h.cfg:10: warning: "option httplog" needs mode http`,
		`h.cfg:10: warning: missing "timeout client"`,
	}
	var all []string
	for _, w := range warns {
		all = append(all, w.String())
	}
	joined := strings.Join(all, "\n")
	for _, s := range wantSubs {
		if !strings.Contains(joined, s) {
			t.Errorf("warnings lack %q; got:\n%s", s, joined)
		}
	}
	if !cfg.Frontends[0].Options.TCPLog || cfg.Frontends[0].Options.HTTPLog {
		t.Errorf("httplog in tcp mode should fall back to tcplog: %+v", cfg.Frontends[0].Options)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte("frontend f\n bind :80\n default_backend nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "haproxy.cfg:3: default_backend \"nope\"") {
		t.Fatalf("Load error = %v", err)
	}
	if _, _, err := Load(filepath.Join(dir, "missing.cfg")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func TestUnits(t *testing.T) {
	times := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"0", 0, ""}, {"100", 100 * time.Millisecond, ""}, {"10us", 10 * time.Microsecond, ""},
		{"5s", 5 * time.Second, ""}, {"2m", 2 * time.Minute, ""}, {"3h", 3 * time.Hour, ""}, {"1d", 24 * time.Hour, ""},
		{"5x", 0, `unknown unit "x"; use us, ms, s, m, h or d`}, {"", 0, "expected a number"}, {"s", 0, "expected a number"},
		{"25d", 0, "too large"}, {"99999999999999999999", 0, "too large"}, {"-1s", 0, "expected a number"},
	}
	for _, tt := range times {
		got, err := parseTime(tt.in, time.Millisecond)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseTime(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	sizes := []struct {
		in   string
		want int
		ok   bool
	}{{"16384", 16384, true}, {"16k", 16384, true}, {"1M", 1 << 20, true}, {"1g", 1 << 30, true}, {"2g", 0, false}, {"3t", 0, false}, {"k", 0, false}}
	for _, tt := range sizes {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestSplitLine(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{`  bind :80   # comment`, []string{"bind", ":80"}, false},
		{`set-header X "a b" `, []string{"set-header", "X", "a b"}, false},
		{`x 'a "b" \n' c`, []string{"x", `a "b" \n`, "c"}, false},
		{`x a\ b \# \x41 \.png`, []string{"x", "a b", "#", "A", `\.png`}, false},
		{`x "" y`, []string{"x", "", "y"}, false},
		{`x hdr("host")z`, []string{"x", "hdr(host)z"}, false},
		{"x\ty\r", []string{"x", "y"}, false},
		{`x "open`, nil, true},
		{`x 'open`, nil, true},
		{`x \`, nil, true},
		{`x \x4`, nil, true},
	}
	for _, tt := range tests {
		got, err := splitLine(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("splitLine(%q) error = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if d := diff(tt.want, got); !tt.err && d != "" {
			t.Errorf("splitLine(%q) (-want +got):\n%s", tt.in, d)
		}
	}
}

func TestSuggest(t *testing.T) {
	for _, tt := range []struct{ word, want string }{
		{"severr", "server"}, {"balnce", "balance"}, {"xyzzy", ""}, {"bnid", "bind"},
	} {
		got := suggest(tt.word, proxyKeywordNames())
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, `"`+tt.want+`"`) {
			t.Errorf("suggest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}
