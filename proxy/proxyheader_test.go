package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/bareproxy/bareproxy/proxy/proxyproto"
)

// TestPROXYProtocol sends through accept-proxy binds and send-proxy servers
// and checks what the server is told about the client.
func TestPROXYProtocol(t *testing.T) {
	// announcer reports the source the PROXY header gave, then echoes.
	announcer := func(c net.Conn) {
		br := bufio.NewReaderSize(c, proxyproto.MinReaderSize)
		var h proxyproto.Header
		if err := proxyproto.Read(br, &h); err != nil {
			fmt.Fprintf(c, "error %v\n", err)
			return
		}
		fmt.Fprintf(c, "v%d %s -> %s\n", h.Version, h.Src, h.Dst)
		io.Copy(c, br)
	}
	tests := []struct {
		name   string
		bind   string // bind options
		server string // server options
		header string // what the client sends first
		want   string // the announcer's first line, %s for the client's own address
	}{
		{"send-proxy v1 from the real client", "", "send-proxy", "", "v1 %s -> %s"},
		{"send-proxy-v2 from the real client", "", "send-proxy-v2", "", "v2 %s -> %s"},
		{"accept-proxy v1 passed on as v2", "accept-proxy", "send-proxy-v2",
			"PROXY TCP4 192.0.2.1 198.51.100.7 1111 443\r\n", "v2 192.0.2.1:1111 -> 198.51.100.7:443"},
		{"accept-proxy v2 passed on as v1", "accept-proxy", "send-proxy",
			string(mustV2(t, "192.0.2.9:2222", "198.51.100.7:80")), "v1 192.0.2.9:2222 -> 198.51.100.7:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := backend(t, announcer)
			port := freePort(t)
			r := start(t, fmt.Sprintf(`frontend fe
    mode tcp
    bind 127.0.0.1:%d %s
    default_backend be
backend be
    mode tcp
    server s %s %s
`, port, tt.bind, be, tt.server), host())
			c, err := net.Dial("tcp4", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.header+"payload\n"); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want + "\n"
			if tt.header == "" {
				want = fmt.Sprintf(want, c.LocalAddr(), c.RemoteAddr())
			}
			if line != want {
				t.Errorf("server was told %q, want %q", line, want)
			}
			if rest, err := br.ReadString('\n'); err != nil || rest != "payload\n" {
				t.Errorf("payload after the header = %q, %v; want %q", rest, err, "payload\n")
			}
		})
	}
}

// mustV2 returns a PROXY v2 header for a TCP connection from src to dst.
func mustV2(t *testing.T, src, dst string) []byte {
	t.Helper()
	h := proxyproto.NewTCP(netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst))
	b, err := proxyproto.AppendV2(nil, &h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
