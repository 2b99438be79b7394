package prepare

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/normalize"
	"github.com/cleanroom-dev/cleanroom/internal/tabular"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

const schemaJSON = `{"identifiers":[
	{"column":"phone","class":"phone","priority":1},
	{"column":"email","class":"email","priority":2}],
 "attributes":[
	{"column":"tier","type":"string","policy":"dimension","categories":["basic","premium"]},
	{"column":"arpu","type":"decimal","policy":"metric","clamp":[0,5000],"scale":2}]}`

func setup(t *testing.T, schema, csv string) (Config, string) {
	t.Helper()
	s, err := cleanroom.ParseSchema([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyfile.CreateParty(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "data.csv")
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	return Config{Server: "srv", Room: "r1", Party: "bank", Dataset: "customers", Version: 1, Schema: s, Keys: keys,
		Region: "RU", Now: func() time.Time { return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) }}, path
}

func rows(t *testing.T, payload []byte) (upload.Header, []upload.Row) {
	t.Helper()
	rd, err := upload.NewReader(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	var out []upload.Row
	for {
		r, err := rd.Next()
		if err == io.EOF {
			return rd.Header, out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

func TestPrepare(t *testing.T) {
	csv := "phone,email,tier,arpu\n" +
		"8 (912) 345-67-89, Anna.K@Example.com ,premium,12.5\n" +
		"+7 912 345 6789,anna.k@example.com,basic,7\n" + // the same person, written otherwise
		"n/a,,basic,\n" + // an invalid phone, a missing email
		"9161234567,b@example.org,premium,0.01\n"
	cfg, path := setup(t, schemaJSON, csv)
	p, err := Prepare(context.Background(), path, "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, rs := rows(t, p.Payload)
	if h.Rows != 4 || len(rs) != 4 {
		t.Fatalf("payload has %d rows (header %d), want 4", len(rs), h.Rows)
	}
	if *rs[0].Tokens[0] != *rs[1].Tokens[0] || *rs[0].Tokens[1] != *rs[1].Tokens[1] {
		t.Error("two writings of one phone and email gave different tokens")
	}
	if rs[2].Tokens[0] != nil || rs[2].Tokens[1] != nil {
		t.Error("an invalid and a missing identifier got tokens")
	}
	if got := rs[0].Values; got[0] != "premium" || got[1] != "12.50" {
		t.Errorf("row 1 values = %q, want [premium 12.50]", got)
	}
	if got := rs[2].Values[1]; got != "" {
		t.Errorf("missing arpu written as %q", got)
	}
	ph := p.Report.Identifiers[0]
	if ph.Valid != 3 || ph.Invalid != 1 || ph.Distinct != 2 || ph.Missing != 0 {
		t.Errorf("phone report = %+v, want 3 valid, 1 invalid, 2 distinct", ph)
	}
	if em := p.Report.Identifiers[1]; em.Valid != 3 || em.Missing != 1 || em.Distinct != 2 {
		t.Errorf("email report = %+v, want 3 valid, 1 missing, 2 distinct", em)
	}
	// One manifest per class, each verifying and matching its set.
	if len(p.Manifests) != 2 {
		t.Fatalf("%d manifests, want 2", len(p.Manifests))
	}
	for i, env := range p.Manifests {
		m, err := blind.VerifyManifest(cfg.Keys.Public(), env)
		if err != nil {
			t.Fatal(err)
		}
		set := map[blind.Token]bool{}
		for _, r := range rs {
			if tok := r.Tokens[i]; tok != nil {
				set[blind.Token(*tok)] = true
			}
		}
		var ts []blind.Token
		for tok := range set {
			ts = append(ts, tok)
		}
		if err := blind.CheckSet(m, ts); err != nil || m.Version != 1 || m.Room != "r1" {
			t.Errorf("manifest %d: %v (%+v)", i, err, m)
		}
	}
}

// TestNothingIdentifyingLeaves checks that no identifier — raw, normalised,
// or a plain SHA-256 of the normalised value in any encoding — is in what
// the party sends.
func TestNothingIdentifyingLeaves(t *testing.T) {
	csv := "phone,email,tier,arpu\n8 (912) 345-67-89,anna.k@example.com,premium,1\n+7 916 123 4567,b@example.org,basic,2\n"
	cfg, path := setup(t, schemaJSON, csv)
	p, err := Prepare(context.Background(), path, "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var sent bytes.Buffer
	sent.Write(p.Payload)
	for _, env := range p.Manifests {
		sent.Write(env.Statement)
		sent.Write(env.Signature)
	}
	for _, id := range []string{"+79123456789", "79123456789", "9123456789", "anna.k@example.com", "anna.k", "+79161234567", "b@example.org"} {
		d := normalize.Digest(id)
		for _, form := range [][]byte{[]byte(id), d[:], []byte(hex.EncodeToString(d[:])), []byte(strings.ToUpper(hex.EncodeToString(d[:]))),
			[]byte(base64.StdEncoding.EncodeToString(d[:])), []byte(base64.RawURLEncoding.EncodeToString(d[:]))} {
			if bytes.Contains(sent.Bytes(), form) {
				t.Errorf("what the party sends contains %q in some form (%q)", id, form)
			}
		}
	}
}

// TestPreHashedMatchesRaw: a party that can only supply SHA-256 of the
// normalised value gets the same tokens as one that supplies raw values.
func TestPreHashedMatchesRaw(t *testing.T) {
	raw := "phone,email,tier,arpu\n8 (912) 345-67-89,Anna.K@Example.com,premium,1\n"
	cfg, path := setup(t, schemaJSON, raw)
	a, err := Prepare(context.Background(), path, "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	dp, de := normalize.Digest("+79123456789"), normalize.Digest("anna.k@example.com")
	hashed := "phone_sha256,email_sha256,tier,arpu\n" + hex.EncodeToString(dp[:]) + "," + strings.ToUpper(hex.EncodeToString(de[:])) + ",premium,1\n"
	schema := `{"identifiers":[
		{"column":"phone_sha256","class":"phone","priority":1,"form":"sha256","normalization":"e164"},
		{"column":"email_sha256","class":"email","priority":2,"form":"sha256","normalization":"email-lower"}],
	 "attributes":[
		{"column":"tier","type":"string","policy":"dimension","categories":["basic","premium"]},
		{"column":"arpu","type":"decimal","policy":"metric","clamp":[0,5000],"scale":2}]}`
	cfg2, path2 := setup(t, schema, hashed)
	cfg2.Keys = cfg.Keys // the same party's key, so the tokens are comparable
	b, err := Prepare(context.Background(), path2, "", cfg2)
	if err != nil {
		t.Fatal(err)
	}
	_, ra := rows(t, a.Payload)
	_, rb := rows(t, b.Payload)
	for i := range 2 {
		if *ra[0].Tokens[i] != *rb[0].Tokens[i] {
			t.Errorf("identifier %d: raw and pre-hashed forms give different tokens", i)
		}
	}
}

func TestPrepareRefusesBadFile(t *testing.T) {
	cfg, path := setup(t, schemaJSON, "phone,email,tier,arpu\n9123456789,a@b.ru,gold,1\n")
	_, err := Prepare(context.Background(), path, "", cfg)
	var fe *tabular.FileError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "row 1") || !strings.Contains(err.Error(), "tier") {
		t.Fatalf("Prepare of a bad file = %v, want a FileError naming row 1 and column tier", err)
	}
}

func TestTokensDifferAcrossRooms(t *testing.T) {
	csv := "phone,email,tier,arpu\n9123456789,a@b.ru,basic,1\n"
	cfg, path := setup(t, schemaJSON, csv)
	a, err := Prepare(context.Background(), path, "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Room = "r2"
	b, err := Prepare(context.Background(), path, "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, ra := rows(t, a.Payload)
	_, rb := rows(t, b.Payload)
	if *ra[0].Tokens[0] == *rb[0].Tokens[0] {
		t.Error("the same phone has the same token in two rooms")
	}
}
