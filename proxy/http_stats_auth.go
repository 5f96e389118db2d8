package proxy

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
)

// statsAuthorized reports whether the request may see the stats page: yes
// when the frontend has no "stats auth" lines, else only with HTTP Basic
// credentials (RFC 7617) that match one of them.
func (cc *clientConn) statsAuthorized() bool {
	users := cc.fe.Config.Stats.Auth
	if len(users) == 0 {
		return true
	}
	cred, ok := bytes.CutPrefix(cc.req.Get("Authorization"), []byte("Basic "))
	if !ok {
		return false
	}
	cred = bytes.TrimSpace(cred)
	var buf [256]byte
	if base64.StdEncoding.DecodedLen(len(cred)) > len(buf) {
		return false
	}
	n, err := base64.StdEncoding.Decode(buf[:], cred)
	if err != nil {
		return false
	}
	match := 0
	for _, u := range users {
		// Compare every entry in constant time, so that response times
		// do not tell how much of a guess was right.
		match |= subtle.ConstantTimeCompare(buf[:n], []byte(u))
	}
	return match == 1
}

// askStatsCredentials answers 401 with the realm the browser shows when it
// asks for a user and password ("stats realm", HAProxy's default otherwise).
func (cc *clientConn) askStatsCredentials() bool {
	realm := cc.fe.Config.Stats.Realm
	if realm == "" {
		realm = "HAProxy Statistics"
	}
	body := []byte("<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n")
	b := appendStatusLine(cc.out[:0], 401)
	b = append(b, "WWW-Authenticate: Basic realm="...)
	b = strconv.AppendQuote(b, realm)
	b = append(b, "\r\nContent-Type: text/html\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"...)
	b = append(b, body...)
	cc.out = b
	cc.t.status = 401
	cc.t.term = [2]byte{'P', 'R'}
	cc.ct.Write(b)
	return false
}
