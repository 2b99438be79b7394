package httpapi

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/dp"
	"github.com/cleanroom-dev/cleanroom/internal/dpml"
	"github.com/cleanroom-dev/cleanroom/internal/match"
	"github.com/cleanroom-dev/cleanroom/internal/release"
)

// Model jobs' fixed settings.
const (
	// modelIntercept is the constant input that carries the intercept
	// inside the unit ball objective perturbation needs.
	modelIntercept = 0.5
)

// modelMetrics is a model job's release per (model, score bin): its
// people, and how many of them are positive. A bin is shown only with at
// least k people, like any cell; the positives are a metric over them.
var modelMetrics = []release.Metric{{Name: "people", Kind: release.Count}, {Name: "positives", Kind: release.Sum, Lo: 0, Hi: 1}}

// describeModel is a model job's plan, as explain shows it.
func describeModel(t *cleanroom.Template) string {
	m := t.Model
	return fmt.Sprintf("model job: logistic regression of %s on %s, and on the features of %s alone; each trained with "+
		"objective perturbation at ε = %g (λ = %g) on the people of %s matched in every joined dataset; "+
		"released: each model's evaluation on them as people and positives per score bin (edges %v), and a model card",
		m.Label, strings.Join(m.Features, ", "), m.LabelDataset(), m.Epsilon, m.Lambda, m.LabelDataset(), m.ScoreEdges)
}

// encoder turns one feature column's payload value into model inputs in
// [0, 1].
type encoder struct {
	name   string
	col    *cleanroom.AttributeColumn
	inputs []string
}

func newEncoder(ref string, col *cleanroom.AttributeColumn) encoder {
	e := encoder{name: ref, col: col}
	switch {
	case col.Policy == cleanroom.PolicyDimension && len(col.Categories) > 0:
		for _, c := range col.Categories {
			e.inputs = append(e.inputs, ref+"="+c)
		}
	case col.Policy == cleanroom.PolicyDimension && len(col.Buckets) > 1:
		for i := range len(col.Buckets) - 1 {
			e.inputs = append(e.inputs, fmt.Sprintf("%s in [%g, %g)", ref, col.Buckets[i], col.Buckets[i+1]))
		}
	default:
		e.inputs = []string{ref}
	}
	return e
}

// encode appends the inputs of value v (the payload's text; "" when
// missing, which encodes as zeros).
func (e encoder) encode(x []float64, v string) []float64 {
	out := make([]float64, len(e.inputs))
	c := e.col
	switch {
	case v == "":
	case c.Policy == cleanroom.PolicyDimension && len(c.Categories) > 0:
		for i, cat := range c.Categories {
			if cat == v {
				out[i] = 1
			}
		}
	case c.Type == cleanroom.TypeBool:
		if v == "true" || v == "1" {
			out[0] = 1
		}
	default:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			break
		}
		if c.Policy == cleanroom.PolicyDimension {
			for i := range len(c.Buckets) - 1 {
				if f >= c.Buckets[i] && (f < c.Buckets[i+1] || i == len(c.Buckets)-2) {
					out[i] = 1
					break
				}
			}
		} else if c.Clamp != nil && c.Clamp[1] > c.Clamp[0] {
			out[0] = (min(max(f, c.Clamp[0]), c.Clamp[1]) - c.Clamp[0]) / (c.Clamp[1] - c.Clamp[0])
		}
	}
	return append(x, out...)
}

// inputScale is the factor every input is scaled by: each feature
// column's inputs have norm at most 1, so max norm / √columns puts every
// person in the ball objective perturbation needs.
func inputScale(cfg dpml.Config, encoders []encoder) float64 {
	return cfg.MaxFeatureNorm() / math.Sqrt(float64(len(encoders)))
}

// inputs encodes one person's features, value(i) being the payload value
// of encoders[i]'s column, scaled and clipped to the training ball.
func inputs(cfg dpml.Config, encoders []encoder, scale float64, value func(i int) string) []float64 {
	var x []float64
	for i, e := range encoders {
		x = e.encode(x, value(i))
	}
	for i := range x {
		x[i] *= scale
	}
	return dpml.Clip(x, cfg.MaxFeatureNorm())
}

// trainedModel is one model of a job, with what its card needs.
type trainedModel struct {
	name     string
	encoders []encoder
	scale    float64
	model    *dpml.Model
	scores   []float64
}

