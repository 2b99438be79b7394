package upload

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

func header(rows int) Header {
	return Header{Room: "r", Dataset: "d", Version: 1, Rows: rows,
		Identifiers: []IdentifierField{{Column: "phone", Class: cleanroom.ClassPhone}},
		Attributes:  []AttributeField{{Column: "tier", Type: "string"}}}
}

func TestPayloadRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, header(2))
	if err != nil {
		t.Fatal(err)
	}
	tok := Token{1, 2, 3}
	if err := w.Write(Row{Tokens: []*Token{&tok}, Values: []string{"premium"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Row{Tokens: []*Token{nil}, Values: []string{""}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := rd.Next()
	if err != nil || *r1.Tokens[0] != tok || r1.Values[0] != "premium" {
		t.Fatalf("row 1 = %+v, %v", r1, err)
	}
	r2, err := rd.Next()
	if err != nil || r2.Tokens[0] != nil || r2.Values[0] != "" {
		t.Fatalf("row 2 = %+v, %v", r2, err)
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("after the last row: %v, want io.EOF", err)
	}
}

func TestPayloadRejects(t *testing.T) {
	h := `{"type":"cleanroom.payload.v1","room":"r","dataset":"d","version":1,"rows":1,"identifiers":[{"column":"phone","class":"phone"}],"attributes":[{"column":"tier","type":"string"}]}`
	good := `{"t":["` + strings.Repeat("A", 43) + `="],"a":["x"]}`
	for _, tc := range []struct{ name, in, want string }{
		{"empty", ``, "empty"},
		{"wrong type", strings.Replace(h, "payload.v1", "payload.v0", 1) + "\n" + good, "type"},
		{"unknown header field", strings.Replace(h, `"rows":1`, `"rows":1,"x":1`, 1) + "\n" + good, "unknown field"},
		{"missing row", h + "\n", "0 rows, header says 1"},
		{"extra row", h + "\n" + good + "\n" + good, "more rows"},
		{"short token", h + "\n" + `{"t":["AAAA"],"a":["x"]}`, "not 32 bytes"},
		{"shape", h + "\n" + `{"t":[],"a":["x"]}`, "0 tokens"},
		{"unknown row field", h + "\n" + `{"t":[""],"a":["x"],"z":1}`, "unknown field"},
	} {
		err := readAll(tc.in)
		if !errors.Is(err, ErrPayload) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: read = %v, want ErrPayload containing %q", tc.name, err, tc.want)
		}
	}
	if err := readAll(h + "\n" + good + "\n"); err != nil {
		t.Errorf("good payload: %v", err)
	}
}

func readAll(s string) error {
	rd, err := NewReader(strings.NewReader(s))
	if err != nil {
		return err
	}
	for {
		if _, err := rd.Next(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}
