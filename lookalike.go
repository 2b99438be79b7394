package cleanroom

import "slices"

// LookalikeJob makes a template a look-alike audience job: a partner's
// seed (the people of a dataset it uploaded, blinded like any, optionally
// narrowed by SeedWhere) labels the matched people of the operator's
// Population dataset; a logistic regression on the population's Features
// is trained in the room with differential privacy; the receivers get the
// reach curve — how many of the population score at or above each public
// threshold — from a DP histogram over public score bins. The matched seed
// must hold at least MinSeed people, tested on a noisy count charged like
// any release.
//
// Segment, when set, is the activation segment: the population's people
// whose score reaches Segment.Threshold, seed members not removed (their
// removal would let the population's owner recover the seed), released
// only to Segment.To, the population's owner, as row numbers of its own
// upload — a declared disclosure the room's agreement must name. Neither
// party receives the model or a score.
type LookalikeJob struct {
	Seed       string   `json:"seed"`
	SeedWhere  []Filter `json:"seed_where,omitempty"`
	Population string   `json:"population"`
	Features   []string `json:"features"`
	MinSeed    int64    `json:"min_seed"`
	// SeedRho is the noisy seed count's budget.
	SeedRho    float64           `json:"seed_rho"`
	Epsilon    float64           `json:"epsilon"`
	Lambda     float64           `json:"lambda"`
	ScoreEdges []float64         `json:"score_edges"`
	Segment    *LookalikeSegment `json:"segment,omitempty"`
}

// LookalikeSegment asks for the activation segment under the declared
// disclosure named Disclosure of the room's agreement.
type LookalikeSegment struct {
	Disclosure string  `json:"disclosure"`
	To         string  `json:"to"`
	Threshold  float64 `json:"threshold"`
}

// TrainingLoss is what the job spends besides the reach histogram: the
// noisy seed count's ρ and the model's ε²/2.
func (l *LookalikeJob) TrainingLoss() float64 { return l.SeedRho + l.Epsilon*l.Epsilon/2 }

// BinOf returns the score bin of a score in [0, 1].
func (l *LookalikeJob) BinOf(score float64) int {
	return (&ModelJob{ScoreEdges: l.ScoreEdges}).BinOf(score)
}

func (t *Template) validateLookalike() error {
	l := t.Lookalike
	fail := func(format string, args ...any) *Error { return Errorf(EInvalid, "lookalike: "+format, args...) }
	if t.Attribution != nil || t.Model != nil {
		return fail("a template is one kind of job")
	}
	if len(t.Parameters) > 0 || len(t.Where) > 0 || len(t.GroupBy) > 0 || len(t.Metrics) > 0 {
		return fail("a look-alike job has no parameters, where, group_by or metrics of its own")
	}
	for _, d := range []string{l.Seed, l.Population} {
		if err := ValidateName("dataset name", d); err != nil {
			return prefixErr(err, "lookalike: ")
		}
	}
	want := []string{l.Population, l.Seed}
	got := slices.Clone(t.Join)
	slices.Sort(got)
	slices.Sort(want)
	if l.Seed == l.Population || !slices.Equal(got, want) {
		return fail("join must list exactly the population and the seed dataset, two different datasets")
	}
	for i, f := range l.SeedWhere {
		if d, _, ok := SplitColumn(f.Column); !ok || d != l.Seed {
			return fail("seed_where[%d]: %q is not a column of the seed dataset %q", i, f.Column, l.Seed)
		}
		if f.Param != "" {
			return fail("seed_where[%d]: a look-alike job takes no parameters", i)
		}
		if len(f.Values) == 0 || (f.Op != OpIn && len(f.Values) > 1) {
			return fail("seed_where[%d]: compares with %d values", i, len(f.Values))
		}
	}
	if len(l.Features) == 0 || len(l.Features) > MaxTemplateItems {
		return fail("features: list 1 to %d columns of %s", MaxTemplateItems, l.Population)
	}
	for i, f := range l.Features {
		if d, _, ok := SplitColumn(f); !ok || d != l.Population {
			return fail("features[%d]: %q is not a column of the population %q", i, f, l.Population)
		}
		if slices.Index(l.Features, f) < i {
			return fail("features[%d]: %q is listed twice", i, f)
		}
	}
	if l.MinSeed < 100 || l.MinSeed > 1_000_000_000 {
		return fail("min_seed: %d, want at least 100", l.MinSeed)
	}
	if !(l.SeedRho > 0 && l.SeedRho <= 10) || !(l.Epsilon > 0 && l.Epsilon <= MaxReleaseEpsilon) || !(l.Lambda > 0 && l.Lambda <= 10) {
		return fail("seed_rho %g, epsilon %g and lambda %g must lie in (0, 10], (0, %d] and (0, 10]", l.SeedRho, l.Epsilon, l.Lambda, MaxReleaseEpsilon)
	}
	if err := (&Template{Model: &ModelJob{ScoreEdges: l.ScoreEdges}}).validateEdges(); err != nil {
		return fail("%s", err.Message)
	}
	if s := l.Segment; s != nil {
		if err := ValidateName("disclosure name", s.Disclosure); err != nil {
			return prefixErr(err, "lookalike: segment: ")
		}
		if err := ValidateName("party name", s.To); err != nil {
			return prefixErr(err, "lookalike: segment: ")
		}
		if !(s.Threshold > 0 && s.Threshold < 1) {
			return fail("segment: threshold %g, want a score in (0, 1)", s.Threshold)
		}
	}
	if t.Controls.MaxGroupsPerPerson != 1 {
		return Errorf(EInvalid, "controls.max_groups_per_person: %d, but a look-alike job's person is in one score bin", t.Controls.MaxGroupsPerPerson).
			WithHint("set max_groups_per_person: 1")
	}
	return nil
}

// checkLookalike checks a look-alike job against the room's schemas and
// owners: features usable as in a model job, seed filters as in a query,
// and the segment going to the population's owner only.
func (c *checker) checkLookalike(owners map[string]string) error {
	l := c.t.Lookalike
	for i, f := range l.SeedWhere {
		if err := c.checkFilter(f); err != nil {
			return prefixErr(err, "lookalike: seed_where[%d]: ", i)
		}
	}
	if err := c.checkFeatures("lookalike", l.Features); err != nil {
		return err
	}
	if s := l.Segment; s != nil && !slices.Contains(c.t.Controls.Receivers, s.To) {
		return Errorf(EInvalid, "lookalike: segment: party %q receives it, so it must be one of the receivers", s.To)
	}
	if s := l.Segment; s != nil && owners[l.Population] != s.To {
		return Errorf(EInvalid, "lookalike: segment: it goes to %q, but the population %q belongs to %q; the segment goes to the population's owner only",
			s.To, l.Population, owners[l.Population])
	}
	if owners[l.Seed] == owners[l.Population] {
		return Errorf(EInvalid, "lookalike: the seed and the population belong to the same party %q", owners[l.Seed])
	}
	return nil
}

// RequireDisclosure refuses a look-alike segment the agreement does not
// declare.
func (l *LookalikeJob) RequireDisclosure(d *DUA) error {
	if l.Segment == nil {
		return nil
	}
	for _, x := range d.Disclosures {
		if x.Name == l.Segment.Disclosure && x.To == l.Segment.To {
			return nil
		}
	}
	return Errorf(EForbidden, "the activation segment is a declared disclosure %q to party %q, which data-use agreement version %d of room %q does not declare",
		l.Segment.Disclosure, l.Segment.To, d.Version, d.Room).
		WithHint("the parties amend the agreement to declare the disclosure for one of its purposes, or run the job without a segment")
}
