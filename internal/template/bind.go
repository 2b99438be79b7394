package template

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cleanroom-dev/cleanroom"
)

// Bound is a template with its parameters bound to typed values, ready for
// the engine to compile. Values are never SQL text: the engine passes them
// to the query as bound parameters.
type Bound struct {
	Template *cleanroom.Template
	// Params holds one typed value per parameter of the template, by name.
	Params map[string]cleanroom.Value
}

// Bind binds params (name → value as the analyst wrote it) to t's
// parameters. Every parameter must be given, and only those; each value is
// parsed by its parameter's type and checked against its enum values or
// bounds (cleanroom.Parameter.Parse). A value that is not a well-formed
// value of the type, such as SQL text, is rejected with an EInvalid error
// naming the parameter.
func Bind(t *cleanroom.Template, params map[string]string) (Bound, error) {
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if _, ok := t.Parameters[name]; !ok {
			e := cleanroom.Errorf(cleanroom.EInvalid, "template %q has no parameter %q", t.Name, name)
			if len(t.Parameters) == 0 {
				return Bound{}, e.WithHint("the template takes no parameters")
			}
			return Bound{}, e.WithHint("its parameters are %s", strings.Join(t.ParameterNames(), ", "))
		}
	}
	b := Bound{Template: t, Params: make(map[string]cleanroom.Value, len(t.Parameters))}
	for _, name := range t.ParameterNames() {
		p := t.Parameters[name]
		s, ok := params[name]
		if !ok {
			return Bound{}, cleanroom.Errorf(cleanroom.EInvalid, "parameter %q is missing", name).
				WithHint("pass it as --param %s=<%s>", name, p.Type)
		}
		v, err := p.Parse(s)
		if err != nil {
			var e *cleanroom.Error
			if errors.As(err, &e) {
				c := *e
				c.Message = fmt.Sprintf("parameter %q: %s", name, c.Message)
				return Bound{}, &c
			}
			return Bound{}, fmt.Errorf("parameter %q: %w", name, err)
		}
		b.Params[name] = v
	}
	return b, nil
}
