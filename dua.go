package cleanroom

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// DUAType is the type string of a data-use agreement.
const DUAType = "cleanroom.dua.v1"

// DUATerminationType is the type string of a party's termination of a
// data-use agreement.
const DUATerminationType = "cleanroom.dua.termination.v1"

// DUA is a room's data-use agreement: what the parties agreed the room may
// do with their data, for how long, on which legal basis. Every party named
// in it signs its RFC 8785 canonical encoding with its key; uploads,
// matching and queries run only under an agreement in force, and only the
// templates it permits run (DESIGN.md, "Governance").
//
// A room's agreements are numbered by Version. A later version that every
// party has signed supersedes the earlier one once it takes effect, which is
// how an agreement is amended without a gap.
type DUA struct {
	Type    string `json:"type" yaml:"-"`
	Server  string `json:"server" yaml:"-"`
	Room    string `json:"room" yaml:"-"`
	Version int    `json:"version" yaml:"-"`
	// Host is the organisation that runs the room server; it must be the
	// room's host.
	Host string `json:"host" yaml:"host"`
	// Parties are the room's parties, each with its consent attestation.
	Parties []DUAParty `json:"parties" yaml:"parties"`
	// Purposes are the purposes the data may be used for.
	Purposes []string `json:"purposes" yaml:"purposes"`
	// Templates are the templates that may run, by name and version range.
	Templates []DUATemplate `json:"templates" yaml:"templates"`
	// DataCategories are the categories of personal data brought in.
	DataCategories []string `json:"data_categories" yaml:"data_categories"`
	// LegalBasis is the legal basis of the processing (for example GDPR
	// Art. 6(1)(f), legitimate interest).
	LegalBasis string `json:"legal_basis" yaml:"legal_basis"`
	// Disclosures are the declared disclosures the agreement allows, if
	// any (DESIGN.md, "Trust model").
	Disclosures []DUADisclosure `json:"disclosures" yaml:"disclosures"`
	// ScaleOut names the job servers (host:port of a Flink, Spark or Prism
	// job server) on which the room may run approved plans with the Beam
	// engine. The runner behind each, its workers and its shuffle storage
	// are part of the room's isolated zone. Empty: only the room server
	// itself (DuckDB, or Prism inside it) runs plans.
	ScaleOut []string `json:"scale_out,omitempty" yaml:"scale_out"`
	// Budget is every provider dataset's privacy budget in the room.
	Budget DUABudget `json:"budget" yaml:"budget"`
	// RetentionDays is how long a dataset version is kept after its
	// upload; the room deletes it then, and at the agreement's end.
	RetentionDays int `json:"retention_days" yaml:"retention_days"`
	// StartsAt and ExpiresAt bound the time the agreement is in force.
	StartsAt  time.Time `json:"starts_at" yaml:"starts_at"`
	ExpiresAt time.Time `json:"expires_at" yaml:"expires_at"`
}

// DUAParty is one party to an agreement with its consent attestation: the
// party's statement of why it may bring its customers' data (the notice
// given, the consent or other basis, how opt-outs are honoured).
type DUAParty struct {
	Name    string `json:"name" yaml:"name"`
	Consent string `json:"consent_attestation" yaml:"consent_attestation"`
}

// DUATemplate permits the versions MinVersion..MaxVersion of a template;
// MaxVersion 0 means every later version too.
type DUATemplate struct {
	Name       string `json:"name" yaml:"name"`
	MinVersion int    `json:"min_version" yaml:"min_version"`
	MaxVersion int    `json:"max_version" yaml:"max_version"`
}

// DUADisclosure is a declared disclosure: something other than an
// aggregate under the output controls that a party may receive, for one of
// the agreement's purposes.
type DUADisclosure struct {
	Name        string `json:"name" yaml:"name"`
	To          string `json:"to" yaml:"to"`
	Purpose     string `json:"purpose" yaml:"purpose"`
	Description string `json:"description" yaml:"description"`
}

