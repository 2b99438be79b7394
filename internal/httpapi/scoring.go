package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/dpml"
	"github.com/cleanroom-dev/cleanroom/internal/match"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// Online scoring: a model job whose template declares scoring keeps its
// joint model in the room once its run is released. The label's party
// (the bank) then scores an applicant by sending the applicant's
// identifier blinded with its own key, a manifest it signed for that one
// request, and its own features of the applicant. The room hands the
// token to the agent of each other feature dataset's party (the operator),
// which re-blinds it under its Guard's request rules; the room finds the
// subscriber with that doubly blinded token among the tokens the bank's
// agent re-blinded during matching, and returns the score alone.
//
// An applicant the room cannot match is scored with the features of a
// subscriber drawn by a keyed hash of the doubly blinded token: the same
// applicant always gets the same score, the operator's share of the score
// has the same distribution as a subscriber's, and the work done is the
// same, so a score says nothing about whether the applicant is a
// subscriber (docs/use-cases.md, "Online scoring").

// Online scoring settings.
const (
	// scoringTimeout bounds how long a request waits for the agents.
	scoringTimeout = 10 * time.Second
	// defaultScoringWait and maxScoringWait bound an agent's long poll.
	defaultScoringWait = 25 * time.Second
	maxScoringWait     = 60 * time.Second
	// maxScoringTake is how many requests one poll hands an agent.
	maxScoringTake = 64
	// maxScoringQueue is how many requests may wait for one party's agent.
	maxScoringQueue = 1024
	// scoringDecimals is the precision a score is returned with.
	scoringDecimals = 6
)

// modelsVault names a room's kept models in the encrypted store.
func modelsVault(room string) string { return room + "._models" }

// ScoreRequest asks for one applicant's score.
type ScoreRequest struct {
	// Model is the ID of the released model run whose model scores.
	Model string `json:"model"`
	// Manifest is the request manifest (blind.NewRequestManifest) the
	// caller's party signed for Token, with request "score:<model>".
	Manifest statement.Envelope `json:"manifest"`
	// Token is the applicant's identifier of the model's scoring class,
	// normalised, hashed and blinded with the party's room key (standard
	// base64).
	Token string `json:"token"`
	// Features are the caller's own features of the applicant, by
	// "<dataset>.<column>", as text in the column's type.
	Features map[string]string `json:"features"`
}

// ScoreBody is a score: the same fields whatever the applicant.
type ScoreBody struct {
	Model string  `json:"model"`
	Score float64 `json:"score"`
	// Bin is the model's public score bin the score falls in.
	Bin string `json:"bin"`
}

// ScoringJobs are the requests an agent takes in one poll.
type ScoringJobs struct {
	Jobs []ScoringJob `json:"jobs"`
}

// ScoringJob is one request's token for an agent to re-blind.
type ScoringJob struct {
	ID       string             `json:"id"`
	Party    string             `json:"party"` // the party that signed the manifest
	Manifest statement.Envelope `json:"manifest"`
	Token    string             `json:"token"`
}

// ScoringResult is an agent's answer: the job's token re-blinded, or why
// the agent refused it.
type ScoringResult struct {
	Token   string `json:"token,omitempty"`
	Refused string `json:"refused,omitempty"`
}

func (s *Server) scoringRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/scores", Action: cleanroom.ActionScore, Mutates: true,
			decode:  decodeInto(func(c *call, v *ScoreRequest) error { c.body = &scoreWork{req: v}; return nil }),
			prepare: s.prepareScore, handle: s.recordScore},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/agent/scoring", Action: cleanroom.ActionAgentScoring,
			prepare: s.takeScoring, handle: s.listScoring},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/agent/scoring/{request}", Action: cleanroom.ActionAgentScoreResult,
			decode: decodeInto(func(c *call, v *ScoringResult) error { c.body = v; return nil }), handle: s.scoringResult},
	}
}

