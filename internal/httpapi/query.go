package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/crashpoint"
	"github.com/cleanroom-dev/cleanroom/internal/dp"
	"github.com/cleanroom-dev/cleanroom/internal/duckdb"
	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/match"
	"github.com/cleanroom-dev/cleanroom/internal/release"
	"github.com/cleanroom-dev/cleanroom/internal/scaleout"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/template"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// Query settings.
const (
	// querySelectionEpsilon is the ε of a release's partition selection.
	querySelectionEpsilon = 1.0
	// queryDeltaShare is the share of a dataset's lifetime δ one release's
	// selection spends.
	queryDeltaShare = 0.05
	// defaultQueryMemoryLimit bounds the in-memory engine of one run.
	defaultQueryMemoryLimit = 2 << 30
	// modelPadding is the fixed part of a model job's training deadline.
	modelPadding = 3 * time.Second
)

// releasePadding is the fixed time a release's noise takes to draw. (A
// variable so tests can make a release overrun it.)
var releasePadding = 200 * time.Millisecond

// QueryOutcome is a query run's release and what it read.
type QueryOutcome struct {
	ID       string            `json:"id"`
	Template string            `json:"template"`
	Version  int               `json:"version"`
	Params   map[string]string `json:"params"`
	Datasets []RunDataset      `json:"datasets"`
	Groups   []string          `json:"groups"`
	Release  *release.Release  `json:"release"`
	// OptOuts names the opt-out lists applied, per party ("" for none).
	OptOuts string `json:"opt_outs,omitempty"`
	// Engine names the engine that computed the aggregates ("duckdb",
	// "beam/prism", …), empty for templates that run on none.
	Engine string `json:"engine,omitempty"`
	// Segment is a look-alike segment for SegmentTo's copy only.
	Segment   *release.Segment `json:"-"`
	SegmentTo string           `json:"-"`
	// kept is a joint model the room keeps for online scoring.
	kept *keptModel
}

// queryPlan is a run planned before anything is read or spent.
type queryPlan struct {
	template cleanroom.Template
	version  int
	plan     *engine.Plan
	metrics  []release.Metric
	controls release.Controls
	datasets []RunDataset
	reads    map[string]match.AssignedDataset
	schemas  map[string]*cleanroom.Schema
	// extra is what a model job's training spends beyond the release.
	extra dp.Loss
}

// planQuery binds and compiles an approved template against the newest
// match run and derives the release's controls. It reads no data.
func (s *Server) planQuery(ctx context.Context, room, name string, version int, params map[string]string) (*queryPlan, error) {
	var row *sqlite.TemplateRow
	var schemas map[string]*cleanroom.Schema
	var owners map[string]string
	err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		if row, err = tx.Template(room, name, version); err != nil {
			return err
		}
		schemas, owners, err = roomSchemas(tx, room)
		return err
	})
	if err != nil {
		return nil, err
	}
	if row.State != string(cleanroom.TemplateApproved) {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "template %q version %d is %s; only approved templates run", name, row.Version, row.State)
	}
	q := &queryPlan{version: row.Version, reads: map[string]match.AssignedDataset{}}
	if err := json.Unmarshal(row.Content, &q.template); err != nil {
		return nil, err
	}
	t := &q.template
	bound, err := template.Bind(t, params)
	if err != nil {
		return nil, asInvalid(err)
	}
	q.schemas = schemas
	if t.Attribution == nil && t.Model == nil && t.Lookalike == nil {
		if q.plan, err = engine.Compile(t, bound, schemas); err != nil {
			return nil, err
		}
	}
	if t.Model != nil {
		q.extra = dp.Loss{Rho: t.Model.TrainingLoss()}
	}
	if t.Lookalike != nil {
		q.extra = dp.Loss{Rho: t.Lookalike.TrainingLoss()}
	}
	assignment, err := s.ReadAssignment(ctx, room)
	if err != nil {
		return nil, err
	}
	if assignment == nil {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "room %q has no finished match run", room).
			WithHint("a provider runs `cleanroom match run --room %s` first", room)
	}
	for _, ds := range assignment.Datasets {
		q.reads[ds.Dataset] = ds
	}
	var size int64 = 1
	for _, d := range t.Join {
		ad, ok := q.reads[d]
		if !ok {
			return nil, cleanroom.Errorf(cleanroom.EInvalid, "dataset %q was not in the newest match run", d).
				WithHint("run matching again after the dataset's upload")
		}
		q.datasets = append(q.datasets, RunDataset{Dataset: d, Party: owners[d], Version: ad.Version})
		size = max(size, int64(len(ad.Rows)))
	}
	switch {
	case t.Lookalike != nil:
		q.metrics = lookalikeMetrics
	case t.Model != nil:
		q.metrics = modelMetrics
	case t.Attribution != nil:
		q.metrics = attributionMetrics(t.Attribution)
	default:
		q.metrics = release.PlanMetrics(q.plan)
	}
	limit, err := dp.DeltaLimit(size)
	if err != nil {
		return nil, err
	}
	q.controls = release.Controls{MinGroupSize: int64(t.Controls.MinGroupSize), Rho: t.Controls.Rho, Epsilon: t.Controls.Epsilon,
		L0: int64(t.Controls.MaxGroupsPerPerson), Coarsen: t.Controls.Coarsen,
		SelectionEpsilon: querySelectionEpsilon, SelectionDelta: min(limit/2, dp.MaxDelta) * queryDeltaShare}
	return q, nil
}

