package proxy

import (
	"bytes"
	"strconv"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// applyRequestRules runs http-request rules in order (HAProxy stops at the
// first final action: allow, deny, redirect, use-service). done reports
// that the request was answered; keep then says whether the client
// connection stays open.
func (cc *clientConn) applyRequestRules(rules []config.Rule, acls []*config.ACL) (keep, done bool) {
	for i := range rules {
		r := &rules[i]
		if r.Cond != nil && !EvalCondition(r.Cond, acls, cc.sample()) {
			continue
		}
		switch r.Action {
		case config.ActionAllow:
			return false, false
		case config.ActionDeny:
			cc.fe.counters[cc.s.Core].denied.Add(1)
			if cc.t.be != nil {
				cc.t.be.counters[cc.s.Core].denied.Add(1)
			}
			cc.t.term = [2]byte{'P', 'R'}
			return cc.sendError(r.Status), true
		case config.ActionRedirect:
			cc.t.term = [2]byte{'L', 'R'}
			return cc.redirect(r), true
		case config.ActionUseService:
			cc.t.applet = "<PROMEX>"
			return cc.serveStats(StatsPrometheus), true
		case config.ActionSetHeader, config.ActionAddHeader:
			cc.out = cc.expand(cc.out[:0], r.Value)
			if r.Action == config.ActionSetHeader {
				cc.req.Set(r.Header, string(cc.out))
			} else {
				cc.req.Add(r.Header, string(cc.out))
			}
			cc.smpOK = false // a later condition may test the new value
		case config.ActionDelHeader:
			cc.req.Del(r.Header)
			cc.smpOK = false
		}
	}
	return false, false
}

// applyResponseRules runs http-response rules: the backend's, then the
// frontend's, as HAProxy does. Conditions see the request's sample. It
// reports false when a deny rule matched (the response is replaced by 502).
func (cc *clientConn) applyResponseRules() bool {
	var lists [2]struct {
		rules []config.Rule
		acls  []*config.ACL
	}
	if be := cc.t.be; be != nil {
		lists[0].rules, lists[0].acls = be.Config.HTTPResponse, be.Config.ACLs
	}
	lists[1].rules, lists[1].acls = cc.fe.Config.HTTPResponse, cc.fe.Config.ACLs
	for _, l := range lists {
		for i := range l.rules {
			r := &l.rules[i]
			if r.Cond != nil && !EvalCondition(r.Cond, l.acls, cc.sample()) {
				continue
			}
			switch r.Action {
			case config.ActionAllow:
				return true
			case config.ActionDeny:
				return false
			case config.ActionSetHeader, config.ActionAddHeader:
				cc.out = cc.expand(cc.out[:0], r.Value)
				if r.Action == config.ActionSetHeader {
					cc.rsp.Set(r.Header, string(cc.out))
				} else {
					cc.rsp.Add(r.Header, string(cc.out))
				}
			case config.ActionDelHeader:
				cc.rsp.Del(r.Header)
			}
		}
	}
	return true
}

// expand appends a header value, expanding the few log-format items the
// engine knows: %ci and %[src] (client address), %cp and %[src_port],
// %fi and %[dst] (address the client reached), %fp and %[dst_port],
// %[path], %[method], %[url], %[hdr(NAME)] and %[req.hdr(NAME)], and %%.
// Anything else is copied as written.
func (cc *clientConn) expand(dst []byte, f string) []byte {
	for len(f) > 0 {
		i := indexByteString(f, '%')
		if i < 0 || i == len(f)-1 {
			return append(dst, f...)
		}
		dst = append(dst, f[:i]...)
		f = f[i:]
		switch {
		case f[1] == '%':
			dst = append(dst, '%')
			f = f[2:]
			continue
		case f[1] == '[':
			end := indexByteString(f, ']')
			if end < 0 {
				return append(dst, f...)
			}
			if out, ok := cc.fetch(dst, f[2:end]); ok {
				dst = out
			} else {
				dst = append(dst, f[:end+1]...)
			}
			f = f[end+1:]
			continue
		case len(f) >= 3:
			if out, ok := cc.fetch(dst, f[1:3]); ok {
				dst = out
				f = f[3:]
				continue
			}
		}
		dst = append(dst, '%')
		f = f[1:]
	}
	return dst
}

// fetch appends the value of one sample expression or log-format alias.
func (cc *clientConn) fetch(dst []byte, expr string) ([]byte, bool) {
	switch expr {
	case "src", "ci":
		return cc.s.Src.Addr().AppendTo(dst), true
	case "src_port", "cp":
		return strconv.AppendUint(dst, uint64(cc.s.Src.Port()), 10), true
	case "dst", "fi":
		return cc.s.Dst.Addr().AppendTo(dst), true
	case "dst_port", "fp":
		return strconv.AppendUint(dst, uint64(cc.s.Dst.Port()), 10), true
	case "path":
		return append(dst, requestPath(&cc.req)...), true
	case "url":
		return append(dst, cc.req.Target()...), true
	case "method":
		return append(dst, cc.req.Method()...), true
	}
	for _, pre := range [...]string{"req.hdr(", "hdr("} {
		if len(expr) > len(pre) && expr[:len(pre)] == pre && expr[len(expr)-1] == ')' {
			return append(dst, cc.req.Get(expr[len(pre):len(expr)-1])...), true
		}
	}
	return dst, false
}

func indexByteString(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// redirect answers an http-request redirect rule (HAProxy configuration
// manual, section 4.4 "redirect"): location replaces the whole URL, prefix
// is put before the request's path ("/" meaning none), scheme rebuilds
// SCHEME://HOST/URI; drop-query removes the query, append-slash adds a
// missing final slash to the path.
func (cc *clientConn) redirect(r *config.Rule) bool {
	req := &cc.req
	var loc []byte
	switch r.Redirect {
	case config.RedirectLocation:
		loc = cc.expand(nil, r.Target)
	case config.RedirectPrefix, config.RedirectScheme:
		if r.Redirect == config.RedirectScheme {
			loc = cc.expand(nil, r.Target)
			loc = append(loc, "://"...)
			loc = append(loc, req.Authority()...)
		} else if r.Target != "/" {
			loc = cc.expand(nil, r.Target)
			loc = bytes.TrimSuffix(loc, []byte("/"))
		}
		uri := requestURI(req)
		path, query := uri, []byte(nil)
		if q := bytes.IndexByte(uri, '?'); q >= 0 {
			path, query = uri[:q], uri[q:]
		}
		loc = append(loc, path...)
		if r.AppendSlash && (len(path) == 0 || path[len(path)-1] != '/') {
			loc = append(loc, '/')
		}
		if !r.DropQuery {
			loc = append(loc, query...)
		}
	}
	cc.fe.counters[cc.s.Core].intercepts.Add(1)
	keep := cc.t.keep && !cc.req.Framing.HasBody()
	b := appendStatusLine(cc.out[:0], r.Status)
	b = append(b, "Content-Length: 0\r\nLocation: "...)
	b = appendSanitized(b, loc)
	b = append(b, "\r\nCache-Control: no-cache\r\n"...)
	b = appendConnection(b, keep, cc.req.Minor)
	b = append(b, "\r\n"...)
	cc.out = b
	cc.t.status = r.Status
	if _, err := cc.ct.Write(b); err != nil {
		return false
	}
	return keep
}

// appendSanitized appends v without CTL bytes, so that a redirect built from
// request bytes cannot split the response head.
func appendSanitized(b, v []byte) []byte {
	for _, c := range v {
		if c >= 0x20 && c != 0x7f {
			b = append(b, c)
		}
	}
	return b
}

// appendConnection appends the Connection field the client needs: close
// when the connection ends after this response, keep-alive for an HTTP/1.0
// client that keeps it.
func appendConnection(b []byte, keep bool, minor int) []byte {
	switch {
	case !keep:
		return append(b, "Connection: close\r\n"...)
	case minor == 0:
		return append(b, "Connection: keep-alive\r\n"...)
	}
	return b
}