func errScoringHMAC(room string) error {
	return cleanroom.Errorf(cleanroom.EInvalid, "room %q matches with a shared hmac secret; online scoring needs a room whose agents re-blind (ecdh)", room).
		WithHint("score in an ecdh room: each request's identifier is re-blinded by the other parties' agents under a manifest signed for it")
}

// keptModel is a joint model kept for online scoring, as stored
// (encrypted) in the room.
type keptModel struct {
	Template cleanroom.Template `json:"template"`
	Version  int                `json:"version"`
	Datasets []RunDataset       `json:"datasets"`
	Model    dpml.Model         `json:"model"`
	Scale    float64            `json:"scale"`
	// Secret keys the draw of the subscriber whose features score an
	// applicant the room cannot match; it is kept with the model so the
	// draw survives restarts.
	Secret []byte `json:"secret"`
}

// keepJoint returns the joint model of a run, to keep for scoring.
func keepJoint(t *cleanroom.Template, version int, ds []RunDataset, models []*trainedModel) *keptModel {
	for _, tm := range models {
		if tm.name != cleanroom.ModelJoint {
			continue
		}
		k := &keptModel{Template: *t, Version: version, Datasets: ds, Model: *tm.model, Scale: tm.scale, Secret: make([]byte, 32)}
		rand.Read(k.Secret)
		return k
	}
	return nil
}

// keepModel writes a kept model to the store as the room's next kept
// model, visible once the run's transaction commits.
func (s *Server) keepModel(c *call, k *keptModel) (err error) {
	w := c.body.(*queryWork)
	ctx := c.r.Context()
	room := c.target.Room
	s.modelMu.Lock()
	unlock := func() { s.modelMu.Unlock() }
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	if err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		w.kept, err = tx.NextScoringVersion(room)
		return err
	}); err != nil {
		return err
	}
	raw, err := json.Marshal(k)
	if err != nil {
		return err
	}
	if err := s.vault.CreateDataset(ctx, modelsVault(room)); err != nil && !errorsIsExist(err) {
		return err
	}
	vw, err := s.vault.NewVersion(ctx, modelsVault(room), w.kept)
	if err != nil {
		return err
	}
	_, err = vw.Write(raw)
	clear(raw)
	if err != nil {
		vw.Abort()
		return err
	}
	c.beforeCommit = append(c.beforeCommit, vw.Commit)
	c.onFail = append(c.onFail, func() { vw.Abort(); unlock() })
	c.afterCommit = append(c.afterCommit, unlock)
	return nil
}

// scoreWork carries a request from its computation to its recording.
type scoreWork struct {
	req   *ScoreRequest
	limit int
	day   string
	out   ScoreBody
}

// scoringTask is one request waiting for one party's agent: a scoring
// request's token (job a ScoringJob) or a result to open (an OpeningJob).
type scoringTask struct {
	room, party, id string
	job             any
	result          chan scoringAnswer
}

// scoringAnswer is an agent's answer to a task.
type scoringAnswer struct {
	token   blind.Token
	opened  *OpeningResult
	refused string
}

// scoringHub relays requests to agents, and keeps each model's index.
type scoringHub struct {
	mu     sync.Mutex
	queues map[string][]*scoringTask // "<room>/<party>" → not yet taken
	wake   map[string]chan struct{}  // closed when a task is queued
	taken  map[string]*scoringTask   // by job ID: taken, not yet answered

	build   sync.Mutex // one index is built at a time
	indexes map[string]*scoringIndex
}

func newScoringHub() *scoringHub {
	return &scoringHub{queues: map[string][]*scoringTask{}, wake: map[string]chan struct{}{},
		taken: map[string]*scoringTask{}, indexes: map[string]*scoringIndex{}}
}