// RunQuery runs an approved template with an analyst's parameters over the
// room people of the newest match run: it compiles the plan, reserves the
// release's budget on every dataset it reads, computes the exact bounded
// aggregates in an in-memory DuckDB, and releases them through the output
// controls. The budget is committed once the release exists and released
// if the run fails before.
//
// engine picks the engine of a plan template's run: EngineDuckDB,
// EngineBeam, or "" for the server's default. Whichever runs it, the
// aggregates are the same and go through the same output controls,
// budget and audit.
func (s *Server) RunQuery(ctx context.Context, room, name string, version int, params map[string]string, engineName string) (*QueryOutcome, error) {
	q, err := s.planQuery(ctx, room, name, version, params)
	if err != nil {
		return nil, err
	}
	t := &q.template
	if engineName != "" && engineName != EngineDuckDB && engineName != EngineBeam {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "engine %q, want %s or %s", engineName, EngineDuckDB, EngineBeam)
	}
	explicit := engineName != ""
	if engineName == "" {
		engineName = s.engine
	}
	if engineName == "" {
		engineName = EngineDuckDB
	}
	if t.Lookalike != nil || t.Model != nil || t.Attribution != nil {
		if explicit && engineName != EngineDuckDB {
			return nil, cleanroom.Errorf(cleanroom.EInvalid, "template %s trains a model or attributes conversions in the room's own code: it runs on no query engine, so engine %q does not apply", name, engineName)
		}
		engineName = ""
	}
	if engineName == EngineBeam {
		if err := s.requireScaleOut(ctx, room); err != nil {
			return nil, err
		}
	}
	if t.Lookalike != nil && t.Lookalike.Segment != nil {
		// The segment is a declared disclosure: refused unless the
		// agreement in force names it.
		if err := s.db.View(ctx, func(tx *sqlite.Tx) error {
			d, err := requireDUA(tx, room)
			if err != nil {
				return err
			}
			return t.Lookalike.RequireDisclosure(d)
		}); err != nil {
			return nil, err
		}
	}
	if t.Model != nil && t.Model.Scoring != nil {
		// Online scoring is a declared disclosure too, and needs agents
		// that re-blind each applicant's identifier.
		if err := s.db.View(ctx, func(tx *sqlite.Tx) error {
			r, err := tx.Room(room)
			if err != nil {
				return err
			}
			if r.Matching == cleanroom.MatchingHMAC {
				return errScoringHMAC(room)
			}
			d, err := requireDUA(tx, room)
			if err != nil {
				return err
			}
			return t.Model.RequireDisclosure(d)
		}); err != nil {
			return nil, err
		}
	}
	id, _ := cleanroom.NewTokenSecret()
	out := &QueryOutcome{ID: id, Template: name, Version: q.version, Params: params, Datasets: q.datasets, Engine: s.engineLabel(engineName)}
	// Reserve the budget before anything runs; a run that would overspend
	// is refused here.
	var dr []sqlite.DatasetRead
	receiver := "members"
	if len(t.Controls.Receivers) > 0 {
		receiver = t.Controls.Receivers[0]
	}
	err = s.db.Update(ctx, func(tx *sqlite.Tx) error {
		dr = dr[:0]
		for _, d := range q.datasets {
			if _, err := s.ensureBudget(tx, room, d); err != nil {
				return err
			}
			dr = append(dr, sqlite.DatasetRead{Dataset: budgetID(room, d.Dataset)})
		}
		loss, err := release.Plan(q.controls, q.metrics)
		if err != nil {
			return err
		}
		if loss, err = loss.Plus(q.extra); err != nil {
			return err
		}
		return tx.ReserveBudget(sqlite.BudgetRequest{ID: "query:" + id, Receiver: receiver, Loss: loss, Reads: dr,
			Description: "template " + name + " version " + fmt.Sprint(q.version)})
	})
	if err != nil {
		return nil, err
	}
	crashpoint.Hit("query.reserved")
	settle := func(commit bool) error {
		return s.db.Update(context.WithoutCancel(ctx), func(tx *sqlite.Tx) error {
			if commit {
				return tx.CommitReservation("query:" + id)
			}
			return tx.ReleaseReservation("query:" + id)
		})
	}

	reads, applied, err := s.withoutOptOuts(ctx, room, q.reads, q.datasets)
	if err != nil {
		if serr := settle(false); serr != nil {
			s.log.Error("release budget reservation", "query", id, "err", serr)
		}
		return nil, err
	}
	out.OptOuts = applied
	var groups []release.Group
	var models []*trainedModel
	var look *lookalikeRun
	switch {
	case t.Lookalike != nil:
		rows := len(reads[t.Lookalike.Population].Rows)
		deadline := time.Now().Add(modelPadding + time.Duration(rows*(len(t.Lookalike.Features)+1))*2*time.Microsecond)
		err = dp.PadTo(ctx, deadline, func() (err error) {
			groups, look, err = s.lookalike(ctx, room, t, reads, q.schemas)
			return err
		})
		if err != nil && look != nil && look.refused {
			// Only the seed count's noise was drawn: charge exactly that,
			// and give back the rest of the reservation, in one step.
			serr := s.db.Update(context.WithoutCancel(ctx), func(tx *sqlite.Tx) error {
				if err := tx.ReleaseReservation("query:" + id); err != nil {
					return err
				}
				seedID := "query:" + id + ":seed"
				if err := tx.ReserveBudget(sqlite.BudgetRequest{ID: seedID, Receiver: receiver, Loss: dp.Loss{Rho: t.Lookalike.SeedRho},
					Reads: dr, Description: "look-alike seed test of template " + name}); err != nil {
					return err
				}
				return tx.CommitReservation(seedID)
			})
			if serr != nil {
				s.log.Error("charge the seed test", "query", id, "err", serr)
			}
			return nil, err
		}
		if err != nil && cleanroom.ErrorCode(err) != cleanroom.EInvalid {
			// The model's noise was drawn: the budget is spent though
			// nothing is released.
			if serr := settle(true); serr != nil {
				s.log.Error("commit budget reservation", "query", id, "err", serr)
			}
			return nil, err
		}
	case t.Model != nil:
		// Training's running time depends on its noise: pad it to a
		// deadline set from the job's size alone.
		rows := 0
		for _, d := range q.datasets {
			rows = max(rows, len(reads[d.Dataset].Rows))
		}
		deadline := time.Now().Add(modelPadding + time.Duration(rows*(len(t.Model.Features)+1))*2*time.Microsecond)
		err = dp.PadTo(ctx, deadline, func() (err error) {
			groups, models, err = s.trainModels(ctx, room, t, reads, q.schemas)
			return err
		})
		if err != nil && cleanroom.ErrorCode(err) != cleanroom.EInvalid {
			// Noise was drawn: the budget is spent though nothing is
			// released.
			if serr := settle(true); serr != nil {
				s.log.Error("commit budget reservation", "query", id, "err", serr)
			}
			return nil, err
		}
	case t.Attribution != nil:
		groups, err = s.attribute(ctx, room, t, reads)
	default:
		var res *engine.Result
		if res, err = s.execute(ctx, room, q.plan, reads, q.datasets, engineName); err == nil {
			groups = release.PlanGroups(q.plan, res)
		}
	}
	if err != nil {
		if serr := settle(false); serr != nil {
			s.log.Error("release budget reservation", "query", id, "err", serr)
		}
		return nil, err
	}
	err = dp.PadTo(ctx, time.Now().Add(releasePadding), func() (err error) {
		out.Release, err = release.Apply(q.controls, q.metrics, groups)
		return err
	})
	// Once noise has been drawn the budget is spent, whatever happens next:
	// a release that overran its padded deadline, or whose caller left,
	// drew its noise and is charged, so a failure cannot be retried for free.
	if serr := settle(err == nil || errors.Is(err, dp.ErrOverrun) || ctx.Err() != nil); serr != nil {
		return nil, serr
	}
	if err != nil {
		return nil, err
	}
	crashpoint.Hit("query.spent")
	switch {
	case t.Lookalike != nil:
		out.Groups = []string{"score"}
		out.Release.Seed = &look.seed
		out.Release.Reach = reachCurve(t.Lookalike, out.Release)
		out.Release.Models = []release.ModelReport{lookalikeReport(t, out.Release, look.model, time.Now().UTC())}
		out.Segment, out.SegmentTo = look.segment, look.segmentTo
		if out.Release.Loss, err = out.Release.Loss.Plus(q.extra); err != nil {
			return nil, err
		}
		return out, nil
	case t.Model != nil:
		out.Groups = []string{"model", "score", "label"}
		out.Release.Models = modelReports(t, out.Release, models, time.Now().UTC())
		if t.Model.Scoring != nil {
			out.kept = keepJoint(t, q.version, q.datasets, models)
		}
		if out.Release.Loss, err = out.Release.Loss.Plus(q.extra); err != nil {
			return nil, err
		}
		return out, nil
	case t.Attribution != nil:
		out.Groups = []string{"campaign", "arm"}
		out.Release.Lift = release.LiftOf(out.Release)
		return out, nil
	}
	for _, k := range q.plan.Keys {
		out.Groups = append(out.Groups, k.Column.Name)
	}
	return out, nil
}

