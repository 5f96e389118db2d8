package config

import (
	"strings"
	"time"
)

var balanceNames = []string{"roundrobin", "static-rr", "leastconn", "first", "source", "uri",
	"url_param", "hdr(NAME)", "random"}

func (p *parser) kwBalance(w []string) {
	if len(w) < 2 {
		p.errorf("\"balance\" needs an algorithm: %s", strings.Join(balanceNames, ", "))
		return
	}
	b := Balance{}
	alg, args := w[1], w[2:]
	switch {
	case alg == "roundrobin":
		b.Algorithm = RoundRobin
	case alg == "static-rr":
		b.Algorithm = StaticRR
	case alg == "leastconn":
		b.Algorithm = LeastConn
	case alg == "first":
		b.Algorithm = First
	case alg == "source":
		b.Algorithm = Source
	case alg == "uri":
		b.Algorithm = URI
		if len(args) > 0 {
			p.warnf("\"balance uri\" options %q are ignored; the whole path is hashed", strings.Join(args, " "))
			args = nil
		}
	case alg == "url_param":
		if len(args) == 0 {
			p.errorf("\"balance url_param\" needs a parameter name")
			return
		}
		b.Algorithm, b.Arg, args = URLParam, args[0], nil
	case strings.HasPrefix(alg, "hdr(") && strings.HasSuffix(alg, ")"):
		name := alg[4 : len(alg)-1]
		if name == "" {
			p.errorf("\"balance hdr()\" needs a header name, as in hdr(host)")
			return
		}
		b.Algorithm, b.Arg = Header, strings.ToLower(name)
		if len(args) == 1 && args[0] == "use_domain_only" {
			p.warnf("\"use_domain_only\" is ignored; the whole header value is hashed")
			args = nil
		}
	case alg == "random" || strings.HasPrefix(alg, "random(") && strings.HasSuffix(alg, ")"):
		b.Algorithm = Random
		if alg != "random" {
			n, err := parseInt("random draws", alg[7:len(alg)-1], 1, 100)
			if err != nil {
				p.errorf("%v", err)
				return
			}
			b.Draws = n
		}
	case alg == "rdp-cookie" || strings.HasPrefix(alg, "rdp-cookie(") || alg == "hash":
		p.errorf("\"balance %s\" is not supported; use roundrobin, leastconn, source or hdr(NAME)", alg)
		return
	default:
		p.errorf("unknown balance algorithm %q%s; use one of %s", alg, suggest(alg, balanceNames), strings.Join(balanceNames, ", "))
		return
	}
	if len(args) > 0 {
		p.errorf("\"balance %s\" takes no arguments; remove %q", alg, strings.Join(args, " "))
		return
	}
	for _, s := range p.settings() {
		s.Balance = b
	}
}

// serverValueKeywords take one value; serverFlagKeywords take none.
var (
	serverValueKeywords = []string{"weight", "inter", "fastinter", "downinter", "rise", "fall",
		"maxconn", "port"}
	serverFlagKeywords = []string{"check", "backup", "send-proxy", "send-proxy-v2", "disabled",
		"enabled", "no-check", "no-backup", "no-send-proxy", "no-send-proxy-v2"}
	// serverIgnoredValue take a value that changes nothing that matters here.
	serverIgnoredValue = []string{"id", "cookie", "slowstart", "maxqueue", "minconn", "on-error",
		"on-marked-down", "on-marked-up", "observe", "error-limit", "agent-check", "agent-inter",
		"agent-port", "agent-send", "agent-addr", "resolvers", "resolve-prefer", "init-addr",
		"pool-max-conn", "pool-purge-delay", "pool-low-conn", "max-reuse", "log-proto", "proxy-v2-options",
		"check-proto", "ws", "tcp-ut", "shard"}
	serverIgnoredFlag = []string{"non-stick", "check-send-proxy", "tfo", "no-tfo", "no-agent-check",
		"resolve-net", "stick", "agent-check"}
	// serverUnsupported would change security or addressing; they are errors.
	serverUnsupported = []string{"ssl", "check-ssl", "verify", "sni", "alpn", "crt", "ca-file",
		"source", "usesrc", "namespace", "proto", "redir", "track", "addr", "socks4", "npn"}
)