func (h *scoringHub) push(t *scoringTask) error {
	k := t.room + "/" + t.party
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.queues[k]) >= maxScoringQueue {
		return cleanroom.Errorf(cleanroom.EUnavailable, "%d requests already wait for party %q's agent", maxScoringQueue, t.party).
			WithHint("try again shortly; the party may run more agents")
	}
	h.queues[k] = append(h.queues[k], t)
	if ch, ok := h.wake[k]; ok {
		close(ch)
		delete(h.wake, k)
	}
	return nil
}

// drop forgets a task whose request has given up on it.
func (h *scoringHub) drop(t *scoringTask) {
	k := t.room + "/" + t.party
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.taken, t.id)
	h.queues[k] = slices.DeleteFunc(h.queues[k], func(x *scoringTask) bool { return x == t })
}

// take hands up to maxScoringTake queued tasks of a room's party to its
// agent, waiting up to wait for one to arrive.
func (h *scoringHub) take(ctx context.Context, room, party string, wait time.Duration) []*scoringTask {
	k := room + "/" + party
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		h.mu.Lock()
		if q := h.queues[k]; len(q) > 0 {
			n := min(len(q), maxScoringTake)
			out := slices.Clone(q[:n])
			h.queues[k] = slices.Delete(q, 0, n)
			for _, t := range out {
				h.taken[t.id] = t
			}
			h.mu.Unlock()
			return out
		}
		ch, ok := h.wake[k]
		if !ok {
			ch = make(chan struct{})
			h.wake[k] = ch
		}
		h.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// deliver hands an agent's answer to the waiting request.
func (h *scoringHub) deliver(room, party, id string, ans scoringAnswer) error {
	h.mu.Lock()
	t, ok := h.taken[id]
	if ok && t.room == room && t.party == party {
		delete(h.taken, id)
	}
	h.mu.Unlock()
	if !ok || t.room != room || t.party != party {
		return cleanroom.Errorf(cleanroom.ENotFound, "no scoring request %s waits for party %q's agent", id, party).
			WithHint("the request may have timed out after %s", scoringTimeout)
	}
	t.result <- ans
	return nil
}

// forget drops a room's indexes (its data is being deleted).
func (h *scoringHub) forget(room string) {
	h.build.Lock()
	defer h.build.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.indexes {
		if strings.HasPrefix(k, room+"/") {
			delete(h.indexes, k)
		}
	}
}

// scoringIndex is a kept model ready to score: its inputs, and for each
// feature dataset other than the label's, its subscribers' feature values
// by the token the label party's agent re-blinded.
type scoringIndex struct {
	key      string
	model    *keptModel
	cfg      dpml.Config
	encoders []encoder
	sides    []*scoringSide
}

type scoringSide struct {
	dataset, party string
	columns        []string
	// entries are the values of columns of each subscriber row a token
	// leads to; rows maps a doubly blinded token to its entry.
	entries [][]string
	rows    map[blind.Token]int32
}

// draw is the entry whose features score an applicant the room cannot
// match: a keyed hash of the applicant's doubly blinded token.
func (sd *scoringSide) draw(secret []byte, tok blind.Token) int32 {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(sd.dataset))
	mac.Write(tok[:])
	sum := mac.Sum(nil)
	return int32(binary.BigEndian.Uint64(sum) % uint64(len(sd.entries)))
}

// score scores an applicant from the caller's features and the doubly
// blinded token of each side's party. Both the match and the draw are
// computed for every side, matched or not.
func (ix *scoringIndex) score(features map[string]string, tokens map[string]blind.Token) float64 {
	m := ix.model
	label := m.Template.Model.LabelDataset()
	values := map[string][]string{}
	for _, sd := range ix.sides {
		tok := tokens[sd.party]
		drawn := sd.draw(m.Secret, tok)
		entry, ok := sd.rows[tok]
		if !ok {
			entry = drawn
		}
		values[sd.dataset] = sd.entries[entry]
	}
	x := inputs(ix.cfg, ix.encoders, m.Scale, func(i int) string {
		ref := ix.encoders[i].name
		d, c, _ := cleanroom.SplitColumn(ref)
		if d == label {
			return features[ref]
		}
		for _, sd := range ix.sides {
			if sd.dataset == d {
				return values[d][slices.Index(sd.columns, c)]
			}
		}
		return ""
	})
	return m.Model.Score(x)
}