// Explain is what a run would do, shown before anything runs or is spent.
type Explain struct {
	Template string           `json:"template"`
	Version  int              `json:"version"`
	Plan     string           `json:"plan"`
	Datasets []RunDataset     `json:"datasets"`
	Preview  *release.Preview `json:"preview"`
}

// ExplainQuery plans a run and previews its utility: the noise per cell
// and the probability that a group of n people is shown.
func (s *Server) ExplainQuery(ctx context.Context, room, name string, version int, params map[string]string) (*Explain, error) {
	q, err := s.planQuery(ctx, room, name, version, params)
	if err != nil {
		return nil, err
	}
	p, err := release.PreviewOf(q.controls, q.metrics)
	if err != nil {
		return nil, err
	}
	plan := ""
	switch {
	case q.template.Lookalike != nil:
		plan = describeLookalike(&q.template)
	case q.template.Model != nil:
		plan = describeModel(&q.template)
	case q.template.Attribution != nil:
		plan = describeAttribution(&q.template)
	default:
		plan = q.plan.String()
	}
	return &Explain{Template: name, Version: q.version, Plan: plan, Datasets: q.datasets, Preview: p}, nil
}

// ensureBudget returns a dataset's budget under the room's data-use
// agreement in force: it creates the budget with the agreement's cap, and
// lowers an existing budget to the cap of a newer agreement. Without an
// agreement in force it refuses, so no budget is spent outside one.
func (s *Server) ensureBudget(tx *sqlite.Tx, room string, d RunDataset) (*sqlite.Budget, error) {
	dua, err := requireDUA(tx, room, d.Party)
	if err != nil {
		return nil, err
	}
	id := budgetID(room, d.Dataset)
	b, err := tx.Budget(id)
	if err != nil && cleanroom.ErrorCode(err) != cleanroom.ENotFound {
		return nil, err
	}
	if b == nil {
		vs, err := tx.Versions(room, d.Dataset)
		if err != nil {
			return nil, err
		}
		size := int64(1)
		for _, v := range vs {
			size = max(size, int64(v.Rows))
		}
		b = &sqlite.Budget{Dataset: id, Party: d.Party, Size: size, Cap: agreedCap(dua, size)}
		return b, tx.SetBudget(b)
	}
	// The agreement's cap is a ceiling: a newer agreement that lowers it
	// applies at once; a stricter cap set on the dataset stays.
	agreed := agreedCap(dua, b.Size)
	if c := (dp.Loss{Rho: min(b.Cap.Rho, agreed.Rho), Epsilon: min(b.Cap.Epsilon, agreed.Epsilon), Delta: b.Cap.Delta}); c != b.Cap {
		b.Cap = c
		if err := tx.SetBudget(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// agreedCap is a dataset's lifetime budget under an agreement: its ρ for
// noisy values, its ε and half the allowed δ for partition selection.
func agreedCap(d *cleanroom.DUA, size int64) dp.Loss {
	limit, _ := dp.DeltaLimit(size)
	return dp.Loss{Rho: d.Budget.Rho, Epsilon: d.Budget.Epsilon, Delta: min(limit/2, dp.MaxDelta)}
}

// execute runs a plan on engine: DuckDB loads the datasets it reads into
// a fresh in-memory database; Beam reads them in its workers.
func (s *Server) execute(ctx context.Context, room string, plan *engine.Plan, reads map[string]match.AssignedDataset, ds []RunDataset, engineName string) (*engine.Result, error) {
	var seed [8]byte
	rand.Read(seed[:])
	if engineName == EngineBeam {
		var inputs []scaleout.Input
		for _, d := range ds {
			ad := reads[d.Dataset]
			id, v := vaultID(room, d.Dataset), ad.Version
			inputs = append(inputs, scaleout.Input{Dataset: d.Dataset, Persons: ad.Rows, Source: scaleout.Source{Vault: id, Version: v},
				Open: func(ctx context.Context) (io.ReadCloser, error) { return s.vault.OpenVersion(ctx, id, v) }})
		}
		return scaleout.Run(ctx, plan, inputs, binary.LittleEndian.Uint64(seed[:]), s.scaleOut)
	}
	db, err := duckdb.Open(ctx, duckdb.Limits{MemoryLimit: s.queryMem})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	for _, d := range ds {
		ad := reads[d.Dataset]
		rc, err := s.vault.OpenVersion(ctx, vaultID(room, d.Dataset), ad.Version)
		if err != nil {
			return nil, err
		}
		rd, err := upload.NewReader(rc)
		if err != nil {
			rc.Close()
			return nil, err
		}
		_, err = db.LoadVersion(ctx, plan, d.Dataset, rd, ad.Rows)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	return db.Run(ctx, plan, binary.LittleEndian.Uint64(seed[:]))
}
