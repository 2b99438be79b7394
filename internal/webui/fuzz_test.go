package webui

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzReadProviders reads fuzzed provider files as `cleanroom serve --oidc`
// does. ReadProviders never panics; the providers it returns are valid
// (every default filled in), and written back as a file they read the
// same.
func FuzzReadProviders(f *testing.F) {
	f.Add([]byte(`{"providers":[{"party":"bank","name":"Bank SSO","issuer":"https://idp.bank.example","client_id":"cleanroom","client_secret":"s3cret","user_claim":"email"}]}`))
	f.Add([]byte(`{"providers":[{"party":"bank","issuer":"http://127.0.0.1:9000/realms/x","client_id":"c"},{"party":"operator","issuer":"https://sso.op.example/","client_id":"c","user_claim":"sub"}]}`))
	f.Add([]byte(`{"providers":[{"party":"Bank","issuer":"ftp://x","client_id":""}]}`))
	f.Add([]byte(`{"providers":[],"extra":1}`))
	f.Add([]byte(`{"providers":null}`))
	path := filepath.Join(f.TempDir(), "oidc.json")
	f.Fuzz(func(t *testing.T, raw []byte) {
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		ps, err := ReadProviders(path)
		if err != nil {
			return
		}
		for i := range ps {
			p := ps[i]
			if err := p.validate(); err != nil || !reflect.DeepEqual(p, ps[i]) {
				t.Fatalf("provider %d as read, %+v, validates to %+v, %v", i, ps[i], p, err)
			}
		}
		again, err := json.Marshal(ProviderFile{Providers: ps})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, again, 0o600); err != nil {
			t.Fatal(err)
		}
		ps2, err := ReadProviders(path)
		if err != nil {
			t.Fatalf("providers written back (%s) do not read: %v", again, err)
		}
		if len(ps) == 0 && len(ps2) == 0 {
			return
		}
		if !reflect.DeepEqual(ps, ps2) {
			t.Fatalf("providers written back read as %+v, first %+v", ps2, ps)
		}
	})
}
