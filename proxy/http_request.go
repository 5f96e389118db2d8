package proxy

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"strings"

	"github.com/bareproxy/bareproxy/proxy/config"
	"github.com/bareproxy/bareproxy/proxy/http1"
)

// badRequest answers a request that could not be read: the status the
// parser chose (400, 431, 501, 505), 408 when timeout http-request
// expired, or nothing when the client went away. The connection is closed
// afterwards; nothing was forwarded.
func (cc *clientConn) badRequest(err error) {
	t := &cc.t
	t.bad = true
	cc.fe.counters[cc.s.Core].invalid.Add(1)
	st := http1.StatusOf(err)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.term = [2]byte{'c', 'R'}
		st = 408
	case st == 0 || http1.KindOf(err) == http1.KindTruncated:
		// The client closed inside the head: HAProxy logs 400 CR.
		t.term = [2]byte{'C', 'R'}
		t.status = 400
		return
	default:
		t.term = [2]byte{'P', 'R'}
	}
	cc.sendError(st)
}

// sample returns the request's ACL sample, filling it on first use.
func (cc *clientConn) sample() *Sample {
	if cc.smpOK {
		return &cc.smp
	}
	req := &cc.req
	smp := &cc.smp
	smp.Src, smp.DstPort, smp.HTTP = cc.s.Src.Addr(), cc.s.Dst.Port(), true
	smp.Method = string(req.Method())
	smp.URL = string(req.Target())
	smp.Path = string(requestPath(req))
	cc.smpOK = true
	return smp
}

// headerValues is Sample.Header for the current request: every value of
// the named field, with comma-separated lists split as HAProxy's hdr()
// does.
func (cc *clientConn) headerValues(name string) []string {
	var vals []string
	h := &cc.req.Header
	for i := h.Index(name, 0); i >= 0; i = h.Index(name, i+1) {
		v := h.Value(i)
		if equalFoldASCII(name, "host") || bytes.IndexByte(v, ',') < 0 {
			vals = append(vals, string(v))
			continue
		}
		for _, e := range strings.Split(string(v), ",") {
			vals = append(vals, strings.TrimSpace(e))
		}
	}
	return vals
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// requestPath returns the path of the request-target without its query:
// the target itself in origin form, the part after the authority in
// absolute form, and nothing for CONNECT.
func requestPath(req *http1.Request) []byte {
	t := req.Target()
	switch req.Form {
	case http1.FormAuthority:
		return nil
	case http1.FormAbsolute:
		i := bytes.Index(t, []byte("://"))
		t = t[i+3:]
		j := bytes.IndexAny(t, "/?")
		if j < 0 {
			return nil
		}
		t = t[j:]
	}
	if q := bytes.IndexByte(t, '?'); q >= 0 {
		t = t[:q]
	}
	return t
}

// requestURI returns the path and query of the request-target.
func requestURI(req *http1.Request) []byte {
	t := req.Target()
	if req.Form == http1.FormAbsolute {
		i := bytes.Index(t, []byte("://"))
		t = t[i+3:]
		j := bytes.IndexAny(t, "/?")
		if j < 0 {
			return []byte("/")
		}
		t = t[j:]
	}
	return t
}

// forwardFor adds the client address in X-Forwarded-For (or the header
// "option forwardfor header" names) as a new field line, as HAProxy's
// "option forwardfor" does, unless the client is in the "except" network
// or "if-none" finds the header already there. The frontend's option wins
// over the backend's.
func (cc *clientConn) forwardFor(be *Backend) {
	ff := cc.fe.Config.Options.ForwardFor
	if ff == nil {
		ff = be.Config.Options.ForwardFor
	}
	if ff == nil {
		return
	}
	src := cc.s.Src.Addr()
	if ff.Except.IsValid() && ff.Except.Contains(src) {
		return
	}
	name := ff.Header
	if name == "" {
		name = "X-Forwarded-For"
	}
	if ff.IfNone && cc.req.Has(name) {
		return
	}
	var buf [48]byte
	cc.req.Add(name, string(src.AppendTo(buf[:0])))
}

// balanceKey returns what hash balancing hashes for the request: the path
// for "balance uri", a header's value for "balance hdr(name)", a query
// parameter for "balance url_param". ok is false when there is nothing to
// hash, and the backend then falls back to round robin, as HAProxy does.
func (cc *clientConn) balanceKey(be *Backend) (key uint64, ok bool) {
	b := be.Config.Balance
	switch b.Algorithm {
	case config.URI:
		p := requestPath(&cc.req)
		if len(p) == 0 {
			return 0, false
		}
		return hashKey(p), true
	case config.Header:
		v := cc.req.Get(b.Arg)
		if v == nil {
			return 0, false
		}
		if equalFoldASCII(b.Arg, "host") {
			// HAProxy ignores the port of Host.
			if i := bytes.LastIndexByte(v, ':'); i >= 0 && bytes.IndexByte(v[i:], ']') < 0 {
				v = v[:i]
			}
		}
		return hashKey(v), true
	case config.URLParam:
		if v, found := queryParam(cc.req.Target(), b.Arg); found {
			return hashKey(v), true
		}
		return 0, false
	case config.Source:
		return sourceKey(cc.s.Src.Addr())
	}
	return 0, false
}

// queryParam finds name=value in the target's query string.
func queryParam(target []byte, name string) ([]byte, bool) {
	q := bytes.IndexByte(target, '?')
	if q < 0 || name == "" {
		return nil, false
	}
	for rest := target[q+1:]; len(rest) > 0; {
		var kv []byte
		if i := bytes.IndexByte(rest, '&'); i >= 0 {
			kv, rest = rest[:i], rest[i+1:]
		} else {
			kv, rest = rest, nil
		}
		if len(kv) > len(name) && kv[len(name)] == '=' && string(kv[:len(name)]) == name {
			return kv[len(name)+1:], true
		}
	}
	return nil, false
}

// prepareUpstream turns the client's request head into the one sent to the
// server: hop-by-hop fields removed (RFC 9110 section 7.6.1), Upgrade kept
// for a protocol switch, Transfer-Encoding re-added for a chunked body,
// and HTTP/1.1 on the server side (RFC 9110 section 6.2: a proxy sends its
// own version), with a Host for a 1.0 request that had none. It reports
// whether the request asks for a protocol switch.
func prepareUpstream(req *http1.Request, srvAddr netip.AddrPort) (upgrade bool) {
	upgrade = req.StripHopByHop(true)
	if upgrade {
		req.Add("Connection", "upgrade")
	}
	req.AddFraming(req.Framing)
	if req.Minor == 0 {
		if !req.Has("Host") {
			var buf [24]byte
			req.Add("Host", string(srvAddr.AppendTo(buf[:0])))
		}
		req.SetMinor(1)
	}
	return upgrade
}
