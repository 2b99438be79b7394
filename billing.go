package cleanroom

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Quarter is a calendar quarter in UTC, written like 2026Q4. Revenue,
// utilisation and the quarterly review are counted per quarter.
type Quarter struct {
	Year int
	Q    int // 1..4
}

var quarterRE = regexp.MustCompile(`^([0-9]{4})-?[Qq]([1-4])$`)

// ParseQuarter parses "2026Q4" (also "2026-Q4" and "2026q4").
func ParseQuarter(s string) (Quarter, error) {
	m := quarterRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Quarter{}, Errorf(EInvalid, "quarter %q is not a quarter like 2026Q4", s)
	}
	y, _ := strconv.Atoi(m[1])
	q, _ := strconv.Atoi(m[2])
	if y < 1970 {
		return Quarter{}, Errorf(EInvalid, "quarter %q is before 1970", s)
	}
	return Quarter{Year: y, Q: q}, nil
}

// QuarterOf returns the quarter t falls in (in UTC).
func QuarterOf(t time.Time) Quarter {
	t = t.UTC()
	return Quarter{Year: t.Year(), Q: (int(t.Month())-1)/3 + 1}
}

// String returns the quarter as 2026Q4.
func (q Quarter) String() string { return fmt.Sprintf("%04dQ%d", q.Year, q.Q) }

// Start returns the quarter's first instant.
func (q Quarter) Start() time.Time {
	return time.Date(q.Year, time.Month(3*(q.Q-1)+1), 1, 0, 0, 0, 0, time.UTC)
}

// End returns the instant the quarter ends: the next quarter's start,
// itself not part of the quarter.
func (q Quarter) End() time.Time { return q.Start().AddDate(0, 3, 0) }

// IsZero reports whether q is the zero Quarter.
func (q Quarter) IsZero() bool { return q == Quarter{} }

// MarshalText implements encoding.TextMarshaler.
func (q Quarter) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (q *Quarter) UnmarshalText(b []byte) error {
	p, err := ParseQuarter(string(b))
	if err != nil {
		return err
	}
	*q = p
	return nil
}

// MaxAmount bounds one amount in minor units (10^12: ten billion in a
// currency with cents), so sums over a ledger cannot overflow.
const MaxAmount = 1_000_000_000_000

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// MinorUnits returns the number of decimals of a currency's minor unit
// (ISO 4217): 2 for most, 0 for JPY or KRW, 3 for BHD or KWD.
func MinorUnits(currency string) int {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	case "CLF", "UYW":
		return 4
	}
	return 2
}

// ParseAmount parses a decimal amount in a currency's major unit ("1250",
// "1250.5", "1250.50" EUR) into minor units (125050), exactly: never
// through floating point. It refuses negative amounts, more decimals than
// the currency has, and amounts over MaxAmount.
func ParseAmount(s, currency string) (int64, error) {
	exp := MinorUnits(currency)
	t := strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(t, ".")
	digits := func(d string) bool {
		return d != "" && strings.Trim(d, "0123456789") == ""
	}
	if !digits(whole) || (frac != "" && !digits(frac)) || strings.HasSuffix(t, ".") {
		return 0, Errorf(EInvalid, "amount %q is not a non-negative decimal number like 1250.50", s)
	}
	if len(frac) > exp {
		return 0, Errorf(EInvalid, "amount %q has more than %d decimals, the minor unit of %s", s, exp, currency)
	}
	frac += strings.Repeat("0", exp-len(frac))
	whole = strings.TrimLeft(whole, "0")
	if len(whole)+exp > 18 {
		return 0, Errorf(EInvalid, "amount %q is too large", s)
	}
	n, err := strconv.ParseInt("0"+whole+frac, 10, 64)
	if err != nil || n > MaxAmount {
		return 0, Errorf(EInvalid, "amount %q is too large (at most %s %s)", s, FormatAmount(MaxAmount, currency), currency)
	}
	return n, nil
}

