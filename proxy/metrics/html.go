package metrics

import (
	"strconv"
	"time"

	"github.com/bareproxy/bareproxy/proxy"
)

// ContentTypeHTML is the Content-Type of the stats page.
const ContentTypeHTML = "text/html; charset=utf-8"

// The page is built by appending to a byte slice with every configured
// name escaped by appendHTML: html/template would pull text/template,
// reflection-driven execution and encoding/json into the bare-metal image
// for a page with no templating needs.

// pageCSS is the whole style sheet: HAProxy's stats colours (green up, red
// down, brown maintenance) on compact tables.
const pageCSS = `body{font-family:Arial,Helvetica,sans-serif;font-size:12px;margin:8px;color:#000;background:#fff}
h1{font-size:16px;background:#20377a;color:#fff;padding:4px 8px;margin:0 0 8px}
h2{font-size:14px;margin:16px 0 4px}
table{border-collapse:collapse;margin:0 0 12px;min-width:60%}
th,td{border:1px solid #999;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#b0c4de}td.n,th.n{text-align:left}
caption{text-align:left;font-weight:bold;background:#20377a;color:#fff;padding:2px 6px}
tr.fe td,tr.be td{background:#e8e8e8;font-weight:bold}
tr.up td{background:#c0ffc0}tr.down td{background:#ff9090}tr.maint td{background:#c07820;color:#fff}
tr.bck.up td{background:#c0c0ff}
p.info{margin:0 0 8px}`

