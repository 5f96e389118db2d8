package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// globalKeywords are the global keywords the appliance understands.
var globalKeywords = []string{"nbthread", "maxconn", "log", "tune.bufsize"}

// globalIgnored are HAProxy global keywords that mean nothing on the
// appliance (no processes, users, files or SSL); they produce a warning.
var globalIgnored = []string{
	"daemon", "chroot", "user", "group", "uid", "gid", "pidfile", "stats", "ca-base", "crt-base",
	"ssl-default-bind-ciphers", "ssl-default-bind-ciphersuites", "ssl-default-bind-options",
	"ssl-default-server-ciphers", "ssl-default-server-ciphersuites", "ssl-default-server-options",
	"ssl-dh-param-file", "tune.ssl.default-dh-param", "spread-checks", "hard-stop-after",
	"master-worker", "node", "description", "cpu-map", "ulimit-n", "quiet", "log-send-hostname",
	"log-tag", "maxsslconn", "ssl-server-verify", "server-state-file", "server-state-base",
	"nbproc", "noepoll", "nosplice", "busy-polling", "expose-experimental-directives",
	"insecure-fork-wanted", "setenv", "presetenv", "unsetenv", "resetenv", "localpeer",
	"tune.maxaccept", "tune.maxpollevents", "tune.ssl.cachesize", "tune.ssl.lifetime",
	"tune.http.maxhdr", "tune.rcvbuf.client", "tune.sndbuf.client", "tune.rcvbuf.server",
	"tune.sndbuf.server", "h1-case-adjust", "set-dumpable", "strict-limits", "debug", "zero-warning",
	"thread-groups", "numa-cpu-mapping", "profiling.tasks", "ssl-engine", "ssl-mode-async",
	"max-spread-checks", "lua-load", "lua-prepend-path", "maxcompcpuusage", "maxcomprate",
}

func (p *parser) parseGlobal(w []string) {
	g := &p.cfg.Global
	switch w[0] {
	case "nbthread":
		if p.nargs(w, 1) {
			if n, err := parseInt("nbthread", w[1], 1, 4096); err != nil {
				p.errorf("%v", err)
			} else {
				g.NbThread = n
			}
		}
	case "maxconn":
		if p.nargs(w, 1) {
			if n, err := parseInt("maxconn", w[1], 0, 1<<30); err != nil {
				p.errorf("%v", err)
			} else {
				g.MaxConn = n
			}
		}
	case "tune.bufsize":
		if p.nargs(w, 1) {
			n, err := parseSize(w[1])
			if err != nil {
				p.errorf("tune.bufsize: %v", err)
			} else if n < 1024 || n > 1<<20 {
				p.errorf("tune.bufsize %q is out of range; use 1k to 1m", w[1])
			} else {
				g.BufSize = n
			}
		}
	case "log":
		if len(w) == 2 && w[1] == "global" {
			p.errorf("\"log global\" belongs in defaults, frontend, backend or listen; in global, name a target such as \"log 10.0.0.1:514 local0\"")
			return
		}
		if t, ok := p.parseLogTarget(w); ok {
			g.Logs = append(g.Logs, t)
		}
	default:
		if contains(globalIgnored, w[0]) {
			p.warnf("%q is ignored: it has no meaning on the appliance", w[0])
			return
		}
		p.errorf("unknown keyword %q in global section%s", w[0], suggest(w[0], append(globalKeywords, globalIgnored...)))
	}
}

// nargs checks that w has exactly n arguments.
func (p *parser) nargs(w []string, n int) bool {
	if len(w)-1 == n {
		return true
	}
	if len(w)-1 < n {
		p.errorf("%q expects %d argument(s); got %d", w[0], n, len(w)-1)
	} else {
		p.errorf("%q expects %d argument(s); remove %q", w[0], n, strings.Join(w[1+n:], " "))
	}
	return false
}

var facilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "auth2", "ftp", "ntp", "audit", "alert", "cron2",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

var levels = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

var logFormats = []string{"local", "rfc3164", "rfc5424", "priority", "short", "timed", "iso", "raw"}

