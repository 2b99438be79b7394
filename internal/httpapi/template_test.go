package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// testTemplate sizes the fixture's dataset by tier.
const testTemplate = `name: tiers
question: How many customers are there per tier?
join: [bank-customers]
group_by:
  - bank-customers.tier
metrics:
  - people: count_distinct_person
controls:
  rho: 0.1
  receivers: [bank]
`

// proposeTemplate proposes testTemplate as the analyst and returns it.
func (f *fixture) proposeTemplate() TemplateBody {
	f.t.Helper()
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/templates", ProposeTemplateRequest{YAML: testTemplate})
	if status != 201 {
		f.t.Fatalf("propose = %d %s", status, resp)
	}
	var b TemplateBody
	json.Unmarshal(resp, &b)
	return b
}

func (f *fixture) approval(signer string, b TemplateBody) statement.Envelope {
	f.t.Helper()
	env, err := statement.Sign(f.keys[signer], cleanroom.TemplateApproval{Type: cleanroom.ApprovalType, Server: f.srv.ServerID(),
		Room: "r1", Name: b.Template.Name, Version: b.Template.Version, Digest: b.Digest, IssuedAt: f.now})
	if err != nil {
		f.t.Fatal(err)
	}
	return env
}

func TestTemplateLifecycle(t *testing.T) {
	f := newFixture(t)
	b := f.proposeTemplate()
	if b.State != cleanroom.TemplateProposed || b.Template.Version != 1 || len(b.Digest) != 64 ||
		strings.Join(b.Readers, ",") != "bank" || strings.Join(b.Pending, ",") != "bank" {
		t.Fatalf("proposed = %+v", b)
	}
	path := "/api/v1/rooms/r1/templates/tiers/approvals"
	// An approval signed by another party, or of another digest, is refused.
	if status, resp := f.do("provider", "POST", path, f.approval("operator", b)); status != 400 || !strings.Contains(string(resp), "does not verify") {
		t.Fatalf("approval signed by the operator = %d %s", status, resp)
	}
	wrong := b
	wrong.Digest = strings.Repeat("0", 64)
	if status, resp := f.do("provider", "POST", path, f.approval("bank", wrong)); status != 400 || !strings.Contains(string(resp), "has digest") {
		t.Fatalf("approval of another digest = %d %s", status, resp)
	}
	status, resp := f.do("provider", "POST", path, f.approval("bank", b))
	var got TemplateBody
	json.Unmarshal(resp, &got)
	if status != 200 || got.State != cleanroom.TemplateApproved || len(got.Pending) != 0 {
		t.Fatalf("approve = %d %s", status, resp)
	}
	if status, _ := f.do("provider", "POST", path, f.approval("bank", b)); status != 409 {
		t.Fatalf("second approval = %d, want 409", status)
	}
	// A change is a new version, proposed again.
	b2 := f.proposeTemplate()
	if b2.Template.Version != 2 || b2.State != cleanroom.TemplateProposed {
		t.Fatalf("second proposal = %+v", b2)
	}
	// A policy violation is refused naming field, column and rule.
	bad := strings.Replace(testTemplate, "group_by:\n  - bank-customers.tier", "group_by:\n  - bank-customers.phone", 1)
	status, resp = f.do("analyst", "POST", "/api/v1/rooms/r1/templates", ProposeTemplateRequest{YAML: bad})
	if status != 400 || !strings.Contains(string(resp), `group_by[0]: column \"bank-customers.phone\" is an identifier`) {
		t.Fatalf("template grouping by an identifier = %d %s", status, resp)
	}
	if status, _ := f.do("provider", "POST", "/api/v1/rooms/r1/templates/tiers/retire", RetireRequest{Version: 1}); status != 200 {
		t.Fatalf("retire = %d", status)
	}
	status, resp = f.do("analyst", "GET", "/api/v1/rooms/r1/templates/tiers?version=1", nil)
	if status != 200 || !strings.Contains(string(resp), `"state": "retired"`) {
		t.Fatalf("retired version = %d %s", status, resp)
	}
}
