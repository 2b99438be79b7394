package statement

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
)

// fuzzStmt has the shapes the real statements have: strings, a list, a
// number, a time and a nested object.
type fuzzStmt struct {
	Type     string            `json:"type"`
	Party    string            `json:"party"`
	Roles    []string          `json:"roles"`
	Version  int               `json:"version"`
	IssuedAt time.Time         `json:"issued_at"`
	Budget   *fuzzBudget       `json:"budget,omitempty"`
	Detail   map[string]string `json:"detail,omitempty"`
}

type fuzzBudget struct {
	Rho     float64 `json:"rho"`
	Renewal string  `json:"renewal"`
}

// fuzzKey is the signer of FuzzVerify's seeds.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// FuzzVerify decodes an envelope as it arrives and verifies it. Whatever
// the input, Verify does not panic, and of an envelope that verifies:
//
//   - it verifies again after the envelope is re-encoded, to the same value;
//   - no object in it has two keys that name the same field (the decoder
//     matches names without regard to case: the signed text and the value
//     read from it would say different things);
//   - any change to the signature, and any change to the statement that
//     changes its canonical form, makes it fail;
//   - the decoded value, signed again, verifies to the same value.
func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range []fuzzStmt{
		{Type: "cleanroom.grant.v1", Party: "bank", Roles: []string{"analyst", "provider"}, Version: 1, IssuedAt: now},
		{Type: "t", Roles: []string{}, IssuedAt: now, Budget: &fuzzBudget{Rho: 0.25, Renewal: "never"}, Detail: map[string]string{"a": "é\u2028<>&"}},
	} {
		env, err := Sign(fuzzKey, v)
		if err != nil {
			f.Fatal(err)
		}
		raw, _ := json.Marshal(env)
		f.Add(raw, uint16(0))
		// The same statement, reformatted: still verifies.
		var loose bytes.Buffer
		json.Indent(&loose, env.Statement, "", "  ")
		env.Statement = loose.Bytes()
		raw, _ = json.Marshal(env)
		f.Add(raw, uint16(3))
	}
	// Signed, but with two keys for one field.
	for _, v := range []map[string]any{
		{"type": "t", "TYPE": "u", "roles": []string{}},
		{"type": "t", "budget": map[string]any{"rho": 1, "Rho": 2}},
	} {
		env, err := Sign(fuzzKey, v)
		if err != nil {
			f.Fatal(err)
		}
		raw, _ := json.Marshal(env)
		f.Add(raw, uint16(0))
	}
	f.Add([]byte(`{"statement":{"type":"t","TYPE":"u"},"signature":"AAAA"}`), uint16(1))
	f.Add([]byte(`{"statement":1e999,"signature":""}`), uint16(1))
	f.Add([]byte(`{"statement":"\ud800","signature":null}`), uint16(1))

	pub := fuzzKey.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, raw []byte, at uint16) {
		var env Envelope
		if json.Unmarshal(raw, &env) != nil {
			return
		}
		var got fuzzStmt
		if err := Verify(pub, env, &got); err != nil {
			return
		}
		canon, err := jcs.Transform(env.Statement)
		if err != nil {
			t.Fatalf("verified a statement that does not canonicalize: %v", err)
		}
		if k := foldedDuplicate(canon); k != "" {
			t.Fatalf("verified a statement with two keys for field %q: %s", k, canon)
		}

		again, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		var env2 Envelope
		var got2 fuzzStmt
		if err := json.Unmarshal(again, &env2); err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
		if err := Verify(pub, env2, &got2); err != nil {
			t.Fatalf("re-encoded envelope does not verify: %v", err)
		}
		if !reflect.DeepEqual(got, got2) {
			t.Fatalf("re-encoded envelope decodes to %+v, first %+v", got2, got)
		}

		bad := env
		bad.Signature = bytes.Clone(env.Signature)
		bad.Signature[int(at)%len(bad.Signature)] ^= 1 << (at % 8)
		if err := Verify(pub, bad, &got2); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Verify with a bit of the signature flipped = %v, want ErrBadSignature", err)
		}
		edited := bytes.Clone(env.Statement)
		edited[int(at)%len(edited)] ^= 1 << (at % 7)
		if c, err := jcs.Transform(edited); err == nil && !bytes.Equal(c, canon) {
			bad = Envelope{Statement: edited, Signature: env.Signature}
			if err := Verify(pub, bad, &got2); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify of edited statement %s = %v, want ErrBadSignature", edited, err)
			}
		}

		resigned, err := Sign(fuzzKey, got)
		if err != nil {
			t.Fatalf("Sign of a verified value: %v", err)
		}
		var got3 fuzzStmt
		if err := Verify(pub, resigned, &got3); err != nil {
			t.Fatalf("re-signed value does not verify: %v", err)
		}
		if !reflect.DeepEqual(got, got3) {
			t.Fatalf("re-signed value decodes to %+v, first %+v", got3, got)
		}
	})
}

// foldedDuplicate returns a key of an object in the JSON text that another
// key of the same object equals without regard to case, or "".
func foldedDuplicate(text []byte) string {
	var walk func(v any) string
	walk = func(v any) string {
		switch v := v.(type) {
		case map[string]any:
			seen := map[string]bool{}
			for k, e := range v {
				if seen[foldKey(k)] {
					return k
				}
				seen[foldKey(k)] = true
				if d := walk(e); d != "" {
					return d
				}
			}
		case []any:
			for _, e := range v {
				if d := walk(e); d != "" {
					return d
				}
			}
		}
		return ""
	}
	var v any
	if json.Unmarshal(text, &v) != nil {
		return ""
	}
	return walk(v)
}

func TestVerifyRefusesKeysInAnotherCase(t *testing.T) {
	pub := fuzzKey.Public().(ed25519.PublicKey)
	for _, tc := range []struct {
		statement string
		ok        bool
	}{
		{`{"type":"t","party":"bank"}`, true},
		{`{"type":"t","TYPE":"u"}`, false},
		{`{"type":"t","Type":"u"}`, false},
		{`{"budget":{"rho":1,"RHO":2}}`, false},
		{`{"detail":{"a":"x"},"roles":[{"k":1,"K":2}]}`, false},
		{"{\"detail\":{\"k\":\"x\",\"\u212a\":\"y\"}}", false}, // the Kelvin sign folds to k
		{`{"detail":{"a":"x","b":{"a":1}}}`, true},             // the same key in two objects
		{`[{"a":1},{"a":2,"A":3}]`, false},
	} {
		canon, err := jcs.Transform([]byte(tc.statement))
		if err != nil {
			t.Fatal(err)
		}
		env := Envelope{Statement: canon, Signature: ed25519.Sign(fuzzKey, append([]byte(context), canon...))}
		var v any
		err = Verify(pub, env, &v)
		if (err == nil) != tc.ok || errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify(%s) = %v, want ok %v", tc.statement, err, tc.ok)
		}
	}
}
