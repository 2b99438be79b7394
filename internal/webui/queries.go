package webui

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/release"
)

func init() {
	funcs["pct"] = func(v float64) float64 { return 100 * v }
	funcs["num"] = func(v float64) string {
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatFloat(v, 'f', 0, 64)
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// field is one typed parameter of a template's run form.
type field struct {
	Name, Type, Input, Min, Max, Value string
	Options                            []string
}

// runPage is the run form, with the explain preview once asked for.
type runPage struct {
	Room     string
	Template cleanroom.Template
	Fields   []field
	Explain  *httpapi.Explain
}

// formFields builds a template's form from its typed parameters, with the
// values the user entered.
func formFields(t *cleanroom.Template, values map[string]string) []field {
	var out []field
	for _, name := range slices.Sorted(mapsKeys(t.Parameters)) {
		p := t.Parameters[name]
		f := field{Name: name, Type: string(p.Type), Min: p.Min, Max: p.Max, Value: values[name]}
		switch p.Type {
		case cleanroom.ParamEnum:
			f.Options = p.Values
		case cleanroom.ParamBool:
			f.Options = []string{"true", "false"}
		case cleanroom.ParamDate:
			f.Input = "date"
		default:
			f.Input = "number"
		}
		out = append(out, f)
	}
	return out
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// params reads the form's parameter values (fields named "p.NAME").
func params(r *http.Request, t *cleanroom.Template) map[string]string {
	out := map[string]string{}
	for name := range t.Parameters {
		if v := r.PostFormValue("p." + name); v != "" {
			out[name] = v
		}
	}
	return out
}

// checkCSRF refuses a form that is not from the session.
func checkCSRF(r *http.Request, s *session) error {
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
		return cleanroom.Errorf(cleanroom.EForbidden, "the form is not from this session").WithHint("reload the page and try again")
	}
	return nil
}

// run shows a template's run form (GET), previews it (POST
// action=explain) or runs it (POST action=run) as the signed-in analyst.
func (u *UI) run(w http.ResponseWriter, r *http.Request, s *session, c *client.Client) {
	ctx := r.Context()
	room, name := r.PathValue("room"), r.PathValue("template")
	tb, err := c.ShowTemplate(ctx, room, name, 0)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	p := runPage{Room: room, Template: tb.Template}
	values := map[string]string{}
	if r.Method == http.MethodPost {
		if err := checkCSRF(r, s); err != nil {
			u.fail(w, r, s, http.StatusForbidden, err)
			return
		}
		values = params(r, &tb.Template)
		req := httpapi.RunQueryRequest{Template: name, Params: values}
		if r.PostFormValue("action") == "run" {
			q, err := c.RunQuery(ctx, room, req)
			if err != nil {
				u.fail(w, r, s, 0, err)
				return
			}
			http.Redirect(w, r, "/ui/rooms/"+room+"/queries/"+q.ID, http.StatusSeeOther)
			return
		}
		if p.Explain, err = c.ExplainQuery(ctx, room, req); err != nil {
			u.fail(w, r, s, 0, err)
			return
		}
	}
	p.Fields = formFields(&tb.Template, values)
	u.render(w, s, http.StatusOK, "run", "Run "+name, p)
}

// queryPage is a run, with its result when the user may see it.
type queryPage struct {
	Room      string
	Query     *httpapi.QueryBody
	Params    string
	Release   *release.Release
	Chart     template.HTML
	CanReview bool
	Problem   string
}

func (u *UI) query(w http.ResponseWriter, r *http.Request, s *session, c *client.Client) {
	ctx := r.Context()
	room, id := r.PathValue("room"), r.PathValue("query")
	q, err := c.ShowQuery(ctx, room, id)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	who, err := c.Whoami(ctx)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	p := queryPage{Room: room, Query: q}
	var ps []string
	for k, v := range q.Params {
		ps = append(ps, k+" = "+v)
	}
	slices.Sort(ps)
	p.Params = strings.Join(ps, ", ")
	roles := who.Rooms[room]
	p.CanReview = q.State == cleanroom.QueryPendingReview && slices.Contains(roles, cleanroom.RoleReviewer) && slices.Contains(q.ReviewBy, s.party)
	if len(q.Sealed) > 0 {
		// The user may see the result: its party's agent opens it.
		raw, err := c.OpenedResult(ctx, room, id)
		var rel release.Release
		switch {
		case err != nil:
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) {
				u.fail(w, r, s, 0, err)
				return
			}
			p.Problem = apiErr.Message
			if apiErr.Hint != "" {
				p.Problem += " (" + apiErr.Hint + ")"
			}
		case json.Unmarshal(raw, &rel) != nil:
			p.Problem = "the result could not be read"
		default:
			p.Release = &rel
			p.Chart = resultChart(&rel)
		}
	} else if q.State == cleanroom.QueryReleased {
		p.Problem = fmt.Sprintf("The result goes to %s; your party does not receive it.", strings.Join(q.Receivers, ", "))
	}
	u.render(w, s, http.StatusOK, "query", "Query "+id, p)
}

// review approves or rejects a held result as the signed-in reviewer.
func (u *UI) review(w http.ResponseWriter, r *http.Request, s *session, c *client.Client) {
	if err := checkCSRF(r, s); err != nil {
		u.fail(w, r, s, http.StatusForbidden, err)
		return
	}
	room, id := r.PathValue("room"), r.PathValue("query")
	if _, err := c.ReviewQuery(r.Context(), room, id, r.PostFormValue("decision")); err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	http.Redirect(w, r, "/ui/rooms/"+room+"/queries/"+id, http.StatusSeeOther)
}

// queriesPage lists a room's runs and those waiting for the user's
// party's review.
type queriesPage struct {
	Room             string
	Queries, Pending []httpapi.QueryBody
}

func (u *UI) queries(w http.ResponseWriter, r *http.Request, s *session, c *client.Client) {
	room := r.PathValue("room")
	l, err := c.ListQueries(r.Context(), room)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	p := queriesPage{Room: room}
	for i := len(l.Queries) - 1; i >= 0; i-- {
		q := l.Queries[i]
		p.Queries = append(p.Queries, q)
		if q.State == cleanroom.QueryPendingReview && slices.Contains(q.ReviewBy, s.party) {
			p.Pending = append(p.Pending, q)
		}
	}
	u.render(w, s, http.StatusOK, "queries", "Queries of "+room, p)
}
