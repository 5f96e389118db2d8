package config

import (
	"strconv"
	"strings"
)

// optionNames are the options the appliance models.
var optionNames = []string{"httplog", "tcplog", "dontlognull", "forwardfor", "httpchk",
	"http-server-close", "http-keep-alive", "httpclose", "redispatch"}

// optionsIgnored are HAProxy options that only tune behaviour the appliance
// does not have, or does anyway; they warn.
var optionsIgnored = []string{"abortonclose", "allbackups", "checkcache", "clitcpka", "srvtcpka",
	"tcpka", "contstats", "http-buffer-request", "http-ignore-probes", "http-no-delay",
	"http-pretend-keepalive", "http-use-proxy-header", "independent-streams", "log-health-checks",
	"log-separate-errors", "logasap", "nolinger", "persist", "prefer-last-server", "socket-stats",
	"splice-auto", "splice-request", "splice-response", "tcp-smart-accept", "tcp-smart-connect",
	"dontlog-normal", "http-restrict-req-hdr-names", "idle-close-on-response", "disable-h2-upgrade",
	"h1-case-adjust-bogus-client", "h1-case-adjust-bogus-server", "spop-check",
	"ssl-hello-chk", "smtpchk", "mysql-check", "pgsql-check", "redis-check", "ldap-check", "tcp-check",
	"external-check", "originalto", "transparent"}

// optionIgnoredWarn warns about an ignored option and reports whether it
// was one.
func optionIgnoredWarn(p *parser, name string) bool {
	if !contains(optionsIgnored, name) {
		return false
	}
	switch {
	case strings.HasSuffix(name, "chk") || strings.HasSuffix(name, "-check"):
		p.warnf("\"option %s\" is not supported; servers with \"check\" get TCP connect checks", name)
	case name == "originalto" || name == "transparent":
		p.warnf("\"option %s\" is not supported and is ignored", name)
	default:
		p.warnf("\"option %s\" is ignored: the appliance does not need it", name)
	}
	return true
}

func (p *parser) kwOption(w []string) {
	if len(w) < 2 {
		p.errorf("\"option\" needs a name, such as httplog or forwardfor")
		return
	}
	p.setOption(w[1], w[2:], true)
}

// setOption turns option name on (with args) or off ("no option").
func (p *parser) setOption(name string, args []string, on bool) {
	if contains(optionsIgnored, name) {
		optionIgnoredWarn(p, name)
		return
	}
	if !contains(optionNames, name) {
		p.errorf("unknown option %q in %s%s", name, p.where(), suggest(name, append(optionNames, optionsIgnored...)))
		return
	}
	side := capFE | capBE
	switch name {
	case "httplog", "tcplog", "dontlognull":
		side = capFE
	case "httpchk", "redispatch":
		side = capBE
	}
	if p.sec != secDefaults && p.cap()&side == 0 {
		p.warnf("\"option %s\" is ignored in %s; it belongs in %s", name, p.where(), capWords(side))
		return
	}
	var fwd *ForwardFor
	var chk *HTTPCheck
	switch name {
	case "httplog":
		if len(args) > 1 || len(args) == 1 && args[0] != "clf" {
			p.errorf("\"option httplog\" takes only \"clf\"; remove %q", strings.Join(args, " "))
			return
		}
	case "forwardfor":
		if on {
			var ok bool
			if fwd, ok = p.parseForwardFor(args); !ok {
				return
			}
		}
		args = nil
	case "httpchk":
		if on {
			chk = &HTTPCheck{Method: "OPTIONS", URI: "/", Version: "HTTP/1.0"}
			switch len(args) {
			case 0:
			case 1:
				chk.URI = args[0]
			case 2, 3:
				chk.Method, chk.URI = args[0], args[1]
				if len(args) == 3 {
					chk.Version = args[2]
				}
			default:
				p.errorf("\"option httpchk\" takes [METHOD] [URI] [VERSION]; remove %q", strings.Join(args[3:], " "))
				return
			}
			if !strings.HasPrefix(chk.URI, "/") {
				p.errorf("option httpchk: URI %q must start with '/'", chk.URI)
				return
			}
		}
		args = nil
	}
	if len(args) > 0 && name != "httplog" {
		p.errorf("\"option %s\" takes no arguments; remove %q", name, strings.Join(args, " "))
		return
	}
	for _, s := range p.settings() {
		o := &s.Options
		switch name {
		case "httplog":
			o.HTTPLog = on
			o.HTTPLogCLF = on && len(args) == 1
			if on {
				o.TCPLog = false
			}
		case "tcplog":
			o.TCPLog = on
			if on {
				o.HTTPLog, o.HTTPLogCLF = false, false
			}
		case "dontlognull":
			o.DontLogNull = on
		case "http-server-close":
			o.HTTPServerClose = on
			if on {
				o.HTTPKeepAlive, o.HTTPClose = false, false
			}
		case "http-keep-alive":
			o.HTTPKeepAlive = on
			if on {
				o.HTTPServerClose, o.HTTPClose = false, false
			}
		case "httpclose":
			o.HTTPClose = on
			if on {
				o.HTTPServerClose, o.HTTPKeepAlive = false, false
			}
		case "redispatch":
			o.Redispatch = on
		case "forwardfor":
			if fwd != nil {
				f := *fwd
				o.ForwardFor = &f
			} else {
				o.ForwardFor = nil
			}
		case "httpchk":
			if chk == nil {
				o.HTTPCheck = nil
				continue
			}
			c := *chk
			if o.HTTPCheck != nil {
				c.Expect = o.HTTPCheck.Expect // http-check expect may come first
			}
			o.HTTPCheck = &c
		}
	}
}

