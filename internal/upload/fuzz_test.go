package upload

import (
	"bytes"
	"io"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

// FuzzReader reads arbitrary payloads, seeded with a valid one: the
// reader returns rows or an error, and never panics or reads more rows
// than the header declares.
func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Room: "r1", Dataset: "d", Version: 1, Rows: 2,
		Identifiers: []IdentifierField{{Column: "phone", Class: cleanroom.ClassPhone}},
		Attributes:  []AttributeField{{Column: "tier", Type: "string"}}})
	if err != nil {
		f.Fatal(err)
	}
	var tok Token
	tok[0] = 1
	w.Write(Row{Tokens: []*Token{&tok}, Values: []string{"basic"}})
	w.Write(Row{Tokens: []*Token{nil}, Values: []string{""}})
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for n := 0; ; n++ {
			_, err := rd.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				return
			}
			if n >= rd.Header.Rows {
				t.Fatalf("read row %d of a payload declaring %d", n+1, rd.Header.Rows)
			}
		}
	})
}
