// Package upload is the format of a dataset version on its way from a
// party to the room: the payload a party prepares (blinded identifier
// tokens and attribute values, never a raw or hashed identifier), cut into
// chunks each sealed to the room server's HPKE key (RFC 9180).
//
// A payload is JSON lines: one header, then one line per row.
//
//	{"type":"cleanroom.payload.v1","room":"r","dataset":"d","version":1,"rows":2,
//	 "identifiers":[{"column":"phone","class":"phone"}],"attributes":[{"column":"tier","type":"string"}]}
//	{"t":["<base64 token>"],"a":["premium"]}
//	{"t":[""],"a":["basic"]}
//
// A token is the 32-byte ristretto255 encoding of the blinded identifier,
// standard base64; "" marks a missing or invalid identifier. Attribute
// values are strings exactly as validated on the party's side, "" for
// missing.
package upload

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/cleanroom-dev/cleanroom"
)

// PayloadType is the type string of a payload header.
const PayloadType = "cleanroom.payload.v1"

// MaxLine bounds one payload line.
const MaxLine = 4 << 20

// Header describes a payload.
type Header struct {
	Type        string            `json:"type"`
	Room        string            `json:"room"`
	Dataset     string            `json:"dataset"`
	Version     int               `json:"version"`
	Rows        int               `json:"rows"`
	Identifiers []IdentifierField `json:"identifiers"`
	Attributes  []AttributeField  `json:"attributes"`
}

// IdentifierField is one identifier column of the payload.
type IdentifierField struct {
	Column string                    `json:"column"`
	Class  cleanroom.IdentifierClass `json:"class"`
}

// AttributeField is one attribute column of the payload.
type AttributeField struct {
	Column string `json:"column"`
	Type   string `json:"type"`
}

// Token is a blinded identifier: a canonical ristretto255 encoding.
type Token [32]byte

// Row is one row of a payload: Tokens align with Header.Identifiers (nil
// for missing), Values with Header.Attributes.
type Row struct {
	Tokens []*Token
	Values []string
}

type rowJSON struct {
	T []string `json:"t"`
	A []string `json:"a"`
}

// Writer writes a payload.
type Writer struct {
	w      *bufio.Writer
	h      Header
	rows   int
	buf    []string
	closed bool
}

// NewWriter writes h and returns a writer for its rows.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Type = PayloadType
	bw := bufio.NewWriterSize(w, 1<<20)
	line, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("write payload header: %w", err)
	}
	bw.Write(line)
	bw.WriteByte('\n')
	return &Writer{w: bw, h: h}, nil
}

// Write appends a row.
func (w *Writer) Write(r Row) error {
	if len(r.Tokens) != len(w.h.Identifiers) || len(r.Values) != len(w.h.Attributes) {
		return fmt.Errorf("write payload row %d: %d tokens and %d values, want %d and %d",
			w.rows+1, len(r.Tokens), len(r.Values), len(w.h.Identifiers), len(w.h.Attributes))
	}
	w.buf = w.buf[:0]
	for _, t := range r.Tokens {
		if t == nil {
			w.buf = append(w.buf, "")
		} else {
			w.buf = append(w.buf, base64.StdEncoding.EncodeToString(t[:]))
		}
	}
	line, err := json.Marshal(rowJSON{T: w.buf, A: r.Values})
	if err != nil {
		return fmt.Errorf("write payload row %d: %w", w.rows+1, err)
	}
	w.w.Write(line)
	w.rows++
	return w.w.WriteByte('\n')
}

// Close flushes the payload and checks the row count against the header.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.rows != w.h.Rows {
		return fmt.Errorf("write payload: wrote %d rows, header says %d", w.rows, w.h.Rows)
	}
	return w.w.Flush()
}

// ErrPayload is wrapped by every error Reader returns for a malformed
// payload.
var ErrPayload = errors.New("malformed payload")

// Reader reads a payload strictly: every line must parse, every token must
// be 32 bytes of base64, every row must have the header's shape, and the
// row count must match.
type Reader struct {
	s      *bufio.Scanner
	Header Header
	row    int
}