// trainModels trains a job's two models with DP and scores the held-out
// people: it returns the evaluation histogram's exact groups and the
// trained models. It spends the models' training loss, which the caller
// reserved.
func (s *Server) trainModels(ctx context.Context, room string, t *cleanroom.Template, reads map[string]match.AssignedDataset,
	schemas map[string]*cleanroom.Schema) ([]release.Group, []*trainedModel, error) {
	m := t.Model
	// Each joined dataset's first row per room person, with the columns
	// the job reads.
	cols := map[string][]string{}
	for _, ref := range append([]string{m.Label}, m.Features...) {
		d, c, _ := cleanroom.SplitColumn(ref)
		cols[d] = append(cols[d], c)
	}
	rows := map[string]map[int32][]string{}
	for _, d := range t.Join {
		rows[d] = map[int32][]string{}
		if len(cols[d]) == 0 {
			for _, p := range reads[d].Rows {
				if p >= 0 {
					rows[d][p] = nil
				}
			}
			continue
		}
		err := s.scanRows(ctx, room, d, reads, cols[d], func(p int32, v []string) error {
			if _, seen := rows[d][p]; !seen {
				rows[d][p] = append([]string(nil), v...)
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	value := func(ref string, p int32) string {
		d, c, _ := cleanroom.SplitColumn(ref)
		for i, name := range cols[d] {
			if name == c {
				return rows[d][p][i]
			}
		}
		return ""
	}

	// The people: the label's dataset's, with a label, matched in every
	// joined dataset. Both models are trained on all of them and evaluated
	// on them: with a handful of inputs, thousands of people and the
	// regularisation, the in-sample figures differ from held-out ones by
	// far less than the evaluation's own sampling error, and a split would
	// double the training noise's effect.
	var people []int32
	labelRows := rows[m.LabelDataset()]
	for p := range labelRows {
		if v := value(m.Label, p); v == "" {
			continue
		}
		in := true
		for _, d := range t.Join {
			if _, ok := rows[d][p]; !ok {
				in = false
				break
			}
		}
		if in {
			people = append(people, p)
		}
	}
	slices.Sort(people)
	train, eval := people, people
	if len(people) < dpml.MinRows {
		return nil, nil, cleanroom.Errorf(cleanroom.EInvalid, "too few matched people with a label to train a model (%d; it needs %d)",
			len(people), dpml.MinRows).WithHint("run matching after the datasets' uploads, or bring more data")
	}
	positive := func(p int32) bool { v := value(m.Label, p); return v == "true" || v == "1" }

	var models []*trainedModel
	for _, which := range []string{cleanroom.ModelJoint, cleanroom.ModelLabelOnly} {
		tm := &trainedModel{name: which}
		for _, ref := range m.Features {
			d, c, _ := cleanroom.SplitColumn(ref)
			if which == cleanroom.ModelLabelOnly && d != m.LabelDataset() {
				continue
			}
			tm.encoders = append(tm.encoders, newEncoder(ref, schemas[d].Attribute(c)))
		}
		cfg := dpml.Config{Epsilon: m.Epsilon, Lambda: m.Lambda, InterceptFeature: modelIntercept}
		tm.scale = inputScale(cfg, tm.encoders)
		features := func(p int32) []float64 {
			return inputs(cfg, tm.encoders, tm.scale, func(i int) string { return value(tm.encoders[i].name, p) })
		}
		data := dpml.Dataset{}
		for _, p := range train {
			data.Rows = append(data.Rows, features(p))
			data.Labels = append(data.Labels, map[bool]int{true: 1, false: 0}[positive(p)])
		}
		model, _, err := dpml.Train(ctx, data, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("train the %s model: %w", which, err)
		}
		tm.model = model
		for _, p := range eval {
			tm.scores = append(tm.scores, model.Score(features(p)))
		}
		models = append(models, tm)
	}

	bins := len(m.ScoreEdges) - 1
	var groups []release.Group
	for _, tm := range models {
		people, positives := make([]int64, bins), make([]int64, bins)
		for i, p := range eval {
			j := m.BinOf(tm.scores[i])
			people[j]++
			if positive(p) {
				positives[j]++
			}
		}
		for j := range bins {
			groups = append(groups, release.Group{Key: []string{tm.name, binLabel(m, j)}, People: people[j], Sums: []int64{0, positives[j]}})
		}
	}
	return groups, models, nil
}

func binLabel(m *cleanroom.ModelJob, j int) string {
	return fmt.Sprintf("[%g, %g)", m.ScoreEdges[j], m.ScoreEdges[j+1])
}

// modelReports computes each model's evaluation from the released cells
// alone (a withheld cell counts as 0) and writes its card.
func modelReports(t *cleanroom.Template, rel *release.Release, models []*trainedModel, trainedAt time.Time) []release.ModelReport {
	m := t.Model
	var rec dp.Record
	if len(rel.Metrics) > 1 {
		// The positives' noise; the people's is no larger per cell.
		rec = rel.Metrics[1].Noise
	}
	bins := len(m.ScoreEdges) - 1
	var out []release.ModelReport
	for _, tm := range models {
		neg, pos := make([]int64, bins), make([]int64, bins)
		for _, c := range rel.Cells {
			if len(c.Key) != 2 || c.Key[0] != tm.name {
				continue
			}
			for j := range bins {
				if c.Key[1] == binLabel(m, j) {
					n := int64(math.Round(max(c.Values[0], 0)))
					p := min(int64(math.Round(max(c.Values[1], 0))), n)
					pos[j], neg[j] = p, n-p
				}
			}
		}
		card := release.ModelCard{Intercept: tm.model.Intercept, Epsilon: m.Epsilon, Lambda: m.Lambda, TrainedAt: trainedAt,
			Method:     "L2-regularised logistic regression, ε-DP by objective perturbation (Chaudhuri, Monteleoni and Sarwate 2011)",
			Evaluation: "in-sample: on the people it was trained on"}
		k := 0
		for _, e := range tm.encoders {
			d, _, _ := cleanroom.SplitColumn(e.name)
			for _, input := range e.inputs {
				// Per unit of the input scaled to [0, 1].
				w := tm.model.Coefficients[k] * tm.scale
				k++
				in := release.ModelInput{Name: input, Dataset: d, Importance: math.Abs(w)}
				if d == m.LabelDataset() {
					in.Coefficient = &w
				}
				card.Inputs = append(card.Inputs, in)
			}
		}
		e := dpml.Summarize(neg, pos, rec)
		for j := range e.Bins {
			e.Bins[j].Lo, e.Bins[j].Hi = m.ScoreEdges[j], m.ScoreEdges[j+1]
		}
		out = append(out, release.ModelReport{Name: tm.name, Evaluation: e, Card: card})
	}
	return out
}
