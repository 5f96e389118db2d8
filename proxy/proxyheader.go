package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"

	"github.com/bareproxy/bareproxy/proxy/proxyproto"
)

// readProxyHeader reads the PROXY protocol header (v1 or v2) at the start of
// c, for a bind with accept-proxy. It returns a connection that yields the
// bytes after the header, and the addresses the header announces (both zero
// for LOCAL or UNKNOWN).
func readProxyHeader(c net.Conn) (net.Conn, netip.AddrPort, netip.AddrPort, error) {
	br := bufio.NewReaderSize(c, proxyproto.MinReaderSize)
	var h proxyproto.Header
	if err := proxyproto.Read(br, &h); err != nil {
		return nil, netip.AddrPort{}, netip.AddrPort{}, err
	}
	src, dst, _ := h.Addrs()
	if br.Buffered() == 0 {
		return c, src, dst, nil
	}
	return &bufferedConn{Conn: c, r: br}, src, dst, nil
}

// bufferedConn is a connection whose first bytes were read ahead into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite passes a half-close on, so that splicing keeps working.
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// WriteClose passes a final write on, so that the FIN can ride on it.
func (c *bufferedConn) WriteClose(p []byte) (int, error) {
	if fw, ok := c.Conn.(finalWriter); ok {
		return fw.WriteClose(p)
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		return n, err
	}
	return n, c.CloseWrite()
}

// appendProxyHeader appends the send-proxy (version 1) or send-proxy-v2
// header announcing src -> dst.
func appendProxyHeader(b []byte, version int, src, dst netip.AddrPort) ([]byte, error) {
	h := proxyproto.NewTCP(src, dst)
	switch version {
	case 1:
		return proxyproto.AppendV1(b, &h)
	case 2:
		return proxyproto.AppendV2(b, &h)
	}
	return b, fmt.Errorf("PROXY protocol version %d: want 1 or 2", version)
}
