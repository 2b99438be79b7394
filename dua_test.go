package cleanroom

import (
	"strings"
	"testing"
	"time"
)

func validDUA() *DUA {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	return &DUA{Type: DUAType, Server: "s1", Room: "r", Version: 1, Host: "neutral",
		Parties:  []DUAParty{{Name: "bank", Consent: "notice §4"}, {Name: "operator", Consent: "notice §7"}},
		Purposes: []string{"segment sizing"}, DataCategories: []string{"contact identifiers"}, LegalBasis: "Art. 6(1)(f)",
		Templates: []DUATemplate{{Name: "sizing", MinVersion: 1, MaxVersion: 2}},
		Budget:    DUABudget{Rho: 1, Epsilon: 20, Renewal: "never"}, RetentionDays: 90,
		StartsAt: start, ExpiresAt: start.AddDate(1, 0, 0)}
}

func TestDUAValidate(t *testing.T) {
	if err := validDUA().Validate(); err != nil {
		t.Fatalf("valid agreement: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(d *DUA)
		want string
	}{
		{"type", func(d *DUA) { d.Type = "x" }, "agreement type"},
		{"no parties", func(d *DUA) { d.Parties = nil }, `"parties" is empty`},
		{"party twice", func(d *DUA) { d.Parties[1].Name = "bank" }, `lists party "bank" twice`},
		{"no consent", func(d *DUA) { d.Parties[1].Consent = "  " }, `"parties[1].consent_attestation" is empty`},
		{"bad party", func(d *DUA) { d.Parties[0].Name = "Bank" }, `"parties[0].name"`},
		{"no purpose", func(d *DUA) { d.Purposes = nil }, `"purposes" must list`},
		{"no categories", func(d *DUA) { d.DataCategories = nil }, `"data_categories" must list`},
		{"no legal basis", func(d *DUA) { d.LegalBasis = "" }, `"legal_basis" is empty`},
		{"no templates", func(d *DUA) { d.Templates = nil }, `"templates" must list`},
		{"bad range", func(d *DUA) { d.Templates[0].MaxVersion = 0; d.Templates[0].MinVersion = 0 }, "not a range"},
		{"inverted range", func(d *DUA) { d.Templates[0].MinVersion = 3 }, "not a range"},
		{"disclosure to outsider", func(d *DUA) {
			d.Disclosures = []DUADisclosure{{Name: "scores", To: "insurer", Purpose: "segment sizing", Description: "x"}}
		}, "not a party to the agreement"},
		{"disclosure purpose", func(d *DUA) {
			d.Disclosures = []DUADisclosure{{Name: "scores", To: "bank", Purpose: "credit scoring", Description: "x"}}
		}, `names purpose "credit scoring"`},
		{"rho", func(d *DUA) { d.Budget.Rho = 0 }, `"budget"`},
		{"epsilon", func(d *DUA) { d.Budget.Epsilon = 41 }, `"budget"`},
		{"renewal", func(d *DUA) { d.Budget.Renewal = "monthly" }, `"budget.renewal"`},
		{"retention", func(d *DUA) { d.RetentionDays = 0 }, `"retention_days"`},
		{"expiry", func(d *DUA) { d.ExpiresAt = d.StartsAt }, "must start (starts_at) before it expires"},
	} {
		d := validDUA()
		tc.edit(d)
		err := d.Validate()
		if err == nil || ErrorCode(err) != EInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an invalid error saying %q", tc.name, err, tc.want)
		}
	}
}

func TestDUAPermitsAndRoom(t *testing.T) {
	d := validDUA()
	d.Templates = append(d.Templates, DUATemplate{Name: "spend", MinVersion: 3})
	for _, c := range []struct {
		name    string
		version int
		want    bool
	}{{"sizing", 1, true}, {"sizing", 2, true}, {"sizing", 3, false}, {"spend", 2, false}, {"spend", 3, true}, {"spend", 99, true}, {"other", 1, false}} {
		if got := d.Permits(c.name, c.version); got != c.want {
			t.Errorf("Permits(%s, %d) = %v", c.name, c.version, got)
		}
	}
	if got := d.PermittedTemplates(); got != "sizing v1-2, spend v3+" {
		t.Errorf("PermittedTemplates = %q", got)
	}
	room := &Room{Name: "r", Host: "neutral", Parties: []string{"operator", "bank"}}
	if err := d.CheckRoom(room); err != nil {
		t.Errorf("CheckRoom: %v", err)
	}
	room.Parties = append(room.Parties, "insurer")
	if err := d.CheckRoom(room); err == nil || !strings.Contains(err.Error(), "room \"r\" has parties bank, insurer, operator") {
		t.Errorf("CheckRoom with a party missing = %v", err)
	}
	room.Parties, room.Host = []string{"bank", "operator"}, "other"
	if err := d.CheckRoom(room); err == nil {
		t.Error("CheckRoom accepted another host")
	}
}

func TestDUAStateAt(t *testing.T) {
	d := validDUA()
	before, during, after := d.StartsAt.Add(-time.Hour), d.StartsAt.Add(time.Hour), d.ExpiresAt.Add(time.Hour)
	for _, c := range []struct {
		signed, terminated, superseded bool
		now                            time.Time
		want                           DUAState
	}{
		{false, false, false, during, DUADraft},
		{false, false, false, after, DUAExpired},
		{true, false, false, before, DUASigned},
		{true, false, false, during, DUAActive},
		{true, false, false, after, DUAExpired},
		{true, true, false, during, DUATerminated},
		{true, false, true, during, DUASuperseded},
	} {
		if got := DUAStateAt(d, c.signed, c.terminated, c.superseded, c.now); got != c.want {
			t.Errorf("DUAStateAt(signed %v, terminated %v, superseded %v, %v) = %s, want %s", c.signed, c.terminated, c.superseded, c.now, got, c.want)
		}
	}
}