// parseLogTarget parses "log TARGET [len N] [format F] [sample R:S]
// FACILITY [LEVEL [MINLEVEL]]".
func (p *parser) parseLogTarget(w []string) (LogTarget, bool) {
	t := LogTarget{Level: 7, Line: p.line}
	if len(w) < 3 {
		p.errorf("\"log\" needs a target and a facility, as in \"log 10.0.0.1:514 local0\" or \"log stdout local0\"")
		return t, false
	}
	target := w[1]
	switch {
	case target == "stdout":
		t.Kind = LogStdout
	case target == "stderr":
		t.Kind = LogStderr
	case strings.HasPrefix(target, "/") || strings.HasPrefix(target, "unix@"):
		t.Kind = LogUnix
		t.Path = strings.TrimPrefix(target, "unix@")
		p.warnf("log target %q is a Unix socket, which the appliance does not have; use a syslog server address", target)
	default:
		for _, pre := range []string{"udp@", "udp4@", "ipv4@"} {
			target = strings.TrimPrefix(target, pre)
		}
		ap, err := parseAddrPort(target, 514)
		if err != nil {
			p.errorf("log target %q: %v", w[1], err)
			return t, false
		}
		t.Addr = ap
	}
	args := w[2:]
	for len(args) > 1 {
		switch args[0] {
		case "len":
			n, err := parseInt("log len", args[1], 80, 65535)
			if err != nil {
				p.errorf("%v", err)
				return t, false
			}
			t.MaxLen = n
		case "format":
			if !contains(logFormats, args[1]) {
				p.errorf("log format %q is unknown; use one of %s", args[1], strings.Join(logFormats, ", "))
				return t, false
			}
			t.Format = args[1]
		case "sample":
			p.warnf("log sampling %q is ignored; every line is sent", args[1])
		default:
			goto facility
		}
		args = args[2:]
	}
facility:
	if len(args) == 0 {
		p.errorf("\"log\" needs a facility after the target, such as local0")
		return t, false
	}
	f := index(facilities, args[0])
	if f < 0 {
		p.errorf("unknown log facility %q%s; use kern, user, daemon, local0 to local7, ...", args[0], suggest(args[0], facilities))
		return t, false
	}
	t.Facility = f
	if len(args) > 1 {
		if t.Level = index(levels, args[1]); t.Level < 0 {
			p.errorf("unknown log level %q%s; use emerg, alert, crit, err, warning, notice, info or debug", args[1], suggest(args[1], levels))
			return t, false
		}
	}
	if len(args) > 2 {
		if t.MinLevel = index(levels, args[2]); t.MinLevel < 0 {
			p.errorf("unknown log minimum level %q%s", args[2], suggest(args[2], levels))
			return t, false
		}
	}
	if len(args) > 3 {
		p.errorf("unexpected %q at the end of the log line", strings.Join(args[3:], " "))
		return t, false
	}
	return t, true
}

// parseAddrPort parses "A.B.C.D[:PORT]"; defPort applies when the port is
// absent and defPort is not zero. Only IPv4 is accepted.
func parseAddrPort(s string, defPort uint16) (netip.AddrPort, error) {
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
	}
	if strings.Contains(host, ":") || strings.HasPrefix(host, "[") {
		return netip.AddrPort{}, errorString("IPv6 is not supported; use an IPv4 address")
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.AddrPort{}, errorString("expected an IPv4 address such as 10.0.0.1 (host names are not resolved)")
	}
	if port == "" {
		if defPort == 0 {
			return netip.AddrPort{}, errorString("missing port; write ADDRESS:PORT, as in " + host + ":80")
		}
		return netip.AddrPortFrom(a, defPort), nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return netip.AddrPort{}, errorString("port " + strconv.Quote(port) + " must be a number from 1 to 65535")
	}
	return netip.AddrPortFrom(a, uint16(n)), nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

func contains(list []string, s string) bool { return index(list, s) >= 0 }

func index(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// networkKeywords are the network section's keywords.
var networkKeywords = []string{"address", "gateway", "mac", "cores"}

func (p *parser) parseNetwork(w []string) {
	n := &p.cfg.Network
	switch w[0] {
	case "address":
		if !p.nargs(w, 1) {
			return
		}
		if w[1] == "dhcp" {
			n.DHCP = true
			return
		}
		pfx, err := netip.ParsePrefix(w[1])
		if err != nil || !pfx.Addr().Is4() {
			p.errorf("address %q: expected A.B.C.D/N (such as 10.0.0.2/24) or dhcp", w[1])
			return
		}
		if pfx.Bits() == 0 || pfx.Bits() > 31 && pfx.Bits() != 32 {
			p.errorf("address %q: prefix length must be 1 to 32", w[1])
			return
		}
		n.Address = pfx
	case "gateway":
		if !p.nargs(w, 1) {
			return
		}
		a, err := netip.ParseAddr(w[1])
		if err != nil || !a.Is4() {
			p.errorf("gateway %q: expected an IPv4 address such as 10.0.0.1", w[1])
			return
		}
		n.Gateway = a
	case "mac":
		if !p.nargs(w, 1) {
			return
		}
		m, err := net.ParseMAC(w[1])
		if err != nil || len(m) != 6 {
			p.errorf("mac %q: expected six hex octets such as 52:54:00:12:34:56", w[1])
			return
		}
		if m[0]&1 != 0 {
			p.errorf("mac %q is a multicast address; the first octet must be even, as in 52:54:00:12:34:56", w[1])
			return
		}
		n.MAC = m
	case "cores":
		if p.nargs(w, 1) {
			if c, err := parseInt("cores", w[1], 0, 4096); err != nil {
				p.errorf("%v", err)
			} else {
				n.Cores = c
			}
		}
	default:
		p.errorf("unknown keyword %q in network section%s; use address, gateway, mac or cores", w[0], suggest(w[0], networkKeywords))
	}
}
