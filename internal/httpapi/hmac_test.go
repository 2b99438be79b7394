package httpapi

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// hmacRoom switches the fixture's room r1 to hmac matching, as if it had
// been created so.
func (f *fixture) hmacRoom() {
	f.t.Helper()
	raw, err := sql.Open("sqlite", f.dbPath)
	if err != nil {
		f.t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE rooms SET matching = 'hmac' WHERE name = 'r1'`); err != nil {
		f.t.Fatal(err)
	}
}

// agentKey makes a party's agent key for r1 (kept in f.agentPrivs) and
// its signed statement.
func (f *fixture) agentKey(party string) statement.Envelope {
	f.t.Helper()
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	if f.agentPrivs == nil {
		f.agentPrivs = map[string]*ecdh.PrivateKey{}
	}
	f.agentPrivs[party] = priv
	env, err := statement.Sign(f.keys[party], cleanroom.AgentKey{Type: cleanroom.AgentKeyType, Server: f.srv.ServerID(),
		Room: "r1", Party: party, HPKEKey: priv.PublicKey().Bytes(), IssuedAt: f.now})
	if err != nil {
		f.t.Fatal(err)
	}
	return env
}

func (f *fixture) hmacCreate(party string) HMACRequest {
	f.t.Helper()
	sum := sha256.Sum256([]byte("secret"))
	env, err := statement.Sign(f.keys[party], cleanroom.SecretCommitment{Type: cleanroom.SecretCommitmentType, Server: f.srv.ServerID(),
		Room: "r1", Creator: party, Commitment: hex.EncodeToString(sum[:]), IssuedAt: f.now})
	if err != nil {
		f.t.Fatal(err)
	}
	return HMACRequest{Commitment: &env, Sealed: map[string][]byte{party: []byte("sealed to the party's agent")}}
}

func TestHMACRefusals(t *testing.T) {
	f := newFixture(t)
	// An ecdh room has no secret.
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/hmac", f.hmacCreate("bank")); status != 400 || !strings.Contains(string(resp), "matches with ecdh") {
		t.Fatalf("hmac in an ecdh room = %d %s", status, resp)
	}
	f.hmacRoom()
	// A commitment or an agent key signed by another party is refused.
	forged := f.hmacCreate("operator")
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/hmac", forged); status != 400 || !strings.Contains(string(resp), "does not verify") {
		t.Fatalf("commitment signed by another party = %d %s", status, resp)
	}
	if status, resp := f.do("provider", "PUT", "/api/v1/rooms/r1/agent/key", f.agentKey("operator")); status != 400 || !strings.Contains(string(resp), "does not verify") {
		t.Fatalf("agent key signed by another party = %d %s", status, resp)
	}
	// Sealing without a commitment first is refused; then the secret is
	// created once, and a second commitment is a conflict.
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/hmac", HMACRequest{Sealed: map[string][]byte{"bank": []byte("x")}}); status != 400 {
		t.Fatalf("sealed secret without commitment = %d %s", status, resp)
	}
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/hmac", f.hmacCreate("bank")); status != 200 {
		t.Fatalf("create = %d %s", status, resp)
	}
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/hmac", f.hmacCreate("bank")); status != 409 {
		t.Fatalf("second commitment = %d %s", status, resp)
	}
	// A party's sealed secret is not replaced; a party outside the room
	// gets none.
	status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/hmac", HMACRequest{Sealed: map[string][]byte{"bank": []byte("other")}})
	if status != 200 || strings.Contains(string(resp), `"bank"`) {
		t.Fatalf("resealing to bank = %d %s, want nothing added", status, resp)
	}
	if status, _ := f.do("provider", "POST", "/api/v1/rooms/r1/hmac", HMACRequest{Sealed: map[string][]byte{"other": []byte("x")}}); status != 400 {
		t.Fatalf("sealing to a party outside the room = %d", status)
	}
}