func (p *parser) kwDefaultServer(w []string) {
	for _, s := range p.settings() {
		srv := s.DefaultServer
		if p.serverParams(&srv, w[1:]) {
			s.DefaultServer = srv
		}
	}
}

func (p *parser) kwServer(w []string) {
	if len(w) < 3 {
		p.errorf("\"server\" needs a name and an address, as in \"server s1 10.0.0.1:80 check\"")
		return
	}
	be := p.be
	for _, s := range be.Servers {
		if s.Name == w[1] {
			p.errorf("server %q is already defined in %s at line %d; rename one of them", w[1], p.where(), s.Line)
			return
		}
	}
	srv := be.DefaultServer
	srv.Name, srv.Line = w[1], p.line
	addr := strings.TrimPrefix(strings.TrimPrefix(w[2], "ipv4@"), "tcp@")
	ap, err := parseAddrPort(addr, 0)
	if err != nil {
		p.errorf("server %q address %q: %v", w[1], w[2], err)
		return
	}
	srv.Addr = ap
	if p.serverParams(&srv, w[3:]) {
		be.Servers = append(be.Servers, srv)
	}
}

// serverParams applies server keywords to s; it reports success.
func (p *parser) serverParams(s *Server, args []string) bool {
	for i := 0; i < len(args); i++ {
		k := args[i]
		switch {
		case contains(serverFlagKeywords, k):
			switch k {
			case "check":
				s.Check = true
			case "no-check":
				s.Check = false
			case "backup":
				s.Backup = true
			case "no-backup":
				s.Backup = false
			case "send-proxy":
				s.SendProxy = true
			case "no-send-proxy":
				s.SendProxy = false
			case "send-proxy-v2":
				s.SendProxyV2 = true
			case "no-send-proxy-v2":
				s.SendProxyV2 = false
			case "disabled":
				s.Disabled = true
			case "enabled":
				s.Disabled = false
			}
		case contains(serverValueKeywords, k):
			if i+1 >= len(args) {
				p.errorf("server keyword %q needs a value", k)
				return false
			}
			i++
			if !p.serverValue(s, k, args[i]) {
				return false
			}
		case contains(serverIgnoredValue, k):
			if i+1 < len(args) {
				i++
			}
			p.warnf("server keyword %q is ignored", k)
		case contains(serverIgnoredFlag, k):
			p.warnf("server keyword %q is ignored", k)
		case contains(serverUnsupported, k):
			p.errorf("server keyword %q is not supported on the appliance (no TLS, no source or address rewriting); remove it", k)
			return false
		default:
			p.errorf("unknown server keyword %q%s", k, suggest(k, append(append([]string{}, serverValueKeywords...), serverFlagKeywords...)))
			return false
		}
	}
	return true
}

func (p *parser) serverValue(s *Server, k, v string) bool {
	var err error
	switch k {
	case "weight":
		s.Weight, err = parseInt("weight", v, 0, 256)
	case "rise":
		s.Rise, err = parseInt("rise", v, 1, 1000)
	case "fall":
		s.Fall, err = parseInt("fall", v, 1, 1000)
	case "maxconn":
		s.MaxConn, err = parseInt("maxconn", v, 0, 1<<30)
	case "port":
		var n int
		n, err = parseInt("port", v, 1, 65535)
		s.CheckPort = uint16(n)
	case "inter", "fastinter", "downinter":
		var d time.Duration
		d, err = parseTime(v, time.Millisecond)
		if err != nil {
			err = errorString(k + ": " + err.Error())
		}
		if err == nil && d == 0 {
			err = errorString(k + " must be more than zero, as in " + k + " 2s")
		}
		switch k {
		case "inter":
			s.Inter = d
		case "fastinter":
			s.FastInter = d
		default:
			s.DownInter = d
		}
	}
	if err != nil {
		p.errorf("%v", err)
		return false
	}
	return true
}
