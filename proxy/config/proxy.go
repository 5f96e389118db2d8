package config

import (
	"net/netip"
	"strings"
	"time"
)

// capability says which sections a keyword belongs in.
type capability uint8

const (
	capDef capability = 1 << iota // defaults
	capFE                         // frontend (and listen)
	capBE                         // backend (and listen)
)

// keyword is a proxy-section keyword. A keyword without the capability of
// its section is an error when strict, else ignored with a warning, as
// HAProxy does ("ignored because backend has no frontend capability").
type keyword struct {
	cap    capability
	strict bool
	fn     func(p *parser, w []string)
}

// proxyKeywords is filled in init to break the initialisation cycle
// (handlers consult the table for suggestions).
var proxyKeywords map[string]keyword

// proxyIgnored are HAProxy proxy keywords that change nothing that matters
// on the appliance (error pages, captures, descriptions); they warn.
var proxyIgnored = []string{"description", "id", "errorfile", "errorfiles", "errorloc",
	"errorloc302", "errorloc303", "capture", "declare", "unique-id-format", "unique-id-header",
	"log-format", "log-format-sd", "error-log-format", "log-tag", "fullconn", "hash-type",
	"compression", "email-alert", "grace", "http-error", "enabled", "load-server-state-from-file",
	"server-state-file-name", "rate-limit", "bind-process", "tcp-check", "external-check", "log-steps"}

func init() {
	proxyKeywords = map[string]keyword{
		"mode":            {capDef | capFE | capBE, false, (*parser).kwMode},
		"timeout":         {capDef | capFE | capBE, false, (*parser).kwTimeout},
		"maxconn":         {capDef | capFE, false, (*parser).kwMaxConn},
		"retries":         {capDef | capBE, false, (*parser).kwRetries},
		"log":             {capDef | capFE | capBE, false, (*parser).kwLog},
		"no":              {capDef | capFE | capBE, false, (*parser).kwNo},
		"option":          {capDef | capFE | capBE, false, (*parser).kwOption},
		"http-check":      {capDef | capBE, false, (*parser).kwHTTPCheck},
		"http-reuse":      {capDef | capBE, false, (*parser).kwHTTPReuse},
		"balance":         {capDef | capBE, false, (*parser).kwBalance},
		"default-server":  {capDef | capBE, false, (*parser).kwDefaultServer},
		"server":          {capBE, true, (*parser).kwServer},
		"bind":            {capFE, true, (*parser).kwBind},
		"default_backend": {capFE, true, (*parser).kwDefaultBackend},
		"use_backend":     {capFE, true, (*parser).kwUseBackend},
		"acl":             {capFE | capBE, true, (*parser).kwACL},
		"http-request":    {capFE | capBE, true, (*parser).kwHTTPRule},
		"http-response":   {capFE | capBE, true, (*parser).kwHTTPRule},
		"stats":           {capFE, false, (*parser).kwStats},
		"monitor-uri":     {capFE, false, (*parser).kwMonitorURI},
	}
}

func proxyKeywordNames() []string {
	names := make([]string, 0, len(proxyKeywords)+len(proxyIgnored))
	for k := range proxyKeywords {
		names = append(names, k)
	}
	return append(names, proxyIgnored...)
}

// startProxy opens a frontend, backend or listen section.
func (p *parser) startProxy(kind sectionKind, w []string) {
	what := w[0]
	if len(w) < 2 {
		p.errorf("%s needs a name, as in \"%s app\"", what, what)
		p.sec = secIgnored
		return
	}
	name := w[1]
	if !p.checkName(what, name) {
		p.sec = secIgnored
		return
	}
	s := cloneSettings(p.defaults)
	if len(w) > 2 {
		if base, ok := p.fromClause(w[2:]); ok {
			s = base
		}
	}
	p.secName = name
	if kind == secFrontend || kind == secListen {
		if old := p.cfg.Frontend(name); old != nil {
			p.errorf("%s %q is already defined at line %d; rename one of them", what, name, old.Line)
		}
		p.fe = &Frontend{Name: name, Line: p.line, Listen: kind == secListen, Settings: cloneSettings(s)}
		p.cfg.Frontends = append(p.cfg.Frontends, p.fe)
	}
	if kind == secBackend || kind == secListen {
		if old := p.cfg.Backend(name); old != nil {
			p.errorf("%s %q is already defined at line %d; rename one of them", what, name, old.Line)
		}
		p.be = &Backend{Name: name, Line: p.line, Listen: kind == secListen, Settings: cloneSettings(s)}
		p.cfg.Backends = append(p.cfg.Backends, p.be)
	}
	if kind == secListen {
		p.fe.DefaultBackend = name
	}
}

