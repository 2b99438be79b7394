package httpapi

import (
	"context"
	"strings"
	"testing"
	"time"
)

// signAsAgent plays a party's agent for browser approvals until the test
// ends: it answers every approval as signed (the agent's own checks are
// tested with the agent).
func (f *fixture) signAsAgent(party string, refuse ...string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for _, t := range f.srv.approving.take(ctx, "r1", party, time.Second) {
				ans := scoringAnswer{}
				if len(refuse) > 0 {
					ans.refused = refuse[0]
				}
				f.srv.approving.deliver("r1", party, t.id, ans)
			}
		}
	}()
}

// TestApprovalRelay: a browser approval reaches the caller's party's agent
// only as the caller's own intent, and the agent's refusal reaches the
// caller.
func TestApprovalRelay(t *testing.T) {
	f := newFixture(t)
	f.signAsAgent("bank", "user \"u-analyst\" is not one of the party's approvers")
	in := NewApprovalIntent(f.srv.ServerID(), "r1", "bank", "u-analyst", ApproveTemplate, "tiers", 1, "d1", f.now)
	if status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/approvals", ApprovalRequest{Intent: in, IDToken: "t"}); status != 403 ||
		!strings.Contains(string(resp), "not one of the party") {
		t.Errorf("refused by the agent: %d %s", status, resp)
	}
	other := in
	other.User = "u-provider"
	if status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/approvals", ApprovalRequest{Intent: other, IDToken: "t"}); status != 400 ||
		!strings.Contains(string(resp), "not the caller's") {
		t.Errorf("another user's intent: %d %s", status, resp)
	}
	if status, _ := f.do("analyst", "POST", "/api/v1/rooms/r1/approvals", ApprovalRequest{Intent: in}); status != 400 {
		t.Errorf("no ID token: %d", status)
	}
	if n1, n2 := mustNonce(t, in), mustNonce(t, other); n1 == n2 {
		t.Error("two intents share a nonce")
	}
}

func mustNonce(t *testing.T, in ApprovalIntent) string {
	n, err := in.Nonce()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
