package template

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/cleanroom-dev/cleanroom"
	"go.yaml.in/yaml/v3"
)

// MaxBytes is the largest template Parse reads.
const MaxBytes = 64 << 10

// The fields of each YAML mapping, in the order the hints list them.
var (
	templateFields    = []string{"name", "version", "question", "join", "parameters", "where", "group_by", "metrics", "controls", "attribution", "model", "lookalike"}
	lookalikeFields   = []string{"seed", "seed_where", "population", "features", "min_seed", "seed_rho", "epsilon", "lambda", "score_edges", "segment"}
	segmentFields     = []string{"disclosure", "to", "threshold"}
	modelFields       = []string{"label", "features", "epsilon", "lambda", "score_edges", "scoring"}
	scoringFields     = []string{"disclosure", "to", "identifier", "daily_limit"}
	attributionFields = []string{"campaign", "exposed_at", "holdout", "product", "converted_at", "population", "campaigns",
		"lookback_days", "max_conversions_per_person"}
	parameterFields = []string{"type", "values", "min", "max"}
	dimensionFields = []string{"buckets", "categories"}
	metricFields    = []string{"sum", "avg", "clamp"}
	controlFields   = []string{"min_group_size", "rho", "epsilon", "max_groups_per_person", "coarsen", "review_by", "receivers"}
)

// Parse reads a template from YAML (see the package documentation for the
// format), fills in the defaults of version, min_group_size and
// max_groups_per_person, and validates it (cleanroom.Template.Validate).
// Errors are cleanroom EInvalid errors that name the field and, where the
// YAML has one, its line: `line 12: where[1]: parameter $tier is not
// declared`.
func Parse(data []byte) (*cleanroom.Template, error) {
	if len(data) > MaxBytes {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "template is %d bytes, over the limit of %d", len(data), MaxBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, cleanroom.Errorf(cleanroom.EInvalid, "template is empty").
				WithHint("a template is a YAML mapping with %s", strings.Join(templateFields, ", "))
		}
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "template is not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "template holds more than one YAML document").
			WithHint("remove the '---' separator and everything after it")
	}
	p := &parser{lines: map[string]int{}}
	t, err := p.template(&doc)
	if err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, p.withLine(err)
	}
	return t, nil
}

// parser turns a YAML node tree into a Template, remembering the line of
// every field so that Validate's errors can be given with one.
type parser struct {
	lines map[string]int // field path → line
}

// fail returns an EInvalid error for node n at the field path.
func (p *parser) fail(n *yaml.Node, path, format string, args ...any) *cleanroom.Error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	if n != nil && n.Line > 0 {
		msg = fmt.Sprintf("line %d: %s", n.Line, msg)
	}
	return cleanroom.Errorf(cleanroom.EInvalid, "%s", msg)
}

// withLine prefixes a Validate error with the line of the field its
// message starts with.
func (p *parser) withLine(err error) error {
	var e *cleanroom.Error
	if !errors.As(err, &e) {
		return err
	}
	path, _, ok := strings.Cut(e.Message, ": ")
	if !ok {
		return err
	}
	for {
		if line, ok := p.lines[path]; ok {
			c := *e
			c.Message = fmt.Sprintf("line %d: %s", line, c.Message)
			return &c
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return err
		}
		path = path[:i]
	}
}

func (p *parser) mark(n *yaml.Node, path string) { p.lines[path] = n.Line }

// isNull reports whether n is an empty value, as in "where:" with nothing
// after it.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.ShortTag() == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

// fields checks that n is a mapping with known, unique keys, and returns
// its key and value nodes in order.
func (p *parser) fields(n *yaml.Node, path, what string, known []string) ([][2]*yaml.Node, error) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return nil, p.fail(n, path, "anchors and aliases are not supported")
	}
	if isNull(n) && path != "" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.fail(n, path, "want %s, got %s", what, kindName(n))
	}
	var out [][2]*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.fail(k, path, "want a field name, got %s", kindName(k))
		}
		if known != nil && !slices.Contains(known, k.Value) {
			return nil, p.fail(k, path, "unknown field %q", k.Value).
				WithHint("the fields are %s", strings.Join(known, ", "))
		}
		if seen[k.Value] {
			return nil, p.fail(k, path, "field %q is given twice", k.Value)
		}
		seen[k.Value] = true
		if v.Kind == yaml.AliasNode || v.Anchor != "" {
			return nil, p.fail(v, join(path, k.Value), "anchors and aliases are not supported")
		}
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out, nil
}

