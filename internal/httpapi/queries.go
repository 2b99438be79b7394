package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/release"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

// RunQueryRequest runs a template version (0: the newest approved) with
// parameters given as text, each parsed by its declared type.
type RunQueryRequest struct {
	Template string            `json:"template"`
	Version  int               `json:"version"`
	Params   map[string]string `json:"params"`
}

// QueryBody is a query run as a member sees it. Result is present only for
// those who may see it (cleanroom.SeeResult).
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
	Result    *release.Release  `json:"result,omitempty"`
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
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/queries/{query}", Action: cleanroom.ActionQueryShow, handle: s.showQuery},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/queries/{query}/review", Action: cleanroom.ActionQueryReview, Mutates: true,
			decode: decodeInto(func(c *call, v *ReviewRequest) error { c.body = v; return nil }), handle: s.reviewQuery},
	}
}

func releasesVault(room string) string { return room + "._releases" }

// queryWork carries a run from its computation to its recording.
type queryWork struct {
	req     *RunQueryRequest
	repeat  *sqlite.QueryRow
	outcome *QueryOutcome
	row     sqlite.QueryRow
	commit  func() error
}

// requestOf identifies a request: template version, parameters and the
// dataset versions of the newest match run.
func (s *Server) requestOf(ctx context.Context, room string, req *RunQueryRequest) (string, int, error) {
	var version int
	err := s.db.View(ctx, func(tx *sqlite.Tx) error {
		row, err := tx.Template(room, req.Template, req.Version)
		if err != nil {
			return err
		}
		version = row.Version
		return nil
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
	}{req.Template, version, req.Params, a.Run})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), version, nil
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
	out, err := s.RunQuery(ctx, room, w.req.Template, version, w.req.Params)
	if err != nil {
		return err
	}
	w.outcome = out
	var t cleanroom.Template
	err = s.db.View(ctx, func(tx *sqlite.Tx) error {
		row, err := tx.Template(room, w.req.Template, version)
		if err != nil {
			return err
		}
		return json.Unmarshal(row.Content, &t)
	})
	if err != nil {
		return err
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
	// The release is kept encrypted; it becomes visible with the record.
	s.resolveMu.Lock()
	defer s.resolveMu.Unlock()
	if err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		w.row.VaultVersion, err = tx.NextQueryVersion(room)
		return err
	}); err != nil {
		return err
	}
	raw, err := json.Marshal(out.Release)
	if err != nil {
		return err
	}
	if err := s.vault.CreateDataset(ctx, releasesVault(room)); err != nil && !errorsIsExist(err) {
		return err
	}
	vw, err := s.vault.NewVersion(ctx, releasesVault(room), w.row.VaultVersion)
	if err != nil {
		return err
	}
	if _, err := vw.Write(raw); err != nil {
		vw.Abort()
		return err
	}
	c.beforeCommit = append(c.beforeCommit, vw.Commit)
	c.onFail = append(c.onFail, func() { vw.Abort() })
	return nil
}

func (s *Server) recordQuery(c *call) (int, any, error) {
	w := c.body.(*queryWork)
	if w.repeat != nil {
		c.object = "query:" + w.repeat.ID
		c.detail["repeat_of"] = w.repeat.ID
		b, err := s.queryBody(c.r.Context(), w.repeat, c.p)
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
	c.object = "query:" + w.row.ID
	c.detail["state"] = w.row.State
	c.detail["rho"] = strconv.FormatFloat(w.outcome.Release.Loss.Rho, 'g', -1, 64)
	if w.row.State == cleanroom.QueryReleased {
		// Cell counts are recorded only for released results.
		c.detail["cells"] = strconv.Itoa(len(w.outcome.Release.Cells))
		c.detail["suppressed"] = strconv.Itoa(w.outcome.Release.Suppressed)
	}
	b := s.queryBodyOf(&w.row, w.outcome.Release, c.p)
	return http.StatusCreated, b, nil
}

func (s *Server) queryBodyOf(q *sqlite.QueryRow, rel *release.Release, p *cleanroom.Principal) QueryBody {
	b := QueryBody{ID: q.ID, Template: q.Template, Version: q.Version, Params: q.Params, Analyst: q.Analyst, State: q.State,
		Receivers: q.Receivers, ReviewBy: q.ReviewBy, CreatedAt: q.CreatedAt}
	if b.Receivers == nil {
		b.Receivers = []string{}
	}
	if b.ReviewBy == nil {
		b.ReviewBy = []string{}
	}
	if cleanroom.SeeResult(p, q.Room, q.State, q.Receivers, q.ReviewBy) {
		b.Result = rel
	}
	return b
}

// queryBody reads a run's release from the vault when p may see it.
func (s *Server) queryBody(ctx context.Context, q *sqlite.QueryRow, p *cleanroom.Principal) (QueryBody, error) {
	if !cleanroom.SeeResult(p, q.Room, q.State, q.Receivers, q.ReviewBy) {
		return s.queryBodyOf(q, nil, p), nil
	}
	rc, err := s.vault.OpenVersion(ctx, releasesVault(q.Room), q.VaultVersion)
	if err != nil {
		return QueryBody{}, err
	}
	defer rc.Close()
	var rel release.Release
	if err := json.NewDecoder(rc).Decode(&rel); err != nil {
		return QueryBody{}, err
	}
	return s.queryBodyOf(q, &rel, p), nil
}

func (s *Server) listQueries(c *call) (int, any, error) {
	qs, err := c.tx.Queries(c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	out := QueryList{Queries: []QueryBody{}}
	for i := range qs {
		out.Queries = append(out.Queries, s.queryBodyOf(&qs[i], nil, c.p))
	}
	return http.StatusOK, out, nil
}

func (s *Server) showQuery(c *call) (int, any, error) {
	q, err := c.tx.Query(c.target.Room, c.target.Query)
	if err != nil {
		return 0, nil, err
	}
	b, err := s.queryBody(c.r.Context(), q, c.p)
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
	return http.StatusOK, s.queryBodyOf(q, nil, c.p), nil
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
