package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
)

// TestAttackHostPlantHMACSecret plays a host that replaces, in its own
// database, the secret sealed to one party's agent with a secret of its
// choosing, sealed to that agent's published key. The agent refuses it:
// it does not open to the commitment the creator signed.
func TestAttackHostPlantHMACSecret(t *testing.T) {
	ctx := context.Background()
	m, res := startServer(t)
	tc, err := tlscert.ClientConfig(res.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	admin := client.New(m.URL(), res.AdminToken, tc)
	info, _ := admin.ServerInfo(ctx)
	if _, err := admin.CreateRoom(ctx, httpapi.CreateRoomRequest{Name: "fast", Host: "neutral", Matching: cleanroom.MatchingHMAC}); err != nil {
		t.Fatal(err)
	}
	keys := map[string]*keyfile.PartyKeys{}
	agents := map[string]*agent.Agent{}
	states := map[string]string{}
	signers := map[string]signer{}
	for _, party := range []string{"bank", "operator"} {
		k, _ := keyfile.CreateParty(filepath.Join(t.TempDir(), party))
		keys[party] = k
		if _, err := admin.CreateParty(ctx, httpapi.CreatePartyRequest{Name: party, SigningKey: cleanroom.EncodeKey(k.Public())}); err != nil {
			t.Fatal(err)
		}
		admin.Invite(ctx, "fast", party)
		now := time.Now().UTC()
		env, _ := statement.Sign(k.Signing, cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: info.ServerID, Party: party,
			User: "u", Room: "fast", Roles: []cleanroom.Role{cleanroom.RoleProvider}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		if _, err := admin.SubmitGrant(ctx, party, env); err != nil {
			t.Fatal(err)
		}
		tok, _ := admin.CreatePartyToken(ctx, httpapi.CreateTokenRequest{Party: party, User: "u"}, k.Signing)
		signers[party] = signer{admin.WithToken(tok.Secret), k}
		states[party] = filepath.Join(t.TempDir(), party+"-agent")
		a, err := agent.New(ctx, admin.WithToken(tok.Secret), "fast", k, states[party], nil)
		if err != nil {
			t.Fatal(err)
		}
		agents[party] = a
	}
	// The parties agree on the room: an agent seals the secret only to
	// parties its own party agreed with.
	agree(t, ctx, info.ServerID, "fast", "neutral", signers)
	// Both agents have published their keys; the bank's creates the
	// secret and seals it to both.
	if _, err := agents["bank"].RunOnce(ctx); err != nil {
		t.Fatal(err)
	}

	// The host replaces the operator's sealed copy.
	db, err := sql.Open("sqlite", filepath.Join(m.Config.DataDir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var envRaw []byte
	if err := db.QueryRow(`SELECT envelope FROM agent_keys WHERE room = 'fast' AND party = 'operator'`).Scan(&envRaw); err != nil {
		t.Fatal(err)
	}
	var env statement.Envelope
	json.Unmarshal(envRaw, &env)
	var ak cleanroom.AgentKey
	json.Unmarshal(env.Statement, &ak)
	planted := make([]byte, 32)
	rand.Read(planted)
	forged, err := keyfile.SealTo(ak.HPKEKey, []byte("cleanroom hmac secret v1|"+info.ServerID+"|fast|operator"), planted)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE hmac_sealed SET sealed = ? WHERE room = 'fast' AND party = 'operator'`, forged); err != nil {
		t.Fatal(err)
	}

	if _, err := agents["operator"].RunOnce(ctx); !errors.Is(err, agent.ErrBadSecret) {
		t.Fatalf("operator's agent with a planted secret: %v, want ErrBadSecret", err)
	}
	if _, err := os.Stat(filepath.Join(states["operator"], "hmac-fast.key")); !os.IsNotExist(err) {
		t.Fatalf("the operator's agent stored a planted secret: %v", err)
	}
	if _, err := agent.LoadSecret(states["operator"], "fast"); !errors.Is(err, agent.ErrNoSecret) {
		t.Fatalf("LoadSecret after a refused secret: %v", err)
	}
}