// checkScoring loads what a request needs to know about a kept model
// and checks the request may be answered: the run is released, the caller
// is the party scores go to, the agreement in force declares the
// disclosure and permits the template, the day's limit is not reached,
// and the model's datasets are still there.
type scoringCheck struct {
	row       *sqlite.ScoringModel
	template  cleanroom.Template
	key       string // the index's key: the model and the opt-out lists
	signing   []byte // the caller's party's signing key
	schemas   map[string]*cleanroom.Schema
	dua       int
	requested int
}

func (s *Server) checkScoring(tx *sqlite.Tx, room, model, party, day string) (*scoringCheck, error) {
	r, err := tx.Room(room)
	if err != nil {
		return nil, err
	}
	if r.Matching == cleanroom.MatchingHMAC {
		return nil, errScoringHMAC(room)
	}
	ck := &scoringCheck{}
	if ck.row, err = tx.ScoringModel(room, model); err != nil {
		return nil, err
	}
	if ck.row.Party != party {
		return nil, cleanroom.Errorf(cleanroom.EForbidden, "the scores of model %s go to party %q only", model, ck.row.Party)
	}
	q, err := tx.Query(room, model)
	if err != nil {
		return nil, err
	}
	if q.State != cleanroom.QueryReleased {
		return nil, cleanroom.Errorf(cleanroom.EConflict, "model run %s is %s; its model scores once the run is released", model, q.State)
	}
	d, err := requireDUA(tx, room, party)
	if err != nil {
		return nil, err
	}
	ck.dua = d.Version
	if err := requireTemplatePermitted(d, ck.row.Template, ck.row.Version); err != nil {
		return nil, err
	}
	tr, err := tx.Template(room, ck.row.Template, ck.row.Version)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(tr.Content, &ck.template); err != nil {
		return nil, err
	}
	if ck.template.Model == nil || ck.template.Model.Scoring == nil {
		return nil, fmt.Errorf("template %s version %d of kept model %s declares no scoring", ck.row.Template, ck.row.Version, model)
	}
	if err := ck.template.Model.RequireDisclosure(d); err != nil {
		return nil, err
	}
	if ck.requested, err = tx.ScoringRequests(room, model, day); err != nil {
		return nil, err
	}
	if limit := ck.template.Model.Scoring.DailyLimit; ck.requested >= limit {
		return nil, cleanroom.Errorf(cleanroom.ELimit, "model %s has answered its %d requests for %s (UTC)", model, limit, day).
			WithHint("the template's scoring.daily_limit caps requests per day; a new template version can change it")
	}
	p, err := tx.Party(party)
	if err != nil {
		return nil, err
	}
	ck.signing = p.SigningKey
	if ck.schemas, _, err = roomSchemas(tx, room); err != nil {
		return nil, err
	}
	optOuts, err := optOutVersions(tx, room)
	if err != nil {
		return nil, err
	}
	ck.key = room + "/" + model + "/" + strings.Join(optOuts, ",")
	return ck, nil
}

// index returns the kept model's index, building it on first use and
// whenever an opt-out list has a new version.
func (s *Server) index(ctx context.Context, room string, ck *scoringCheck) (*scoringIndex, error) {
	h := s.scoring
	h.mu.Lock()
	ix := h.indexes[room+"/"+ck.row.Query]
	h.mu.Unlock()
	if ix != nil && ix.key == ck.key {
		return ix, nil
	}
	h.build.Lock()
	defer h.build.Unlock()
	h.mu.Lock()
	ix = h.indexes[room+"/"+ck.row.Query]
	h.mu.Unlock()
	if ix != nil && ix.key == ck.key {
		return ix, nil
	}
	ix, err := s.buildIndex(ctx, room, ck)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.indexes[room+"/"+ck.row.Query] = ix
	h.mu.Unlock()
	return ix, nil
}

