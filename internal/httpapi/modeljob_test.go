package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// putTable commits version 1 of a dataset of r1 with the given schema,
// attribute columns and rows (tokens as putVersion makes them).
func (f *fixture) putTable(dataset, party, schema string, attrs []upload.AttributeField, ids []int, values func(i int) []string) {
	f.t.Helper()
	tokens := make([]upload.Token, len(ids))
	for k, i := range ids {
		tokens[k][0], tokens[k][1], tokens[k][2], tokens[k][3] = 1, byte(i), byte(i>>8), byte(i>>16)
	}
	f.commitTable(dataset, party, schema, attrs, ids, tokens, values, nil)
}

// commitTable commits version 1 of a dataset of r1: person ids[k] has
// phone token tokens[k] and values(ids[k]); manifests go with the version.
func (f *fixture) commitTable(dataset, party, schema string, attrs []upload.AttributeField, ids []int, tokens []upload.Token,
	values func(i int) []string, manifests []sqlite.ManifestRecord) {
	f.t.Helper()
	h := upload.Header{Room: "r1", Dataset: dataset, Version: 1, Rows: len(ids),
		Identifiers: []upload.IdentifierField{{Column: "phone", Class: cleanroom.ClassPhone}}, Attributes: attrs}
	var buf bytes.Buffer
	w, _ := upload.NewWriter(&buf, h)
	for k, i := range ids {
		w.Write(upload.Row{Tokens: []*upload.Token{&tokens[k]}, Values: values(i)})
	}
	if err := w.Close(); err != nil {
		f.t.Fatal(err)
	}
	ctx := f.t.Context()
	f.srv.vault.CreateDataset(ctx, vaultID("r1", dataset))
	vw, err := f.srv.vault.NewVersion(ctx, vaultID("r1", dataset), 1)
	if err != nil {
		f.t.Fatal(err)
	}
	vw.Write(buf.Bytes())
	if err := vw.Commit(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.db.Update(ctx, func(tx *sqlite.Tx) error {
		if err := tx.CreateDataset(sqlite.DatasetRecord{Room: "r1", Name: dataset, Party: party, Schema: []byte(schema), CreatedAt: f.now}); err != nil {
			return err
		}
		return tx.CommitVersion(sqlite.VersionRecord{Room: "r1", Dataset: dataset, Version: 1, Rows: len(ids), Stats: []byte("{}"), CommittedAt: f.now}, manifests)
	}); err != nil {
		f.t.Fatal(err)
	}
}

const riskTemplate = `name: risk
question: Do the operator's features predict the bank's defaults?
join: [loans, usage]
model:
  label: loans.defaulted
  features: [loans.balance, usage.late, usage.arpu]
  epsilon: 0.5
  lambda: 0.003
  score_edges: [0, 0.05, 0.1, 0.2, 0.3, 0.5, 1]
controls:
  min_group_size: 100
  rho: 0.2
  max_groups_per_person: 2
  receivers: [bank]
`

// TestModelJob trains the joint and bank-only models on crafted data where
// defaults follow an operator feature only, and reads the bank's release.
func TestModelJob(t *testing.T) {
	f := newFixture(t)
	f.hmacRoom()
	var ids []int
	for i := range 4000 {
		ids = append(ids, i)
	}
	late := func(i int) bool { return i%4 == 0 }
	f.putTable("loans", "bank",
		`{"identifiers":[{"column":"phone","class":"phone","priority":1}],"attributes":[
		  {"column":"balance","type":"decimal","policy":"metric","clamp":[0,1000]},
		  {"column":"defaulted","type":"bool","policy":"filter"}]}`,
		[]upload.AttributeField{{Column: "balance", Type: "decimal"}, {Column: "defaulted", Type: "bool"}}, ids,
		func(i int) []string {
			d := (late(i) && i%3 == 0) || (!late(i) && i%25 == 0)
			return []string{strconv.Itoa(i % 10 * 100), strconv.FormatBool(d)}
		})
	f.putTable("usage", "operator",
		`{"identifiers":[{"column":"phone","class":"phone","priority":1}],"attributes":[
		  {"column":"late","type":"bool","policy":"filter"},
		  {"column":"arpu","type":"decimal","policy":"metric","clamp":[0,100]}]}`,
		[]upload.AttributeField{{Column: "late", Type: "bool"}, {Column: "arpu", Type: "decimal"}}, ids,
		func(i int) []string { return []string{strconv.FormatBool(late(i)), "50"} })
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/matches", nil); status != 201 {
		t.Fatalf("match = %d %s", status, resp)
	}
	f.approvedUnderDUA("risk", riskTemplate)
	if status, resp := f.do("provider", "PUT", "/api/v1/rooms/r1/agent/key", f.agentKey("bank")); status != 200 {
		t.Fatalf("agent key = %d %s", status, resp)
	}
	before := f.rhoUsed("loans")
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "risk"})
	if status != 201 {
		t.Fatalf("run = %d %s", status, resp)
	}
	var q QueryBody
	json.Unmarshal(resp, &q)
	rel := f.open("bank", q.ID)

	// Training (two models, ε = 0.5 each: ρ = 0.25) and the histogram's
	// ρ = 0.2 are charged and reported.
	if got := f.rhoUsed("loans") - before; math.Abs(got-0.45) > 1e-9 || math.Abs(rel.Loss.Rho-0.45) > 1e-9 {
		t.Errorf("charged ρ %g, release says %g; want 0.45", got, rel.Loss.Rho)
	}
	auc := map[string]float64{}
	for _, m := range rel.Models {
		auc[m.Name] = m.Evaluation.AUC
		for _, in := range m.Card.Inputs {
			if in.Dataset == "usage" && in.Coefficient != nil {
				t.Errorf("%s model card shows the operator's coefficient of %s", m.Name, in.Name)
			}
			if in.Dataset == "loans" && in.Coefficient == nil {
				t.Errorf("%s model card hides the bank's own coefficient of %s", m.Name, in.Name)
			}
		}
	}
	if auc["joint"] < 0.7 || auc["joint"]-auc["label_only"] < 0.1 {
		t.Errorf("AUC joint %.3f, bank only %.3f; defaults follow the operator's feature only", auc["joint"], auc["label_only"])
	}
	for _, c := range rel.Cells {
		if len(c.Key) != 2 || len(c.Values) != 2 || c.Values[1] > c.Values[0]+3*rel.Metrics[1].Noise.StdDev+3*rel.Metrics[0].Noise.StdDev {
			t.Errorf("cell %+v is not (model, bin) with people and positives among them", c)
		}
	}
}

// approvedUnderDUA proposes a template as the analyst, takes both readers'
// approvals as given (the lifecycle is tested elsewhere), and puts r1
// under agreement version 2, which also permits it.
func (f *fixture) approvedUnderDUA(name, yaml string) {
	f.t.Helper()
	if status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/templates", ProposeTemplateRequest{YAML: yaml}); status != 201 {
		f.t.Fatalf("propose %s = %d %s", name, status, resp)
	}
	if err := f.db.Update(f.t.Context(), func(tx *sqlite.Tx) error {
		if err := tx.SetTemplateState("r1", name, 1, string(cleanroom.TemplateApproved)); err != nil {
			return err
		}
		d := f.testDUA("r1", 2, "bank", "operator")
		d.Templates = append(d.Templates, cleanroom.DUATemplate{Name: name, MinVersion: 1})
		f.putDUA(tx, d, "bank", "operator")
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
}
