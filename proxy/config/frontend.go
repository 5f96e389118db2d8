package config

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

var (
	bindFlags   = []string{"accept-proxy"}
	bindValues  = []string{"name", "maxconn"}
	bindIgnored = []string{"process", "thread", "backlog", "nice", "id", "tfo", "defer-accept",
		"v4v6", "v6only", "mss", "tcp-ut", "level", "mode", "uid", "gid", "user", "group", "severity-output",
		"expose-fd"}
	bindIgnoredHasValue = map[string]bool{"process": true, "thread": true, "backlog": true, "nice": true,
		"id": true, "mss": true, "tcp-ut": true, "level": true, "mode": true, "uid": true, "gid": true,
		"user": true, "group": true, "severity-output": true, "expose-fd": true}
	bindUnsupported = []string{"ssl", "crt", "crt-list", "ca-file", "alpn", "npn", "verify", "transparent",
		"interface", "namespace", "quic-cc-algo", "proto", "strict-sni", "generate-certificates"}
)

// maxPortRange bounds "bind :8000-8100" expansions.
const maxPortRange = 1024

// kwBind parses "bind ADDR:PORT[,ADDR:PORT...] [params]".
func (p *parser) kwBind(w []string) {
	if len(w) < 2 {
		p.errorf("\"bind\" needs an address, as in \"bind :80\" or \"bind 10.0.0.2:443\"")
		return
	}
	tmpl := Bind{Line: p.line}
	args := w[2:]
	for i := 0; i < len(args); i++ {
		k := args[i]
		switch {
		case k == "accept-proxy":
			tmpl.AcceptProxy = true
		case contains(bindValues, k):
			if i+1 >= len(args) {
				p.errorf("bind keyword %q needs a value", k)
				return
			}
			i++
			if k == "name" {
				tmpl.Name = args[i]
			} else {
				n, err := parseInt("bind maxconn", args[i], 0, 1<<30)
				if err != nil {
					p.errorf("%v", err)
					return
				}
				tmpl.MaxConn = n
			}
		case contains(bindIgnored, k):
			if bindIgnoredHasValue[k] && i+1 < len(args) {
				i++
			}
			p.warnf("bind keyword %q is ignored", k)
		case contains(bindUnsupported, k):
			p.errorf("bind keyword %q is not supported on the appliance (no TLS or QUIC); remove it", k)
			return
		default:
			p.errorf("unknown bind keyword %q%s; bind takes ADDR:PORT then accept-proxy, name or maxconn", k,
				suggest(k, append(append([]string{}, bindFlags...), bindValues...)))
			return
		}
	}
	for _, spec := range strings.Split(w[1], ",") {
		binds, err := parseBindAddr(spec)
		if err != nil {
			p.errorf("bind %q: %v", spec, err)
			continue
		}
		for _, a := range binds {
			b := tmpl
			b.Addr = a
			p.fe.Binds = append(p.fe.Binds, b)
		}
	}
}

// parseBindAddr parses "[ADDR]:PORT[-PORT]"; an empty address or "*" is
// 0.0.0.0.
func parseBindAddr(s string) ([]netip.AddrPort, error) {
	for _, pre := range []string{"ipv4@", "tcp@", "tcp4@"} {
		s = strings.TrimPrefix(s, pre)
	}
	if strings.HasPrefix(s, "ipv6@") || strings.HasPrefix(s, "tcp6@") || strings.HasPrefix(s, "[") ||
		strings.Count(s, ":") > 1 {
		return nil, errorString("IPv6 is not supported; use an IPv4 address or \":PORT\"")
	}
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "unix@") || strings.HasPrefix(s, "abns@") ||
		strings.HasPrefix(s, "fd@") || strings.HasPrefix(s, "quic") || strings.HasPrefix(s, "udp") {
		return nil, errorString("only TCP over IPv4 is supported; use ADDR:PORT")
	}
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return nil, errorString("missing port; write ADDR:PORT or :PORT, as in :80")
	}
	addr := netip.IPv4Unspecified()
	if host != "" && host != "*" {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return nil, errorString("expected an IPv4 address such as 10.0.0.2, or nothing for every address")
		}
		addr = a
	}
	lo, hi, isRange := strings.Cut(port, "-")
	l, err := strconv.Atoi(lo)
	if err != nil || l < 1 || l > 65535 {
		return nil, errorString("port " + strconv.Quote(lo) + " must be a number from 1 to 65535")
	}
	h := l
	if isRange {
		h, err = strconv.Atoi(hi)
		if err != nil || h < l || h > 65535 {
			return nil, errorString("port range " + strconv.Quote(port) + " must be LOW-HIGH within 1 to 65535")
		}
		if h-l >= maxPortRange {
			return nil, errorString("port range " + strconv.Quote(port) + " is too wide; at most 1024 ports")
		}
	}
	out := make([]netip.AddrPort, 0, h-l+1)
	for n := l; n <= h; n++ {
		out = append(out, netip.AddrPortFrom(addr, uint16(n)))
	}
	return out, nil
}

