package httpapi

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// TestAttackAdminMintsUserToken: the platform admin mints a token for a
// user its party granted roles to, hoping to act as that user. A token the
// admin mints alone authenticates the user but carries none of the party's
// grants. A token carries them only when the party signed the request, and
// then its secret comes back sealed to the requester's key: the admin who
// relays the request never sees it, and cannot bend a request to another
// user, another server, a stale one or one signed with another key.
func TestAttackAdminMintsUserToken(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")

	status, resp := f.do("admin", "POST", "/api/v1/tokens", CreateTokenRequest{Party: "bank", User: "u-analyst"})
	var minted TokenCreated
	json.Unmarshal(resp, &minted)
	if status != 201 || !minted.AdminMinted || !cleanroom.LooksLikeToken(minted.Secret) {
		t.Fatalf("admin mints a token = %d %s", status, resp)
	}
	f.tokens["minted"] = minted.Secret
	if status, resp := f.do("minted", "GET", "/api/v1/whoami", nil); status != 200 || strings.Contains(string(resp), "r1") {
		t.Errorf("whoami with the admin's token = %d %s, want the user without rooms", status, resp)
	}
	for _, a := range []attempt{
		{"read the room", "GET", "/api/v1/rooms/r1", nil},
		{"list queries", "GET", "/api/v1/rooms/r1/queries", nil},
		{"run a template", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "tiers"}},
		{"read the audit log", "GET", "/api/v1/rooms/r1/audit", nil},
		{"mint a token for itself", "POST", "/api/v1/tokens", CreateTokenRequest{Party: "bank", User: "u-analyst"}},
	} {
		if status, resp := f.do("minted", a.method, a.path, a.body); status < 400 {
			t.Errorf("%s with the admin's token for u-analyst = %d %s", a.name, status, resp)
		}
	}

	request := func(signer, server, user string, at time.Time) (CreateTokenRequest, *ecdh.PrivateKey) {
		priv, _ := ecdh.X25519().GenerateKey(rand.Reader)
		env, err := statement.Sign(f.keys[signer], cleanroom.TokenRequest{Type: cleanroom.TokenRequestType, Server: server,
			Party: "bank", User: user, SealTo: priv.PublicKey().Bytes(), IssuedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		return CreateTokenRequest{Party: "bank", User: "u-analyst", Request: &env}, priv
	}
	for name, req := range map[string]CreateTokenRequest{
		"signed with another party's key": first(request("operator", f.srv.ServerID(), "u-analyst", f.now)),
		"for another user":                first(request("bank", f.srv.ServerID(), "u-reviewer", f.now)),
		"for another server":              first(request("bank", "another-server", "u-analyst", f.now)),
		"an hour old":                     first(request("bank", f.srv.ServerID(), "u-analyst", f.now.Add(-time.Hour))),
	} {
		if status, resp := f.do("admin", "POST", "/api/v1/tokens", req); status != 400 {
			t.Errorf("a request %s = %d %s, want 400", name, status, resp)
		}
	}

	// The party's own request, relayed by the admin: the admin's answer
	// holds the secret only sealed; the requester opens it and acts.
	req, priv := request("bank", f.srv.ServerID(), "u-analyst", f.now)
	status, resp = f.do("admin", "POST", "/api/v1/tokens", req)
	var made TokenCreated
	json.Unmarshal(resp, &made)
	if status != 201 || made.Secret != "" || made.AdminMinted || len(made.SealedSecret) == 0 || strings.Contains(string(resp), "crt_") {
		t.Fatalf("the party's request relayed by the admin = %d %s", status, resp)
	}
	secret, err := keyfile.OpenWith(priv, cleanroom.TokenSealInfo(f.srv.ServerID(), "bank", "u-analyst"), made.SealedSecret)
	if err != nil {
		t.Fatal(err)
	}
	f.tokens["requested"] = string(secret)
	if status, resp := f.do("requested", "GET", "/api/v1/rooms/r1/queries", nil); status != 200 {
		t.Errorf("the requested token = %d %s, want the analyst's access", status, resp)
	}
	minting := 0
	for _, e := range f.auditSince(0) {
		if e.Action == cleanroom.ActionTokenCreate && e.Outcome == cleanroom.OutcomeOK {
			minting++
			if e.Detail["party_request"] != map[bool]string{true: "false", false: "true"}[minting == 1] {
				t.Errorf("minting %d audited with detail %v", minting, e.Detail)
			}
		}
	}
	if minting != 2 {
		t.Errorf("%d mintings audited, want 2", minting)
	}
}

func first[A, B any](a A, _ B) A { return a }

// mintAtRequest makes a token named name for party's user at a request
// signed with the party's key in f.keys, as `cleanroom token create
// --keys` does, relayed by the admin.
func (f *fixture) mintAtRequest(name, party, user string) {
	f.t.Helper()
	priv, _ := ecdh.X25519().GenerateKey(rand.Reader)
	env, err := statement.Sign(f.keys[party], cleanroom.TokenRequest{Type: cleanroom.TokenRequestType, Server: f.srv.ServerID(),
		Party: party, User: user, SealTo: priv.PublicKey().Bytes(), IssuedAt: f.now})
	if err != nil {
		f.t.Fatal(err)
	}
	status, resp := f.do("admin", "POST", "/api/v1/tokens", CreateTokenRequest{Party: party, User: user, Request: &env})
	if status != 201 {
		f.t.Fatalf("mint a token for %s/%s at its party's request = %d %s", party, user, status, resp)
	}
	var tc TokenCreated
	json.Unmarshal(resp, &tc)
	secret, err := keyfile.OpenWith(priv, cleanroom.TokenSealInfo(f.srv.ServerID(), party, user), tc.SealedSecret)
	if err != nil {
		f.t.Fatal(err)
	}
	f.tokens[name], f.ids[name] = string(secret), tc.ID
}