// DUABudget is the privacy budget of each provider dataset: ρ (zCDP) for
// noisy values, ε for partition selection (δ follows from the dataset's
// size), and the renewal rule.
type DUABudget struct {
	Rho     float64 `json:"rho" yaml:"rho"`
	Epsilon float64 `json:"epsilon" yaml:"epsilon"`
	// Renewal is "never": one cap for the dataset's life. Renewing caps
	// need templates that bound the event time they read, which the
	// template language does not yet express.
	Renewal string `json:"renewal" yaml:"renewal"`
}

// Limits on a DUA's text, so a document stays reviewable.
const (
	maxDUAText  = 4000
	maxDUAItems = 100
)

// Validate checks the agreement on its own.
func (d *DUA) Validate() error {
	if d.Type != DUAType {
		return Errorf(EInvalid, "agreement type is %q, want %q", d.Type, DUAType)
	}
	if d.Server == "" || d.Version < 1 {
		return Errorf(EInvalid, "agreement lacks its server or version")
	}
	if err := ValidateName("room name", d.Room); err != nil {
		return err
	}
	if err := ValidateName("host name", d.Host); err != nil {
		return dualField("host", err)
	}
	if len(d.Parties) == 0 {
		return Errorf(EInvalid, "agreement field \"parties\" is empty").WithHint("list every party of the room with its consent_attestation")
	}
	for i, p := range d.Parties {
		if err := ValidateName("party name", p.Name); err != nil {
			return dualField(fmt.Sprintf("parties[%d].name", i), err)
		}
		if slices.ContainsFunc(d.Parties[:i], func(q DUAParty) bool { return q.Name == p.Name }) {
			return Errorf(EInvalid, "agreement field \"parties\" lists party %q twice", p.Name)
		}
		if err := duaText(fmt.Sprintf("parties[%d].consent_attestation", i), p.Consent); err != nil {
			return err.WithHint("each party states the basis on which it brings its customers' data (notice, consent, opt-out handling)")
		}
	}
	if err := duaList("purposes", d.Purposes); err != nil {
		return err
	}
	if err := duaList("data_categories", d.DataCategories); err != nil {
		return err
	}
	if err := duaText("legal_basis", d.LegalBasis); err != nil {
		return err
	}
	if len(d.Templates) == 0 || len(d.Templates) > maxDUAItems {
		return Errorf(EInvalid, "agreement field \"templates\" must list 1 to %d templates", maxDUAItems)
	}
	for i, t := range d.Templates {
		if err := ValidateName("template name", t.Name); err != nil {
			return dualField(fmt.Sprintf("templates[%d].name", i), err)
		}
		if t.MinVersion < 1 || (t.MaxVersion != 0 && t.MaxVersion < t.MinVersion) {
			return Errorf(EInvalid, "agreement field \"templates[%d]\" (%s): versions %d..%d are not a range", i, t.Name, t.MinVersion, t.MaxVersion).
				WithHint("min_version is at least 1; max_version is 0 (no upper bound) or at least min_version")
		}
	}
	for i, x := range d.Disclosures {
		f := fmt.Sprintf("disclosures[%d]", i)
		if err := ValidateName("disclosure name", x.Name); err != nil {
			return dualField(f+".name", err)
		}
		if !d.HasParty(x.To) {
			return Errorf(EInvalid, "agreement field %q: disclosure %q goes to %q, which is not a party to the agreement", f+".to", x.Name, x.To)
		}
		if !slices.Contains(d.Purposes, x.Purpose) {
			return Errorf(EInvalid, "agreement field %q: disclosure %q names purpose %q, which the agreement does not list", f+".purpose", x.Name, x.Purpose)
		}
		if err := duaText(f+".description", x.Description); err != nil {
			return err
		}
	}
	if len(d.ScaleOut) > maxDUAItems {
		return Errorf(EInvalid, "agreement field \"scale_out\" lists more than %d job servers", maxDUAItems)
	}
	for i, e := range d.ScaleOut {
		host, port, err := net.SplitHostPort(e)
		if err != nil || host == "" || port == "" || strings.ContainsAny(e, " /") || slices.Contains(d.ScaleOut[:i], e) {
			return Errorf(EInvalid, "agreement field \"scale_out[%d]\" is %q", i, e).
				WithHint("name each job server once, as host:port, for example flink-jobserver.zone.internal:8099")
		}
	}
	b := d.Budget
	// The privacy core's limits (internal/dp: MaxRho, MaxEpsilon).
	if !(b.Rho > 0 && b.Rho <= 1000) || !(b.Epsilon >= 0 && b.Epsilon <= 40) {
		return Errorf(EInvalid, "agreement field \"budget\": rho %g and epsilon %g must lie in (0, 1000] and [0, 40]", b.Rho, b.Epsilon)
	}
	if b.Renewal != "never" {
		return Errorf(EInvalid, "agreement field \"budget.renewal\" is %q", b.Renewal).
			WithHint("use \"never\": one cap over each dataset's life; renewing caps need templates that bound the event time they read")
	}
	if d.RetentionDays < 1 || d.RetentionDays > 3660 {
		return Errorf(EInvalid, "agreement field \"retention_days\" is %d; it must lie in 1..3660", d.RetentionDays)
	}
	if d.StartsAt.IsZero() || !d.ExpiresAt.After(d.StartsAt) {
		return Errorf(EInvalid, "agreement must start (starts_at) before it expires (expires_at)")
	}
	return nil
}