// appendHTML writes the whole page.
func (s *snapshot) appendHTML(b []byte) []byte {
	b = append(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"...)
	if s.r.Refresh > 0 {
		b = append(b, `<meta http-equiv="refresh" content="`...)
		b = strconv.AppendInt(b, max(1, int64(s.r.Refresh/time.Second)), 10)
		b = append(b, `">`...)
	}
	b = append(b, "<title>Statistics Report</title><style>"...)
	b = append(b, pageCSS...)
	b = append(b, "</style></head><body>\n<h1>bareproxy statistics</h1>\n<p class=\"info\">"...)
	b = append(b, "cores: "...)
	b = strconv.AppendInt(b, int64(s.r.Proxy.Cores()), 10)
	b = append(b, " &middot; current connections: "...)
	b = strconv.AppendInt(b, s.st.Cur, 10)
	if !s.r.Start.IsZero() {
		b = append(b, " &middot; uptime: "...)
		b = appendHTML(b, s.now.Sub(s.r.Start).Truncate(time.Second).String())
	}
	if s.logs != nil {
		b = append(b, " &middot; log lines sent/dropped: "...)
		b = strconv.AppendUint(b, s.logs.Sent, 10)
		b = append(b, '/')
		b = strconv.AppendUint(b, s.logs.Dropped, 10)
	}
	b = append(b, " &middot; generated "...)
	b = appendHTML(b, s.now.UTC().Format(time.RFC3339))
	b = append(b, "</p>\n"...)

	// One table per proxy name, as HAProxy shows a listen section's
	// frontend and backend together.
	shown := make(map[*proxy.Backend]bool)
	for i := range s.fes {
		f := &s.fes[i]
		var be *beRow
		for j := range s.bes {
			if s.bes[j].st.Name == f.st.Name {
				be = &s.bes[j]
			}
		}
		b = s.appendProxyTable(b, f, be)
		if be != nil {
			shown[be.be] = true
		}
	}
	for j := range s.bes {
		if !shown[s.bes[j].be] {
			b = s.appendProxyTable(b, nil, &s.bes[j])
		}
	}
	b = s.appendCoreTable(b)
	return append(b, "</body></html>\n"...)
}

// proxyHead is the column header of a proxy table, grouped as HAProxy's:
// state, queue, sessions, bytes, requests and responses, errors.
const proxyHead = `<tr><th class="n" rowspan="2"></th><th rowspan="2">Status</th><th rowspan="2">LastChk</th>` +
	`<th rowspan="2">Wght</th><th rowspan="2">Act</th><th rowspan="2">Bck</th>` +
	`<th colspan="2">Queue</th><th colspan="3">Sessions</th><th colspan="2">Bytes</th>` +
	`<th colspan="3">Requests</th><th colspan="5">Errors</th></tr>` + "\n" +
	`<tr><th>Cur</th><th>Max</th><th>Cur</th><th>Limit</th><th>Total</th><th>In</th><th>Out</th>` +
	`<th>Total</th><th>Resp 1xx/2xx/3xx/4xx/5xx/other</th><th>Denied</th>` +
	`<th>Req</th><th>Conn</th><th>Resp</th><th>Retr</th><th>NoSrv</th></tr>` + "\n"

// appendProxyTable writes one proxy's table: the FRONTEND row, the servers
// and the BACKEND row, whichever exist.
func (s *snapshot) appendProxyTable(b []byte, f *feRow, be *beRow) []byte {
	name := ""
	if f != nil {
		name = f.st.Name
	} else {
		name = be.st.Name
	}
	b = append(b, "<table><caption>"...)
	b = appendHTML(b, name)
	b = append(b, "</caption>\n"...)
	b = append(b, proxyHead...)
	if f != nil {
		r := row{class: "fe", name: "FRONTEND", status: stateUp, c: &f.st.Counters, limit: s.frontendLimit(f.fe)}
		b = r.append(b)
	}
	if be != nil {
		for _, sv := range s.srvs {
			if sv.srv.Backend != be.be {
				continue
			}
			st := serverState(sv.srv)
			class := "down"
			switch st {
			case stateUp:
				class = "up"
			case stateMaint:
				class = "maint"
			}
			if sv.srv.Config.Backup {
				class += " bck"
			}
			if sv.st.Status != "" {
				st = sv.st.Status
			}
			r := row{class: class, name: sv.st.Name, status: st, c: &sv.st.Counters, limit: sv.srv.Config.MaxConn,
				weight: sv.srv.Config.Weight, act: !sv.srv.Config.Backup, bck: sv.srv.Config.Backup, server: true,
				check: checkText(sv.st)}
			b = r.append(b)
		}
		st := stateDown
		if backendUp(be.be) {
			st = stateUp
		}
		r := row{class: "be", name: "BACKEND", status: st, c: &be.st.Counters, weight: backendWeight(be.be),
			nact: upServers(be.be, false), nbck: upServers(be.be, true), backend: true}
		b = r.append(b)
	}
	return append(b, "</table>\n"...)
}

// checkText is HAProxy's LastChk column: the last check's outcome, its
// HTTP status for layer 7 checks, and its duration, as in "L7OK/200 in
// 1ms"; "-" for a server without a running check.
func checkText(s *proxy.ServerStats) string {
	if s.Check == nil {
		return "-"
	}
	l := s.Check.Last
	if l.End.IsZero() {
		return l.Code.String()
	}
	b := make([]byte, 0, 32)
	b = append(b, l.Code.String()...)
	if l.HTTPStatus != 0 {
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(l.HTTPStatus), 10)
	}
	b = append(b, " in "...)
	b = strconv.AppendInt(b, l.Duration.Milliseconds(), 10)
	b = append(b, "ms"...)
	return string(b)
}

// row is one line of a proxy table.
type row struct {
	class, name, status, check string
	c                          *proxy.Counters
	limit, weight              int
	act, bck                   bool
	server, backend            bool
	nact, nbck                 int
}