func (p *parser) sequence(n *yaml.Node, path string) ([]*yaml.Node, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.fail(n, path, "want a list, got %s", kindName(n))
	}
	for _, c := range n.Content {
		if c.Kind == yaml.AliasNode || c.Anchor != "" {
			return nil, p.fail(c, path, "anchors and aliases are not supported")
		}
	}
	return n.Content, nil
}

func (p *parser) str(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", p.fail(n, path, "want text, got %s", kindName(n))
	}
	if n.ShortTag() == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

func (p *parser) texts(n *yaml.Node, path string) ([]string, error) {
	items, err := p.sequence(n, path)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, c := range items {
		if out[i], err = p.str(c, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (p *parser) integer(n *yaml.Node, path string) (int64, error) {
	var x int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&x) != nil {
		return 0, p.fail(n, path, "want an integer, got %s", kindName(n))
	}
	return x, nil
}

func (p *parser) number(n *yaml.Node, path string) (float64, error) {
	var x float64
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&x) != nil {
		return 0, p.fail(n, path, "want a number, got %s", kindName(n))
	}
	return x, nil
}

func (p *parser) numbers(n *yaml.Node, path string) ([]float64, error) {
	items, err := p.sequence(n, path)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(items))
	for i, c := range items {
		if out[i], err = p.number(c, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (p *parser) template(doc *yaml.Node) (*cleanroom.Template, error) {
	root := doc
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) != 1 {
			return nil, cleanroom.Errorf(cleanroom.EInvalid, "template is empty")
		}
		root = doc.Content[0]
	}
	fs, err := p.fields(root, "", "a mapping with "+strings.Join(templateFields, ", "), templateFields)
	if err != nil {
		return nil, err
	}
	t := &cleanroom.Template{
		Version: 1,
		Controls: cleanroom.Controls{
			MinGroupSize:       cleanroom.DefaultMinGroupSize,
			MaxGroupsPerPerson: cleanroom.DefaultMaxGroupsPerPerson,
		},
	}
	for _, f := range fs {
		k, v := f[0].Value, f[1]
		p.mark(f[0], k)
		var err error
		switch k {
		case "name":
			t.Name, err = p.str(v, k)
		case "version":
			var x int64
			x, err = p.integer(v, k)
			if err == nil && (x < 1 || x > 1<<31) {
				err = p.fail(v, k, "%d is not a version; the first version is 1", x)
			}
			t.Version = int(x)
		case "question":
			t.Question, err = p.str(v, k)
		case "join":
			t.Join, err = p.texts(v, k)
			p.markItems(v, k)
		case "parameters":
			t.Parameters, err = p.parameters(v)
		case "where":
			t.Where, err = p.where(v)
		case "group_by":
			t.GroupBy, err = p.groupBy(v)
		case "metrics":
			t.Metrics, err = p.metrics(v)
		case "controls":
			err = p.controls(v, &t.Controls)
		case "attribution":
			t.Attribution, err = p.attribution(v)
		case "model":
			t.Model, err = p.model(v)
		case "lookalike":
			t.Lookalike, err = p.lookalike(v)
		}
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (p *parser) markItems(n *yaml.Node, path string) {
	for i, c := range n.Content {
		p.mark(c, fmt.Sprintf("%s[%d]", path, i))
	}
}

func (p *parser) parameters(n *yaml.Node) (map[string]cleanroom.Parameter, error) {
	fs, err := p.fields(n, "parameters", "a mapping of parameter names to {type: ...}", nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]cleanroom.Parameter, len(fs))
	for _, f := range fs {
		name := f[0].Value
		path := "parameters." + name
		p.mark(f[0], path)
		pf, err := p.fields(f[1], path, "a mapping such as {type: enum, values: [a, b]}", parameterFields)
		if err != nil {
			return nil, err
		}
		var param cleanroom.Parameter
		for _, g := range pf {
			k, v := g[0].Value, g[1]
			var s string
			switch k {
			case "type":
				s, err = p.str(v, path+".type")
				param.Type = cleanroom.ParamType(s)
			case "values":
				param.Values, err = p.texts(v, path+".values")
			case "min":
				param.Min, err = p.str(v, path+".min")
			case "max":
				param.Max, err = p.str(v, path+".max")
			}
			if err != nil {
				return nil, err
			}
		}
		out[name] = param
	}
	return out, nil
}

// filterRE splits "<column> <op> <value>"; "in" and "has" need white
// space around them.
var filterRE = regexp.MustCompile(`^([^\s=!<>]+)(?:\s*(<=|>=|!=|=|<|>)\s*|\s+(in|has)\s+)(.*)$`)

func (p *parser) where(n *yaml.Node) ([]cleanroom.Filter, error) {
	items, err := p.sequence(n, "where")
	if err != nil {
		return nil, err
	}
	out := make([]cleanroom.Filter, len(items))
	for i, c := range items {
		path := fmt.Sprintf("where[%d]", i)
		p.mark(c, path)
		if c.Kind != yaml.ScalarNode || c.ShortTag() != "!!str" {
			return nil, p.fail(c, path, "want a condition such as \"subscribers.tier = premium\", got %s", kindName(c))
		}
		f, err := parseFilter(c.Value)
		if err != nil {
			return nil, p.fail(c, path, "%s", err.Error()).
				WithHint("write a condition as <dataset>.<column> <op> <value>, with op one of =, !=, <, <=, >, >=, in, has; e.g. customers.default_flag = $flag, customers.products has $product")
		}
		out[i] = f
	}
	return out, nil
}

// parseFilter parses a where condition.
func parseFilter(s string) (cleanroom.Filter, error) {
	m := filterRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return cleanroom.Filter{}, fmt.Errorf("%q is not a condition", s)
	}
	f := cleanroom.Filter{Column: m[1], Op: cleanroom.Op(m[2] + m[3])}
	value := strings.TrimSpace(m[4])
	if value == "" {
		return f, fmt.Errorf("%q compares with nothing", s)
	}
	if strings.ContainsAny(value[:1], "=<>!") {
		return f, fmt.Errorf("%q has an unknown operator", s)
	}
	if f.Op == cleanroom.OpIn {
		if !strings.HasPrefix(value, "[") || !strings.HasSuffix(value, "]") {
			return f, fmt.Errorf("\"in\" takes a list of values in brackets, e.g. [basic, premium]")
		}
		for _, item := range strings.Split(value[1:len(value)-1], ",") {
			lit, param := literal(strings.TrimSpace(item))
			if param {
				return f, fmt.Errorf("\"in\" takes values, not the parameter %s", item)
			}
			if lit == "" {
				return f, fmt.Errorf("the list %s has an empty value", value)
			}
			f.Values = append(f.Values, lit)
		}
		return f, nil
	}
	lit, param := literal(value)
	if param {
		if lit == "" {
			return f, fmt.Errorf("%q names no parameter after '$'", s)
		}
		f.Param = lit
	} else {
		f.Values = []string{lit}
	}
	return f, nil
}

// literal returns a value without its quotes, or a parameter's name
// without its '$'.
func literal(s string) (v string, param bool) {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1], false
	}
	if name, ok := strings.CutPrefix(s, "$"); ok {
		return name, true
	}
	return s, false
}

