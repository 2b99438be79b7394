package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
)

// idToken signs user in at the test provider with nonce, as the web UI's
// confirmation does, and returns the provider's ID token.
func idToken(t *testing.T, m *mockoidc.MockOIDC, user, nonce string) string {
	t.Helper()
	m.QueueUser(&mockoidc.MockUser{Subject: user + "-1", PreferredUsername: user, EmailVerified: true})
	c := m.Config()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {c.ClientID}, "redirect_uri": {"https://room.example/ui/callback"}, "response_type": {"code"},
		"scope": {"openid profile"}, "state": {"s"}, "nonce": {nonce}}
	resp, err := hc.Get(m.AuthorizationEndpoint() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = hc.PostForm(m.TokenEndpoint(), url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "redirect_uri": {"https://room.example/ui/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.IDToken == "" {
		t.Fatalf("token endpoint: %v", err)
	}
	return tok.IDToken
}

// TestApproveRefusals: the agent signs nothing for an intent that is not
// its party's, by a user it does not list, or without a fresh ID token
// from its party's provider issued for exactly that intent. (A signed
// approval, through the room, is tested with the web UI.)
func TestApproveRefusals(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown()
	other, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Shutdown()
	a := &Agent{party: "bank", room: "r1", server: "SHA256:srv",
		Approvals: &Approvals{Issuer: m.Issuer(), ClientID: m.Config().ClientID, Approvers: []string{"ben"}}}
	intent := httpapi.NewApprovalIntent("SHA256:srv", "r1", "bank", "ben", httpapi.ApproveTemplate, "tiers", 1, "d1", time.Now())
	nonce, _ := intent.Nonce()
	ctx := context.Background()
	mallory := intent
	mallory.User = "mallory"
	malloryNonce, _ := mallory.Nonce()
	otherRoom := intent
	otherRoom.Room = "r2"
	otherNonce, _ := otherRoom.Nonce()
	for name, c := range map[string]struct {
		job  httpapi.ApprovalJob
		want string
	}{
		"another room":              {httpapi.ApprovalJob{Intent: otherRoom, IDToken: idToken(t, m, "ben", otherNonce)}, "room \"r2\""},
		"not an approver":           {httpapi.ApprovalJob{Intent: mallory, IDToken: idToken(t, m, "mallory", malloryNonce)}, "not one of the party's approvers"},
		"no ID token":               {httpapi.ApprovalJob{Intent: intent, IDToken: "not.a.token"}, "does not verify"},
		"another provider's token":  {httpapi.ApprovalJob{Intent: intent, IDToken: idToken(t, other, "ben", nonce)}, "does not verify"},
		"a token for another nonce": {httpapi.ApprovalJob{Intent: intent, IDToken: idToken(t, m, "ben", "another-intent")}, "not issued for this approval"},
		"a token naming another":    {httpapi.ApprovalJob{Intent: intent, IDToken: idToken(t, m, "mallory", nonce)}, "names \"mallory\""},
	} {
		if err := a.approve(ctx, c.job); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a refusal naming %q", name, err, c.want)
		}
	}
	none := &Agent{party: "bank", room: "r1", server: "SHA256:srv"}
	if err := none.approve(ctx, httpapi.ApprovalJob{Intent: intent}); err == nil || !strings.Contains(err.Error(), "--approvers") {
		t.Errorf("an agent without approvers: %v", err)
	}
}
