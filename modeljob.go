package cleanroom

import "slices"

// ModelJob makes a template an in-room model job: a logistic regression
// of a bool label on features from the joined datasets, trained in the
// room with differential privacy (objective perturbation, ε per model),
// together with the same model on the label dataset's features alone, so
// the value of the partnership shows. Neither model nor any per-person
// score leaves the room: the receivers get each model's evaluation as a DP
// histogram over public score bins — people and positives per bin — with
// AUC, KS and the label rate per bin computed from it, and a model card
// (DESIGN.md, "Output controls and privacy": models).
//
// The people are those of the label's dataset matched in every joined
// dataset; both models are trained and evaluated on all of them (an
// in-sample evaluation, which the card says).
type ModelJob struct {
	// Label is "<dataset>.<column>", a bool column: the positive class
	// (a default).
	Label string `json:"label"`
	// Features are "<dataset>.<column>" columns: metrics (scaled by their
	// clamp), dimensions (one-hot over their categories or buckets) and
	// bool filters.
	Features []string `json:"features"`
	// Epsilon is each model's training budget (pure ε, charged as
	// ρ = ε²/2); Lambda its L2 regularisation.
	Epsilon float64 `json:"epsilon"`
	Lambda  float64 `json:"lambda"`
	// ScoreEdges are the public edges of the evaluation's score bins,
	// strictly increasing from 0 to 1: declared in advance, never taken
	// from the data (no data-derived quantiles).
	ScoreEdges []float64 `json:"score_edges"`
	// Scoring, when set, keeps the joint model in the room after a
	// released run, to score applicants online for the label's party: a
	// declared disclosure of per-person scores.
	Scoring *ModelScoring `json:"scoring,omitempty"`
}

// ModelScoring makes a model job's joint model available for online
// scoring: the label's party sends an applicant's identifier, blinded with
// its own key, and its own features of the applicant; the agents of the
// other feature datasets' parties re-blind the identifier under a manifest
// the label's party signed for that one request; and the room returns the
// score alone. An applicant the room cannot match is scored with the
// features of a subscriber drawn by a keyed hash of the identifier, so a
// score does not tell whether the person is a subscriber, and asking
// again gives the same score.
//
// Per-person scores are a declared disclosure: a run or a request is
// refused unless the room's agreement in force declares Disclosure to To.
type ModelScoring struct {
	Disclosure string `json:"disclosure"`
	// To is the label dataset's party, the only one that may request
	// scores.
	To string `json:"to"`
	// Identifier is the one identifier class a request carries; one class
	// keeps one answer per applicant (two classes could disagree, and the
	// disagreement would tell a non-subscriber).
	Identifier IdentifierClass `json:"identifier"`
	// DailyLimit caps the requests per UTC day for the model.
	DailyLimit int `json:"daily_limit"`
}

// MaxScoringDailyLimit bounds ModelScoring.DailyLimit.
const MaxScoringDailyLimit = 1_000_000

// RequireDisclosure refuses online scoring the agreement does not
// declare.
func (m *ModelJob) RequireDisclosure(d *DUA) error {
	if m.Scoring == nil {
		return nil
	}
	for _, x := range d.Disclosures {
		if x.Name == m.Scoring.Disclosure && x.To == m.Scoring.To {
			return nil
		}
	}
	return Errorf(EForbidden, "per-person scores are a declared disclosure %q to party %q, which data-use agreement version %d of room %q does not declare",
		m.Scoring.Disclosure, m.Scoring.To, d.Version, d.Room).
		WithHint("the parties amend the agreement to declare the disclosure for a credit-scoring purpose with its legal basis, or run the job without scoring")
}

// BinOf returns the score bin of a score in [0, 1].
func (m *ModelJob) BinOf(score float64) int {
	for j := 1; j < len(m.ScoreEdges)-1; j++ {
		if score < m.ScoreEdges[j] {
			return j - 1
		}
	}
	return len(m.ScoreEdges) - 2
}

// Model names in a model job's release.
const (
	ModelJoint     = "joint"
	ModelLabelOnly = "label_only"
)

// LabelDataset is the dataset of the label.
func (m *ModelJob) LabelDataset() string {
	d, _, _ := SplitColumn(m.Label)
	return d
}

// TrainingLoss is what training both models costs: two pure-ε releases,
// counted as ρ = ε²/2 each.
func (m *ModelJob) TrainingLoss() float64 { return m.Epsilon * m.Epsilon }