func (s *Server) buildIndex(ctx context.Context, room string, ck *scoringCheck) (*scoringIndex, error) {
	rc, err := s.vault.OpenVersion(ctx, modelsVault(room), ck.row.VaultVersion)
	if err != nil {
		return nil, fmt.Errorf("open kept model %s: %w", ck.row.Query, err)
	}
	var k keptModel
	err = json.NewDecoder(rc).Decode(&k)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("read kept model %s: %w", ck.row.Query, err)
	}
	m := k.Template.Model
	ix := &scoringIndex{key: ck.key, model: &k,
		cfg: dpml.Config{Epsilon: m.Epsilon, Lambda: m.Lambda, InterceptFeature: modelIntercept}}
	for _, ref := range m.Features {
		d, c, _ := cleanroom.SplitColumn(ref)
		schema := ck.schemas[d]
		if schema == nil || schema.Attribute(c) == nil {
			return nil, cleanroom.Errorf(cleanroom.EConflict, "model %s reads %s, which the room no longer has", ck.row.Query, ref)
		}
		ix.encoders = append(ix.encoders, newEncoder(ref, schema.Attribute(c)))
	}
	if len(k.Model.Coefficients) != len(inputs(ix.cfg, ix.encoders, k.Scale, func(int) string { return "" })) {
		return nil, fmt.Errorf("kept model %s has %d coefficients for its inputs", ck.row.Query, len(k.Model.Coefficients))
	}
	label := m.LabelDataset()
	var labelParty string
	for _, d := range k.Datasets {
		if d.Dataset == label {
			labelParty = d.Party
		}
	}
	for _, d := range k.Datasets {
		if d.Dataset == label {
			continue
		}
		var columns []string
		for _, ref := range m.Features {
			if ds, c, _ := cleanroom.SplitColumn(ref); ds == d.Dataset {
				columns = append(columns, c)
			}
		}
		if len(columns) == 0 {
			continue
		}
		sd, err := s.scoringSide(ctx, room, d, labelParty, m.Scoring.Identifier, columns, ck.schemas[d.Dataset])
		if err != nil {
			return nil, err
		}
		ix.sides = append(ix.sides, sd)
	}
	return ix, nil
}