// finishProxy applies HAProxy's end-of-section fix-ups.
func (p *parser) finishProxy() {
	if fe := p.fe; fe != nil {
		if fe.Mode == ModeTCP && fe.Options.HTTPLog {
			p.warnAt(fe.Line, "\"option httplog\" needs mode http in %s %q; using \"option tcplog\"", p.sectionWord(), fe.Name)
			fe.Options.HTTPLog, fe.Options.HTTPLogCLF, fe.Options.TCPLog = false, false, true
		}
		if fe.Stats.Enable && fe.Stats.URI == "" {
			fe.Stats.URI = "/haproxy?stats"
		}
	}
}

// sectionWord names the current section kind.
func (p *parser) sectionWord() string {
	switch p.sec {
	case secDefaults:
		return "defaults"
	case secFrontend:
		return "frontend"
	case secBackend:
		return "backend"
	case secListen:
		return "listen"
	}
	return "section"
}

// where names the current section for messages: `backend "app"`.
func (p *parser) where() string {
	if p.secName == "" {
		return p.sectionWord() + " section"
	}
	return p.sectionWord() + " " + quote(p.secName)
}

func quote(s string) string { return `"` + s + `"` }

// cap returns the current section's capabilities.
func (p *parser) cap() capability {
	switch p.sec {
	case secDefaults:
		return capDef
	case secFrontend:
		return capFE
	case secBackend:
		return capBE
	case secListen:
		return capFE | capBE
	}
	return 0
}

// settings returns every Settings the current section's keywords apply to.
func (p *parser) settings() []*Settings {
	switch {
	case p.curDef != nil:
		return []*Settings{p.curDef}
	case p.fe != nil && p.be != nil:
		return []*Settings{&p.fe.Settings, &p.be.Settings}
	case p.fe != nil:
		return []*Settings{&p.fe.Settings}
	case p.be != nil:
		return []*Settings{&p.be.Settings}
	}
	return nil
}

func (p *parser) parseProxy(w []string) {
	if p.sec != secDefaults && p.fe == nil && p.be == nil {
		return // header was bad; already reported
	}
	if w[0] == "option" && len(w) > 1 && optionIgnoredWarn(p, w[1]) {
		return
	}
	kw, ok := proxyKeywords[w[0]]
	if !ok {
		if contains(proxyIgnored, w[0]) {
			p.warnf("%q is ignored in %s: the appliance does not support it", w[0], p.where())
			return
		}
		if w[0] == "contimeout" || w[0] == "clitimeout" || w[0] == "srvtimeout" {
			p.errorf("%q was removed from HAProxy; write \"timeout %s %s\"", w[0],
				map[string]string{"contimeout": "connect", "clitimeout": "client", "srvtimeout": "server"}[w[0]],
				strings.Join(w[1:], " "))
			return
		}
		p.errorf("unknown keyword %q in %s%s", w[0], p.where(), suggest(w[0], proxyKeywordNames()))
		return
	}
	have := p.cap()
	if kw.cap&have == 0 {
		if kw.strict {
			p.errorf("%q is not allowed in %s; it belongs in %s", w[0], p.where(), capWords(kw.cap))
			return
		}
		p.warnf("%q is ignored in %s; it belongs in %s", w[0], p.where(), capWords(kw.cap))
		return
	}
	kw.fn(p, w)
}

func capWords(c capability) string {
	var s []string
	if c&capDef != 0 {
		s = append(s, "defaults")
	}
	if c&capFE != 0 {
		s = append(s, "frontend")
	}
	if c&capBE != 0 {
		s = append(s, "backend")
	}
	return strings.Join(s, " or ") + " or listen"
}

func (p *parser) kwMode(w []string) {
	if !p.nargs(w, 1) {
		return
	}
	var m Mode
	switch w[1] {
	case "tcp":
		m = ModeTCP
	case "http":
		m = ModeHTTP
	case "health", "log", "spop":
		p.errorf("mode %q is not supported; use tcp or http", w[1])
		return
	default:
		p.errorf("unknown mode %q%s; use tcp or http", w[1], suggest(w[1], []string{"tcp", "http"}))
		return
	}
	for _, s := range p.settings() {
		s.Mode = m
	}
}

var timeoutNames = []string{"connect", "client", "server", "http-request", "http-keep-alive",
	"queue", "tunnel", "check", "client-fin", "server-fin", "tarpit"}