func dualField(field string, err error) error {
	if e, ok := err.(*Error); ok {
		c := *e
		c.Message = fmt.Sprintf("agreement field %q: %s", field, e.Message)
		return &c
	}
	return err
}

func duaText(field, s string) *Error {
	if strings.TrimSpace(s) == "" {
		return Errorf(EInvalid, "agreement field %q is empty", field)
	}
	if len(s) > maxDUAText {
		return Errorf(EInvalid, "agreement field %q is longer than %d bytes", field, maxDUAText)
	}
	return nil
}

func duaList(field string, l []string) error {
	if len(l) == 0 || len(l) > maxDUAItems {
		return Errorf(EInvalid, "agreement field %q must list 1 to %d items", field, maxDUAItems)
	}
	for i, s := range l {
		if err := duaText(fmt.Sprintf("%s[%d]", field, i), s); err != nil {
			return err
		}
		if slices.Contains(l[:i], s) {
			return Errorf(EInvalid, "agreement field %q lists %q twice", field, s)
		}
	}
	return nil
}

// CheckRoom checks the agreement against its room: the same host and
// exactly the room's parties.
func (d *DUA) CheckRoom(r *Room) error {
	if d.Host != r.Host {
		return Errorf(EInvalid, "agreement names host %q, but room %q is hosted by %q", d.Host, r.Name, r.Host)
	}
	names := d.PartyNames()
	want := slices.Sorted(slices.Values(r.Parties))
	if !slices.Equal(names, want) {
		return Errorf(EInvalid, "agreement names parties %s, but room %q has parties %s", strings.Join(names, ", "), r.Name, strings.Join(want, ", ")).
			WithHint("an agreement binds every party of the room")
	}
	return nil
}

// PartyNames returns the names of the agreement's parties, sorted.
func (d *DUA) PartyNames() []string {
	out := make([]string, len(d.Parties))
	for i, p := range d.Parties {
		out[i] = p.Name
	}
	slices.Sort(out)
	return out
}

// HasParty reports whether party is a party to the agreement.
func (d *DUA) HasParty(party string) bool {
	return slices.ContainsFunc(d.Parties, func(p DUAParty) bool { return p.Name == party })
}