func (t *Template) validateModel() error {
	m := t.Model
	fail := func(format string, args ...any) *Error {
		return Errorf(EInvalid, "model: "+format, args...)
	}
	if t.Attribution != nil {
		return fail("a template is a model job or an attribution, not both")
	}
	if len(t.Parameters) > 0 || len(t.Where) > 0 || len(t.GroupBy) > 0 || len(t.Metrics) > 0 {
		return fail("a model job has no parameters, where, group_by or metrics of its own").
			WithHint("it releases each model's evaluation histogram")
	}
	if _, _, ok := SplitColumn(m.Label); !ok {
		return fail("label: %q is not of the form dataset.column", m.Label)
	}
	if !slices.Contains(t.Join, m.LabelDataset()) {
		return fail("label: dataset %q is not joined", m.LabelDataset())
	}
	if len(m.Features) == 0 || len(m.Features) > MaxTemplateItems {
		return fail("features: list 1 to %d columns", MaxTemplateItems)
	}
	labelOnly, others := 0, 0
	for i, f := range m.Features {
		d, _, ok := SplitColumn(f)
		if !ok {
			return fail("features[%d]: %q is not of the form dataset.column", i, f)
		}
		if !slices.Contains(t.Join, d) {
			return fail("features[%d]: dataset %q is not joined", i, d)
		}
		if f == m.Label {
			return fail("features[%d]: the label is not a feature", i)
		}
		if slices.Index(m.Features, f) < i {
			return fail("features[%d]: %q is listed twice", i, f)
		}
		if d == m.LabelDataset() {
			labelOnly++
		} else {
			others++
		}
	}
	if labelOnly == 0 || others == 0 {
		return fail("features: list features of the label's dataset and of another joined dataset").
			WithHint("the job compares the joint model with the label dataset's features alone")
	}
	if !(m.Epsilon > 0 && m.Epsilon <= MaxReleaseEpsilon) || !(m.Lambda > 0 && m.Lambda <= 10) {
		return fail("epsilon %g and lambda %g must lie in (0, %d] and (0, 10]", m.Epsilon, m.Lambda, MaxReleaseEpsilon)
	}
	if err := t.validateEdges(); err != nil {
		return err
	}
	if sc := m.Scoring; sc != nil {
		if err := ValidateName("disclosure name", sc.Disclosure); err != nil {
			return prefixErr(err, "model: scoring: ")
		}
		if err := ValidateName("party name", sc.To); err != nil {
			return prefixErr(err, "model: scoring: ")
		}
		if err := sc.Identifier.Validate(); err != nil {
			return prefixErr(err, "model: scoring: identifier: ")
		}
		if sc.DailyLimit < 1 || sc.DailyLimit > MaxScoringDailyLimit {
			return fail("scoring: daily_limit %d, want 1 to %d requests a day", sc.DailyLimit, MaxScoringDailyLimit)
		}
	}
	if t.Controls.MaxGroupsPerPerson != 2 {
		return Errorf(EInvalid, "controls.max_groups_per_person: %d, but a model job's held-out person is in one bin of each of its two models", t.Controls.MaxGroupsPerPerson).
			WithHint("set max_groups_per_person: 2")
	}
	return nil
}

// checkModel checks a model job's columns against the room's schemas.
func (c *checker) checkModel(owners map[string]string) error {
	m := c.t.Model
	col, err := c.column(m.Label)
	if err != nil {
		return prefixErr(err, "model: label: ")
	}
	if col.Type != TypeBool || col.Policy == PolicyMetric {
		return Errorf(EInvalid, "model: label: column %q must be a bool filter or dimension", m.Label)
	}
	if err := c.checkFeatures("model", m.Features); err != nil {
		return err
	}
	if sc := m.Scoring; sc != nil {
		if owners[m.LabelDataset()] != sc.To {
			return Errorf(EInvalid, "model: scoring: scores go to %q, but the label's dataset %q belongs to %q; they go to the label's owner only",
				sc.To, m.LabelDataset(), owners[m.LabelDataset()])
		}
		for _, d := range c.t.Join {
			if !slices.ContainsFunc(c.schemas[d].Identifiers, func(id IdentifierColumn) bool { return id.Class == sc.Identifier }) {
				return Errorf(EInvalid, "model: scoring: dataset %q has no %s identifier to match applicants on", d, sc.Identifier)
			}
		}
	}
	return nil
}

// checkFeatures checks a model's feature columns: metrics (scaled by
// their clamp), dimensions with a declared domain, or bools.
func (c *checker) checkFeatures(what string, features []string) error {
	for i, f := range features {
		col, err := c.column(f)
		if err != nil {
			return prefixErr(err, "%s: features[%d]: ", what, i)
		}
		switch {
		case col.Policy == PolicyMetric:
		case col.Policy == PolicyDimension && (len(col.Categories) > 0 || len(col.Buckets) > 0):
		case col.Type == TypeBool:
		default:
			return Errorf(EInvalid, "%s: features[%d]: column %q is a %s %s; features are metrics, dimensions or bools", what, i, f, col.Type, col.Policy)
		}
	}
	return nil
}

// validateEdges checks t.Model.ScoreEdges.
func (t *Template) validateEdges() *Error {
	e := t.Model.ScoreEdges
	if len(e) < 3 || len(e) > 101 || e[0] != 0 || e[len(e)-1] != 1 {
		return Errorf(EInvalid, "model: score_edges: want 3 to 101 edges from 0 to 1").
			WithHint("declare public edges such as [0, 0.02, 0.05, 0.1, 0.2, 1]; a low positive rate wants fine edges near 0")
	}
	for i := 1; i < len(e); i++ {
		if !(e[i] > e[i-1]) {
			return Errorf(EInvalid, "model: score_edges: %g does not follow %g; edges strictly increase", e[i], e[i-1])
		}
	}
	return nil
}