// scoringSide reads one feature dataset's version: its rows' tokens of
// the scoring class as the label party's agent re-blinded them, and their
// feature values. Rows on the party's opt-out lists and junk tokens take
// no part, as in matching; a token on several rows leads to its first.
func (s *Server) scoringSide(ctx context.Context, room string, d RunDataset, labelParty string, class cleanroom.IdentifierClass,
	columns []string, schema *cleanroom.Schema) (*scoringSide, error) {
	gone := func() error {
		return cleanroom.Errorf(cleanroom.EConflict, "version %d of dataset %s, which the model was trained on, is no longer in the room", d.Version, d.Dataset).
			WithHint("run the model job again on the datasets' current versions")
	}
	var digest string
	if err := s.db.View(ctx, func(tx *sqlite.Tx) error {
		ms, err := tx.Manifests(room, d.Dataset, d.Version)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(ms, func(r sqlite.ManifestRecord) bool { return r.Class == string(class) })
		if i < 0 {
			return gone()
		}
		digest = ms[i].Digest
		return nil
	}); err != nil {
		return nil, err
	}
	pairs, err := s.readReblinded(ctx, room, digest, labelParty)
	if err != nil {
		return nil, gone()
	}
	v, err := s.readVersion(ctx, room, d.Dataset, d.Version, schema)
	if err != nil {
		return nil, gone()
	}
	out, err := s.optOuts(ctx, room, d.Party)
	if err != nil {
		return nil, err
	}
	excluded := map[int]bool{}
	for _, row := range out.rows(v) {
		excluded[row] = true
	}
	count := map[match.Token]int{}
	first := map[match.Token]int{}
	for _, c := range v.columns {
		if c.Class != class {
			continue
		}
		for row, t := range c.Tokens {
			if t == nil || excluded[row] {
				continue
			}
			count[*t]++
			if _, ok := first[*t]; !ok {
				first[*t] = row
			}
		}
	}
	// Rows a usable token leads to, numbered as entries.
	entryOf := map[int]int32{}
	sd := &scoringSide{dataset: d.Dataset, party: d.Party, columns: columns, rows: map[blind.Token]int32{}}
	for p := 0; p+64 <= len(pairs); p += 64 {
		var own match.Token
		var cmp blind.Token
		copy(own[:], pairs[p:p+32])
		copy(cmp[:], pairs[p+32:p+64])
		row, ok := first[own]
		if !ok || count[own] > match.JunkLimit {
			continue
		}
		e, ok := entryOf[row]
		if !ok {
			e = int32(len(entryOf))
			entryOf[row] = e
		}
		sd.rows[cmp] = e
	}
	if len(entryOf) == 0 {
		return nil, cleanroom.Errorf(cleanroom.EConflict, "dataset %s has no subscriber with a %s token to score against", d.Dataset, class)
	}
	rows := make([]int32, v.rows)
	for i := range rows {
		rows[i] = -1
	}
	for row, e := range entryOf {
		rows[row] = e
	}
	sd.entries = make([][]string, len(entryOf))
	reads := map[string]match.AssignedDataset{d.Dataset: {Dataset: d.Dataset, Version: d.Version, Rows: rows}}
	err = s.scanRows(ctx, room, d.Dataset, reads, columns, func(e int32, vals []string) error {
		sd.entries[e] = slices.Clone(vals)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sd, nil
}

// checkFeatures checks the caller's features of an applicant: exactly the
// label dataset's features of the model, each a value of its column.
func checkScoreFeatures(t *cleanroom.Template, schemas map[string]*cleanroom.Schema, got map[string]string) error {
	m := t.Model
	var want []string
	for _, ref := range m.Features {
		if d, _, _ := cleanroom.SplitColumn(ref); d == m.LabelDataset() {
			want = append(want, ref)
		}
	}
	for _, ref := range want {
		v, ok := got[ref]
		if !ok {
			return cleanroom.Errorf(cleanroom.EInvalid, "features: %q is missing", ref).
				WithHint("send the applicant's %s", strings.Join(want, ", "))
		}
		d, c, _ := cleanroom.SplitColumn(ref)
		if err := checkFeatureValue(schemas[d].Attribute(c), v); err != nil {
			return cleanroom.Errorf(cleanroom.EInvalid, "features: %q: %v", ref, err)
		}
	}
	for ref := range got {
		if !slices.Contains(want, ref) {
			return cleanroom.Errorf(cleanroom.EInvalid, "features: %q is not one of the model's features of %s", ref, m.LabelDataset()).
				WithHint("send exactly %s", strings.Join(want, ", "))
		}
	}
	return nil
}

// checkFeatureValue checks one value against its column's type and domain.
func checkFeatureValue(col *cleanroom.AttributeColumn, v string) error {
	switch {
	case col.Policy == cleanroom.PolicyDimension && len(col.Categories) > 0:
		if !slices.Contains(col.Categories, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(col.Categories, ", "))
		}
	case col.Type == cleanroom.TypeBool:
		if v != "true" && v != "false" {
			return fmt.Errorf("%q is not true or false", v)
		}
	default:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%q is not a number", v)
		}
	}
	return nil
}

