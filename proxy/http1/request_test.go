package http1

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func readReq(t *testing.T, s string) (*Request, error) {
	t.Helper()
	var r Request
	err := ReadRequest(bufio.NewReader(strings.NewReader(s)), &r, Limits{})
	return &r, err
}

func TestReadRequestMalformed(t *testing.T) {
	const h = "Host: example.com\r\n"
	many := strings.Repeat("X-A: b\r\n", DefaultMaxFields)
	tests := []struct {
		name   string
		in     string
		kind   Kind
		status int
	}{
		{"cl and te", "POST / HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", KindLengthAndChunked, 400},
		{"te and cl", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", KindLengthAndChunked, 400},
		{"cl cl disagree", "POST / HTTP/1.1\r\n" + h + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", KindConflictingLength, 400},
		{"cl list disagree", "POST / HTTP/1.1\r\n" + h + "Content-Length: 5, 6\r\n\r\n", KindConflictingLength, 400},
		{"te chunked identity", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked, identity\r\n\r\n", KindBadTransferEncoding, 400},
		{"te xchunked", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: xchunked\r\n\r\n", KindBadTransferEncoding, 400},
		{"te chunked twice", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked, chunked\r\n\r\n", KindBadTransferEncoding, 400},
		{"te chunked in two fields then identity", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", KindBadTransferEncoding, 400},
		{"te chunked with param", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked;q=1\r\n\r\n", KindBadTransferEncoding, 400},
		{"te empty", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: \r\n\r\n", KindBadTransferEncoding, 400},
		{"te gzip chunked", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip, chunked\r\n\r\n", KindUnsupportedCoding, 501},
		{"te in http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", KindBadTransferEncoding, 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", KindSpaceBeforeColon, 400},
		{"tab before colon", "GET / HTTP/1.1\r\n" + h + "Transfer-Encoding\t: chunked\r\n\r\n", KindSpaceBeforeColon, 400},
		{"obs-fold", "GET / HTTP/1.1\r\n" + h + "X-A: b\r\n c\r\n\r\n", KindObsFold, 400},
		{"obs-fold tab first line", "GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", KindObsFold, 400},
		{"bare lf in field", "GET / HTTP/1.1\r\nHost: a\n\r\n", KindBareLF, 400},
		{"bare lf request line", "GET / HTTP/1.1\n" + h + "\r\n", KindBareLF, 400},
		{"bare lf end of head", "GET / HTTP/1.1\r\n" + h + "\n", KindBareLF, 400},
		{"bare cr in value", "GET / HTTP/1.1\r\n" + h + "X-A: b\rc\r\n\r\n", KindBadChar, 400},
		{"nul in value", "GET / HTTP/1.1\r\n" + h + "X-A: b\x00c\r\n\r\n", KindBadChar, 400},
		{"nul in name", "GET / HTTP/1.1\r\n" + h + "X-\x00A: b\r\n\r\n", KindBadChar, 400},
		{"del in value", "GET / HTTP/1.1\r\n" + h + "X-A: \x7f\r\n\r\n", KindBadChar, 400},
		{"ctl in request line", "GET /\x01 HTTP/1.1\r\n" + h + "\r\n", KindBadChar, 400},
		{"double host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", KindDuplicateHost, 400},
		{"identical double host", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", KindDuplicateHost, 400},
		{"missing host 1.1", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", KindMissingHost, 400},
		{"bad host value", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", KindBadHost, 400},
		{"host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", KindBadHost, 400},
		{"host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", KindBadHost, 400},
		{"huge head", "GET / HTTP/1.1\r\n" + h + "X-A: " + strings.Repeat("a", DefaultMaxHeadBytes) + "\r\n\r\n", KindHeadTooLarge, 431},
		{"huge request line", "GET /" + strings.Repeat("a", DefaultMaxHeadBytes) + " HTTP/1.1\r\n\r\n", KindHeadTooLarge, 431},
		{"too many fields", "GET / HTTP/1.1\r\n" + h + many + "\r\n", KindTooManyFields, 431},
		{"negative cl", "POST / HTTP/1.1\r\n" + h + "Content-Length: -5\r\n\r\n", KindBadContentLength, 400},
		{"cl plus sign", "POST / HTTP/1.1\r\n" + h + "Content-Length: +5\r\n\r\n", KindBadContentLength, 400},
		{"cl hex", "POST / HTTP/1.1\r\n" + h + "Content-Length: 0x5\r\n\r\n", KindBadContentLength, 400},
		{"cl inner space", "POST / HTTP/1.1\r\n" + h + "Content-Length: 1 2\r\n\r\n", KindBadContentLength, 400},
		{"cl overflow", "POST / HTTP/1.1\r\n" + h + "Content-Length: 99999999999999999999\r\n\r\n", KindBadContentLength, 400},
		{"cl int64 max plus one", "POST / HTTP/1.1\r\n" + h + "Content-Length: 9223372036854775808\r\n\r\n", KindBadContentLength, 400},
		{"cl empty", "POST / HTTP/1.1\r\n" + h + "Content-Length: \r\n\r\n", KindBadContentLength, 400},
		{"cl only commas", "POST / HTTP/1.1\r\n" + h + "Content-Length: ,\r\n\r\n", KindBadContentLength, 400},
		{"request line three spaces", "GET  / HTTP/1.1\r\n" + h + "\r\n", KindBadRequestLine, 400},
		{"request line double space before version", "GET /  HTTP/1.1\r\n" + h + "\r\n", KindBadRequestLine, 400},
		{"request line trailing space", "GET / HTTP/1.1 \r\n" + h + "\r\n", KindBadRequestLine, 400},
		{"request line leading space", " GET / HTTP/1.1\r\n" + h + "\r\n", KindBadRequestLine, 400},
		{"request line tab separator", "GET\t/ HTTP/1.1\r\n" + h + "\r\n", KindBadRequestLine, 400},
		{"http/0.9", "GET /\r\n\r\n", KindBadRequestLine, 400},
		{"method not token", "G@T / HTTP/1.1\r\n" + h + "\r\n", KindBadRequestLine, 400},
		{"http/2.0", "GET / HTTP/2.0\r\n" + h + "\r\n", KindUnsupportedVersion, 505},
		{"http/1.2", "GET / HTTP/1.2\r\n" + h + "\r\n", KindUnsupportedVersion, 505},
		{"http/0.9 version", "GET / HTTP/0.9\r\n" + h + "\r\n", KindUnsupportedVersion, 505},
		{"lowercase version", "GET / http/1.1\r\n" + h + "\r\n", KindBadVersion, 400},
		{"version two digits", "GET / HTTP/1.10\r\n" + h + "\r\n", KindBadVersion, 400},
		{"version no minor", "GET / HTTP/1\r\n" + h + "\r\n", KindBadVersion, 400},
		{"target tab", "GET /a\tb HTTP/1.1\r\n" + h + "\r\n", KindBadTarget, 400},
		{"target non-ascii", "GET /\xc3\xa9 HTTP/1.1\r\n" + h + "\r\n", KindBadTarget, 400},
		{"target fragment", "GET /a#b HTTP/1.1\r\n" + h + "\r\n", KindBadTarget, 400},
		{"asterisk not options", "GET * HTTP/1.1\r\n" + h + "\r\n", KindBadTarget, 400},
		{"connect without port", "CONNECT example.com HTTP/1.1\r\n" + h + "\r\n", KindBadTarget, 400},
		{"connect port too big", "CONNECT example.com:65536 HTTP/1.1\r\n" + h + "\r\n", KindBadTarget, 400},
		{"connect origin-form", "CONNECT / HTTP/1.1\r\n" + h + "\r\n", KindBadTarget, 400},
		{"absolute with userinfo", "GET http://u:p@example.com/ HTTP/1.1\r\n" + h + "\r\n", KindBadTarget, 400},
		{"absolute empty host", "GET http:///a HTTP/1.1\r\n" + h + "\r\n", KindBadTarget, 400},
		{"relative target", "GET a/b HTTP/1.1\r\n" + h + "\r\n", KindBadTarget, 400},
		{"empty field name", "GET / HTTP/1.1\r\n" + h + ": b\r\n\r\n", KindBadFieldName, 400},
		{"field without colon", "GET / HTTP/1.1\r\n" + h + "X-A\r\n\r\n", KindBadFieldName, 400},
		{"field name with slash", "GET / HTTP/1.1\r\n" + h + "X/A: b\r\n\r\n", KindBadFieldName, 400},
		{"truncated head", "GET / HTTP/1.1\r\n" + h, KindTruncated, 400},
		{"truncated request line", "GET / HT", KindTruncated, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readReq(t, tt.in)
			if err == nil {
				t.Fatalf("ReadRequest(%q) = nil error, want %v", tt.in, tt.kind)
			}
			if got := KindOf(err); got != tt.kind {
				t.Errorf("kind = %v (%v), want %v", got, err, tt.kind)
			}
			if got := StatusOf(err); got != tt.status {
				t.Errorf("status = %d, want %d", got, tt.status)
			}
		})
	}
}

func TestReadRequestEOF(t *testing.T) {
	for _, in := range []string{"", "\r\n", "\r\n\r\n"} {
		if _, err := readReq(t, in); err != io.EOF {
			t.Errorf("ReadRequest(%q) = %v, want io.EOF", in, err)
		}
	}
}

func TestReadRequestGood(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		method    string
		target    string
		authority string
		form      TargetForm
		minor     int
		framing   Framing
	}{
		{"get", "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\n", "GET", "/a?b=c", "example.com", FormOrigin, 1, Framing{}},
		{"lowercase method", "get / HTTP/1.1\r\nHost: h\r\n\r\n", "get", "/", "h", FormOrigin, 1, Framing{}},
		{"http/1.0 no host", "GET / HTTP/1.0\r\n\r\n", "GET", "/", "", FormOrigin, 0, Framing{}},
		{"leading crlf", "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/", "h", FormOrigin, 1, Framing{}},
		{"absolute mismatched host", "GET http://a.example:8080/x HTTP/1.1\r\nHost: b.example\r\n\r\n", "GET", "http://a.example:8080/x", "a.example:8080", FormAbsolute, 1, Framing{}},
		{"absolute no path", "GET https://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", "GET", "https://a.example", "a.example", FormAbsolute, 1, Framing{}},
		{"connect", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", "CONNECT", "a.example:443", "a.example:443", FormAuthority, 1, Framing{}},
		{"connect ipv6", "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n", "CONNECT", "[2001:db8::1]:443", "[2001:db8::1]:443", FormAuthority, 1, Framing{}},
		{"options asterisk", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS", "*", "h", FormAsterisk, 1, Framing{}},
		{"content-length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0042\r\n\r\n", "POST", "/", "h", FormOrigin, 1, Framing{FrameLength, 42}},
		{"chunked any case", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ChUnKeD\r\n\r\n", "POST", "/", "h", FormOrigin, 1, Framing{Kind: FrameChunked}},
		{"chunked empty elements", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , chunked ,\r\n\r\n", "POST", "/", "h", FormOrigin, 1, Framing{Kind: FrameChunked}},
		{"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET", "/", "", FormOrigin, 1, Framing{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := readReq(t, tt.in)
			if err != nil {
				t.Fatalf("ReadRequest(%q) = %v", tt.in, err)
			}
			if got := string(r.Method()); got != tt.method {
				t.Errorf("method = %q, want %q", got, tt.method)
			}
			if got := string(r.Target()); got != tt.target {
				t.Errorf("target = %q, want %q", got, tt.target)
			}
			if got := string(r.Authority()); got != tt.authority {
				t.Errorf("authority = %q, want %q", got, tt.authority)
			}
			if r.Form != tt.form || r.Minor != tt.minor || r.Framing != tt.framing {
				t.Errorf("form, minor, framing = %v %v %+v, want %v %v %+v", r.Form, r.Minor, r.Framing, tt.form, tt.minor, tt.framing)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	lim := Limits{MaxHeadBytes: 64, MaxFields: 2}
	var r Request
	in := "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\nC: d\r\n\r\n"
	err := ReadRequest(bufio.NewReader(strings.NewReader(in)), &r, lim)
	if KindOf(err) != KindTooManyFields {
		t.Errorf("3 fields with MaxFields 2: %v", err)
	}
	in = "GET /" + strings.Repeat("a", 60) + " HTTP/1.1\r\nHost: h\r\n\r\n"
	err = ReadRequest(bufio.NewReader(strings.NewReader(in)), &r, lim)
	if KindOf(err) != KindHeadTooLarge {
		t.Errorf("head over MaxHeadBytes: %v", err)
	}
	// A head larger than the bufio buffer but within the limit is fine.
	in = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("v", 100) + "\r\n\r\n"
	err = ReadRequest(bufio.NewReaderSize(strings.NewReader(in), 16), &r, Limits{})
	if err != nil || len(r.Get("x-big")) != 100 {
		t.Errorf("line longer than reader buffer: %v", err)
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := readReq(t, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n")
	want := `http1: conflicting content-length "5, 6"`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 {
		t.Errorf("errors.As: %#v", err)
	}
}

func TestMergeDuplicateContentLength(t *testing.T) {
	for _, in := range []string{
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX: y\r\ncontent-length: 5\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\nX: y\r\n\r\n",
	} {
		r, err := readReq(t, in)
		if err != nil {
			t.Fatalf("ReadRequest(%q) = %v", in, err)
		}
		if r.Framing != (Framing{FrameLength, 5}) {
			t.Errorf("framing = %+v", r.Framing)
		}
		got := string(r.AppendHead(nil))
		want := "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX: y\r\n\r\n"
		if got != want {
			t.Errorf("head = %q, want %q", got, want)
		}
	}
}

func TestKeepAlive(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\n\r\n", false},
		{"GET / HTTP/1.0\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
		{"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
	}
	for _, tt := range tests {
		r, err := readReq(t, tt.in)
		if err != nil {
			t.Fatalf("ReadRequest(%q) = %v", tt.in, err)
		}
		if got := r.KeepAlive(); got != tt.want {
			t.Errorf("KeepAlive(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPipelined(t *testing.T) {
	in := "POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
		"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
	br := bufio.NewReader(strings.NewReader(in))
	var r Request
	if err := ReadRequest(br, &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if n, err := CopyBody(&sb, br, r.Framing, make([]byte, 2)); err != nil || n != 3 || sb.String() != "abc" {
		t.Fatalf("CopyBody = %d, %v, %q", n, err, sb.String())
	}
	if err := ReadRequest(br, &r, Limits{}); err != nil || string(r.Target()) != "/2" {
		t.Fatalf("second request: %v %q", err, r.Target())
	}
	if err := ReadRequest(br, &r, Limits{}); err != io.EOF {
		t.Fatalf("third read = %v, want io.EOF", err)
	}
}