// Permits reports whether the agreement permits a template version.
func (d *DUA) Permits(name string, version int) bool {
	for _, t := range d.Templates {
		if t.Name == name && version >= t.MinVersion && (t.MaxVersion == 0 || version <= t.MaxVersion) {
			return true
		}
	}
	return false
}

// PermittedTemplates describes the permitted templates, for messages.
func (d *DUA) PermittedTemplates() string {
	var out []string
	for _, t := range d.Templates {
		switch {
		case t.MaxVersion == 0:
			out = append(out, fmt.Sprintf("%s v%d+", t.Name, t.MinVersion))
		case t.MaxVersion == t.MinVersion:
			out = append(out, fmt.Sprintf("%s v%d", t.Name, t.MinVersion))
		default:
			out = append(out, fmt.Sprintf("%s v%d-%d", t.Name, t.MinVersion, t.MaxVersion))
		}
	}
	return strings.Join(out, ", ")
}

// DUATermination is a party's signed termination of an agreement in
// force. Digest is the hex SHA-256 of the agreement's canonical encoding.
type DUATermination struct {
	Type     string    `json:"type"`
	Server   string    `json:"server"`
	Room     string    `json:"room"`
	Version  int       `json:"version"`
	Digest   string    `json:"digest"`
	Party    string    `json:"party"`
	Reason   string    `json:"reason"`
	IssuedAt time.Time `json:"issued_at"`
}

// Validate checks the termination on its own.
func (t *DUATermination) Validate() error {
	if t.Type != DUATerminationType {
		return Errorf(EInvalid, "statement type is %q, want %q", t.Type, DUATerminationType)
	}
	if t.Server == "" || t.Version < 1 || len(t.Digest) != 64 || t.IssuedAt.IsZero() {
		return Errorf(EInvalid, "termination lacks its server, version, digest or issue time")
	}
	if err := ValidateName("room name", t.Room); err != nil {
		return err
	}
	if err := ValidateName("party name", t.Party); err != nil {
		return err
	}
	if err := duaText("reason", t.Reason); err != nil {
		return err.WithHint("say why the agreement ends; the reason is kept in the audit log")
	}
	return nil
}

// DUAState is where an agreement is in its lifecycle:
// draft → signed → active → expired | terminated. An agreement another
// version replaced is superseded.
type DUAState string

// Agreement states.
const (
	DUADraft      DUAState = "draft"
	DUASigned     DUAState = "signed"
	DUAActive     DUAState = "active"
	DUAExpired    DUAState = "expired"
	DUATerminated DUAState = "terminated"
	DUASuperseded DUAState = "superseded"
)

// Ended reports whether the agreement can no longer come into force.
func (s DUAState) Ended() bool {
	return s == DUAExpired || s == DUATerminated || s == DUASuperseded
}

// Admitted decides whether a party invited to a room is admitted to it:
// to its datasets, matching, templates, queries, audit log and incidents.
// signed are the room's agreements that every party they name has signed
// (in any state since). Before the first, every invited party is; from
// then on only a party one of them names. So a party the platform admin
// invites into a room whose parties agreed without it — a party of its
// own making, say — reads and signs the room's agreements and nothing
// else until the room's parties sign an agreement naming it.
func Admitted(party string, signed []*DUA) bool {
	if len(signed) == 0 {
		return true
	}
	return slices.ContainsFunc(signed, func(d *DUA) bool { return d.HasParty(party) })
}

// DUAStateAt returns the state at now of an agreement whose parties have
// all signed it (signed), terminated (terminated) or been superseded by a
// later version in force (superseded).
func DUAStateAt(d *DUA, signed, terminated, superseded bool, now time.Time) DUAState {
	switch {
	case terminated:
		return DUATerminated
	case superseded:
		return DUASuperseded
	case !signed:
		if !now.Before(d.ExpiresAt) {
			return DUAExpired
		}
		return DUADraft
	case now.Before(d.StartsAt):
		return DUASigned
	case now.Before(d.ExpiresAt):
		return DUAActive
	}
	return DUAExpired
}
