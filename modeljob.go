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
	if t.Controls.MaxGroupsPerPerson != 2 {
		return Errorf(EInvalid, "controls.max_groups_per_person: %d, but a model job's held-out person is in one bin of each of its two models", t.Controls.MaxGroupsPerPerson).
			WithHint("set max_groups_per_person: 2")
	}
	return nil
}

// checkModel checks a model job's columns against the room's schemas.
func (c *checker) checkModel() error {
	m := c.t.Model
	col, err := c.column(m.Label)
	if err != nil {
		return prefixErr(err, "model: label: ")
	}
	if col.Type != TypeBool || col.Policy == PolicyMetric {
		return Errorf(EInvalid, "model: label: column %q must be a bool filter or dimension", m.Label)
	}
	return c.checkFeatures("model", m.Features)
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