func (p *parser) groupBy(n *yaml.Node) ([]cleanroom.Dimension, error) {
	items, err := p.sequence(n, "group_by")
	if err != nil {
		return nil, err
	}
	out := make([]cleanroom.Dimension, len(items))
	for i, c := range items {
		path := fmt.Sprintf("group_by[%d]", i)
		p.mark(c, path)
		if c.Kind == yaml.ScalarNode {
			if out[i].Column, err = p.str(c, path); err != nil {
				return nil, err
			}
			continue
		}
		fs, err := p.fields(c, path, "a column, or a column mapped to {buckets: [...]} or {categories: [...]}", nil)
		if err != nil {
			return nil, err
		}
		if len(fs) != 1 {
			return nil, p.fail(c, path, "want one column, got %d", len(fs)).
				WithHint("write each dimension as its own list entry")
		}
		out[i].Column = fs[0][0].Value
		opts, err := p.fields(fs[0][1], path, "{buckets: [...]} or {categories: [...]}", dimensionFields)
		if err != nil {
			return nil, err
		}
		for _, o := range opts {
			switch o[0].Value {
			case "buckets":
				out[i].Buckets, err = p.numbers(o[1], path+".buckets")
			case "categories":
				out[i].Categories, err = p.texts(o[1], path+".categories")
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (p *parser) metrics(n *yaml.Node) ([]cleanroom.Metric, error) {
	items, err := p.sequence(n, "metrics")
	if err != nil {
		return nil, err
	}
	out := make([]cleanroom.Metric, len(items))
	for i, c := range items {
		path := fmt.Sprintf("metrics[%d]", i)
		p.mark(c, path)
		const want = "a metric such as \"people: count_distinct_person\" or \"spend: {sum: customers.monthly_spend}\""
		fs, err := p.fields(c, path, want, nil)
		if err != nil {
			return nil, err
		}
		if len(fs) != 1 {
			return nil, p.fail(c, path, "want one \"name: kind\" entry, got %d", len(fs)).
				WithHint("write each metric as its own list entry")
		}
		m := &out[i]
		m.Name = fs[0][0].Value
		v := fs[0][1]
		if v.Kind == yaml.ScalarNode {
			s, err := p.str(v, path)
			if err != nil {
				return nil, err
			}
			m.Kind = cleanroom.MetricKind(s)
			if m.Kind == cleanroom.MetricSum || m.Kind == cleanroom.MetricAvg {
				return nil, p.fail(v, path, "%s needs a column", s).
					WithHint("write %s: {%s: <dataset>.<column>}", m.Name, s)
			}
			continue
		}
		opts, err := p.fields(v, path, "count_distinct_person, or {sum|avg: <dataset>.<column>, clamp: [lo, hi]}", metricFields)
		if err != nil {
			return nil, err
		}
		for _, o := range opts {
			k, ov := o[0].Value, o[1]
			switch k {
			case "sum", "avg":
				if m.Kind != "" {
					return nil, p.fail(o[0], path, "a metric is a sum or an avg, not both")
				}
				m.Kind = cleanroom.MetricKind(k)
				m.Column, err = p.str(ov, path+"."+k)
			case "clamp":
				var b []float64
				b, err = p.numbers(ov, path+".clamp")
				if err == nil && len(b) != 2 {
					err = p.fail(ov, path+".clamp", "want [lo, hi], got %d numbers", len(b))
				}
				if err == nil {
					m.Clamp = &[2]float64{b[0], b[1]}
				}
			}
			if err != nil {
				return nil, err
			}
		}
		if m.Kind == "" {
			return nil, p.fail(v, path, "names no column to sum or avg").
				WithHint("write %s: {sum: <dataset>.<column>} or {avg: <dataset>.<column>}", m.Name)
		}
	}
	return out, nil
}

func (p *parser) controls(n *yaml.Node, c *cleanroom.Controls) error {
	fs, err := p.fields(n, "controls", "a mapping with "+strings.Join(controlFields, ", "), controlFields)
	if err != nil {
		return err
	}
	for _, f := range fs {
		k, v := f[0].Value, f[1]
		path := "controls." + k
		p.mark(f[0], path)
		switch k {
		case "min_group_size":
			c.MinGroupSize, err = p.integer(v, path)
		case "max_groups_per_person":
			c.MaxGroupsPerPerson, err = p.integer(v, path)
		case "rho":
			c.Rho, err = p.number(v, path)
		case "epsilon":
			c.Epsilon, err = p.number(v, path)
		case "coarsen":
			c.Coarsen, err = p.number(v, path)
		case "review_by":
			c.ReviewBy, err = p.texts(v, path)
			p.markItems(v, path)
		case "receivers":
			c.Receivers, err = p.texts(v, path)
			p.markItems(v, path)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) lookalike(n *yaml.Node) (*cleanroom.LookalikeJob, error) {
	fs, err := p.fields(n, "lookalike", "a mapping with "+strings.Join(lookalikeFields, ", "), lookalikeFields)
	if err != nil {
		return nil, err
	}
	l := &cleanroom.LookalikeJob{}
	for _, f := range fs {
		k, v := f[0].Value, f[1]
		path := "lookalike." + k
		p.mark(f[0], path)
		switch k {
		case "seed":
			l.Seed, err = p.str(v, path)
		case "population":
			l.Population, err = p.str(v, path)
		case "seed_where":
			var conds []string
			if conds, err = p.texts(v, path); err == nil {
				for i, c := range conds {
					fl, ferr := parseFilter(c)
					if ferr != nil {
						return nil, p.fail(v.Content[i], fmt.Sprintf("%s[%d]", path, i), "%s", ferr.Error())
					}
					l.SeedWhere = append(l.SeedWhere, fl)
				}
			}
		case "features":
			l.Features, err = p.texts(v, path)
			p.markItems(v, path)
		case "min_seed":
			l.MinSeed, err = p.integer(v, path)
		case "seed_rho":
			l.SeedRho, err = p.number(v, path)
		case "epsilon":
			l.Epsilon, err = p.number(v, path)
		case "lambda":
			l.Lambda, err = p.number(v, path)
		case "score_edges":
			l.ScoreEdges, err = p.numbers(v, path)
		case "segment":
			var sf [][2]*yaml.Node
			if sf, err = p.fields(v, path, "a mapping with "+strings.Join(segmentFields, ", "), segmentFields); err != nil {
				return nil, err
			}
			l.Segment = &cleanroom.LookalikeSegment{}
			for _, g := range sf {
				gp := path + "." + g[0].Value
				p.mark(g[0], gp)
				switch g[0].Value {
				case "disclosure":
					l.Segment.Disclosure, err = p.str(g[1], gp)
				case "to":
					l.Segment.To, err = p.str(g[1], gp)
				case "threshold":
					l.Segment.Threshold, err = p.number(g[1], gp)
				}
				if err != nil {
					return nil, err
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *parser) model(n *yaml.Node) (*cleanroom.ModelJob, error) {
	fs, err := p.fields(n, "model", "a mapping with "+strings.Join(modelFields, ", "), modelFields)
	if err != nil {
		return nil, err
	}
	m := &cleanroom.ModelJob{}
	for _, f := range fs {
		k, v := f[0].Value, f[1]
		path := "model." + k
		p.mark(f[0], path)
		switch k {
		case "label":
			m.Label, err = p.str(v, path)
		case "features":
			m.Features, err = p.texts(v, path)
			p.markItems(v, path)
		case "epsilon":
			m.Epsilon, err = p.number(v, path)
		case "lambda":
			m.Lambda, err = p.number(v, path)
		case "score_edges":
			m.ScoreEdges, err = p.numbers(v, path)
		case "scoring":
			m.Scoring, err = p.scoring(v, path)
		}
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (p *parser) scoring(n *yaml.Node, path string) (*cleanroom.ModelScoring, error) {
	fs, err := p.fields(n, path, "a mapping with "+strings.Join(scoringFields, ", "), scoringFields)
	if err != nil {
		return nil, err
	}
	sc := &cleanroom.ModelScoring{}
	for _, f := range fs {
		gp := path + "." + f[0].Value
		p.mark(f[0], gp)
		var s string
		var x int64
		switch f[0].Value {
		case "disclosure":
			sc.Disclosure, err = p.str(f[1], gp)
		case "to":
			sc.To, err = p.str(f[1], gp)
		case "identifier":
			s, err = p.str(f[1], gp)
			sc.Identifier = cleanroom.IdentifierClass(s)
		case "daily_limit":
			x, err = p.integer(f[1], gp)
			sc.DailyLimit = int(max(min(x, 1<<30), -1))
		}
		if err != nil {
			return nil, err
		}
	}
	return sc, nil
}

func (p *parser) attribution(n *yaml.Node) (*cleanroom.Attribution, error) {
	fs, err := p.fields(n, "attribution", "a mapping with "+strings.Join(attributionFields, ", "), attributionFields)
	if err != nil {
		return nil, err
	}
	a := &cleanroom.Attribution{}
	for _, f := range fs {
		k, v := f[0].Value, f[1]
		path := "attribution." + k
		p.mark(f[0], path)
		var x int64
		switch k {
		case "campaign":
			a.Campaign, err = p.str(v, path)
		case "exposed_at":
			a.ExposedAt, err = p.str(v, path)
		case "holdout":
			a.Holdout, err = p.str(v, path)
		case "product":
			a.Product, err = p.str(v, path)
		case "converted_at":
			a.ConvertedAt, err = p.str(v, path)
		case "population":
			a.Population, err = p.str(v, path)
		case "lookback_days":
			x, err = p.integer(v, path)
			a.LookbackDays = int(max(min(x, 1<<20), -1))
		case "max_conversions_per_person":
			x, err = p.integer(v, path)
			a.MaxConversionsPerPerson = int(max(min(x, 1<<20), -1))
		case "campaigns":
			var cs [][2]*yaml.Node
			if cs, err = p.fields(v, path, "a mapping of each campaign to the product it promotes", nil); err != nil {
				return nil, err
			}
			a.Campaigns = map[string]cleanroom.AttributionCampaign{}
			for _, c := range cs {
				cpath := path + "." + c[0].Value
				p.mark(c[0], cpath)
				fields, err := p.fields(c[1], cpath, "a mapping with product and, for a flight, from and to", []string{"product", "from", "to"})
				if err != nil {
					return nil, err
				}
				var camp cleanroom.AttributionCampaign
				for _, f := range fields {
					fp := cpath + "." + f[0].Value
					p.mark(f[0], fp)
					var v string
					if v, err = p.str(f[1], fp); err != nil {
						return nil, err
					}
					switch f[0].Value {
					case "product":
						camp.Product = v
					case "from":
						camp.From = v
					case "to":
						camp.To = v
					}
				}
				a.Campaigns[c[0].Value] = camp
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}
