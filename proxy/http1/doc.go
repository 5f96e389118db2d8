// Package http1 reads and writes HTTP/1.0 and HTTP/1.1 messages on the wire
// for the L7 proxy: strict head parsing (RFC 9112 sections 2 to 5, RFC 9110),
// body framing (RFC 9112 section 6.3), a streaming body copier that passes
// chunked bodies through as chunked with their extensions and trailers, and a
// head writer that serialises a possibly edited head in its original order and
// case.
//
// It owns only the message format. It does not own connections, timeouts,
// routing, ACLs or error pages: the engine in package proxy reads a head with
// ReadRequest or ReadResponse, maps a failure to a status with StatusOf, edits
// the head (StripHopByHop, Set, Add, Del), writes it with WriteHead and moves
// the body with CopyBody. It must not import the engine or touch sockets.
//
// # Strictness
//
// The parser accepts the grammar of RFC 9112 and rejects, with a typed *Error
// that carries the status to answer, everything that two implementations could
// frame differently (request smuggling, RFC 9112 section 11.2): Content-Length
// together with Transfer-Encoding, disagreeing Content-Length values,
// Transfer-Encoding in an HTTP/1.0 message, a Transfer-Encoding whose final
// coding is not chunked, obs-fold, bare LF, CTLs (including NUL and bare CR),
// whitespace between a field name and its colon, several Host fields or none
// in HTTP/1.1. Choices where the RFCs allow more than one answer:
//
//   - Transfer-Encoding in a request whose final coding is not "chunked", or
//     that lists "chunked" twice, is 400 (RFC 9112 section 6.3 item 4 says
//     MUST 400). A list that ends in "chunked" but also names another coding
//     ("gzip, chunked") is 501: the proxy implements no other transfer coding
//     (RFC 9112 section 6.1 says SHOULD 501).
//   - A response whose Transfer-Encoding does not end in "chunked" is
//     rejected (the engine answers 502) instead of being read until close as
//     RFC 9112 section 6.3 item 4 allows, because the proxy strips
//     Transfer-Encoding as hop-by-hop and would hand the client bytes in a
//     coding it was never told about.
//   - Content-Length and Transfer-Encoding together are rejected in both
//     directions rather than letting Transfer-Encoding win (RFC 9112 section
//     6.3 item 3 says "ought to be handled as an error").
//   - Identical duplicate Content-Length values, in several fields or as a
//     list ("42, 42"), are merged into one field (RFC 9112 section 6.3 item 5).
//   - Only HTTP/1.0 and HTTP/1.1 are accepted; any other well-formed version,
//     HTTP/1.2 included, is 505. The version name is case-sensitive (RFC 9112
//     section 2.3), so "http/1.1" is 400.
//   - A request-target may hold only visible ASCII and no "#" (RFC 9112
//     section 3.2 has no fragment); anything else is 400.
//   - An absolute-form target whose authority differs from Host is accepted;
//     the target's authority wins (RFC 9112 section 3.2.2) and Authority
//     returns it.
//   - Empty lines before a request line are skipped (RFC 9112 section 2.2),
//     counted against the head limit. Responses get no such tolerance.
//   - A head over Limits.MaxHeadBytes (default 16 KiB) or with more than
//     Limits.MaxFields field lines (default 100) is 431 (RFC 6585 section 5).
//
// # Memory
//
// A Request or Response owns one byte buffer holding its head and one slice of
// field records (offsets into that buffer). Reset keeps both, so a message
// reused across requests parses and writes with no allocation once warm.
// Byte slices returned by accessors alias that buffer and stay valid until
// the next Reset or Read. Bodies are never buffered: CopyBody streams any
// length through the caller's buffer.
//
// # Standard library
//
// Used: bufio (ReadSlice, Peek and Discard give zero-copy line access to the
// connection's read buffer), io, errors and strconv (AppendInt, for writing
// numbers without allocating).
//
// Not used, and why:
//   - net/http's ReadRequest, ReadResponse, Server and Transport. They are
//     built around a net.Conn with a goroutine per connection and its own
//     pooling, and they normalise away what a proxy must forward exactly:
//     header names are canonicalised into a map, so field order, original
//     case and the interleaving of repeated fields are lost; Host is moved
//     out of the header into Request.Host; Transfer-Encoding is deleted from
//     the header, and on an HTTP/1.0 request it is silently ignored rather
//     than rejected; Content-Length is dropped when chunked is present
//     instead of the message being rejected; the chunked reader discards
//     chunk extensions without checking their syntax and moves trailers into
//     a map. Every message also allocates a Request, a Header map and strings.
//   - net/textproto's Reader. ReadLine elides a bare "\n" as if it were CRLF
//     and ReadMIMEHeader joins obs-fold continuation lines into one value;
//     both must be errors here. CanonicalMIMEHeaderKey is pointless when the
//     original case is kept.
//   - golang.org/x/net/http/httpguts (token and field-value validity) is only
//     vendored inside the standard library, not importable, and not a
//     dependency of this module; the few byte-class tables it would provide
//     are in chars.go, written from RFC 9110 section 5.6.2 and RFC 3986.
//   - strings.EqualFold folds Unicode (the Kelvin sign matches "k"); field
//     names are compared with an ASCII-only fold.
package http1
