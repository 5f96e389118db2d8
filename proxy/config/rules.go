package config

import (
	"strings"
)

var (
	requestActions  = []string{"allow", "deny", "redirect", "set-header", "add-header", "del-header", "use-service"}
	responseActions = []string{"allow", "deny", "set-header", "add-header", "del-header"}
)

// kwHTTPRule parses http-request and http-response rules.
func (p *parser) kwHTTPRule(w []string) {
	actions := requestActions
	if w[0] == "http-response" {
		actions = responseActions
	}
	if len(w) < 2 {
		p.errorf("%q needs an action: %s", w[0], strings.Join(actions, ", "))
		return
	}
	if !contains(actions, w[1]) {
		p.errorf("%s action %q is not supported%s; use %s", w[0], w[1], suggest(w[1], actions), strings.Join(actions, ", "))
		return
	}
	r := Rule{Line: p.line}
	args := w[2:]
	// Split off the condition.
	for i, a := range args {
		if a == "if" || a == "unless" {
			c, ok := p.parseCondition(args[i:], true)
			if !ok {
				return
			}
			r.Cond = c
			args = args[:i]
			break
		}
	}
	ok := true
	switch w[1] {
	case "allow":
		r.Action = ActionAllow
		ok = p.noMore(w, args)
	case "deny":
		r.Action, r.Status = ActionDeny, 403
		if len(args) >= 2 && (args[0] == "deny_status" || args[0] == "status") {
			n, err := parseInt("deny_status", args[1], 200, 599)
			if err != nil {
				p.errorf("%v", err)
				return
			}
			r.Status = n
			args = args[2:]
		}
		ok = p.noMore(w, args)
	case "redirect":
		ok = p.parseRedirect(&r, args)
	case "set-header", "add-header":
		r.Action = ActionSetHeader
		if w[1] == "add-header" {
			r.Action = ActionAddHeader
		}
		if len(args) != 2 {
			p.errorf("\"%s %s\" needs a header name and a value (quote a value with spaces)", w[0], w[1])
			return
		}
		r.Header, r.Value = args[0], args[1]
		ok = p.checkHeaderName(r.Header)
	case "use-service":
		r.Action = ActionUseService
		if len(args) != 1 {
			p.errorf("\"http-request use-service\" needs exactly one service name, as in \"use-service %s\"", ServicePrometheus)
			return
		}
		if args[0] != ServicePrometheus {
			p.errorf("service %q is not supported%s; the only service is %s", args[0], suggest(args[0], []string{ServicePrometheus}), ServicePrometheus)
			return
		}
		r.Service = args[0]
	case "del-header":
		r.Action = ActionDelHeader
		if len(args) != 1 {
			p.errorf("\"%s del-header\" needs exactly one header name", w[0])
			return
		}
		r.Header = args[0]
		ok = p.checkHeaderName(r.Header)
	}
	if !ok {
		return
	}
	var list *[]Rule
	switch {
	case p.fe != nil && w[0] == "http-request":
		list = &p.fe.HTTPRequest
	case p.fe != nil:
		list = &p.fe.HTTPResponse
	case w[0] == "http-request":
		list = &p.be.HTTPRequest
	default:
		list = &p.be.HTTPResponse
	}
	*list = append(*list, r)
}

func (p *parser) noMore(w, args []string) bool {
	if len(args) > 0 {
		p.errorf("unexpected %q after \"%s %s\"; a condition starts with if or unless", strings.Join(args, " "), w[0], w[1])
		return false
	}
	return true
}

// checkHeaderName accepts RFC 9110 token characters.
func (p *parser) checkHeaderName(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			p.errorf("header name %q contains %q, which RFC 9110 does not allow in a field name", h, c)
			return false
		}
	}
	if h == "" {
		p.errorf("empty header name")
		return false
	}
	return true
}

// parseRedirect parses "location|prefix|scheme TARGET [code N]
// [drop-query] [append-slash] [set-cookie X] [clear-cookie X]".
func (p *parser) parseRedirect(r *Rule, args []string) bool {
	r.Action, r.Status = ActionRedirect, 302
	if len(args) < 2 {
		p.errorf("\"http-request redirect\" needs location, prefix or scheme and a target, as in \"redirect scheme https\"")
		return false
	}
	switch args[0] {
	case "location":
		r.Redirect = RedirectLocation
	case "prefix":
		r.Redirect = RedirectPrefix
	case "scheme":
		r.Redirect = RedirectScheme
	default:
		p.errorf("redirect kind %q is unknown%s; use location, prefix or scheme", args[0], suggest(args[0], []string{"location", "prefix", "scheme"}))
		return false
	}
	r.Target = args[1]
	for i := 2; i < len(args); i++ {
		switch args[i] {
		case "code":
			if i+1 >= len(args) {
				p.errorf("redirect \"code\" needs a status: 301, 302, 303, 307 or 308")
				return false
			}
			i++
			switch args[i] {
			case "301", "302", "303", "307", "308":
				r.Status = int(args[i][0]-'0')*100 + int(args[i][2]-'0')
			default:
				p.errorf("redirect code %q: use 301, 302, 303, 307 or 308", args[i])
				return false
			}
		case "drop-query":
			r.DropQuery = true
		case "append-slash":
			r.AppendSlash = true
		case "set-cookie", "clear-cookie":
			p.errorf("redirect %q is not supported; remove it", args[i])
			return false
		default:
			p.errorf("unknown redirect option %q%s; use code, drop-query or append-slash", args[i],
				suggest(args[i], []string{"code", "drop-query", "append-slash"}))
			return false
		}
	}
	return true
}
