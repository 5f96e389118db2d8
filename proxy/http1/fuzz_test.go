package http1

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func FuzzReadRequest(f *testing.F) {
	seeds := append([]string{
		typicalRequest,
		"",
		"\r\n",
		"GET / HTTP/1.1\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\r",
		"GET / HTTP/1.1\r\nHost: h\n\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,chunked\r\nConnection: transfer-encoding, host\r\n\r\n",
		"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n",
		"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX\x00: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
	}, goodRequests...)
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r, r2 Request
		err := ReadRequest(bufio.NewReader(bytes.NewReader(data)), &r, Limits{})
		if err != nil {
			switch st := StatusOf(err); st {
			case 0, 400, 431, 501, 505:
			default:
				t.Fatalf("status %d for %v", st, err)
			}
			return
		}
		// What was accepted writes back to something that parses to the
		// same bytes again.
		out := r.AppendHead(nil)
		if err := ReadRequest(bufio.NewReader(bytes.NewReader(out)), &r2, Limits{}); err != nil {
			t.Fatalf("re-read of %q: %v", out, err)
		}
		if out2 := r2.AppendHead(nil); !bytes.Equal(out, out2) || r2.Framing != r.Framing {
			t.Fatalf("not stable: %q then %q", out, out2)
		}
		// What would be forwarded is valid and framed the same way.
		r.StripHopByHop(true)
		r.AddFraming(r.Framing)
		fwd := r.AppendHead(nil)
		if err := ReadRequest(bufio.NewReader(bytes.NewReader(fwd)), &r2, Limits{MaxFields: 1000, MaxHeadBytes: 1 << 20}); err != nil {
			t.Fatalf("forwarded head %q: %v", fwd, err)
		}
		if r2.Framing != r.Framing {
			t.Fatalf("forwarded framing %+v, was %+v", r2.Framing, r.Framing)
		}
	})
}

func FuzzChunked(f *testing.F) {
	for _, s := range []string{
		"0\r\n\r\n",
		"5\r\nhello\r\n0\r\n\r\n",
		"5;a=b;c=\"d\\\"e\"\r\nhello\r\n0\r\nT: v\r\n\r\n",
		"5\r\nhel",
		"5\r\nhello",
		"5\r\nhello\r",
		"0\r\n",
		"0\r\nT: v\r\n",
		"ffffffffffffffff\r\n",
		"0000000000000000000001\r\na\r\n0\r\n\r\n",
		"5 ; a = b\r\nhello\r\n0\r\n\r\n",
		"5\nhello\n0\n\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sr := bytes.NewReader(data)
		br := bufio.NewReaderSize(sr, 64)
		var out bytes.Buffer
		n, err := CopyBody(&out, br, Framing{Kind: FrameChunked}, make([]byte, 7))
		if n != int64(out.Len()) {
			t.Fatalf("returned %d, wrote %d", n, out.Len())
		}
		if err != nil {
			return
		}
		consumed := len(data) - sr.Len() - br.Buffered()
		if !bytes.Equal(out.Bytes(), data[:consumed]) {
			t.Fatalf("pass-through %q differs from input %q", out.Bytes(), data[:consumed])
		}
		var a, b strings.Builder
		_, errA := CopyBodyWith(&a, bufio.NewReaderSize(bytes.NewReader(data), 64), Framing{Kind: FrameChunked}, nil, BodyOptions{Dechunk: true})
		_, errB := CopyBodyWith(&b, bufio.NewReaderSize(bytes.NewReader(out.Bytes()), 64), Framing{Kind: FrameChunked}, nil, BodyOptions{Dechunk: true})
		if errA != nil || errB != nil || a.String() != b.String() {
			t.Fatalf("dechunk: %v %v %q %q", errA, errB, a.String(), b.String())
		}
	})
}
