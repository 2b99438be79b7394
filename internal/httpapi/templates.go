package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/template"
)

// ProposeTemplateRequest proposes a template, written in YAML (see
// internal/template for the format).
type ProposeTemplateRequest struct {
	YAML string `json:"yaml"`
}

// TemplateBody is one version of a template and where its approval stands.
type TemplateBody struct {
	Template   cleanroom.Template      `json:"template"`
	Digest     string                  `json:"digest"`
	State      cleanroom.TemplateState `json:"state"`
	ProposedBy string                  `json:"proposed_by"`
	ProposedAt time.Time               `json:"proposed_at"`
	Readers    []string                `json:"readers"`
	ApprovedBy []string                `json:"approved_by"`
	Pending    []string                `json:"pending"`
	// Approvals are the parties' signed approvals, so anyone holding
	// their keys can check them offline.
	Approvals []statement.Envelope `json:"approvals"`
	// Stats are the template's run, refusal and suppression counts over
	// all its versions, so "too strict" shows.
	Stats sqlite.TemplateStats `json:"stats"`
}

// TemplateList lists every version of a room's templates.
type TemplateList struct {
	Templates []TemplateBody `json:"templates"`
}

// RetireRequest names the version to retire.
type RetireRequest struct {
	Version int `json:"version"`
}

func (s *Server) templateRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/templates", Action: cleanroom.ActionTemplatePropose, Mutates: true,
			decode: decodeInto(func(c *call, v *ProposeTemplateRequest) error { c.body = v; return nil }), handle: s.proposeTemplate},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/templates", Action: cleanroom.ActionTemplateList, handle: s.listTemplates},
		{Method: "GET", Pattern: "/api/v1/rooms/{room}/templates/{template}", Action: cleanroom.ActionTemplateShow, handle: s.showTemplate},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/templates/{template}/approvals", Action: cleanroom.ActionTemplateApprove, Mutates: true,
			decode: decodeInto(func(c *call, v *statement.Envelope) error { c.body = v; return nil }), handle: s.approveTemplate},
		{Method: "POST", Pattern: "/api/v1/rooms/{room}/templates/{template}/retire", Action: cleanroom.ActionTemplateRetire, Mutates: true,
			decode: decodeInto(func(c *call, v *RetireRequest) error { c.body = v; return nil }), handle: s.retireTemplate},
	}
}

// roomSchemas returns the schemas and owners of a room's datasets.
func roomSchemas(tx *sqlite.Tx, room string) (map[string]*cleanroom.Schema, map[string]string, error) {
	ds, err := tx.Datasets(room)
	if err != nil {
		return nil, nil, err
	}
	schemas, owners := map[string]*cleanroom.Schema{}, map[string]string{}
	for _, d := range ds {
		var s cleanroom.Schema
		if err := json.Unmarshal(d.Schema, &s); err != nil {
			return nil, nil, err
		}
		schemas[d.Name], owners[d.Name] = &s, d.Party
	}
	return schemas, owners, nil
}

func templateBody(tx *sqlite.Tx, row *sqlite.TemplateRow) (TemplateBody, error) {
	var t cleanroom.Template
	if err := json.Unmarshal(row.Content, &t); err != nil {
		return TemplateBody{}, err
	}
	_, owners, err := roomSchemas(tx, row.Room)
	if err != nil {
		return TemplateBody{}, err
	}
	rec := cleanroom.TemplateRecord{Template: t, Digest: row.Digest, State: cleanroom.TemplateState(row.State),
		ProposedBy: row.ProposedBy, ProposedAt: row.ProposedAt, ApprovedBy: row.Approvals}
	stats, err := tx.TemplateStats(row.Room, row.Name)
	if err != nil {
		return TemplateBody{}, err
	}
	out := TemplateBody{Template: t, Digest: row.Digest, State: rec.State, ProposedBy: row.ProposedBy, ProposedAt: row.ProposedAt,
		Readers: t.Readers(owners), ApprovedBy: row.Approvals, Pending: rec.Pending(owners), Stats: stats}
	for _, l := range []*[]string{&out.Readers, &out.ApprovedBy, &out.Pending} {
		if *l == nil {
			*l = []string{}
		}
	}
	envs, err := tx.ApprovalEnvelopes(row.Room, row.Name, row.Version)
	if err != nil {
		return TemplateBody{}, err
	}
	out.Approvals = []statement.Envelope{}
	for _, raw := range envs {
		var env statement.Envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			return TemplateBody{}, err
		}
		out.Approvals = append(out.Approvals, env)
	}
	return out, nil
}

