package statement

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"
)

type stmt struct {
	Type  string   `json:"type"`
	Roles []string `json:"roles"`
}

func TestSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	env, err := Sign(priv, stmt{Type: "t", Roles: []string{"analyst"}})
	if err != nil {
		t.Fatal(err)
	}
	var got stmt
	if err := Verify(pub, env, &got); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Type != "t" || len(got.Roles) != 1 {
		t.Fatalf("Verify decoded %+v", got)
	}

	// Whitespace and key order do not matter: the signature covers the
	// canonical form.
	env2 := env
	env2.Statement = json.RawMessage(`{ "roles": ["analyst"],  "type": "t" }`)
	if err := Verify(pub, env2, &got); err != nil {
		t.Fatalf("Verify of reordered statement: %v", err)
	}

	// Any change to the content breaks it.
	env3 := env
	env3.Statement = json.RawMessage(`{"roles":["analyst","provider"],"type":"t"}`)
	if err := Verify(pub, env3, &got); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify of altered statement = %v, want ErrBadSignature", err)
	}

	// Another key does not verify it.
	other, _, _ := ed25519.GenerateKey(nil)
	if err := Verify(other, env, &got); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify with another key = %v, want ErrBadSignature", err)
	}

	// Unknown fields are rejected even when signed.
	env4, _ := Sign(priv, map[string]any{"type": "t", "roles": []string{}, "extra": 1})
	if err := Verify(pub, env4, &got); err == nil {
		t.Fatal("Verify accepted a statement with an unknown field")
	}
}
