package blind

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// fuzzJob is a re-blinding job as the room hands it to a party's agent
// (httpapi.JobBody): a peer's signed manifest and the tokens, standard
// base64.
type fuzzJob struct {
	Manifest statement.Envelope `json:"manifest"`
	Tokens   []string           `json:"tokens"`
}

// FuzzGuard plays the room sending the bank's agent re-blinding jobs: the
// job as it arrives is decoded the way the agent decodes it and given to
// the agent's Guard. Whatever the room sends, the Guard does not panic,
// and it re-blinds a set only if the set is exactly the one a manifest
// describes that a peer (not the bank) signed with its registered key,
// for this room, this server and a dataset version, and only once: a
// manifest used before is a replay. It then returns one canonical token
// per token sent.
func FuzzGuard(f *testing.F) {
	const self, room, server = "bank", "r1", "srv-1"
	keys := map[string]ed25519.PrivateKey{}
	peers := map[string]ed25519.PublicKey{}
	for i, p := range []string{"operator", "retailer", self} {
		keys[p] = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, ed25519.SeedSize))
		if p != self {
			peers[p] = keys[p].Public().(ed25519.PublicKey)
		}
	}
	digests := make([][32]byte, 6)
	for i := range digests {
		digests[i] = sha256.Sum256([]byte{byte(i)})
	}
	tokens, err := Blind(testKey(f, 7), room, cleanroom.ClassPhone, digests)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	job := func(signer, party, room, server string, version int, ts []Token) []byte {
		m, err := NewManifest(server, room, party, "subs", version, cleanroom.ClassPhone, ts, now)
		if err != nil {
			f.Fatal(err)
		}
		env, err := statement.Sign(keys[signer], m)
		if err != nil {
			f.Fatal(err)
		}
		j := fuzzJob{Manifest: env}
		for _, t := range ts {
			j.Tokens = append(j.Tokens, base64.StdEncoding.EncodeToString(t[:]))
		}
		raw, _ := json.Marshal(j)
		return raw
	}
	f.Add(job("operator", "operator", room, server, 1, tokens))
	f.Add(job("retailer", "retailer", room, server, 2, tokens[:3]))
	f.Add(job("operator", "operator", room, server, 3, tokens[:0]))
	f.Add(job("operator", "operator", "r2", server, 1, tokens))
	f.Add(job("operator", "operator", room, "srv-2", 1, tokens))
	f.Add(job(self, self, room, server, 1, tokens))
	f.Add(job("operator", "retailer", room, server, 1, tokens))
	f.Add(job("operator", "mallory", room, server, 1, tokens))
	f.Add([]byte(`{"manifest":{"statement":{"party":"operator"},"signature":""},"tokens":["AAAA"]}`))

	g, err := NewGuard(f.TempDir(), self, room, server, peers)
	if err != nil {
		f.Fatal(err)
	}
	key := testKey(f, 3)
	used := map[string]bool{}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var j fuzzJob
		if json.Unmarshal(raw, &j) != nil {
			return
		}
		// As the agent decodes a job's tokens.
		ts := make([]Token, len(j.Tokens))
		for i, s := range j.Tokens {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(b) != len(ts[i]) {
				return
			}
			copy(ts[i][:], b)
		}
		out, err := g.ReBlind(context.Background(), key, j.Manifest, ts)
		if err != nil {
			if out != nil {
				t.Fatalf("ReBlind refused (%v) but returned %d tokens", err, len(out))
			}
			return
		}
		var claim struct {
			Party string `json:"party"`
		}
		json.Unmarshal(j.Manifest.Statement, &claim)
		pub, ok := peers[claim.Party]
		if !ok {
			t.Fatalf("re-blinded a set whose manifest names party %q, no peer", claim.Party)
		}
		m, err := VerifyManifest(pub, j.Manifest)
		if err != nil {
			t.Fatalf("re-blinded a set whose manifest does not verify with %s's key: %v", claim.Party, err)
		}
		if m.Party != claim.Party || m.Party == self || m.Room != room || m.Server != server || m.Request != "" || m.Version < 1 {
			t.Fatalf("re-blinded a set under manifest %+v", m)
		}
		if err := CheckSet(m, ts); err != nil {
			t.Fatalf("re-blinded a set its manifest does not describe: %v", err)
		}
		canon, _ := jcs.Transform(j.Manifest.Statement)
		sum := sha256.Sum256(canon)
		id := hex.EncodeToString(sum[:])
		if used[id] {
			t.Fatalf("re-blinded the set of manifest %s twice", id)
		}
		used[id] = true
		if len(out) != len(ts) {
			t.Fatalf("re-blinded %d tokens into %d", len(ts), len(out))
		}
		if _, err := ReBlind(key, out); err != nil {
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatal(err)
			}
			t.Fatalf("a re-blinded token is not canonical: %v", err)
		}
	})
}