// FormatAmount formats an amount in minor units in the currency's major
// unit with its decimals and thousands separated by commas: 125050 EUR is
// "1,250.50".
func FormatAmount(minor int64, currency string) string {
	exp := MinorUnits(currency)
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	s := strconv.FormatInt(minor, 10)
	if len(s) <= exp {
		s = strings.Repeat("0", exp-len(s)+1) + s
	}
	whole, frac := s[:len(s)-exp], s[len(s)-exp:]
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if exp > 0 {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return sign + b.String()
}

// Terms are a room's commercial terms, set by the platform admin (the
// platform runs the commercial side of its rooms): a subscription charged
// once per quarter in which the room has an agreement in force, and a price
// per query run, per template or the default, all in one currency and in
// its minor units. The Payer is charged and the Seller earns; both are
// parties of the room and differ.
//
// Terms are versioned: a new version takes effect when it is set and
// applies from then on; what was charged before stays as it was.
type Terms struct {
	Room    string `json:"room"`
	Version int    `json:"version"`
	// Currency is an ISO 4217 code (EUR, USD); a room's terms keep one
	// currency across versions.
	Currency string `json:"currency"`
	// Subscription is charged once per quarter, in minor units.
	Subscription int64 `json:"subscription"`
	// RunPrice is the price of a run of a template TemplatePrices does not
	// name, in minor units.
	RunPrice       int64            `json:"run_price"`
	TemplatePrices map[string]int64 `json:"template_prices"`
	Payer          string           `json:"payer"`
	Seller         string           `json:"seller"`
	// EffectiveFrom is when the version was set and took effect; SetBy is
	// who set it.
	EffectiveFrom time.Time `json:"effective_from"`
	SetBy         string    `json:"set_by"`
}

// maxTemplatePrices bounds the per-template prices of one version.
const maxTemplatePrices = 200

// Validate checks the terms on their own.
func (t *Terms) Validate() error {
	if !currencyRE.MatchString(t.Currency) {
		return Errorf(EInvalid, "currency %q is not an ISO 4217 code like EUR or USD", t.Currency)
	}
	amount := func(field string, v int64) error {
		if v < 0 || v > MaxAmount {
			return Errorf(EInvalid, "field %q is %d; amounts are whole minor units between 0 and %d", field, v, int64(MaxAmount))
		}
		return nil
	}
	if err := amount("subscription", t.Subscription); err != nil {
		return err
	}
	if err := amount("run_price", t.RunPrice); err != nil {
		return err
	}
	if len(t.TemplatePrices) > maxTemplatePrices {
		return Errorf(EInvalid, "field \"template_prices\" names more than %d templates", maxTemplatePrices)
	}
	for _, name := range slices.Sorted(maps.Keys(t.TemplatePrices)) {
		if err := ValidateName("template name", name); err != nil {
			return fieldError("template_prices", err)
		}
		if err := amount("template_prices."+name, t.TemplatePrices[name]); err != nil {
			return err
		}
	}
	if err := ValidateName("party name", t.Payer); err != nil {
		return fieldError("payer", err)
	}
	if err := ValidateName("party name", t.Seller); err != nil {
		return fieldError("seller", err)
	}
	if t.Payer == t.Seller {
		return Errorf(EInvalid, "party %q cannot both pay and earn", t.Payer).
			WithHint("the payer is the party charged for the room (a partner); the seller the party that earns (typically the operator)")
	}
	return nil
}

// fieldError prefixes a validation error with the field it is about.
func fieldError(field string, err error) error {
	msg, hint := ErrorMessage(err)
	e := Errorf(EInvalid, "field %q: %s", field, msg)
	if hint != "" {
		e = e.WithHint("%s", hint)
	}
	return e
}

// CheckRoom checks the terms against their room: payer and seller must be
// parties of it.
func (t *Terms) CheckRoom(r *Room) error {
	for _, p := range []struct{ field, name string }{{"payer", t.Payer}, {"seller", t.Seller}} {
		if !slices.Contains(r.Parties, p.name) {
			return Errorf(EInvalid, "%s %q is not a party of room %q (its parties: %s)", p.field, p.name, r.Name, strings.Join(r.Parties, ", ")).
				WithHint("invite the party first (`cleanroom room invite`), or name one of the room's parties")
		}
	}
	return nil
}

// PriceOf returns the price of one run of template.
func (t *Terms) PriceOf(template string) int64 {
	if p, ok := t.TemplatePrices[template]; ok {
		return p
	}
	return t.RunPrice
}

// Ledger entry kinds.
const (
	ChargeSubscription = "subscription"
	ChargeRun          = "run"
)

// LedgerEntry is one charge of the billing ledger: a query run, recorded in
// the transaction that records the run, or a room's subscription for a
// quarter, derived from its terms and agreements when the ledger is read.
// Amount is in the currency's minor units.
type LedgerEntry struct {
	// Seq numbers run entries in the order they were recorded; it is 0
	// for subscriptions, which are derived.
	Seq      int64     `json:"seq,omitempty"`
	Room     string    `json:"room"`
	Quarter  Quarter   `json:"quarter"`
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Template string    `json:"template,omitempty"`
	Version  int       `json:"version,omitempty"`
	Query    string    `json:"query,omitempty"`
	Payer    string    `json:"payer"`
	Seller   string    `json:"seller"`
	Amount   int64     `json:"amount"`
	Currency string    `json:"currency"`
	// Terms is the version of the room's terms the entry was charged under.
	Terms int `json:"terms"`
}

// LedgerCSVHeader is the header row of the ledger's CSV export.
var LedgerCSVHeader = []string{"room", "quarter", "time", "kind", "template", "version", "query", "payer", "seller", "amount_minor", "currency"}

// WriteLedgerCSV writes entries as CSV (RFC 4180) for a finance system: the
// header LedgerCSVHeader, then one row per entry with its time in RFC 3339
// UTC and its amount in whole minor units. Every field but the time and the
// numbers is a validated name, so no field starts a spreadsheet formula.
func WriteLedgerCSV(w io.Writer, entries []LedgerEntry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(LedgerCSVHeader); err != nil {
		return err
	}
	for _, e := range entries {
		version := ""
		if e.Version > 0 {
			version = strconv.Itoa(e.Version)
		}
		if err := cw.Write([]string{e.Room, e.Quarter.String(), e.Time.UTC().Format(time.RFC3339), e.Kind, e.Template, version, e.Query,
			e.Payer, e.Seller, strconv.FormatInt(e.Amount, 10), e.Currency}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// SortLedger orders entries by time, then room, then kind and sequence.
func SortLedger(entries []LedgerEntry) {
	slices.SortStableFunc(entries, func(a, b LedgerEntry) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.Room, b.Room); c != 0 {
			return c
		}
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return -c // the subscription before the runs of the same instant
		}
		return int(a.Seq - b.Seq)
	})
}
