package cleanroom

import "time"

// Dashboard is the business view of the rooms a caller may see over one
// quarter (DESIGN.md, "Business view"): the measures partnerships are run
// by. It holds metadata and aggregates only — counts, rates, amounts —
// never a row, an identifier or a result.
//
// Rates are nil when they have no denominator (no cells, no attempts, no
// match report the caller may see).
type Dashboard struct {
	Quarter Quarter `json:"quarter"`
	// Start and End bound the quarter; AsOf is when the view was computed
	// (measures of a quarter in progress count up to AsOf).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	AsOf  time.Time `json:"as_of"`
	// Scope is "all" for the platform admin, else the caller's party: a
	// party's user sees only the rooms it is a member of.
	Scope string `json:"scope"`
	// ActiveRooms counts the rooms with an agreement in force at some time
	// in the quarter.
	ActiveRooms int `json:"active_rooms"`
	// AverageMatchRate is the mean of the active rooms' match rates.
	AverageMatchRate *float64 `json:"average_match_rate"`
	// Queries counts the query runs recorded in the quarter (repeats that
	// returned a stored result are not runs).
	Queries int `json:"queries"`
	// Revenue totals the rooms' revenue, per currency.
	Revenue []Revenue `json:"revenue"`
	// Incidents counts the refused requests of the quarter by triage.
	Incidents IncidentCounts `json:"incidents"`
	// CellsShown and CellsSuppressed count the groups of the quarter's
	// released runs; SuppressionRate is suppressed / (shown + suppressed).
	CellsShown      int      `json:"cells_shown"`
	CellsSuppressed int      `json:"cells_suppressed"`
	SuppressionRate *float64 `json:"suppression_rate"`
	// Attempts counts query run requests, refused ones included;
	// RefusalRate is Refused / Attempts.
	Attempts    int      `json:"attempts"`
	Refused     int      `json:"refused"`
	RefusalRate *float64 `json:"refusal_rate"`
	// Rooms are the rooms the caller may see, by name.
	Rooms []RoomMetrics `json:"rooms"`
}

// Revenue is revenue in one currency, in its minor units.
type Revenue struct {
	Currency     string `json:"currency"`
	Subscription int64  `json:"subscription"`
	Runs         int64  `json:"runs"`
	Total        int64  `json:"total"`
	// RunCount counts the charged runs.
	RunCount int `json:"run_count"`
}

// RoomMetrics are one room's measures over a quarter.
type RoomMetrics struct {
	Room    string   `json:"room"`
	Parties []string `json:"parties"`
	// Active says whether an agreement was in force at some time in the
	// quarter; Agreement is the latest agreement that was.
	Active    bool             `json:"active"`
	Agreement *AgreementStatus `json:"agreement,omitempty"`
	// MatchRate is the mean match rate of the datasets of the room's
	// latest match run finished by the end of the quarter, over the part
	// of its report the caller may see, with the mean half-width of their
	// 95 % intervals.
	MatchRate           *float64 `json:"match_rate"`
	MatchRateInterval95 float64  `json:"match_rate_interval_95"`
	Queries             int      `json:"queries"`
	// Repeats counts requests answered with a stored result.
	Repeats         int      `json:"repeats"`
	Attempts        int      `json:"attempts"`
	Refused         int      `json:"refused"`
	RefusalRate     *float64 `json:"refusal_rate"`
	CellsShown      int      `json:"cells_shown"`
	CellsSuppressed int      `json:"cells_suppressed"`
	SuppressionRate *float64 `json:"suppression_rate"`
	// Revenue is nil for a room that had no commercial terms.
	Revenue *RoomRevenue `json:"revenue,omitempty"`
	// Templates are the room's query runs per template.
	Templates []TemplateUse  `json:"templates"`
	Incidents IncidentCounts `json:"incidents"`
	// Budgets are the privacy budgets of the room's datasets now, shown
	// only to the room's members (the platform admin reads no dataset).
	Budgets []BudgetUse `json:"budgets,omitempty"`
}

// RoomRevenue is a room's revenue in the quarter: who pays whom, and what.
type RoomRevenue struct {
	Revenue
	Payer  string `json:"payer"`
	Seller string `json:"seller"`
}

// AgreementStatus summarises a data-use agreement for the business view.
// ExpiresSoon is set when the agreement expires (rather than being
// replaced or terminated) between the start of the quarter and 90 days
// after its end: a renewal is due.
type AgreementStatus struct {
	Version     int       `json:"version"`
	State       DUAState  `json:"state"`
	StartsAt    time.Time `json:"starts_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	ExpiresSoon bool      `json:"expires_soon"`
}

// RenewalWindow is how long after a quarter's end an expiring agreement is
// flagged in that quarter's review.
const RenewalWindow = 90 * 24 * time.Hour

// TemplateUse is one template's runs in a room over a quarter, and what
// they were charged.
type TemplateUse struct {
	Template string `json:"template"`
	Runs     int    `json:"runs"`
	Charged  int64  `json:"charged"`
}

// BudgetUse is a dataset's lifetime privacy budget and what releases have
// used of it (spent and reserved). Used is the larger of the ρ and ε
// shares, from 0 to 1.
type BudgetUse struct {
	Dataset     string  `json:"dataset"`
	Party       string  `json:"party"`
	RhoCap      float64 `json:"rho_cap"`
	RhoUsed     float64 `json:"rho_used"`
	EpsilonCap  float64 `json:"epsilon_cap"`
	EpsilonUsed float64 `json:"epsilon_used"`
	Used        float64 `json:"used"`
}

// BudgetAlert is the used share from which a budget is flagged as near
// exhaustion.
const BudgetAlert = 0.8

// Ratio returns num/den, or nil when den is zero.
func Ratio(num, den int) *float64 {
	if den == 0 {
		return nil
	}
	r := float64(num) / float64(den)
	return &r
}