// decodePoint decodes a base64 token that must be a canonical, non-identity
// ristretto255 element.
func decodePoint(field, s64 string) (blind.Token, error) {
	var t blind.Token
	var buf [33]byte // 44 characters without padding decode to 33 bytes
	n, err := 0, error(nil)
	if len(s64) == 44 {
		n, err = base64.StdEncoding.Decode(buf[:], []byte(s64))
	}
	copy(t[:], buf[:])
	e := ristretto255.NewElement()
	if err != nil || n != 32 || e.Decode(t[:]) != nil || e.Equal(ristretto255.NewElement()) == 1 {
		return blind.Token{}, cleanroom.Errorf(cleanroom.EInvalid, "field %q is not a blinded identifier (a ristretto255 element, 44 characters of base64)", field)
	}
	return t, nil
}

func (s *Server) prepareScore(c *call) error {
	w := c.body.(*scoreWork)
	req := w.req
	ctx := c.r.Context()
	room := c.target.Room
	if err := requestedField("model", req.Model); err != nil {
		return err
	}
	c.object = "query:" + req.Model
	tok, err := decodePoint("token", req.Token)
	if err != nil {
		return err
	}
	w.day = time.Now().UTC().Format(time.DateOnly)
	var ck *scoringCheck
	if err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		ck, err = s.checkScoring(tx, room, req.Model, c.p.Party, w.day)
		return err
	}); err != nil {
		return err
	}
	c.detail["dua"] = strconv.Itoa(ck.dua)
	sc := ck.template.Model.Scoring
	w.limit = sc.DailyLimit
	// The manifest: the caller's party's, for this room, server, model
	// and token. Each agent checks it again, and its freshness.
	m, err := blind.VerifyManifest(ck.signing, req.Manifest)
	if err != nil {
		return cleanroom.Errorf(cleanroom.EInvalid, "field \"manifest\": %v", err).
			WithHint("sign a request manifest with party %q's signing key (`cleanroom score` does)", c.p.Party)
	}
	switch {
	case m.Party != c.p.Party || m.Room != room || m.Server != s.serverID:
		return cleanroom.Errorf(cleanroom.EInvalid, "field \"manifest\": it is party %q's for room %q on server %s, not party %q's for room %q here",
			m.Party, m.Room, m.Server, c.p.Party, room)
	case m.Request != "score:"+req.Model:
		return cleanroom.Errorf(cleanroom.EInvalid, "field \"manifest\": its request is %q, want %q", m.Request, "score:"+req.Model)
	case m.Class != sc.Identifier:
		return cleanroom.Errorf(cleanroom.EInvalid, "field \"manifest\": class %s, but model %s scores by %s", m.Class, req.Model, sc.Identifier)
	}
	if err := blind.CheckSet(m, []blind.Token{tok}); err != nil {
		return cleanroom.Errorf(cleanroom.EInvalid, "field \"manifest\": %v", err)
	}
	if err := checkScoreFeatures(&ck.template, ck.schemas, req.Features); err != nil {
		return err
	}
	ix, err := s.index(ctx, room, ck)
	if err != nil {
		return err
	}
	// The versions the model was trained on must still be in the room
	// (retention may have deleted them since the index was built).
	if err := s.db.View(ctx, func(tx *sqlite.Tx) error {
		for _, d := range ix.model.Datasets {
			vs, err := tx.Versions(room, d.Dataset)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(vs, func(v sqlite.VersionRecord) bool { return v.Version == d.Version }) {
				return cleanroom.Errorf(cleanroom.EConflict, "version %d of dataset %s, which model %s was trained on, is no longer in the room",
					d.Version, d.Dataset, req.Model).WithHint("run the model job again on the datasets' current versions")
			}
		}
		return nil
	}); err != nil {
		return err
	}

	// Each other party's agent re-blinds the token.
	var parties []string
	for _, sd := range ix.sides {
		if !slices.Contains(parties, sd.party) {
			parties = append(parties, sd.party)
		}
	}
	tasks := make([]*scoringTask, len(parties))
	for i, p := range parties {
		id := rand.Text()
		tasks[i] = &scoringTask{room: room, party: p, id: id, result: make(chan scoringAnswer, 1),
			job: ScoringJob{ID: id, Party: c.p.Party, Manifest: req.Manifest, Token: req.Token}}
		if err := s.scoring.push(tasks[i]); err != nil {
			for _, t := range tasks[:i] {
				s.scoring.drop(t)
			}
			return err
		}
	}
	defer func() {
		for _, t := range tasks {
			s.scoring.drop(t)
		}
	}()
	timer := time.NewTimer(scoringTimeout)
	defer timer.Stop()
	tokens := map[string]blind.Token{}
	for _, t := range tasks {
		select {
		case ans := <-t.result:
			if ans.refused != "" {
				return cleanroom.Errorf(cleanroom.EForbidden, "party %q's agent refused to re-blind the request: %s", t.party, ans.refused).
					WithHint("sign a fresh request manifest for this token, room and server with your party's key (`cleanroom score` does), and check your clock")
			}
			tokens[t.party] = ans.token
		case <-timer.C:
			return cleanroom.Errorf(cleanroom.EUnavailable, "party %q's agent did not re-blind the request within %s", t.party, scoringTimeout).
				WithHint("party %s runs `cleanroom agent run --room %s`", t.party, room)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	score := ix.score(req.Features, tokens)
	pow := math.Pow(10, scoringDecimals)
	w.out = ScoreBody{Model: req.Model, Score: math.Round(score*pow) / pow,
		Bin: binLabel(ck.template.Model, ck.template.Model.BinOf(score))}
	c.detail["disclosure"] = sc.Disclosure + " to " + c.p.Party
	c.detail["reblinded_by"] = strings.Join(parties, ",")
	return nil
}

func (s *Server) recordScore(c *call) (int, any, error) {
	w := c.body.(*scoreWork)
	n, err := c.tx.CountScoringRequest(c.target.Room, w.req.Model, w.day)
	if err != nil {
		return 0, nil, err
	}
	if n > w.limit {
		return 0, nil, cleanroom.Errorf(cleanroom.ELimit, "model %s has answered its %d requests for %s (UTC)", w.req.Model, w.limit, w.day)
	}
	return http.StatusOK, w.out, nil
}

// takeTasks is an agent's long poll on one of the hubs: it waits up to
// ?wait= (default defaultScoringWait) for its party's tasks and takes them.
func takeTasks(h *scoringHub, c *call) ([]*scoringTask, error) {
	wait := defaultScoringWait
	if v := c.r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxScoringWait {
			return nil, cleanroom.Errorf(cleanroom.EInvalid, "query parameter \"wait\" is %q; want a duration from 0s to %s", v, maxScoringWait)
		}
		wait = d
	}
	return h.take(c.r.Context(), c.target.Room, c.p.Party, wait), nil
}

// takeScoring is an agent's long poll for requests to re-blind.
func (s *Server) takeScoring(c *call) error {
	tasks, err := takeTasks(s.scoring, c)
	if err != nil {
		return err
	}
	out := ScoringJobs{Jobs: make([]ScoringJob, len(tasks))}
	for i, t := range tasks {
		out.Jobs[i] = t.job.(ScoringJob)
	}
	c.body = out
	return nil
}

func (s *Server) listScoring(c *call) (int, any, error) { return http.StatusOK, c.body, nil }

func (s *Server) scoringResult(c *call) (int, any, error) {
	res := c.body.(*ScoringResult)
	var ans scoringAnswer
	if res.Refused != "" {
		if len(res.Refused) > 500 {
			res.Refused = res.Refused[:500]
		}
		ans.refused = res.Refused
	} else {
		tok, err := decodePoint("token", res.Token)
		if err != nil {
			return 0, nil, err
		}
		ans.token = tok
	}
	if err := s.scoring.deliver(c.target.Room, c.p.Party, c.r.PathValue("request"), ans); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct{}{}, nil
}
