package webui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"join": func(v any, sep string) string {
		switch x := v.(type) {
		case []string:
			return strings.Join(x, sep)
		case []cleanroom.Role:
			s := make([]string, len(x))
			for i, r := range x {
				s[i] = string(r)
			}
			return strings.Join(s, sep)
		}
		return fmt.Sprint(v)
	},
	"date": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			return t.UTC().Format("2006-01-02")
		case *time.Time:
			if t != nil {
				return t.UTC().Format("2006-01-02")
			}
		}
		return ""
	},
	"datetime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"short": func(s string) string {
		if len(s) > 16 {
			return s[:16] + "…"
		}
		return s
	},
	"stateClass": func(v any) string {
		switch fmt.Sprint(v) {
		case "active", "approved", "released", "done":
			return "ok"
		case "terminated", "expired", "retired", "rejected", "failed":
			return "bad"
		}
		return "warn"
	},
	"gauge": gauge,
	"has":   func(list []string, s string) bool { return slices.Contains(list, s) },
}

// roomRow is a room in the rooms list, with the caller's roles in it.
type roomRow struct {
	cleanroom.Room
	Roles []cleanroom.Role
}

func (u *UI) rooms(w http.ResponseWriter, r *http.Request, s *session, c *client.Client) {
	ctx := r.Context()
	list, err := c.ListRooms(ctx)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	who, err := c.Whoami(ctx)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	var rows []roomRow
	for _, room := range list.Rooms {
		rows = append(rows, roomRow{Room: room, Roles: who.Rooms[room.Name]})
	}
	u.render(w, s, http.StatusOK, "rooms", "Rooms", struct{ Rooms []roomRow }{rows})
}

// roomPage is what the room page shows.
type roomPage struct {
	Room         *cleanroom.Room
	Agreement    *httpapi.DUABody
	AgreementDoc *cleanroom.DUA
	Datasets     []datasetRow
	Match        *httpapi.MatchRunBody
	MatchChart   template.HTML
	Templates    []httpapi.TemplateBody
	// SignAgreement offers the user to sign the agreement for its party;
	// Provider says the user may approve templates for it.
	SignAgreement, Provider bool
}

type datasetRow struct {
	Name, Party   string
	Version, Rows int
	Budget        *httpapi.BudgetBody
}

func (u *UI) room(w http.ResponseWriter, r *http.Request, s *session, c *client.Client) {
	ctx := r.Context()
	name := r.PathValue("room")
	room, err := c.ShowRoom(ctx, name)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	p := roomPage{Room: room}
	duas, err := c.ListDUAs(ctx, name)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	// The agreement in force, else the newest.
	for i := range duas.Agreements {
		a := &duas.Agreements[i]
		if a.Version == duas.Active || (duas.Active == 0 && i == len(duas.Agreements)-1) {
			p.Agreement = a
		}
	}
	if p.Agreement != nil {
		var d cleanroom.DUA
		if json.Unmarshal(p.Agreement.Document, &d) == nil {
			p.AgreementDoc = &d
		}
	}
	ds, err := c.ListDatasets(ctx, name)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	for _, d := range ds.Datasets {
		row := datasetRow{Name: d.Name, Party: d.Party, Budget: d.Budget}
		if n := len(d.Versions); n > 0 {
			row.Version, row.Rows = d.Versions[n-1].Version, d.Versions[n-1].Rows
		}
		p.Datasets = append(p.Datasets, row)
	}
	matches, err := c.ListMatches(ctx, name)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	for i := range matches.Runs {
		if m := &matches.Runs[i]; m.Report != nil {
			p.Match = m
			p.MatchChart = matchChart(m.Report)
			break
		}
	}
	ts, err := c.ListTemplates(ctx, name)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	p.Templates = ts.Templates
	who, err := c.Whoami(ctx)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	p.Provider = slices.Contains(who.Rooms[name], cleanroom.RoleProvider)
	p.SignAgreement = p.Agreement != nil && slices.Contains(p.Agreement.Pending, s.party) && u.providers[s.party] != nil
	u.render(w, s, http.StatusOK, "room", "Room "+name, p)
}

// auditPage is what the audit page shows.
type auditPage struct {
	Room     string
	Entries  []cleanroom.AuditEntry
	Size     int
	Root     string
	Verified bool
	Problem  string
	Parties  []cosigned
}

type cosigned struct {
	Party string
	Size  int
	Valid bool
}

// audit shows the room's log, newest first, with the room server's own
// check of it against its signed checkpoint and each party's cosignature.
func (u *UI) audit(w http.ResponseWriter, r *http.Request, s *session, c *client.Client) {
	ctx := r.Context()
	name := r.PathValue("room")
	var entries []cleanroom.AuditEntry
	page := client.AuditPage{Limit: 1000}
	for {
		l, err := c.RoomAudit(ctx, name, page)
		if err != nil {
			u.fail(w, r, s, 0, err)
			return
		}
		entries = append(entries, l.Entries...)
		if len(l.Entries) < page.Limit || l.Next == 0 {
			break
		}
		page.After = l.Next
	}
	cp, err := c.AuditCheckpoint(ctx, name, 0)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	info, err := c.ServerInfo(ctx)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	room, err := c.ShowRoom(ctx, name)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	parties, err := c.ListParties(ctx)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	p := auditPage{Room: name, Size: cp.Checkpoint.Size, Root: fmt.Sprintf("%x", cp.Checkpoint.Root)}
	switch root, err := auditlog.Tree(entries).Root(cp.Checkpoint.Size); {
	case cp.Checkpoint.Verify(info.SigningKey) != nil:
		p.Problem = "the checkpoint's signature does not verify with the server's key"
	case err != nil || cp.Checkpoint.Size > len(entries):
		p.Problem = fmt.Sprintf("the checkpoint covers %d entries, the log shows %d", cp.Checkpoint.Size, len(entries))
	case !bytes.Equal(root[:], cp.Checkpoint.Root):
		p.Problem = "the entries do not hash into the checkpoint's root"
	default:
		p.Verified = true
	}
	keys := map[string][]byte{}
	for _, party := range parties.Parties {
		keys[party.Name] = party.SigningKey
	}
	for _, party := range room.Parties {
		row := cosigned{Party: party}
		for _, cs := range cp.Cosignatures {
			if cs.Party == party {
				row.Size = cs.Size
				row.Valid = cs.Verify(info.ServerID, name, keys[party]) == nil
			}
		}
		p.Parties = append(p.Parties, row)
	}
	slices.Reverse(entries)
	p.Entries = entries
	u.render(w, s, http.StatusOK, "audit", "Audit log of "+name, p)
}