func (p *parser) kwTimeout(w []string) {
	if len(w) < 2 {
		p.errorf("\"timeout\" needs a name and a time, as in \"timeout connect 5s\"")
		return
	}
	if !contains(timeoutNames, w[1]) {
		p.errorf("unknown timeout %q%s; use one of %s", w[1], suggest(w[1], timeoutNames), strings.Join(timeoutNames, ", "))
		return
	}
	if len(w) != 3 {
		p.errorf("\"timeout %s\" expects one time, as in \"timeout %s 30s\"", w[1], w[1])
		return
	}
	d, err := parseTime(w[2], time.Millisecond)
	if err != nil {
		p.errorf("timeout %s: %v", w[1], err)
		return
	}
	side := capFE | capBE
	switch w[1] {
	case "client", "client-fin", "http-request", "tarpit":
		side = capFE
	case "connect", "server", "server-fin", "queue", "check", "tunnel":
		side = capBE
	}
	if p.sec != secDefaults && p.cap()&side == 0 {
		p.warnf("\"timeout %s\" is ignored in %s; it belongs in %s", w[1], p.where(), capWords(side))
		return
	}
	for _, s := range p.settings() {
		t := &s.Timeouts
		ptr := map[string]*time.Duration{
			"connect": &t.Connect, "client": &t.Client, "server": &t.Server,
			"http-request": &t.HTTPRequest, "http-keep-alive": &t.HTTPKeepAlive, "queue": &t.Queue,
			"tunnel": &t.Tunnel, "check": &t.Check, "client-fin": &t.ClientFin,
			"server-fin": &t.ServerFin, "tarpit": &t.Tarpit,
		}[w[1]]
		*ptr = d
	}
}

func (p *parser) kwMaxConn(w []string) {
	if !p.nargs(w, 1) {
		return
	}
	n, err := parseInt("maxconn", w[1], 0, 1<<30)
	if err != nil {
		p.errorf("%v", err)
		return
	}
	for _, s := range p.settings() {
		s.MaxConn = n
	}
}

func (p *parser) kwRetries(w []string) {
	if !p.nargs(w, 1) {
		return
	}
	n, err := parseInt("retries", w[1], 0, 100)
	if err != nil {
		p.errorf("%v", err)
		return
	}
	for _, s := range p.settings() {
		s.Retries = n
	}
}

func (p *parser) kwLog(w []string) {
	if len(w) == 2 && w[1] == "global" {
		for _, s := range p.settings() {
			s.Log.Global = true
		}
		return
	}
	t, ok := p.parseLogTarget(w)
	if !ok {
		return
	}
	for _, s := range p.settings() {
		s.Log.Targets = append(s.Log.Targets, t)
	}
}

// kwNo handles "no log" and "no option X".
func (p *parser) kwNo(w []string) {
	switch {
	case len(w) == 2 && w[1] == "log":
		for _, s := range p.settings() {
			s.Log = ProxyLog{}
		}
	case len(w) == 3 && w[1] == "option":
		p.setOption(w[2], nil, false)
	default:
		p.errorf("\"no\" is followed by \"log\" or \"option NAME\"; got %q", strings.Join(w, " "))
	}
}

// parseForwardFor parses the arguments of option forwardfor.
func (p *parser) parseForwardFor(args []string) (*ForwardFor, bool) {
	f := &ForwardFor{Header: "X-Forwarded-For"}
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "if-none":
			f.IfNone = true
		case "except", "header":
			if i+1 >= len(args) {
				p.errorf("option forwardfor: %q needs a value", args[i])
				return nil, false
			}
			i++
			if args[i-1] == "header" {
				f.Header = args[i]
				continue
			}
			pfx, err := parsePrefix(args[i])
			if err != nil {
				p.errorf("option forwardfor except %q: %v", args[i], err)
				return nil, false
			}
			f.Except = pfx
		default:
			p.errorf("option forwardfor: unknown argument %q; use except NETWORK, header NAME or if-none", args[i])
			return nil, false
		}
	}
	return f, true
}

// parsePrefix parses an IPv4 address or network; a bare address is a /32.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil || !pfx.Addr().Is4() {
			return netip.Prefix{}, errorString("expected an IPv4 address or network such as 10.0.0.0/8")
		}
		return pfx.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Prefix{}, errorString("expected an IPv4 address or network such as 10.0.0.0/8")
	}
	return netip.PrefixFrom(a, 32), nil
}
