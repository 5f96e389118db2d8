package http1

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadResponseFraming(t *testing.T) {
	get, err := readReq(t, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	head, _ := readReq(t, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
	connect, _ := readReq(t, "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n")
	tests := []struct {
		name  string
		in    string
		req   *Request
		want  Framing
		keep  bool
		code  int
		minor int
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", get, Framing{FrameLength, 12}, true, 200, 1},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", get, Framing{Kind: FrameChunked}, true, 200, 1},
		{"until close", "HTTP/1.1 200 OK\r\n\r\n", get, Framing{Kind: FrameClose}, false, 200, 1},
		{"nil request", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", nil, Framing{FrameLength, 1}, true, 200, 0},
		{"1.0 default close", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", nil, Framing{FrameLength, 1}, false, 200, 0},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", head, Framing{}, true, 200, 1},
		{"head chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", head, Framing{}, true, 200, 1},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", get, Framing{}, true, 204, 1},
		{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", get, Framing{}, true, 304, 1},
		{"100", "HTTP/1.1 100 Continue\r\n\r\n", get, Framing{}, true, 100, 1},
		{"103", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n", get, Framing{}, true, 103, 1},
		{"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", get, Framing{Kind: FrameTunnel}, false, 101, 1},
		{"connect 200", "HTTP/1.1 200 Connection established\r\n\r\n", connect, Framing{Kind: FrameTunnel}, false, 200, 1},
		{"connect 407", "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n", connect, Framing{FrameLength, 0}, true, 407, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			if err := ReadResponse(bufio.NewReader(strings.NewReader(tt.in)), &r, tt.req, Limits{}); err != nil {
				t.Fatalf("ReadResponse(%q) = %v", tt.in, err)
			}
			if r.Framing != tt.want || r.KeepAlive() != tt.keep || r.Status != tt.code || r.Minor != tt.minor {
				t.Errorf("framing %+v keep %v status %d minor %d, want %+v %v %d %d",
					r.Framing, r.KeepAlive(), r.Status, r.Minor, tt.want, tt.keep, tt.code, tt.minor)
			}
		})
	}
}

func TestReadResponseMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   string
		kind Kind
	}{
		{"cl and te", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", KindLengthAndChunked},
		{"cl disagree", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", KindConflictingLength},
		{"te not final chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", KindBadTransferEncoding},
		{"te gzip chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", KindUnsupportedCoding},
		{"te in 1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", KindBadTransferEncoding},
		{"two digit status", "HTTP/1.1 20 OK\r\n\r\n", KindBadStatusLine},
		{"status 600", "HTTP/1.1 600 X\r\n\r\n", KindBadStatusLine},
		{"status 099", "HTTP/1.1 099 X\r\n\r\n", KindBadStatusLine},
		{"no space after status", "HTTP/1.1 200OK\r\n\r\n", KindBadStatusLine},
		{"lowercase version", "http/1.1 200 OK\r\n\r\n", KindBadVersion},
		{"http/2", "HTTP/2.0 200 OK\r\n\r\n", KindUnsupportedVersion},
		{"ctl in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", KindBadChar},
		{"bare lf", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", KindBareLF},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", KindObsFold},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", KindSpaceBeforeColon},
		{"leading blank line", "\r\nHTTP/1.1 200 OK\r\n\r\n", KindBadStatusLine},
		{"truncated", "HTTP/1.1 200 OK\r\nContent-Le", KindTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			err := ReadResponse(bufio.NewReader(strings.NewReader(tt.in)), &r, nil, Limits{})
			if KindOf(err) != tt.kind || StatusOf(err) != 502 {
				t.Errorf("ReadResponse(%q) = %v (kind %v, status %d), want %v, 502", tt.in, err, KindOf(err), StatusOf(err), tt.kind)
			}
		})
	}
}

func TestResponseSetStatus(t *testing.T) {
	var r Response
	in := "HTTP/1.0 200 OK\r\nServer: s\r\n\r\n"
	if err := ReadResponse(bufio.NewReader(strings.NewReader(in)), &r, nil, Limits{}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetStatus(503, "Service Unavailable"); err != nil {
		t.Fatal(err)
	}
	r.SetMinor(1)
	want := "HTTP/1.1 503 Service Unavailable\r\nServer: s\r\n\r\n"
	if got := string(r.AppendHead(nil)); got != want || string(r.Reason()) != "Service Unavailable" {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := r.SetStatus(99, "x"); err == nil {
		t.Error("SetStatus(99) accepted")
	}
	if err := r.SetStatus(200, "a\r\nb"); err == nil {
		t.Error("SetStatus with CRLF accepted")
	}
}
