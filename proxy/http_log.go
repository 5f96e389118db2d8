package proxy

import (
	"net/netip"
	"strconv"
	"time"
)

// httpLog is what one httplog line reports.
type httpLog struct {
	src                              netip.AddrPort
	date                             time.Time // first byte of the request (%tr)
	fe, be, srv                      string
	tr, tw, tc, tresp, ta            int64 // ms; -1 where the phase was not reached
	status                           int   // -1 if none was sent
	bytes                            int64
	term                             [4]byte
	actconn, feconn, beconn, srvconn int64
	retries                          int
	srvQueue, beQueue                int
	request                          []byte // nil for "<BADREQ>"
}

// appendHTTPLog formats a line in HAProxy's "option httplog" format
// (configuration manual, section 8.2.3; log-format
// "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc
// %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r" without captures):
//
//	10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"
//
// Fields: client address and port; date of the request's first byte;
// frontend; backend and server ("<NOSRV>" when none was reached, the
// applet name such as "<STATS>" when the proxy answered); TR (head
// received), Tw (queued), Tc (connect), Tr (response head), Ta (active
// time, first request byte to last response byte), each -1 when not
// reached; status; bytes sent to the client, headers included; the two
// captured cookies ("-": no captures); the termination state (4 characters,
// the last two about persistence cookies, always "--"); process, frontend,
// backend and server connection counts and connect retries; server and
// backend queue positions; the request line in quotes, with non-printable
// bytes and '"' written #XX, or "<BADREQ>" for an unreadable request.
func appendHTTPLog(b []byte, l *httpLog) []byte {
	b = l.src.AppendTo(b)
	b = append(b, " ["...)
	b = appendDate(b, l.date)
	b = append(b, "] "...)
	b = append(b, l.fe...)
	b = append(b, ' ')
	b = append(b, l.be...)
	b = append(b, '/')
	b = append(b, l.srv...)
	b = append(b, ' ')
	for i, v := range [5]int64{l.tr, l.tw, l.tc, l.tresp, l.ta} {
		if i > 0 {
			b = append(b, '/')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, l.bytes, 10)
	b = append(b, " - - "...)
	b = append(b, l.term[:]...)
	b = append(b, ' ')
	for i, v := range [5]int64{l.actconn, l.feconn, l.beconn, l.srvconn, int64(l.retries)} {
		if i > 0 {
			b = append(b, '/')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(l.srvQueue), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(l.beQueue), 10)
	b = append(b, ` "`...)
	if l.request == nil {
		b = append(b, "<BADREQ>"...)
	} else {
		b = appendLogEscaped(b, l.request)
	}
	return append(b, '"')
}

const hexDigits = "0123456789ABCDEF"

// appendLogEscaped writes v with bytes outside printable ASCII, '"' and '#'
// as #XX, HAProxy's encoding for logged HTTP fields.
func appendLogEscaped(b, v []byte) []byte {
	for _, c := range v {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '#' {
			b = append(b, '#', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

func ms(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}

// logRequest writes the request's httplog line when the frontend logs
// with "option httplog".
func (cc *clientConn) logRequest() {
	fc := cc.fe.Config
	if !fc.Log.Enabled() || !fc.Options.HTTPLog {
		return
	}
	t := &cc.t
	if !t.snap {
		cc.snapshotConns()
	}
	l := httpLog{
		src: cc.s.Src, date: t.first, fe: cc.fe.Name(), be: cc.fe.Name(), srv: "<NOSRV>",
		tr: ms(t.tr), tw: ms(t.tw), tc: ms(t.tc), tresp: ms(t.tresp),
		ta:     cc.p.opts.now().Sub(t.first).Milliseconds(),
		status: t.status, bytes: t.bytes,
		term:    [4]byte{t.term[0], t.term[1], '-', '-'},
		actconn: t.actconn, feconn: t.feconn, beconn: t.beconn, srvconn: t.srvconn,
		retries: t.retries, beQueue: t.bq,
	}
	if l.status == 0 {
		l.status = -1
	}
	if t.be != nil {
		l.be = t.be.Name()
	}
	switch {
	case t.applet != "":
		l.srv = t.applet
	case t.srv != nil:
		l.srv = t.srv.Name()
	}
	if !t.bad {
		l.request = t.line
	}
	var buf [512]byte
	b := appendHTTPLog(buf[:0], &l)
	cc.p.log.Info(string(b))
}