func (s *Server) proposeTemplate(c *call) (int, any, error) {
	req := c.body.(*ProposeTemplateRequest)
	t, err := template.Parse([]byte(req.YAML))
	if err != nil {
		return 0, nil, asInvalid(err)
	}
	c.object = "template:" + t.Name
	room, err := c.tx.Room(c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	schemas, owners, err := roomSchemas(c.tx, room.Name)
	if err != nil {
		return 0, nil, err
	}
	if err := cleanroom.CheckTemplate(t, schemas, owners); err != nil {
		return 0, nil, err
	}
	if err := t.CheckParties(room); err != nil {
		return 0, nil, err
	}
	// A change is a new version: the proposal's version is the next one.
	if t.Version, err = c.tx.NextTemplateVersion(room.Name, t.Name); err != nil {
		return 0, nil, err
	}
	canon, err := template.Canonical(t)
	if err != nil {
		return 0, nil, asInvalid(err)
	}
	row := sqlite.TemplateRow{Room: room.Name, Name: t.Name, Version: t.Version, Digest: template.Digest(t), Content: canon,
		State: string(cleanroom.TemplateProposed), ProposedBy: c.p.Party, ProposedAt: c.tx.Now()}
	if err := c.tx.CreateTemplate(row); err != nil {
		return 0, nil, err
	}
	c.detail["version"] = strconv.Itoa(t.Version)
	c.detail["digest"] = row.Digest
	body, err := templateBody(c.tx, &row)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, body, nil
}

// asInvalid makes a parse error a refusal of the request.
func asInvalid(err error) error {
	if cleanroom.ErrorCode(err) != cleanroom.EInternal {
		return err
	}
	return cleanroom.Errorf(cleanroom.EInvalid, "%s", err.Error())
}

func (s *Server) listTemplates(c *call) (int, any, error) {
	rows, err := c.tx.Templates(c.target.Room)
	if err != nil {
		return 0, nil, err
	}
	out := TemplateList{Templates: []TemplateBody{}}
	for i := range rows {
		b, err := templateBody(c.tx, &rows[i])
		if err != nil {
			return 0, nil, err
		}
		out.Templates = append(out.Templates, b)
	}
	return http.StatusOK, out, nil
}

func versionParam(c *call) (int, error) {
	v := c.r.URL.Query().Get("version")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, cleanroom.Errorf(cleanroom.EInvalid, "query parameter \"version\" must be a version number, not %q", v)
	}
	return n, nil
}

func (s *Server) showTemplate(c *call) (int, any, error) {
	v, err := versionParam(c)
	if err != nil {
		return 0, nil, err
	}
	row, err := c.tx.Template(c.target.Room, c.target.Template, v)
	if err != nil {
		return 0, nil, err
	}
	b, err := templateBody(c.tx, row)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, b, nil
}

func (s *Server) approveTemplate(c *call) (int, any, error) {
	env := c.body.(*statement.Envelope)
	party, err := c.tx.Party(c.p.Party)
	if err != nil {
		return 0, nil, err
	}
	var a cleanroom.TemplateApproval
	if err := statement.Verify(party.SigningKey, *env, &a); err != nil {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "approval does not verify with the key of party %q", party.Name).
			WithHint("approve on the party's side with `cleanroom template approve --keys DIR`")
	}
	if err := a.Validate(); err != nil {
		return 0, nil, err
	}
	if a.Server != s.serverID || a.Room != c.target.Room || a.Name != c.target.Template {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "approval is for template %q in room %q on server %s", a.Name, a.Room, a.Server)
	}
	row, err := c.tx.Template(c.target.Room, a.Name, a.Version)
	if err != nil {
		return 0, nil, err
	}
	c.object = "template:" + a.Name
	c.detail["version"] = strconv.Itoa(a.Version)
	if row.Digest != a.Digest {
		return 0, nil, cleanroom.Errorf(cleanroom.EInvalid, "approval signs digest %s, but version %d of template %q has digest %s", a.Digest, a.Version, a.Name, row.Digest).
			WithHint("review the template again and approve what the room holds")
	}
	if row.State != string(cleanroom.TemplateProposed) {
		return 0, nil, cleanroom.Errorf(cleanroom.EConflict, "template %q version %d is %s", a.Name, a.Version, row.State)
	}
	raw, _ := json.Marshal(env)
	if err := c.tx.PutApproval(row.Room, row.Name, row.Version, party.Name, raw); err != nil {
		return 0, nil, err
	}
	row.Approvals = append(row.Approvals, party.Name)
	slices.Sort(row.Approvals)
	body, err := templateBody(c.tx, row)
	if err != nil {
		return 0, nil, err
	}
	if len(body.Pending) == 0 {
		if err := c.tx.SetTemplateState(row.Room, row.Name, row.Version, string(cleanroom.TemplateApproved)); err != nil {
			return 0, nil, err
		}
		body.State = cleanroom.TemplateApproved
	}
	c.detail["state"] = string(body.State)
	return http.StatusOK, body, nil
}

func (s *Server) retireTemplate(c *call) (int, any, error) {
	req := c.body.(*RetireRequest)
	row, err := c.tx.Template(c.target.Room, c.target.Template, req.Version)
	if err != nil {
		return 0, nil, err
	}
	c.object = "template:" + row.Name
	c.detail["version"] = strconv.Itoa(row.Version)
	if !cleanroom.TemplateState(row.State).CanBecome(cleanroom.TemplateRetired) {
		return 0, nil, cleanroom.Errorf(cleanroom.EConflict, "template %q version %d is already retired", row.Name, row.Version)
	}
	if err := c.tx.SetTemplateState(row.Room, row.Name, row.Version, string(cleanroom.TemplateRetired)); err != nil {
		return 0, nil, err
	}
	row.State = string(cleanroom.TemplateRetired)
	body, err := templateBody(c.tx, row)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, body, nil
}