func (p *parser) kwDefaultBackend(w []string) {
	if !p.nargs(w, 1) {
		return
	}
	if strings.Contains(w[1], "%[") {
		p.errorf("dynamic backend names (%q) are not supported; name a backend", w[1])
		return
	}
	if p.fe.Listen {
		p.errorf("\"default_backend\" is not allowed in listen %q: a listen section is its own backend", p.fe.Name)
		return
	}
	p.fe.DefaultBackend, p.fe.defaultBackendLine = w[1], p.line
}

func (p *parser) kwUseBackend(w []string) {
	if len(w) < 2 {
		p.errorf("\"use_backend\" needs a backend name, as in \"use_backend api if is_api\"")
		return
	}
	if strings.Contains(w[1], "%[") {
		p.errorf("dynamic backend names (%q) are not supported; name a backend", w[1])
		return
	}
	u := UseBackend{Backend: w[1], Line: p.line}
	if len(w) > 2 {
		c, ok := p.parseCondition(w[2:], true)
		if !ok {
			return
		}
		u.Cond = c
	}
	p.fe.UseBackends = append(p.fe.UseBackends, u)
}

func (p *parser) kwStats(w []string) {
	if len(w) < 2 {
		p.errorf("\"stats\" needs a keyword: enable, uri, realm, auth or refresh")
		return
	}
	st := &p.fe.Stats
	switch w[1] {
	case "enable":
		if p.nargs(w[1:], 0) {
			st.Enable = true
		}
	case "uri", "realm", "auth", "refresh":
		if len(w) != 3 {
			p.errorf("\"stats %s\" needs one value", w[1])
			return
		}
		st.Enable = true
		switch w[1] {
		case "uri":
			if !strings.HasPrefix(w[2], "/") {
				p.errorf("stats uri %q must start with '/'", w[2])
				return
			}
			st.URI = w[2]
		case "realm":
			st.Realm = w[2]
		case "auth":
			if !strings.Contains(w[2], ":") {
				p.errorf("stats auth %q: write USER:PASSWORD", w[2])
				return
			}
			st.Auth = append(st.Auth, w[2])
		case "refresh":
			d, err := parseTime(w[2], time.Second)
			if err != nil {
				p.errorf("stats refresh: %v", err)
				return
			}
			st.Refresh = d
		}
	case "hide-version", "show-legends", "show-node", "show-desc", "admin", "scope", "show-modules", "http-request", "bind-process", "socket", "timeout", "maxconn":
		p.warnf("\"stats %s\" is ignored", w[1])
	default:
		p.errorf("unknown stats keyword %q%s; use enable, uri, realm, auth or refresh", w[1],
			suggest(w[1], []string{"enable", "uri", "realm", "auth", "refresh"}))
	}
}

func (p *parser) kwMonitorURI(w []string) {
	if !p.nargs(w, 1) {
		return
	}
	if !strings.HasPrefix(w[1], "/") {
		p.errorf("monitor-uri %q must start with '/'", w[1])
		return
	}
	p.fe.MonitorURI = w[1]
}
