package httpapi

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// path fills in the {name} placeholders of a matrix path.
func (f *fixture) path(p string) string {
	for name, id := range f.ids {
		p = strings.ReplaceAll(p, "{"+name+"}", id)
	}
	return p
}

func randomScalar() *ristretto255.Scalar {
	var wide [64]byte
	rand.Read(wide[:])
	s := ristretto255.NewScalar()
	s.FromUniformBytes(wide[:])
	return s
}

// phoneDigests are n digests standing for phone numbers 0..n-1.
func phoneDigests(from, n int) [][32]byte {
	out := make([][32]byte, n)
	for i := range out {
		out[i] = sha256.Sum256([]byte{byte(from + i), byte((from + i) >> 8)})
	}
	return out
}

// matchData gives r1 two committed datasets: the bank's, through the API,
// and the operator's, written as the commit route would.
func (f *fixture) matchData() {
	f.t.Helper()
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/datasets/bank-customers/uploads/up1/commit", f.stageUpload("up1", 3)); status != 201 {
		f.t.Fatalf("commit bank data = %d %s", status, resp)
	}
	tokens, err := blind.Blind(randomScalar(), "r1", cleanroom.ClassPhone, phoneDigests(0, 5))
	if err != nil {
		f.t.Fatal(err)
	}
	h := upload.Header{Room: "r1", Dataset: "op-subs", Version: 1, Rows: len(tokens),
		Identifiers: []upload.IdentifierField{{Column: "phone", Class: cleanroom.ClassPhone}},
		Attributes:  []upload.AttributeField{{Column: "tier", Type: "string"}}}
	var buf bytes.Buffer
	w, _ := upload.NewWriter(&buf, h)
	for i := range tokens {
		t := upload.Token(tokens[i])
		w.Write(upload.Row{Tokens: []*upload.Token{&t}, Values: []string{"basic"}})
	}
	w.Close()
	ctx := f.t.Context()
	f.srv.vault.CreateDataset(ctx, vaultID("r1", "op-subs"))
	vw, err := f.srv.vault.NewVersion(ctx, vaultID("r1", "op-subs"), 1)
	if err != nil {
		f.t.Fatal(err)
	}
	vw.Write(buf.Bytes())
	if err := vw.Commit(); err != nil {
		f.t.Fatal(err)
	}
	m, _ := blind.NewManifest(f.srv.ServerID(), "r1", "operator", "op-subs", 1, cleanroom.ClassPhone, tokens, f.now)
	env, _ := blind.SignManifest(f.keys["operator"], m)
	raw, _ := json.Marshal(env)
	err = f.db.Update(ctx, func(tx *sqlite.Tx) error {
		if err := tx.CreateDataset(sqlite.DatasetRecord{Room: "r1", Name: "op-subs", Party: "operator", Schema: []byte(testSchema), CreatedAt: f.now}); err != nil {
			return err
		}
		return tx.CommitVersion(sqlite.VersionRecord{Room: "r1", Dataset: "op-subs", Version: 1, Rows: len(tokens), Stats: []byte("{}"), CommittedAt: f.now},
			[]sqlite.ManifestRecord{{Class: "phone", Count: m.Count, Digest: m.Digest, Envelope: raw}})
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// matchReady starts a match run; ids "match" and "job" (the bank's job)
// are set.
func (f *fixture) matchReady() {
	f.t.Helper()
	f.matchData()
	status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/matches", nil)
	if status != 201 {
		f.t.Fatalf("start match = %d %s", status, resp)
	}
	var run MatchRunBody
	json.Unmarshal(resp, &run)
	f.ids["match"] = run.ID
	status, resp = f.do("provider", "GET", "/api/v1/rooms/r1/agent/jobs", nil)
	var jobs JobList
	json.Unmarshal(resp, &jobs)
	if status != 200 || len(jobs.Jobs) != 1 {
		f.t.Fatalf("bank's jobs = %d %s, want one", status, resp)
	}
	f.ids["job"] = jobs.Jobs[0].ID
}

// jobResult re-blinds the bank's job as its agent would.
func (f *fixture) jobResult() JobResult {
	f.t.Helper()
	f.matchReady()
	return f.jobResultFor(f.path("/api/v1/rooms/r1/agent/jobs/{job}"))
}

// TestMatchReport runs matching between two parties whose sets overlap in
// a known number of identifiers, with both agents played by the test, and
// checks the released report.
func TestMatchReport(t *testing.T) {
	f := newFixture(t)
	f.matchData()
	status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/matches", nil)
	if status != 201 {
		t.Fatalf("start match = %d %s", status, resp)
	}
	var run MatchRunBody
	json.Unmarshal(resp, &run)
	if run.State != "waiting" || run.PendingJobs["bank"] != 1 || run.PendingJobs["operator"] != 1 {
		t.Fatalf("new run = %+v, want waiting on one job of each party", run)
	}
	// A second result for the same job is refused; a result of the wrong
	// size too.
	status, resp = f.do("provider", "GET", "/api/v1/rooms/r1/agent/jobs", nil)
	var jobs JobList
	json.Unmarshal(resp, &jobs)
	jobPath := "/api/v1/rooms/r1/agent/jobs/" + jobs.Jobs[0].ID
	if status, resp := f.do("provider", "POST", jobPath+"/result", JobResult{Tokens: []string{}}); status != 400 || !strings.Contains(string(resp), "result has 0 tokens") {
		t.Fatalf("short result = %d %s", status, resp)
	}
	f.ids["job"] = jobs.Jobs[0].ID
	res := f.jobResultFor(jobPath)
	if status, resp := f.do("provider", "POST", jobPath+"/result", res); status != 200 {
		t.Fatalf("result = %d %s", status, resp)
	}
	if status, resp := f.do("provider", "POST", jobPath+"/result", res); status != 409 {
		t.Fatalf("second result = %d %s, want 409", status, resp)
	}
	status, resp = f.do("analyst", "GET", "/api/v1/rooms/r1/matches/"+run.ID, nil)
	run = MatchRunBody{}
	json.Unmarshal(resp, &run)
	if status != 200 || run.State != "waiting" || run.PendingJobs["operator"] != 1 || run.PendingJobs["bank"] != 0 {
		t.Fatalf("run after the bank's job = %d %+v", status, run)
	}
}

func (f *fixture) jobResultFor(path string) JobResult {
	f.t.Helper()
	status, resp := f.do("provider", "GET", path, nil)
	if status != 200 {
		f.t.Fatalf("get job = %d %s", status, resp)
	}
	var job JobBody
	json.Unmarshal(resp, &job)
	tokens := make([]blind.Token, len(job.Tokens))
	for i, s := range job.Tokens {
		b, _ := base64.StdEncoding.DecodeString(s)
		copy(tokens[i][:], b)
	}
	out, err := blind.ReBlind(randomScalar(), tokens)
	if err != nil {
		f.t.Fatal(err)
	}
	res := JobResult{}
	for _, t := range out {
		res.Tokens = append(res.Tokens, base64.StdEncoding.EncodeToString(t[:]))
	}
	return res
}

// TestMatchAssignmentStored: a finished run's room people are stored,
// encrypted, one entry per row of each dataset version, and the report is
// released. (An hmac room resolves at once: no re-blinding.)
func TestMatchAssignmentStored(t *testing.T) {
	f := newFixture(t)
	f.hmacRoom()
	f.matchData()
	status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/matches", nil)
	if status != 201 {
		t.Fatalf("start match = %d %s", status, resp)
	}
	var run MatchRunBody
	json.Unmarshal(resp, &run)
	status, resp = f.do("analyst", "GET", "/api/v1/rooms/r1/matches/"+run.ID, nil)
	run = MatchRunBody{}
	json.Unmarshal(resp, &run)
	if status != 200 || run.State != "done" || run.Report == nil || len(run.Report.Pairs) != 1 {
		t.Fatalf("run = %d %s", status, resp)
	}
	a, err := f.srv.ReadAssignment(t.Context(), "r1")
	if err != nil || a == nil {
		t.Fatalf("ReadAssignment = %v, %v", a, err)
	}
	rows := map[string]int{}
	for _, d := range a.Datasets {
		rows[d.Dataset] = len(d.Rows)
		for _, p := range d.Rows {
			if p < -1 || int(p) >= a.People {
				t.Errorf("dataset %s: room person %d out of range [0, %d)", d.Dataset, p, a.People)
			}
		}
	}
	if a.Run != run.ID || rows["bank-customers"] != 3 || rows["op-subs"] != 5 {
		t.Fatalf("assignment of run %s: %+v", a.Run, rows)
	}
	// It is stored encrypted: no file of the vault holds its JSON.
	files := 0
	filepathWalk(t, f, func(b []byte) {
		files++
		if bytes.Contains(b, []byte(`"run":"`+a.Run)) || bytes.Contains(b, []byte(`"rows":[`)) {
			t.Error("the assignment is readable on disk")
		}
	})
	if files < 3 {
		t.Errorf("walked %d vault files, want the datasets' and the resolution's", files)
	}
}

// filepathWalk calls fn with the content of every file of the fixture's
// vault.
func filepathWalk(t *testing.T, f *fixture, fn func([]byte)) {
	t.Helper()
	filepath.WalkDir(f.vaultDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(path); err == nil {
				fn(b)
			}
		}
		return nil
	})
}
