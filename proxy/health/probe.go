package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// MaxResponse is how much of a check's HTTP response is read: the status
// line must end within it, and "http-check expect string" looks only this
// far (HAProxy reads one buffer, tune.bufsize, likewise).
const MaxResponse = 16 << 10

// buildRequest writes the check request once: the request line, the
// header lines HAProxy's old syntax carries after the version, a Host
// header for HTTP/1.1 when none was given (RFC 9112 section 3.2 requires
// one), and "Connection: close" since each check uses one connection.
func buildRequest(h *HTTPCheck, addr netip.AddrPort) ([]byte, error) {
	method, uri, version := h.Method, h.URI, h.Version
	if method == "" {
		method = "OPTIONS"
	}
	if uri == "" {
		uri = "/"
	}
	if version == "" {
		version = "HTTP/1.0"
	}
	version, extra, _ := strings.Cut(version, "\r\n")
	for _, s := range []string{method, uri, version} {
		if strings.ContainsAny(s, " \t\r\n\x00") {
			return nil, fmt.Errorf("httpchk request line part %q has a blank or control character", s)
		}
	}
	if !strings.HasPrefix(version, "HTTP/") {
		return nil, fmt.Errorf("httpchk version %q is not HTTP/x.y", version)
	}
	b := make([]byte, 0, 128)
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, uri...)
	b = append(b, ' ')
	b = append(b, version...)
	b = append(b, "\r\n"...)
	hasHost := false
	for _, line := range strings.Split(extra, "\r\n") {
		if line == "" {
			continue
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n\x00") || strings.ContainsAny(line, "\r\n\x00") {
			return nil, fmt.Errorf("httpchk header line %q is not \"Name: value\"", line)
		}
		hasHost = hasHost || strings.EqualFold(name, "host")
		b = append(b, line...)
		b = append(b, "\r\n"...)
	}
	if !hasHost && version == "HTTP/1.1" {
		b = append(b, "Host: "...)
		b = addr.AppendTo(b)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Connection: close\r\n\r\n"...)
	return b, nil
}

// Check runs one check now and returns its result; it does not change the
// server's state (Record does). ctx bounds it as well as the timeouts.
func (c *Checker) Check(ctx context.Context) Result {
	start := c.cfg.Now()
	r := c.probe(ctx, start)
	r.End = c.cfg.Now()
	r.Duration = r.End.Sub(start)
	return r
}

func (c *Checker) probe(ctx context.Context, start time.Time) Result {
	// HAProxy, "timeout check": with it, connect within min(timeout
	// connect, inter) and read within timeout check; without it, inter
	// bounds the whole check.
	connectTO, total := c.cfg.Inter, c.cfg.Inter
	if c.cfg.CheckTimeout > 0 {
		if ct := c.cfg.ConnectTimeout; ct > 0 && ct < connectTO {
			connectTO = ct
		}
		total = 0
	}
	dctx, cancel := context.WithTimeout(ctx, connectTO)
	conn, err := c.cfg.Dialer.Dial(dctx, c.cfg.Addr)
	expired := errors.Is(dctx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil {
		if expired || isTimeout(err) {
			return Result{Code: L4Timeout}
		}
		return Result{Code: L4Conn, Info: errInfo(err)}
	}
	defer conn.Close()
	if c.req == nil && c.cfg.Prefix == nil {
		return Result{Code: L4OK}
	}
	deadline := start.Add(total)
	if total == 0 {
		deadline = c.cfg.Now().Add(c.cfg.CheckTimeout)
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if c.cfg.Prefix != nil {
		if _, err := conn.Write(c.cfg.Prefix); err != nil {
			return Result{Code: L4Conn, Info: errInfo(err)}
		}
	}
	if c.req == nil {
		return Result{Code: L4OK}
	}
	if _, err := conn.Write(c.req); err != nil {
		if isTimeout(err) {
			return Result{Code: L7Timeout}
		}
		return Result{Code: L4Conn, Info: errInfo(err)}
	}
	return c.readResponse(conn)
}

// readResponse reads the status line (and, for a string expectation, as
// much body as MaxResponse allows) and judges it.
func (c *Checker) readResponse(conn net.Conn) Result {
	h := c.cfg.HTTP
	buf := make([]byte, 0, 1024)
	var rerr error
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= MaxResponse {
				break
			}
			nb := make([]byte, len(buf), min(2*cap(buf), MaxResponse))
			copy(nb, buf)
			buf = nb
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			rerr = err
			break
		}
		if h.String == "" && bytes.IndexByte(buf, '\n') >= 0 {
			break // the status line is all a status check needs
		}
	}
	status, reason, body, ok := parseStatus(buf)
	if !ok {
		if rerr != nil && isTimeout(rerr) {
			return Result{Code: L7Timeout}
		}
		if len(buf) == 0 && rerr != nil && !errors.Is(rerr, io.EOF) {
			return Result{Code: L4Conn, Info: errInfo(rerr)}
		}
		return Result{Code: L7Response, Info: "invalid or missing HTTP status line"}
	}
	if h.String != "" {
		if rerr != nil && isTimeout(rerr) {
			return Result{Code: L7Timeout}
		}
		if bytes.Contains(body, []byte(h.String)) == h.Negate {
			return Result{Code: L7Response, HTTPStatus: status, Info: "response body does not match"}
		}
		return Result{Code: L7OK, HTTPStatus: status, Info: reason}
	}
	if statusOK(h, status) {
		return Result{Code: L7OK, HTTPStatus: status, Info: reason}
	}
	return Result{Code: L7Status, HTTPStatus: status, Info: reason}
}

// statusOK applies "http-check expect [!] status" or the 2xx/3xx default.
func statusOK(h *HTTPCheck, status int) bool {
	if len(h.Statuses) == 0 {
		return (status >= 200 && status < 400) != h.Negate
	}
	for _, r := range h.Statuses {
		if status >= r[0] && status <= r[1] {
			return !h.Negate
		}
	}
	return h.Negate
}

// parseStatus parses "HTTP/x.y NNN reason\r\n" at the start of b. body is
// what follows the head's blank line, if it arrived. It never panics on
// any input.
func parseStatus(b []byte) (status int, reason string, body []byte, ok bool) {
	eol := bytes.IndexByte(b, '\n')
	if eol < 0 {
		return 0, "", nil, false
	}
	line := bytes.TrimSuffix(b[:eol], []byte("\r"))
	// "HTTP/" DIGIT "." DIGIT SP 3DIGIT [SP reason] (RFC 9112 section 4).
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/")) || !isDigit(line[5]) ||
		line[6] != '.' || !isDigit(line[7]) || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) {
		return 0, "", nil, false
	}
	if len(line) > 12 && line[12] != ' ' {
		return 0, "", nil, false
	}
	status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if status < 100 {
		return 0, "", nil, false
	}
	if len(line) > 13 {
		reason = string(line[13:])
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		body = b[i+4:]
	} else if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		body = b[i+2:]
	}
	return status, reason, body, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