func (r *row) append(b []byte) []byte {
	b = append(b, `<tr class="`...)
	b = append(b, r.class...)
	b = append(b, `"><td class="n">`...)
	b = appendHTML(b, r.name)
	b = append(b, "</td>"...)
	b = td(b, r.status)
	b = td(b, r.check)
	switch {
	case r.server:
		b = tdInt(b, int64(r.weight))
		b = td(b, yn(r.act))
		b = td(b, yn(r.bck))
	case r.backend:
		b = tdInt(b, int64(r.weight))
		b = tdInt(b, int64(r.nact))
		b = tdInt(b, int64(r.nbck))
	default:
		b = append(b, "<td></td><td></td><td></td>"...)
	}
	c := r.c
	if r.server || r.backend {
		b = tdInt(b, c.QueueCur)
		b = tdInt(b, c.QueueMax)
	} else {
		b = append(b, "<td></td><td></td>"...)
	}
	b = tdInt(b, c.Cur)
	if r.limit > 0 {
		b = tdInt(b, int64(r.limit))
	} else {
		b = td(b, "-")
	}
	b = tdUint(b, c.Conns)
	b = tdUint(b, c.BytesIn)
	b = tdUint(b, c.BytesOut)
	b = tdUint(b, c.Requests)
	b = append(b, "<td>"...)
	for i, v := range c.Responses {
		if i > 0 {
			b = append(b, '/')
		}
		b = strconv.AppendUint(b, v, 10)
	}
	b = append(b, "</td>"...)
	b = tdUint(b, c.Denied)
	b = tdUint(b, c.InvalidRequests)
	b = tdUint(b, c.ConnectErrors)
	b = tdUint(b, c.FailedResponses)
	b = tdUint(b, c.Retries)
	b = tdUint(b, c.NoServer)
	return append(b, "</tr>\n"...)
}

func yn(v bool) string {
	if v {
		return "Y"
	}
	return "-"
}

// appendCoreTable writes the per-core table: the engine's sessions on each
// core and, when the board gives them, the core's network counters.
func (s *snapshot) appendCoreTable(b []byte) []byte {
	b = append(b, "<h2>Cores</h2>\n<table><tr><th class=\"n\">Core</th><th>Sessions cur</th><th>Sessions total</th>"...)
	if s.cores != nil {
		b = append(b, "<th>Frames in</th><th>Frames out</th><th>Drops</th><th>Steering misses</th><th>Accepted</th><th>Dialled</th>"+
			"<th>Established</th><th>Malformed</th><th>Dial failures</th><th>Resets sent</th><th>Resets rcvd</th>"...)
	}
	b = append(b, "</tr>\n"...)
	for k := range s.coreIDs {
		var cur int64
		var total uint64
		for _, f := range s.fes {
			if k < len(f.st.PerCore) {
				cur += f.st.PerCore[k].Cur
				total += f.st.PerCore[k].Conns
			}
		}
		b = append(b, "<tr><td class=\"n\">"...)
		b = append(b, s.coreIDs[k]...)
		b = append(b, "</td>"...)
		b = tdInt(b, cur)
		b = tdUint(b, total)
		if k < len(s.cores) {
			c := &s.cores[k]
			for _, v := range [...]uint64{c.FramesIn, c.FramesOut, c.Drops, c.SteeringMisses, c.Accepted, c.Dialled,
				c.Established, c.Malformed, c.DialFailures, c.ResetsSent, c.ResetsReceived} {
				b = tdUint(b, v)
			}
		} else if s.cores != nil {
			b = append(b, "<td colspan=\"11\"></td>"...)
		}
		b = append(b, "</tr>\n"...)
	}
	return append(b, "</table>\n"...)
}

func td(b []byte, s string) []byte {
	b = append(b, "<td>"...)
	b = appendHTML(b, s)
	return append(b, "</td>"...)
}

func tdInt(b []byte, v int64) []byte {
	b = append(b, "<td>"...)
	b = strconv.AppendInt(b, v, 10)
	return append(b, "</td>"...)
}

func tdUint(b []byte, v uint64) []byte {
	b = append(b, "<td>"...)
	b = strconv.AppendUint(b, v, 10)
	return append(b, "</td>"...)
}

// appendHTML appends s escaped for HTML text and quoted attribute values:
// the five characters with meaning in markup become entities, and bytes
// that are not valid UTF-8 pass through unchanged (the page is UTF-8 and
// browsers show them as U+FFFD).
func appendHTML(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '"':
			b = append(b, "&#34;"...)
		case '\'':
			b = append(b, "&#39;"...)
		case 0:
			b = append(b, "\uFFFD"...)
		default:
			b = append(b, c)
		}
	}
	return b
}
