package http1

// span is a byte range of a message's buffer.
type span struct{ off, n int32 }

func (s span) of(b []byte) []byte { return b[s.off : s.off+s.n : s.off+s.n] }

// field is one field line. All spans point into Header.buf.
type field struct {
	line  span // the whole line without CRLF, written back verbatim
	name  span
	value span // without leading and trailing OWS
	dead  bool // marked for removal by StripHopByHop
}

// Header is an ordered list of field lines backed by one reusable buffer.
// Field names keep their original case; lookups fold ASCII case. Bytes are
// only ever appended to the buffer, so a slice returned by an accessor stays
// valid and unchanged until Reset.
type Header struct {
	buf    []byte
	fields []field
	out    []byte // scratch for WriteHead
}

// Reset empties the header, keeping its memory for reuse.
func (h *Header) Reset() {
	h.buf = h.buf[:0]
	h.fields = h.fields[:0]
}

// Len returns the number of field lines.
func (h *Header) Len() int { return len(h.fields) }

// Name returns the name of field i as received or added.
func (h *Header) Name(i int) []byte { return h.fields[i].name.of(h.buf) }

// Value returns the value of field i without surrounding whitespace.
func (h *Header) Value(i int) []byte { return h.fields[i].value.of(h.buf) }

// Line returns field line i exactly as it will be written, without CRLF.
func (h *Header) Line(i int) []byte { return h.fields[i].line.of(h.buf) }

// Index returns the index of the first field named name at or after from,
// or -1.
func (h *Header) Index(name string, from int) int { return indexOf(h, name, from) }

func indexOf[T string | []byte](h *Header, name T, from int) int {
	for i := from; i < len(h.fields); i++ {
		if equalFold(h.fields[i].name.of(h.buf), name) {
			return i
		}
	}
	return -1
}

// Get returns the value of the first field named name, or nil.
func (h *Header) Get(name string) []byte {
	if i := h.Index(name, 0); i >= 0 {
		return h.Value(i)
	}
	return nil
}

// Has reports whether a field named name is present.
func (h *Header) Has(name string) bool { return h.Index(name, 0) >= 0 }

// Count returns the number of fields named name.
func (h *Header) Count(name string) int {
	n := 0
	for i := h.Index(name, 0); i >= 0; i = h.Index(name, i+1) {
		n++
	}
	return n
}

// HasToken reports whether any field named name holds token as an element of
// its comma-separated list, case-insensitively (for Connection, Upgrade).
func (h *Header) HasToken(name, token string) bool {
	for i := h.Index(name, 0); i >= 0; i = h.Index(name, i+1) {
		it := listIter{h.Value(i)}
		for e, ok := it.next(); ok; e, ok = it.next() {
			if equalFold(e, token) {
				return true
			}
		}
	}
	return false
}

// validEdit checks a name and value given to Add or Set: the name must be a
// token and the value may hold no CTL other than HTAB, so no edit can inject
// a line break into the head (response splitting, RFC 9112 section 11.1).
func validEdit(name, value string) error {
	if name == "" || !allClassString(name, cToken) {
		return newError(KindBadHeaderEdit, []byte(name))
	}
	if !allClassString(value, cValue) {
		return newError(KindBadHeaderEdit, []byte(value))
	}
	return nil
}

// appendField writes "name: value" to the buffer and returns its record.
func appendField[T string | []byte](h *Header, name, value T) field {
	off := int32(len(h.buf))
	h.buf = append(h.buf, name...)
	h.buf = append(h.buf, ':', ' ')
	h.buf = append(h.buf, value...)
	n := int32(len(name))
	return field{
		line:  span{off, int32(len(h.buf)) - off},
		name:  span{off, n},
		value: span{off + n + 2, int32(len(value))},
	}
}

// Add appends a field line "name: value" after the existing ones.
func (h *Header) Add(name, value string) error {
	if err := validEdit(name, value); err != nil {
		return err
	}
	addField(h, name, value)
	return nil
}

func addField[T string | []byte](h *Header, name, value T) {
	h.fields = append(h.fields, appendField(h, name, value))
}

