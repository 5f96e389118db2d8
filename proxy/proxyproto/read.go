package proxyproto

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// Read decodes one PROXY protocol header, v1 or v2, from the start of br
// into h, leaving br at the first byte after it. It tells the versions apart
// by their signatures (section 2.2): the 12-byte binary signature followed
// by version 2 means v2, "PROXY " means v1, anything else is ErrNotProxy.
// It returns io.EOF if br is empty, io.ErrUnexpectedEOF if it ends inside a
// header, and an error wrapping ErrMalformed for a bad header, after which
// the connection must be closed. br's buffer must hold MinReaderSize bytes.
func Read(br *bufio.Reader, h *Header) error {
	h.Reset()
	if br.Size() < MinReaderSize {
		return fmt.Errorf("proxyproto: reader buffer %d smaller than %d", br.Size(), MinReaderSize)
	}
	// Every valid header is at least 15 bytes ("PROXY UNKNOWN\r\n"), so
	// waiting for 12 never stalls a correct sender.
	p, err := br.Peek(len(v2Sig))
	switch {
	case bytes.Equal(p, v2Sig[:]):
		return readV2(br, h)
	case len(p) >= 6 && string(p[:6]) == "PROXY ":
		return readV1(br, h)
	case len(p) == 0 && err != nil:
		return err
	case err != nil && (bytes.HasPrefix(v2Sig[:], p) || bytes.HasPrefix([]byte("PROXY "), p)):
		return truncated(err)
	case err != nil && err != io.EOF:
		return err
	}
	return ErrNotProxy
}