// kwHTTPCheck parses "http-check expect [!] status|rstatus|string VALUE".
func (p *parser) kwHTTPCheck(w []string) {
	if len(w) < 2 || w[1] != "expect" {
		if len(w) >= 2 && (w[1] == "send-state" || w[1] == "disable-on-404") {
			p.warnf("\"http-check %s\" is ignored", w[1])
			return
		}
		p.errorf("only \"http-check expect status CODE\" and \"http-check expect string TEXT\" are supported")
		return
	}
	args := w[2:]
	e := &CheckExpect{}
	if len(args) > 0 && args[0] == "!" {
		e.Negate = true
		args = args[1:]
	}
	if len(args) != 2 {
		p.errorf("\"http-check expect\" needs a kind and a value, as in \"http-check expect status 200\"")
		return
	}
	switch args[0] {
	case "status":
		for _, part := range strings.Split(args[1], ",") {
			lo, hi, ok := strings.Cut(part, "-")
			if !ok {
				hi = lo
			}
			l, err1 := strconv.Atoi(lo)
			h, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
				p.errorf("http-check expect status %q: use a status code (100-599), a range like 200-399 or a comma list", args[1])
				return
			}
			e.Statuses = append(e.Statuses, [2]int{l, h})
		}
	case "string":
		e.String = args[1]
	default:
		p.errorf("\"http-check expect %s\" is not supported; use status or string", args[0])
		return
	}
	for _, s := range p.settings() {
		if s.Options.HTTPCheck == nil {
			s.Options.HTTPCheck = &HTTPCheck{Method: "OPTIONS", URI: "/", Version: "HTTP/1.0"}
			if p.sec != secDefaults {
				p.warnf("\"http-check expect\" without \"option httpchk\" in %s; adding \"option httpchk\"", p.where())
			}
		}
		c := *e
		c.Statuses = append([][2]int(nil), e.Statuses...)
		s.Options.HTTPCheck.Expect = &c
	}
}

func (p *parser) kwHTTPReuse(w []string) {
	if !p.nargs(w, 1) {
		return
	}
	names := []string{"safe", "never", "aggressive", "always"}
	r := index(names, w[1])
	if r < 0 {
		p.errorf("unknown http-reuse %q%s; use never, safe, aggressive or always", w[1], suggest(w[1], names))
		return
	}
	for _, s := range p.settings() {
		s.HTTPReuse = Reuse(r)
	}
}