// Set replaces the first field named name with "name: value" in place and
// removes any others; if there is none it appends one.
func (h *Header) Set(name, value string) error {
	if err := validEdit(name, value); err != nil {
		return err
	}
	setField(h, name, value)
	return nil
}

func setField[T string | []byte](h *Header, name, value T) {
	i := indexOf(h, name, 0)
	if i < 0 {
		addField(h, name, value)
		return
	}
	h.fields[i] = appendField(h, name, value)
	for j := indexOf(h, name, i+1); j >= 0; j = indexOf(h, name, j) {
		h.DelAt(j)
	}
}

// Del removes every field named name and returns how many it removed.
func (h *Header) Del(name string) int {
	n := 0
	for i := h.Index(name, 0); i >= 0; i = h.Index(name, i) {
		h.DelAt(i)
		n++
	}
	return n
}

// DelAt removes field i, keeping the order of the others.
func (h *Header) DelAt(i int) {
	copy(h.fields[i:], h.fields[i+1:])
	h.fields = h.fields[:len(h.fields)-1]
}

// hopByHop are the fields RFC 9110 section 7.6.1 says a proxy removes or
// replaces: Connection and the fields it names, plus Proxy-Connection,
// Keep-Alive, TE, Transfer-Encoding and Upgrade. Transfer-Encoding comes
// back through AddFraming, Upgrade through StripHopByHop's keepUpgrade.
var hopByHop = [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Transfer-Encoding", "Upgrade"}

// protected are fields a Connection option may not remove: the framing and
// routing of the message must not depend on a hop-by-hop claim from the
// sender ("Connection: Content-Length" or "Connection: Host" would otherwise
// strip them after they were used to frame or route the message).
var protected = [...]string{"Host", "Content-Length"}

// StripHopByHop removes the hop-by-hop fields of RFC 9110 section 7.6.1: the
// fields named by Connection options (except Host and Content-Length), then
// Connection, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding and
// Upgrade. With keepUpgrade, Upgrade stays when Connection lists "upgrade",
// for a protocol switch or tunnel; upgrade then reports that it stayed and
// the caller re-adds "Connection: upgrade". Framing is re-added with
// AddFraming.
func (h *Header) StripHopByHop(keepUpgrade bool) (upgrade bool) {
	upgrade = keepUpgrade && h.HasToken("Connection", "upgrade") && h.Has("Upgrade")
	for i := h.Index("Connection", 0); i >= 0; i = h.Index("Connection", i+1) {
		it := listIter{h.Value(i)}
	tokens:
		for tok, ok := it.next(); ok; tok, ok = it.next() {
			for _, p := range protected {
				if equalFold(tok, p) {
					continue tokens
				}
			}
			if upgrade && equalFold(tok, "upgrade") {
				continue
			}
			for j := indexOf(h, tok, 0); j >= 0; j = indexOf(h, tok, j+1) {
				h.fields[j].dead = true
			}
		}
	}
	for _, name := range hopByHop {
		if upgrade && name == "Upgrade" {
			continue
		}
		for j := h.Index(name, 0); j >= 0; j = h.Index(name, j+1) {
			h.fields[j].dead = true
		}
	}
	k := 0
	for _, f := range h.fields {
		if !f.dead {
			h.fields[k] = f
			k++
		}
	}
	h.fields = h.fields[:k]
	return upgrade
}

// AddFraming adds the Transfer-Encoding field the framing needs on the next
// hop after StripHopByHop removed the received one: "chunked" for chunked
// bodies. Content-Length is end-to-end and was kept.
func (h *Header) AddFraming(f Framing) {
	if f.Kind == FrameChunked {
		addField(h, "Transfer-Encoding", "chunked")
	}
}

// appendFields appends every field line with CRLF and the final CRLF.
func (h *Header) appendFields(dst []byte) []byte {
	for _, f := range h.fields {
		dst = append(dst, f.line.of(h.buf)...)
		dst = append(dst, '\r', '\n')
	}
	return append(dst, '\r', '\n')
}
