package http1

import (
	"errors"
	"strconv"
)

// Kind classifies a protocol error so that callers and tests can branch on
// it without matching message text.
type Kind uint8

// Error kinds. The status each maps to for a request is in kindStatus; every
// kind found while reading a response maps to 502.
const (
	KindNone                Kind = iota
	KindTruncated                // connection closed inside a head
	KindHeadTooLarge             // head over Limits.MaxHeadBytes (431)
	KindTooManyFields            // over Limits.MaxFields field lines (431)
	KindBareLF                   // a line ended in LF without CR
	KindBadChar                  // CTL, NUL, bare CR or DEL in the head
	KindObsFold                  // a field line starting with SP or HTAB
	KindBadFieldName             // empty or non-token field name, or no colon
	KindSpaceBeforeColon         // whitespace between field name and colon
	KindBadRequestLine           // request line not "method SP target SP version"
	KindBadTarget                // request-target not valid for its form
	KindBadVersion               // not "HTTP/" DIGIT "." DIGIT
	KindUnsupportedVersion       // well-formed but not 1.0 or 1.1 (505)
	KindMissingHost              // HTTP/1.1 request without Host
	KindDuplicateHost            // more than one Host field
	KindBadHost                  // Host value not uri-host [":" port]
	KindBadContentLength         // Content-Length not 1*DIGIT or overflowing
	KindConflictingLength        // Content-Length values that differ
	KindLengthAndChunked         // Content-Length with Transfer-Encoding
	KindBadTransferEncoding      // final coding not chunked, chunked twice, or in HTTP/1.0
	KindUnsupportedCoding        // a transfer coding other than chunked (501)
	KindBadStatusLine            // response status line malformed
	KindBadChunk                 // chunk-size line or chunk data CRLF malformed
	KindChunkLineTooLong         // chunk-size or trailer line over the limit
	KindBadTrailer               // malformed trailer field line
	KindTrailerTooLarge          // trailer section over its limit
	KindBadHeaderEdit            // Set/Add given a non-token name or a value with CTLs
	numKinds
)

var kindText = [numKinds]string{
	KindNone:                "no error",
	KindTruncated:           "connection closed inside head",
	KindHeadTooLarge:        "head too large",
	KindTooManyFields:       "too many header fields",
	KindBareLF:              "line not terminated by crlf",
	KindBadChar:             "invalid character",
	KindObsFold:             "obsolete line folding",
	KindBadFieldName:        "invalid field name",
	KindSpaceBeforeColon:    "whitespace before colon",
	KindBadRequestLine:      "invalid request line",
	KindBadTarget:           "invalid request target",
	KindBadVersion:          "invalid http version",
	KindUnsupportedVersion:  "unsupported http version",
	KindMissingHost:         "missing host",
	KindDuplicateHost:       "duplicate host",
	KindBadHost:             "invalid host",
	KindBadContentLength:    "invalid content-length",
	KindConflictingLength:   "conflicting content-length",
	KindLengthAndChunked:    "content-length with transfer-encoding",
	KindBadTransferEncoding: "invalid transfer-encoding",
	KindUnsupportedCoding:   "unsupported transfer coding",
	KindBadStatusLine:       "invalid status line",
	KindBadChunk:            "invalid chunk",
	KindChunkLineTooLong:    "chunk line too long",
	KindBadTrailer:          "invalid trailer field",
	KindTrailerTooLarge:     "trailer section too large",
	KindBadHeaderEdit:       "invalid header edit",
}

// kindStatus is the status a server answers to a request failing with the
// kind. Zero means "close without answering".
var kindStatus = [numKinds]int{
	KindTruncated:          400,
	KindHeadTooLarge:       431,
	KindTooManyFields:      431,
	KindUnsupportedVersion: 505,
	KindUnsupportedCoding:  501,
	KindBadHeaderEdit:      500,
}

func (k Kind) String() string {
	if k < numKinds {
		return kindText[k]
	}
	return "kind " + strconv.Itoa(int(k))
}

// Error is a protocol violation found while reading or editing a message.
type Error struct {
	// Kind says what was wrong.
	Kind Kind
	// Status is the status to answer: the request status for Kind, or 502
	// when the message was a response from a backend.
	Status int
	// Value is the offending bytes, cut to maxErrValue.
	Value string
}

const maxErrValue = 48

func (e *Error) Error() string {
	s := "http1: " + e.Kind.String()
	if e.Value != "" {
		s += " " + strconv.Quote(e.Value)
	}
	return s
}

// newError builds an *Error for a request-side failure. It allocates, but
// only on the error path, once per rejected message.
func newError(k Kind, v []byte) *Error {
	if len(v) > maxErrValue {
		v = v[:maxErrValue]
	}
	st := kindStatus[k]
	if st == 0 {
		st = 400
	}
	return &Error{Kind: k, Status: st, Value: string(v)}
}

// asResponseError turns a parse error into one about a backend response: the
// status to give the client becomes 502 (RFC 9110 section 15.6.3).
func asResponseError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		e.Status = 502
	}
	return err
}

// KindOf returns the Kind of err, or KindNone if err is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindNone
}

// StatusOf returns the status code to answer for err, or 0 if err is not a
// protocol error (an I/O error or io.EOF: close without answering).
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}
