package config

import (
	"net/netip"
	"strings"
)

// validate checks cross-references once every section is parsed. It runs
// only when parsing found no errors, so the model is complete.
func (p *parser) validate() {
	defer func() {
		if r := recover(); r != nil && r != errTooMany {
			panic(r)
		}
	}()
	c := p.cfg
	if len(c.Frontends) == 0 {
		p.errorAt(0, "no frontend or listen section; add one, as in \"frontend web\" with \"bind :80\" and \"default_backend app\"")
	}
	p.validateNetwork()
	for _, fe := range c.Frontends {
		p.validateFrontend(fe)
	}
	for _, be := range c.Backends {
		p.checkRules("backend", be.Name, be.ACLs, be.HTTPRequest, be.HTTPResponse, be.Mode)
		if !be.Listen && (be.Timeouts.Connect == 0 || be.Timeouts.Server == 0) {
			p.warnAt(be.Line, "missing timeouts for backend %q; set \"timeout connect\" and \"timeout server\" (in defaults or the backend), or idle connections are never closed", be.Name)
		}
	}
	p.validateBinds()
}

func (p *parser) validateNetwork() {
	n, g := &p.cfg.Network, &p.cfg.Global
	if n.Line != 0 && !n.DHCP && !n.Address.IsValid() {
		p.errorAt(n.Line, "network section has no address; add \"address A.B.C.D/N\" or \"address dhcp\"")
	}
	if n.DHCP && n.Address.IsValid() {
		p.errorAt(n.Line, "network section has both \"address dhcp\" and a static address; keep one")
	}
	if n.Address.IsValid() && n.Gateway.IsValid() && !n.Address.Masked().Contains(n.Gateway) {
		p.errorAt(n.Line, "gateway %s is outside the network of address %s; the gateway must be directly reachable", n.Gateway, n.Address)
	}
	if n.Cores != 0 && g.NbThread != 0 && n.Cores != g.NbThread {
		p.errorAt(n.Line, "network cores %d disagrees with global nbthread %d; set one of them", n.Cores, g.NbThread)
	}
}

func (p *parser) validateFrontend(fe *Frontend) {
	kind := "frontend"
	if fe.Listen {
		kind = "listen"
	}
	if len(fe.Binds) == 0 {
		p.errorAt(fe.Line, "%s %q has no bind line; add one, as in \"bind :80\" (or make it a backend)", kind, fe.Name)
	}
	p.checkBackendRef(fe, fe.DefaultBackend, max(fe.defaultBackendLine, fe.Line), "default_backend")
	for _, u := range fe.UseBackends {
		p.checkBackendRef(fe, u.Backend, u.Line, "use_backend")
		p.checkCond(kind, fe.Name, fe.ACLs, u.Cond, u.Line)
	}
	p.checkRules(kind, fe.Name, fe.ACLs, fe.HTTPRequest, fe.HTTPResponse, fe.Mode)
	if fe.DefaultBackend == "" && len(fe.UseBackends) == 0 {
		p.warnAt(fe.Line, "%s %q has no default_backend or use_backend; its connections are closed", kind, fe.Name)
	}
	if fe.Timeouts.Client == 0 {
		p.warnAt(fe.Line, "missing \"timeout client\" for %s %q; set it (in defaults or the %s), or idle clients are never closed", kind, fe.Name, kind)
	}
	if fe.Log.Global && len(p.cfg.Global.Logs) == 0 {
		p.warnAt(fe.Line, "%s %q has \"log global\" but the global section has no log line", kind, fe.Name)
	}
	if fe.Mode == ModeTCP && fe.Options.ForwardFor != nil {
		p.warnAt(fe.Line, "\"option forwardfor\" in %s %q needs mode http; ignored", kind, fe.Name)
	}
	if fe.Mode == ModeTCP && fe.Stats.Enable {
		p.warnAt(fe.Line, "\"stats\" in %s %q needs mode http; ignored", kind, fe.Name)
	}
}

// checkBackendRef checks that name is a backend whose mode matches fe.
func (p *parser) checkBackendRef(fe *Frontend, name string, line int, what string) {
	if name == "" {
		return
	}
	be := p.cfg.Backend(name)
	if be == nil {
		var names []string
		for _, b := range p.cfg.Backends {
			names = append(names, b.Name)
		}
		p.errorAt(line, "%s %q: no backend named %q%s; define \"backend %s\"", what, name, name, suggest(name, names), name)
		return
	}
	if be.Mode != fe.Mode && !(fe.Listen && be.Name == fe.Name) {
		p.errorAt(line, "frontend %q (mode %s) cannot use backend %q (mode %s); set the same mode on both",
			fe.Name, fe.Mode, be.Name, be.Mode)
	}
}

func (p *parser) checkRules(kind, name string, acls []*ACL, req, resp []Rule, mode Mode) {
	for _, list := range [][]Rule{req, resp} {
		for _, r := range list {
			p.checkCond(kind, name, acls, r.Cond, r.Line)
		}
	}
	if mode == ModeTCP && len(req)+len(resp) > 0 {
		line := 0
		if len(req) > 0 {
			line = req[0].Line
		} else {
			line = resp[0].Line
		}
		p.warnAt(line, "http-request/http-response rules in %s %q need mode http; they are ignored in mode tcp", kind, name)
	}
}

// checkCond checks that every ACL a condition names exists.
func (p *parser) checkCond(kind, name string, acls []*ACL, c *Condition, line int) {
	if c == nil {
		return
	}
	for _, and := range c.Or {
		for _, t := range and {
			if t.Anon != nil || findACL(acls, t.ACL) != nil {
				continue
			}
			if _, ok := predefined[t.ACL]; ok {
				continue
			}
			var names []string
			for _, a := range acls {
				names = append(names, a.Name)
			}
			p.errorAt(line, "condition uses acl %q, which is not defined in %s %q%s; declare it with \"acl %s ...\" in the same section",
				t.ACL, kind, name, suggest(t.ACL, names), t.ACL)
		}
	}
}

func findACL(acls []*ACL, name string) *ACL {
	for _, a := range acls {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// FindACL returns the ACL called name among acls or HAProxy's predefined
// ACLs, or nil.
func FindACL(acls []*ACL, name string) *ACL {
	if a := findACL(acls, name); a != nil {
		return a
	}
	a, _ := Predefined(name)
	return a
}

// validateBinds rejects two binds on the same port whose addresses overlap
// (equal, or either is 0.0.0.0).
func (p *parser) validateBinds() {
	type owner struct {
		fe   string
		line int
		addr netip.Addr
	}
	byPort := map[uint16][]owner{}
	for _, fe := range p.cfg.Frontends {
		for _, b := range fe.Binds {
			port, a := b.Addr.Port(), b.Addr.Addr()
			for _, o := range byPort[port] {
				if o.addr == a || o.addr.IsUnspecified() || a.IsUnspecified() {
					p.errorAt(b.Line, "bind %s in %q overlaps bind %s:%d of %q at line %d; use another port or address",
						bindString(b.Addr), fe.Name, strings.TrimSuffix(o.addr.String(), ""), port, o.fe, o.line)
					break
				}
			}
			byPort[port] = append(byPort[port], owner{fe.Name, b.Line, a})
		}
	}
}

func bindString(a netip.AddrPort) string {
	return a.String()
}
