package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// RunQueryRequest runs a template version (0: the newest approved) with
// parameters given as text, each parsed by its declared type.
type RunQueryRequest struct {
	Template string            `json:"template"`
	Version  int               `json:"version"`
	Params   map[string]string `json:"params"`
	// Engine runs a plan template: "duckdb" or "beam"; empty for the
	// server's default. It changes where the exact aggregates are
	// computed, never what is released: a request that differs only in
	// its engine is a repeat.
	Engine string `json:"engine,omitempty"`
}

// QueryBody is a query run as a member sees it.
type QueryBody struct {
	ID        string            `json:"id"`
	Template  string            `json:"template"`
	Version   int               `json:"version"`
	Params    map[string]string `json:"params"`
	Analyst   string            `json:"analyst"`
	State     string            `json:"state"`
	Receivers []string          `json:"receivers"`
	ReviewBy  []string          `json:"review_by"`
	Repeat    bool              `json:"repeat,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	// Sealed is the result sealed to the caller's party's agent key
	// (HPKE, info cleanroom.ReleaseInfo), present only for those who may
	// see it (cleanroom.SeeResult). It opens to a release.Release.
	Sealed []byte `json:"sealed,omitempty"`
	// Cells and Suppressed count the groups shown and withheld.
	Cells      int `json:"cells"`
	Suppressed int `json:"suppressed"`
}

// QueryList lists a room's query runs, without results.
type QueryList struct {
	Queries []QueryBody `json:"queries"`
}

// ReviewRequest decides a result waiting for review.
type ReviewRequest struct {
	Decision string `json:"decision"` // approve or reject
}

func (s *Server) queryRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/queries", Action: cleanroom.ActionQueryRun, Mutates: true,
			decode:  decodeInto(func(c *call, v *RunQueryRequest) error { c.body = &queryWork{req: v}; return nil }),
			prepare: s.prepareQuery, handle: s.recordQuery},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/queries", Action: cleanroom.ActionQueryList, handle: s.listQueries},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/queries/explain", Action: cleanroom.ActionQueryExplain,
			decode: decodeInto(func(c *call, v *RunQueryRequest) error { c.body = v; return nil }), handle: s.explainQuery},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/queries/{query}", Action: cleanroom.ActionQueryShow, Discloses: true, handle: s.showQuery},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/queries/{query}/review", Action: cleanroom.ActionQueryReview, Mutates: true,
			decode: decodeInto(func(c *call, v *ReviewRequest) error { c.body = v; return nil }), handle: s.reviewQuery},
	}
}

// queryWork carries a run from its computation to its recording.
type queryWork struct {
	req     *RunQueryRequest
	repeat  *sqlite.QueryRow
	outcome *QueryOutcome
	row     sqlite.QueryRow
	keys    map[string][]byte // party → agent key
	sealed  map[string][]byte // party → sealed result
	// kept is the store version of a model kept for scoring, 0 if none.
	kept int
}

// requestOf identifies a request: template version, parameters and the
// dataset versions of the newest match run.
func (s *Server) requestOf(ctx context.Context, room string, req *RunQueryRequest) (string, int, error) {
	var version int
	var optOuts []string
	err := s.db.View(ctx, func(tx *sqlite.Tx) error {
		row, err := tx.Template(room, req.Template, req.Version)
		if err != nil {
			return err
		}
		version = row.Version
		// A new opt-out list version makes the same request a new run, so
		// a stored result computed before it is not handed out again.
		optOuts, err = optOutVersions(tx, room)
		return err
	})
	if err != nil {
		return "", 0, err
	}
	a, err := s.ReadAssignment(ctx, room)
	if err != nil || a == nil {
		return "", version, err
	}
	raw, _ := json.Marshal(struct {
		Template string
		Version  int
		Params   map[string]string
		Match    string
		OptOuts  []string `json:",omitempty"`
	}{req.Template, version, req.Params, a.Run, optOuts})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), version, nil
}

// optOutVersions names the newest version of each of a room's opt-out
// lists, as "dataset vN".
func optOutVersions(tx *sqlite.Tx, room string) ([]string, error) {
	ds, err := tx.Datasets(room)
	if err != nil {
		return nil, err
	}
	var out []string
	for i := range ds {
		if !isOptOut(&ds[i]) {
			continue
		}
		vs, err := tx.Versions(room, ds[i].Name)
		if err != nil {
			return nil, err
		}
		if len(vs) > 0 {
			out = append(out, ds[i].Name+" v"+strconv.Itoa(vs[len(vs)-1].Version))
		}
	}
	return out, nil
}

func (s *Server) prepareQuery(c *call) error {
	w := c.body.(*queryWork)
	ctx := c.r.Context()
	room := c.target.Room
	if w.req.Template == "" {
		return cleanroom.Errorf(cleanroom.EInvalid, "field \"template\" is required")
	}
	c.object = "template:" + w.req.Template
	request, version, err := s.requestOf(ctx, room, w.req)
	if err != nil {
		return err
	}
	w.req.Version = version
	c.detail["version"] = strconv.Itoa(version)
	if err := s.db.View(ctx, func(tx *sqlite.Tx) error {
		d, err := requireDUA(tx, room, c.p.Party)
		if err != nil {
			return err
		}
		c.detail["dua"] = strconv.Itoa(d.Version)
		return requireTemplatePermitted(d, w.req.Template, version)
	}); err != nil {
		return err
	}
	// A byte-identical request over the same data returns the stored
	// release and spends nothing.
	if request != "" {
		if err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
			w.repeat, err = tx.QueryByRequest(room, request)
			return err
		}); err != nil {
			return err
		}
		if w.repeat != nil {
			return nil
		}
	}
	var t cleanroom.Template
	err = s.db.View(ctx, func(tx *sqlite.Tx) error {
		row, err := tx.Template(room, w.req.Template, version)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(row.Content, &t); err != nil {
			return err
		}
		// Every party that receives or reviews the result needs an agent
		// key to seal it to; a run is refused before it runs otherwise.
		w.keys, err = s.agentKeysOf(tx, room, append(append([]string{}, t.Controls.Receivers...), t.Controls.ReviewBy...))
		return err
	})
	if err != nil {
		return err
	}
	out, err := s.RunQuery(ctx, room, w.req.Template, version, w.req.Params, w.req.Engine)
	if err != nil {
		return err
	}
	w.outcome = out
	if out.Engine != "" {
		c.detail["engine"] = out.Engine
	}
	if out.OptOuts != "" {
		c.detail["opt_outs"] = out.OptOuts
	}
	state := cleanroom.QueryReleased
	if len(t.Controls.ReviewBy) > 0 {
		state = cleanroom.QueryPendingReview
	}
	w.row = sqlite.QueryRow{ID: out.ID, Room: room, Template: w.req.Template, Version: version, Request: request, Params: w.req.Params,
		Analyst: c.p.String(), State: state, Receivers: t.Controls.Receivers, ReviewBy: t.Controls.ReviewBy,
		Cells: len(out.Release.Cells), Suppressed: out.Release.Suppressed}
	if w.row.Params == nil {
		w.row.Params = map[string]string{}
	}
	// The result is sealed to each receiving and reviewing party's agent
	// key; the room keeps no readable copy.
	raw, err := json.Marshal(out.Release)
	if err != nil {
		return err
	}
	w.sealed = map[string][]byte{}
	for _, party := range append(append([]string{}, t.Controls.Receivers...), t.Controls.ReviewBy...) {
		if _, done := w.sealed[party]; done {
			continue
		}
		body := raw
		if out.Segment != nil && party == out.SegmentTo {
			// A declared disclosure goes into its party's copy only.
			withSegment := *out.Release
			withSegment.Segment = out.Segment
			if body, err = json.Marshal(&withSegment); err != nil {
				return err
			}
			c.detail["disclosure"] = out.Segment.Disclosure + " to " + party
		}
		var key []byte
		if w.sealed[party], key, err = keyfile.SealToExporting(w.keys[party], cleanroom.ReleaseInfo(s.serverID, room, out.ID, party), body,
			[]byte(cleanroom.ResultDigestContext), 32); err != nil {
			return err
		}
		// The log shows the result only as a digest under the key the
		// party's agent will export; the room keeps no copy of the key.
		c.detail["digest."+party] = cleanroom.ResultDigest(key, body)
		clear(key)
	}
	if out.kept != nil {
		return s.keepModel(c, out.kept)
	}
	return nil
}

func (s *Server) recordQuery(c *call) (int, any, error) {
	w := c.body.(*queryWork)
	if w.repeat != nil {
		c.object = "query:" + w.repeat.ID
		c.detail["repeat_of"] = w.repeat.ID
		b, err := s.queryBody(c.tx, w.repeat, c.p)
		if err != nil {
			return 0, nil, err
		}
		b.Repeat = true
		return http.StatusOK, b, nil
	}
	w.row.CreatedAt = c.tx.Now()
	if err := c.tx.CreateQuery(w.row); err != nil {
		return 0, nil, err
	}
	for party, sealed := range w.sealed {
		if err := c.tx.PutSealedResult(w.row.Room, w.row.ID, party, sealed); err != nil {
			return 0, nil, err
		}
	}
	// The run's charge, in the run's transaction: no run without its
	// ledger entry, no entry without its run.
	if err := s.chargeRun(c, &w.row); err != nil {
		return 0, nil, err
	}
	c.object = "query:" + w.row.ID
	c.detail["state"] = w.row.State
	if w.kept > 0 {
		t := w.outcome.kept.Template
		if err := c.tx.PutScoringModel(sqlite.ScoringModel{Room: w.row.Room, Query: w.row.ID, VaultVersion: w.kept, Template: w.row.Template,
			Version: w.row.Version, Party: t.Model.Scoring.To, CreatedAt: c.tx.Now()}); err != nil {
			return 0, nil, err
		}
		c.detail["scoring"] = t.Model.Scoring.Disclosure + " to " + t.Model.Scoring.To
	}
	loss := w.outcome.Release.Loss
	c.detail["rho"] = strconv.FormatFloat(loss.Rho, 'g', -1, 64)
	c.detail["epsilon"] = strconv.FormatFloat(loss.Epsilon, 'g', -1, 64)
	c.detail["delta"] = strconv.FormatFloat(loss.Delta, 'g', -1, 64)
	if w.row.State == cleanroom.QueryReleased {
		// Cell counts are recorded only for released results.
		c.detail["cells"] = strconv.Itoa(len(w.outcome.Release.Cells))
		c.detail["suppressed"] = strconv.Itoa(w.outcome.Release.Suppressed)
	}
	b, err := s.queryBody(c.tx, &w.row, c.p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, b, nil
}

func (s *Server) queryBodyOf(q *sqlite.QueryRow) QueryBody {
	b := QueryBody{ID: q.ID, Template: q.Template, Version: q.Version, Params: q.Params, Analyst: q.Analyst, State: q.State,
		Receivers: q.Receivers, ReviewBy: q.ReviewBy, CreatedAt: q.CreatedAt, Cells: q.Cells, Suppressed: q.Suppressed}
	if b.Receivers == nil {
		b.Receivers = []string{}
	}
	if b.ReviewBy == nil {
		b.ReviewBy = []string{}
	}
	return b
}

// queryBody adds the result sealed to p's party when p may see it.
func (s *Server) queryBody(tx *sqlite.Tx, q *sqlite.QueryRow, p *cleanroom.Principal) (QueryBody, error) {
	b := s.queryBodyOf(q)
	if !cleanroom.SeeResult(p, q.Room, q.State, q.Receivers, q.ReviewBy) {
		return b, nil
	}
	sealed, err := tx.SealedResult(q.Room, q.ID, p.Party)
	b.Sealed = sealed
	return b, err
}

// agentKeysOf returns the verified agent keys of parties in a room.
func (s *Server) agentKeysOf(tx *sqlite.Tx, room string, parties []string) (map[string][]byte, error) {
	stored, err := tx.AgentKeys(room)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, name := range parties {
		raw, ok := stored[name]
		if !ok {
			return nil, cleanroom.Errorf(cleanroom.EInvalid, "party %q has no agent key in room %q to seal results to", name, room).
				WithHint("the party runs `cleanroom agent --room %s --once`, which publishes it", room)
		}
		party, err := tx.Party(name)
		if err != nil {
			return nil, err
		}
		var env statement.Envelope
		var k cleanroom.AgentKey
		if json.Unmarshal(raw, &env) != nil || statement.Verify(party.SigningKey, env, &k) != nil || k.Party != name || k.Room != room {
			return nil, fmt.Errorf("stored agent key of party %s in room %s does not verify", name, room)
		}
		out[name] = k.HPKEKey
	}
	return out, nil
}

func (s *Server) listQueries(c *call) (int, any, error) {
	qs, err := c.tx.Queries(c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	out := QueryList{Queries: []QueryBody{}}
	for i := range qs {
		out.Queries = append(out.Queries, s.queryBodyOf(&qs[i]))
	}
	return http.StatusOK, out, nil
}

func (s *Server) showQuery(c *call) (int, any, error) {
	q, err := c.tx.Query(c.target.Room, c.target.Query)
	if err != nil {
		return 0, nil, err
	}
	b, err := s.queryBody(c.tx, q, c.p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, b, nil
}

func (s *Server) reviewQuery(c *call) (int, any, error) {
	req := c.body.(*ReviewRequest)
	state := ""
	switch req.Decision {
	case "approve":
		// Nothing is released once the agreement has ended.
		if _, err := requireDUA(c.tx, c.target.Room, c.p.Party); err != nil {
			return 0, nil, err
		}
		state = cleanroom.QueryReleased
	case "reject":
		state = cleanroom.QueryRejected
	default:
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "decision %q is neither approve nor reject", req.Decision)
	}
	if err := c.tx.DecideQuery(c.target.Room, c.target.Query, state, c.p.String()); err != nil {
		return 0, nil, err
	}
	c.object = "query:" + c.target.Query
	c.detail["decision"] = req.Decision
	q, err := c.tx.Query(c.target.Room, c.target.Query)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.queryBodyOf(q), nil
}

func (s *Server) explainQuery(c *call) (int, any, error) {
	req := c.body.(*RunQueryRequest)
	if req.Template == "" {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "field \"template\" is required")
	}
	e, err := s.ExplainQuery(c.r.Context(), c.target.Room, req.Template, req.Version, req.Params)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, e, nil
}
