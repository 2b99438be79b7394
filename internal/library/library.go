// Package library is the template library shipped in the binary: approved
// questions a new room can propose as they are, so the parties' approvals
// are a review of known text rather than of a new query. `cleanroom
// template library` lists them; `cleanroom template propose --library
// NAME` proposes one.
package library

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/template"
)

//go:embed templates/*.yaml
var files embed.FS

// Entry is one shipped template: its YAML as shipped and parsed.
type Entry struct {
	Name     string
	YAML     []byte
	Template *cleanroom.Template
}

// All returns every shipped template, by name.
func All() ([]Entry, error) {
	names, err := fs.Glob(files, "templates/*.yaml")
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, n := range names {
		raw, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		t, err := template.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("library template %s: %w", n, err)
		}
		if want := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".yaml"); t.Name != want {
			return nil, fmt.Errorf("library template %s is named %q", n, t.Name)
		}
		out = append(out, Entry{Name: t.Name, YAML: raw, Template: t})
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Get returns the shipped template name.
func Get(name string) (*Entry, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].Name == name {
			return &all[i], nil
		}
	}
	names := make([]string, len(all))
	for i, e := range all {
		names[i] = e.Name
	}
	return nil, cleanroom.Errorf(cleanroom.ENotFound, "the template library has no template %q", name).
		WithHint("it has %s", strings.Join(names, ", "))
}