// NewReader reads the header.
func NewReader(r io.Reader) (*Reader, error) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), MaxLine)
	if !s.Scan() {
		if err := s.Err(); err != nil {
			return nil, fmt.Errorf("%w: header: %v", ErrPayload, err)
		}
		return nil, fmt.Errorf("%w: empty", ErrPayload)
	}
	rd := &Reader{s: s}
	if err := strictJSON(s.Bytes(), &rd.Header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrPayload, err)
	}
	h := &rd.Header
	if h.Type != PayloadType {
		return nil, fmt.Errorf("%w: type %q, want %q", ErrPayload, h.Type, PayloadType)
	}
	if h.Rows < 0 || h.Version <= 0 {
		return nil, fmt.Errorf("%w: header has %d rows, version %d", ErrPayload, h.Rows, h.Version)
	}
	return rd, nil
}

// Next returns the next row, or io.EOF after the last one.
func (rd *Reader) Next() (Row, error) {
	if !rd.s.Scan() {
		if err := rd.s.Err(); err != nil {
			return Row{}, fmt.Errorf("%w: row %d: %v", ErrPayload, rd.row+1, err)
		}
		if rd.row != rd.Header.Rows {
			return Row{}, fmt.Errorf("%w: %d rows, header says %d", ErrPayload, rd.row, rd.Header.Rows)
		}
		return Row{}, io.EOF
	}
	rd.row++
	if rd.row > rd.Header.Rows {
		return Row{}, fmt.Errorf("%w: more rows than the header's %d", ErrPayload, rd.Header.Rows)
	}
	var rj rowJSON
	if err := strictJSON(rd.s.Bytes(), &rj); err != nil {
		return Row{}, fmt.Errorf("%w: row %d: %v", ErrPayload, rd.row, err)
	}
	if len(rj.T) != len(rd.Header.Identifiers) || len(rj.A) != len(rd.Header.Attributes) {
		return Row{}, fmt.Errorf("%w: row %d has %d tokens and %d values, want %d and %d", ErrPayload, rd.row,
			len(rj.T), len(rj.A), len(rd.Header.Identifiers), len(rd.Header.Attributes))
	}
	r := Row{Tokens: make([]*Token, len(rj.T)), Values: rj.A}
	for i, s := range rj.T {
		if s == "" {
			continue
		}
		var t Token
		// Decode into room for what the text may hold (44 characters
		// without padding decode to 33 bytes), then require exactly 32.
		var buf [33]byte
		n, err := 0, error(nil)
		if len(s) == base64.StdEncoding.EncodedLen(len(t)) {
			n, err = base64.StdEncoding.Decode(buf[:], []byte(s))
		}
		if err != nil || n != len(t) {
			return Row{}, fmt.Errorf("%w: row %d: token of column %q is not 32 bytes of base64", ErrPayload, rd.row, rd.Header.Identifiers[i].Column)
		}
		copy(t[:], buf[:n])
		r.Tokens[i] = &t
	}
	return r, nil
}

// Skip passes over the next row without decoding it, for a reader that
// takes only some of the rows; it returns io.EOF after the last one. The
// rows skipped are checked only for their count.
func (rd *Reader) Skip() error {
	if !rd.s.Scan() {
		if err := rd.s.Err(); err != nil {
			return fmt.Errorf("%w: row %d: %v", ErrPayload, rd.row+1, err)
		}
		if rd.row != rd.Header.Rows {
			return fmt.Errorf("%w: %d rows, header says %d", ErrPayload, rd.row, rd.Header.Rows)
		}
		return io.EOF
	}
	rd.row++
	if rd.row > rd.Header.Rows {
		return fmt.Errorf("%w: more rows than the header's %d", ErrPayload, rd.Header.Rows)
	}
	return nil
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// ChunkSize is the plaintext size of a sealed chunk (the last may be
// shorter).
const ChunkSize = 4 << 20

// SealInfo is the HPKE info of chunk index of an upload: it binds the chunk
// to its upload session, its position and whether it is the last, so
// chunks cannot be moved between uploads, reordered or dropped from the end.
func SealInfo(room, dataset, uploadID string, index int, final bool) []byte {
	f := "0"
	if final {
		f = "1"
	}
	return []byte("cleanroom upload v1|" + room + "|" + dataset + "|" + uploadID + "|" + strconv.Itoa(index) + "|" + f)
}
