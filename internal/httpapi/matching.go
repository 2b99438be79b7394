package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/crashpoint"
	"github.com/cleanroom-dev/cleanroom/internal/dp"
	"github.com/cleanroom-dev/cleanroom/internal/match"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// Matching parameters.
const (
	// matchPairRho is the zCDP spent on one pair's match report, charged
	// to both datasets of the pair.
	matchPairRho = 0.05
	// matchMinReported is the smallest matched count a report shows: a
	// noisy count below it is reported as "fewer than".
	matchMinReported = 100
	// maxResultBody bounds a job result: 32 MiB of base64 tokens.
	maxResultBody = 32 << 20
)

// ActionMatchRelease is recorded when the room releases a match report.
const ActionMatchRelease cleanroom.Action = "match.release"

// MatchRunBody is a match run as a member sees it: its state, and the
// caller's party's part of the report once released.
type MatchRunBody struct {
	ID          string          `json:"id"`
	Room        string          `json:"room"`
	State       string          `json:"state"`
	Datasets    []RunDataset    `json:"datasets"`
	PendingJobs map[string]int  `json:"pending_jobs"` // party → jobs its agent has yet to do
	Error       string          `json:"error,omitempty"`
	Report      *PartyReport    `json:"report,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
	Record      json.RawMessage `json:"noise,omitempty"`
}

// RunDataset is a dataset version a run matches.
type RunDataset struct {
	Dataset string `json:"dataset"`
	Party   string `json:"party"`
	Version int    `json:"version"`
}

// MatchReport is a run's released report: each party's part covers only
// the pairs it belongs to.
type MatchReport struct {
	Parties map[string]*PartyReport `json:"parties"`
	Noise   dp.Record               `json:"noise"`
	// OptOuts names the opt-out lists applied, per party.
	OptOuts []string `json:"opt_outs,omitempty"`
}

// PartyReport is one party's part of a match report.
type PartyReport struct {
	// Datasets describe the party's own datasets: exact, since they are
	// the party's own data.
	Datasets []DatasetReport `json:"datasets"`
	// Pairs describe the matches of the party's datasets with each other
	// dataset: noisy counts.
	Pairs []PairReport `json:"pairs"`
}

// DatasetReport counts one of the party's datasets as the room saw it.
type DatasetReport struct {
	Dataset string        `json:"dataset"`
	Rows    int           `json:"rows"`
	People  int           `json:"people"`
	Classes []ClassReport `json:"classes"`
}

// ClassReport counts one identifier class of a dataset.
type ClassReport struct {
	Class     cleanroom.IdentifierClass `json:"class"`
	Present   int                       `json:"present"`   // rows with a usable token
	Missing   int                       `json:"missing"`   // rows without one (missing or invalid at the party)
	JunkRows  int                       `json:"junk_rows"` // rows whose value occurs more than the junk limit
	JunkValue int                       `json:"junk_values"`
}

// PairReport is the match of two datasets: per waterfall step the noisy
// number of people it matched, their noisy sum, and the match rate of each
// side. Matched is -1 when the noisy total is below MinReported.
type PairReport struct {
	Datasets    [2]string          `json:"datasets"`
	Parties     [2]string          `json:"parties"`
	Steps       []StepReport       `json:"steps"`
	Matched     int64              `json:"matched"`
	MinReported int64              `json:"min_reported"`
	MatchRate   map[string]float64 `json:"match_rate,omitempty"`
	StdDev      float64            `json:"std_dev"`
	Interval95  float64            `json:"interval_95"`
}

// StepReport is one class of a pair's waterfall.
type StepReport struct {
	Class cleanroom.IdentifierClass `json:"class"`
	Added int64                     `json:"added"`
}

// JobList is a party's pending re-blinding jobs.
type JobList struct {
	Jobs []JobSummary `json:"jobs"`
}

// JobSummary names a job.
type JobSummary struct {
	ID      string `json:"id"`
	Run     string `json:"run"`
	Dataset string `json:"dataset"`
	Class   string `json:"class"`
}

// JobBody is a re-blinding job: a peer's token set, deduplicated and in
// the order of its token values (a random order, independent of the
// peer's rows), with the manifest the peer signed for it.
type JobBody struct {
	ID       string             `json:"id"`
	Dataset  string             `json:"dataset"`
	Version  int                `json:"version"`
	Party    string             `json:"party"` // the party that blinded and signed the set
	Class    string             `json:"class"`
	Manifest statement.Envelope `json:"manifest"`
	Tokens   []string           `json:"tokens"` // standard base64
}

// JobResult is what an agent returns: the job's tokens re-blinded with its
// party's key, in the same order.
type JobResult struct {
	Tokens []string `json:"tokens"`
}

func (s *Server) matchRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/matches", Action: cleanroom.ActionMatchRun, Mutates: true, handle: s.startMatch},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/matches", Action: cleanroom.ActionMatchShow, handle: s.listMatches},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/matches/{match}", Action: cleanroom.ActionMatchShow, handle: s.showMatch},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/agent/jobs", Action: cleanroom.ActionAgentJobs, handle: s.listJobs},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/agent/jobs/{job}", Action: cleanroom.ActionAgentJob, Discloses: true, handle: s.showJob},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/agent/jobs/{job}/result", Action: cleanroom.ActionAgentResult, Mutates: true,
			MaxBody: maxResultBody, decode: decodeInto(func(c *call, v *JobResult) error { c.body = &resultWork{res: v}; return nil }),
			prepare: s.prepareResult, handle: s.saveResult},
	}
}

// Vault names of a room's derived artefacts. Room and dataset names start
// with a letter, so "<room>._..." never names a dataset.
func reblindedVault(room string) string { return room + "._reblinded" }

// versionData is a committed version read back from the vault.
type versionData struct {
	header upload.Header
	rows   int
	// columns hold each identifier column's token per row.
	columns []match.Column
	// sets hold each class's distinct tokens, sorted.
	sets map[cleanroom.IdentifierClass][]blind.Token
}

func (s *Server) readVersion(ctx context.Context, room, dataset string, version int, schema *cleanroom.Schema) (*versionData, error) {
	rc, err := s.vault.OpenVersion(ctx, vaultID(room, dataset), version)
	if err != nil {
		return nil, fmt.Errorf("read %s/%s version %d: %w", room, dataset, version, err)
	}
	defer rc.Close()
	rd, err := upload.NewReader(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s/%s version %d: %w", room, dataset, version, err)
	}
	v := &versionData{header: rd.Header, sets: map[cleanroom.IdentifierClass][]blind.Token{}}
	priority := map[string]int{}
	for _, c := range schema.Identifiers {
		priority[c.Column] = c.Priority
	}
	for _, f := range rd.Header.Identifiers {
		v.columns = append(v.columns, match.Column{Class: f.Class, Priority: priority[f.Column]})
	}
	seen := map[cleanroom.IdentifierClass]map[blind.Token]bool{}
	for {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s/%s version %d: %w", room, dataset, version, err)
		}
		v.rows++
		for i, t := range r.Tokens {
			var mt *match.Token
			if t != nil {
				tok := match.Token(*t)
				mt = &tok
				class := v.columns[i].Class
				if seen[class] == nil {
					seen[class] = map[blind.Token]bool{}
				}
				seen[class][blind.Token(*t)] = true
			}
			v.columns[i].Tokens = append(v.columns[i].Tokens, mt)
		}
	}
	for class, set := range seen {
		ts := make([]blind.Token, 0, len(set))
		for t := range set {
			ts = append(ts, t)
		}
		blind.SortTokens(ts)
		v.sets[class] = ts
	}
	return v, nil
}

// latestVersions lists the latest committed version of every dataset of a
// room.
func latestVersions(tx *sqlite.Tx, room string) ([]RunDataset, error) {
	ds, err := tx.Datasets(room)
	if err != nil {
		return nil, err
	}
	var out []RunDataset
	for _, d := range ds {
		if isOptOut(&d) {
			continue // applied to the party's datasets, never matched itself
		}
		vs, err := tx.Versions(room, d.Name)
		if err != nil {
			return nil, err
		}
		if len(vs) > 0 {
			out = append(out, RunDataset{Dataset: d.Name, Party: d.Party, Version: vs[len(vs)-1].Version})
		}
	}
	return out, nil
}

func (s *Server) startMatch(c *call) (int, any, error) {
	room := c.target.Room
	if _, err := requireDUA(c.tx, room, c.p.Party); err != nil {
		return 0, nil, err
	}
	ds, err := latestVersions(c.tx, room)
	if err != nil {
		return 0, nil, err
	}
	if len(ds) < 2 {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "room %q has %d datasets with a committed version; matching needs two", room, len(ds)).
			WithHint("providers upload with `cleanroom dataset upload`")
	}
	id, _ := cleanroom.NewTokenSecret()
	now := c.tx.Now()
	raw, _ := json.Marshal(ds)
	run := &sqlite.MatchRun{ID: id, Room: room, State: "waiting", RequestedBy: c.p.String(), Datasets: raw, CreatedAt: now}
	// Every set of one party's dataset is re-blinded by every other party
	// whose dataset has the class, once per manifest: earlier runs' sets
	// are reused.
	manifests := map[string][]sqlite.ManifestRecord{}
	for _, d := range ds {
		if manifests[d.Dataset], err = c.tx.Manifests(room, d.Dataset, d.Version); err != nil {
			return 0, nil, err
		}
	}
	r, err := c.tx.Room(room)
	if err != nil {
		return 0, nil, err
	}
	// In an hmac room tokens compare as they are: nothing to re-blind.
	var jobs []sqlite.MatchJob
	seen := map[string]bool{}
	for _, a := range ds {
		if r.Matching == cleanroom.MatchingHMAC {
			break
		}
		for _, b := range ds {
			if a.Party == b.Party {
				continue
			}
			for _, m := range manifests[a.Dataset] {
				if !hasClass(manifests[b.Dataset], m.Class) || seen[a.Dataset+"|"+m.Class+"|"+b.Party] {
					continue
				}
				seen[a.Dataset+"|"+m.Class+"|"+b.Party] = true
				state := "pending"
				if rb, err := c.tx.GetReblinded(room, m.Digest, b.Party); err != nil {
					return 0, nil, err
				} else if rb != nil {
					state = "done"
				}
				jid, _ := cleanroom.NewTokenSecret()
				jobs = append(jobs, sqlite.MatchJob{ID: jid, Run: id, Room: room, Dataset: a.Dataset, Version: a.Version, Class: m.Class,
					ManifestDigest: m.Digest, Party: b.Party, State: state, CreatedAt: now})
			}
		}
	}
	if err := c.tx.CreateMatchRun(run, jobs); err != nil {
		return 0, nil, err
	}
	// The report's budget is reserved now, so a run that would overspend
	// is refused before anything runs.
	for _, d := range ds {
		pairs := 0
		for _, o := range ds {
			if o.Dataset != d.Dataset {
				pairs++
			}
		}
		if err := s.reserveMatchBudget(c.tx, room, run.ID, d, pairs); err != nil {
			return 0, nil, err
		}
	}
	c.object = "match:" + id
	c.detail["datasets"] = strconv.Itoa(len(ds))
	c.detail["jobs"] = strconv.Itoa(len(jobs))
	c.afterCommit = append(c.afterCommit, func() { s.resolveReady(context.WithoutCancel(c.r.Context()), room, id) })
	return http.StatusCreated, s.runBody(c.tx, run, c.p), nil
}

func hasClass(ms []sqlite.ManifestRecord, class string) bool {
	return slices.ContainsFunc(ms, func(m sqlite.ManifestRecord) bool { return m.Class == class })
}

// budgetID is the ledger's name of a room's dataset.
func budgetID(room, dataset string) string { return room + "/" + dataset }

func (s *Server) reserveMatchBudget(tx *sqlite.Tx, room, run string, d RunDataset, pairs int) error {
	id := budgetID(room, d.Dataset)
	if _, err := s.ensureBudget(tx, room, d); err != nil {
		return err
	}
	return tx.ReserveBudget(sqlite.BudgetRequest{ID: run + ":" + d.Dataset, Receiver: "members",
		Loss: dp.Loss{Rho: matchPairRho * float64(pairs)}, Reads: []sqlite.DatasetRead{{Dataset: id}},
		Description: "match report " + run})
}

func (s *Server) runBody(tx *sqlite.Tx, run *sqlite.MatchRun, p *cleanroom.Principal) MatchRunBody {
	out := MatchRunBody{ID: run.ID, Room: run.Room, State: run.State, Error: run.Error, CreatedAt: run.CreatedAt,
		FinishedAt: run.FinishedAt, PendingJobs: map[string]int{}}
	json.Unmarshal(run.Datasets, &out.Datasets)
	if jobs, err := tx.MatchJobs(run.Room, run.ID, ""); err == nil {
		for _, j := range jobs {
			if j.State == "pending" {
				out.PendingJobs[j.Party]++
			}
		}
	}
	if run.Report != nil {
		var rep MatchReport
		if json.Unmarshal(run.Report, &rep) == nil {
			out.Report = rep.Parties[p.Party]
			out.Record, _ = json.Marshal(rep.Noise)
		}
	}
	return out
}

func (s *Server) showMatch(c *call) (int, any, error) {
	run, err := c.tx.MatchRun(c.target.Room, c.r.PathValue("match"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.runBody(c.tx, run, c.p), nil
}

func (s *Server) listJobs(c *call) (int, any, error) {
	jobs, err := c.tx.MatchJobs(c.target.Room, "", c.p.Party)
	if err != nil {
		return 0, nil, err
	}
	out := JobList{Jobs: []JobSummary{}}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, JobSummary{ID: j.ID, Run: j.Run, Dataset: j.Dataset, Class: j.Class})
	}
	return http.StatusOK, out, nil
}

// jobSet loads a job's token set and the manifest its party signed.
func (s *Server) jobSet(ctx context.Context, tx *sqlite.Tx, j *sqlite.MatchJob) (*sqlite.DatasetRecord, *sqlite.ManifestRecord, []blind.Token, error) {
	ds, err := tx.Dataset(j.Room, j.Dataset)
	if err != nil {
		return nil, nil, nil, err
	}
	ms, err := tx.Manifests(j.Room, j.Dataset, j.Version)
	if err != nil {
		return nil, nil, nil, err
	}
	i := slices.IndexFunc(ms, func(m sqlite.ManifestRecord) bool { return m.Class == j.Class })
	if i < 0 {
		return nil, nil, nil, fmt.Errorf("job %s: no manifest of class %s", j.ID, j.Class)
	}
	var schema cleanroom.Schema
	if err := json.Unmarshal(ds.Schema, &schema); err != nil {
		return nil, nil, nil, err
	}
	v, err := s.readVersion(ctx, j.Room, j.Dataset, j.Version, &schema)
	if err != nil {
		return nil, nil, nil, err
	}
	return ds, &ms[i], v.sets[cleanroom.IdentifierClass(j.Class)], nil
}

func (s *Server) showJob(c *call) (int, any, error) {
	j, err := c.tx.MatchJob(c.target.Room, c.r.PathValue("job"))
	if err != nil {
		return 0, nil, err
	}
	if j.State != "pending" {
		return 0, nil, cleanroom.Errorf(cleanroom.EConflict, "job %s is done", j.ID)
	}
	ds, m, set, err := s.jobSet(c.r.Context(), c.tx, j)
	if err != nil {
		return 0, nil, err
	}
	var env statement.Envelope
	if err := json.Unmarshal(m.Envelope, &env); err != nil {
		return 0, nil, err
	}
	out := JobBody{ID: j.ID, Dataset: j.Dataset, Version: j.Version, Party: ds.Party, Class: j.Class, Manifest: env,
		Tokens: make([]string, len(set))}
	for i, t := range set {
		out.Tokens[i] = base64.StdEncoding.EncodeToString(t[:])
	}
	return http.StatusOK, out, nil
}

// resultWork carries a job result from its preparation to its recording.
type resultWork struct {
	res     *JobResult
	job     *sqlite.MatchJob
	version int
	count   int
	commit  func() error
	abort   func()
}

func (s *Server) prepareResult(c *call) (err error) {
	w := c.body.(*resultWork)
	ctx := c.r.Context()
	// One result at a time per server: each takes the next vault version.
	s.reblindMu.Lock()
	unlock := func() { s.reblindMu.Unlock() }
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	var set []blind.Token
	err = s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		if w.job, err = tx.MatchJob(c.target.Room, c.r.PathValue("job")); err != nil {
			return err
		}
		if w.job.State != "pending" {
			return cleanroom.Errorf(cleanroom.EConflict, "job %s is done", w.job.ID)
		}
		if _, _, set, err = s.jobSet(ctx, tx, w.job); err != nil {
			return err
		}
		w.version, err = tx.NextReblindedVersion(c.target.Room)
		return err
	})
	if err != nil {
		return err
	}
	c.detail["dataset"] = w.job.Dataset
	c.detail["class"] = w.job.Class
	if len(w.res.Tokens) != len(set) {
		return cleanroom.Errorf(cleanroom.EInvalid, "result has %d tokens, the job %d", len(w.res.Tokens), len(set))
	}
	// Re-blinding is a bijection on the group: a result must be as many
	// distinct, valid, non-identity points as were sent.
	out := make([]byte, 0, 64*len(set))
	seen := make(map[blind.Token]bool, len(set))
	for i, s64 := range w.res.Tokens {
		t, err := decodePoint("tokens", s64)
		if err != nil || seen[t] {
			return cleanroom.Errorf(cleanroom.EInvalid, "result token %d is not a valid, distinct ristretto255 element", i+1)
		}
		seen[t] = true
		out = append(out, set[i][:]...)
		out = append(out, t[:]...)
	}
	w.count = len(set)
	if err := s.vault.CreateDataset(ctx, reblindedVault(c.target.Room)); err != nil && !errorsIsExist(err) {
		return err
	}
	vw, err := s.vault.NewVersion(ctx, reblindedVault(c.target.Room), w.version)
	if err != nil {
		return err
	}
	if _, err := vw.Write(out); err != nil {
		vw.Abort()
		return err
	}
	c.beforeCommit = append(c.beforeCommit, vw.Commit)
	c.onFail = append(c.onFail, func() { vw.Abort(); unlock() })
	c.afterCommit = append(c.afterCommit, unlock)
	return nil
}

func (s *Server) saveResult(c *call) (int, any, error) {
	w := c.body.(*resultWork)
	j := w.job
	if err := c.tx.PutReblinded(sqlite.Reblinded{Room: j.Room, ManifestDigest: j.ManifestDigest, Party: j.Party,
		VaultVersion: w.version, Tokens: w.count, CreatedAt: c.tx.Now()}); err != nil {
		return 0, nil, err
	}
	if err := c.tx.CompleteMatchJobs(j.Room, j.ManifestDigest, j.Party); err != nil {
		return 0, nil, err
	}
	c.object = "job:" + j.ID
	c.detail["tokens"] = strconv.Itoa(w.count)
	room, run := j.Room, j.Run
	c.afterCommit = append(c.afterCommit, func() { s.resolveReady(context.WithoutCancel(c.r.Context()), room, run) })
	return http.StatusOK, JobSummary{ID: j.ID, Run: j.Run, Dataset: j.Dataset, Class: j.Class}, nil
}

// resolveReady resolves a run once all its jobs are done, and records the
// outcome; failures are logged and recorded on the run.
func (s *Server) resolveReady(ctx context.Context, room, runID string) {
	var run *sqlite.MatchRun
	var pending int
	err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		if run, err = tx.MatchRun(room, runID); err != nil {
			return err
		}
		jobs, err := tx.MatchJobs(room, runID, "")
		for _, j := range jobs {
			if j.State == "pending" {
				pending++
			}
		}
		return err
	})
	if err != nil || run.State != "waiting" || pending > 0 {
		if err != nil {
			s.log.Error("match run", "room", room, "run", runID, "err", err)
		}
		return
	}
	report, assignment, err := s.resolve(ctx, run)
	// Numbering a stored resolution and recording it happen under one
	// lock, so two runs finishing together cannot take the same number.
	s.resolveMu.Lock()
	defer s.resolveMu.Unlock()
	var resolution int
	var commitAssignment func() error
	if err == nil {
		resolution, commitAssignment, err = s.storeAssignment(ctx, room, assignment)
	}
	err = s.db.Update(ctx, func(tx *sqlite.Tx) error {
		var ds []RunDataset
		json.Unmarshal(run.Datasets, &ds)
		e := &cleanroom.AuditEntry{Actor: "room", Action: ActionMatchRelease, Object: "match:" + run.ID, Room: room,
			Outcome: cleanroom.OutcomeOK, Detail: map[string]string{}, RequestID: "match-" + run.ID}
		if err != nil {
			s.log.Error("match run failed", "room", room, "run", runID, "err", err)
			// A report whose noise was drawn but overran its padded
			// deadline is not shown, and is charged all the same.
			spent := errors.Is(err, dp.ErrOverrun)
			for _, d := range ds {
				settle := tx.ReleaseReservation
				if spent {
					settle = tx.CommitReservation
				}
				if rerr := settle(run.ID + ":" + d.Dataset); rerr != nil {
					return rerr
				}
			}
			e.Outcome, e.Code = cleanroom.OutcomeRefused, cleanroom.ErrorCode(err)
			msg, _ := cleanroom.ErrorMessage(err)
			if ferr := tx.FinishMatchRun(run.ID, "failed", nil, msg); ferr != nil {
				return ferr
			}
			return tx.AppendAudit(e)
		}
		for _, d := range ds {
			if err := tx.CommitReservation(run.ID + ":" + d.Dataset); err != nil {
				return err
			}
		}
		raw, err := json.Marshal(report)
		if err != nil {
			return err
		}
		if err := tx.FinishMatchRun(run.ID, "done", raw, ""); err != nil {
			return err
		}
		if err := tx.SetResolution(run.ID, resolution); err != nil {
			return err
		}
		e.Detail["rho_per_pair"] = strconv.FormatFloat(matchPairRho, 'g', -1, 64)
		if len(report.OptOuts) > 0 {
			e.Detail["opt_outs"] = strings.Join(report.OptOuts, "; ")
		}
		e.Detail["pairs"] = strconv.Itoa(countPairs(report))
		if err := tx.AppendAudit(e); err != nil {
			return err
		}
		if err := commitAssignment(); err != nil {
			return err
		}
		crashpoint.Hit("match.resolved")
		return nil
	})
	if err != nil {
		s.log.Error("record match run", "room", room, "run", runID, "err", err)
	}
}

func countPairs(r *MatchReport) int {
	n := 0
	for _, p := range r.Parties {
		n += len(p.Pairs)
	}
	return n / 2
}

func errorsIsExist(err error) bool { return errors.Is(err, errVaultExist) }

// resolutionVault names a room's stored room people in the vault.
func resolutionVault(room string) string { return room + "._resolution" }

// storeAssignment writes a run's room people, encrypted, as the room's next
// resolution; the version becomes visible when the returned function runs,
// inside the transaction that records the run.
// The caller holds s.resolveMu.
func (s *Server) storeAssignment(ctx context.Context, room string, a *match.Assignment) (int, func() error, error) {
	var version int
	if err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		version, err = tx.NextResolution(room)
		return err
	}); err != nil {
		return 0, nil, err
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return 0, nil, err
	}
	if err := s.vault.CreateDataset(ctx, resolutionVault(room)); err != nil && !errorsIsExist(err) {
		return 0, nil, err
	}
	vw, err := s.vault.NewVersion(ctx, resolutionVault(room), version)
	if err != nil {
		return 0, nil, err
	}
	if _, err := vw.Write(raw); err != nil {
		vw.Abort()
		return 0, nil, err
	}
	return version, vw.Commit, nil
}

// ReadAssignment returns the room people of a room's newest finished
// match run, or nil if there is none.
func (s *Server) ReadAssignment(ctx context.Context, room string) (*match.Assignment, error) {
	var run *sqlite.MatchRun
	if err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		run, err = tx.LatestResolution(room)
		return err
	}); err != nil || run == nil {
		return nil, err
	}
	rc, err := s.vault.OpenVersion(ctx, resolutionVault(room), run.Resolution)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var a match.Assignment
	if err := json.NewDecoder(rc).Decode(&a); err != nil {
		return nil, fmt.Errorf("read resolution %d of room %s: %w", run.Resolution, room, err)
	}
	return &a, nil
}
