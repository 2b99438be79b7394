package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/dp"
)

// The privacy budget ledger.
//
// Every release is charged, before it is computed, to each provider dataset
// it reads: ReserveBudget checks the request against every cap it touches
// (the dataset's, the receiver's sub-limit, the party's cap across rooms)
// and records an open reservation that counts against those caps at once.
// When the release has been delivered the caller commits the reservation;
// if it was never computed or never left the room, the caller releases it.
// Writers are serialised (BEGIN IMMEDIATE), so check and charge are one
// atomic step, and CHECK constraints in the schema make spending past a cap
// impossible even for a buggy caller.
//
// Recovery: an open reservation survives a crash and keeps counting
// against its caps, so a crash can only make the ledger more conservative,
// never let it overspend. At start-up, the server lists OpenReservations
// and settles each: commit it if its release may have reached anyone
// (delivered, shown to a reviewer, or unknown), release it only if the
// release certainly did not leave the room. CheckLedger verifies that
// usage equals the sum of the charges.

// Renewal says whether and how often a cap's allowance is renewed. A
// renewing cap is kept per period of event time: a release is charged to
// every period that the events of the rows it reads fall in, so a fresh
// allowance only ever covers data about new events, and data about old
// events stays under its period's cumulative cap.
type Renewal string

// Renewal rules.
const (
	RenewNever     Renewal = "never" // one cap over the dataset's whole life
	RenewMonthly   Renewal = "monthly"
	RenewQuarterly Renewal = "quarterly"
	RenewYearly    Renewal = "yearly"
)

func (r Renewal) valid() bool {
	switch r {
	case RenewNever, RenewMonthly, RenewQuarterly, RenewYearly:
		return true
	}
	return false
}

// maxPeriods bounds the number of periods one request may charge.
const maxPeriods = 1200

// Budget is the privacy budget of one provider dataset.
type Budget struct {
	// Dataset identifies the provider dataset.
	Dataset string
	// Party is the provider that owns the dataset. It cannot change.
	Party string
	// Source names the party's own dataset this one is drawn from, the key
	// of a PartyCap across rooms; "" for none. It cannot change.
	Source string
	// Size is the number of people in the dataset, N: the cap's δ must
	// stay below 1/(10·N) (dp.Guarantee).
	Size int64
	// Cap is the allowance per period: ρ for noisy values, ε and δ for
	// partition selection.
	Cap dp.Loss
	// Renewal is the renewal rule; "" means RenewNever. It cannot change
	// once the budget exists.
	Renewal Renewal
	// CreatedAt and UpdatedAt are set by SetBudget.
	CreatedAt, UpdatedAt time.Time
}

// SetBudget creates the budget of b.Dataset or changes its cap and size.
// The cap is validated with dp.Guarantee against b.Size. Changing the
// party, source or renewal rule of an existing budget, or lowering a cap
// below what a period has already used, is an EConflict error.
func (tx *Tx) SetBudget(b *Budget) error {
	if b.Renewal == "" {
		b.Renewal = RenewNever
	}
	if b.Dataset == "" || b.Party == "" {
		return cleanroom.Errorf(cleanroom.EInvalid, "budget: dataset and party are required")
	}
	if !b.Renewal.valid() {
		return cleanroom.Errorf(cleanroom.EInvalid, "budget of dataset %q: unknown renewal rule %q", b.Dataset, b.Renewal)
	}
	if _, _, err := dp.Guarantee(b.Cap, b.Size); err != nil {
		return cleanroom.Errorf(cleanroom.EInvalid, "budget of dataset %q: %v", b.Dataset, err)
	}
	limit, err := b.Cap.Units()
	if err != nil {
		return cleanroom.Errorf(cleanroom.EInvalid, "budget of dataset %q: %v", b.Dataset, err)
	}
	old, err := tx.Budget(b.Dataset)
	if err != nil && cleanroom.ErrorCode(err) != cleanroom.ENotFound {
		return err
	}
	now := formatTime(tx.now)
	if old == nil {
		_, err = tx.tx.ExecContext(tx.ctx, `INSERT INTO dp_budgets (dataset, party, source, size, rho_cap, epsilon_cap, delta_cap, renewal, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			b.Dataset, b.Party, b.Source, b.Size, limit.Rho, limit.Epsilon, limit.Delta, string(b.Renewal), now, now)
		if err != nil {
			return fmt.Errorf("set budget of dataset %q: %w", b.Dataset, err)
		}
		b.CreatedAt, b.UpdatedAt = tx.now, tx.now
		return nil
	}
	if old.Party != b.Party || old.Source != b.Source || old.Renewal != b.Renewal {
		return cleanroom.Errorf(cleanroom.EConflict, "budget of dataset %q: party, source and renewal rule cannot change (now %s, %q, %s)",
			b.Dataset, old.Party, old.Source, old.Renewal)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE dp_budgets SET size = ?, rho_cap = ?, epsilon_cap = ?, delta_cap = ?, updated_at = ? WHERE dataset = ?`,
		b.Size, limit.Rho, limit.Epsilon, limit.Delta, now, b.Dataset); err != nil {
		return fmt.Errorf("set budget of dataset %q: %w", b.Dataset, err)
	}
	if err := tx.setUsageCaps(fmt.Sprintf("budget of dataset %q", b.Dataset), scopeDataset, b.Dataset, "", limit); err != nil {
		return err
	}
	b.CreatedAt, b.UpdatedAt = old.CreatedAt, tx.now
	return nil
}

// Budget returns the budget of dataset, or an ENotFound error.
func (tx *Tx) Budget(dataset string) (*Budget, error) {
	var b Budget
	var limit dp.LossUnits
	var renewal, created, updated string
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT dataset, party, source, size, rho_cap, epsilon_cap, delta_cap, renewal, created_at, updated_at
		FROM dp_budgets WHERE dataset = ?`, dataset).Scan(&b.Dataset, &b.Party, &b.Source, &b.Size, &limit.Rho, &limit.Epsilon, &limit.Delta, &renewal, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cleanroom.Errorf(cleanroom.ENotFound, "dataset %q has no privacy budget", dataset)
	}
	if err != nil {
		return nil, fmt.Errorf("read budget of dataset %q: %w", dataset, err)
	}
	b.Cap, b.Renewal = limit.Loss(), Renewal(renewal)
	if b.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if b.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return &b, nil
}

// SetReceiverLimit sets receiver's allowance from dataset per period of
// the dataset's renewal rule: a sub-limit within the dataset's cap. A
// receiver without a limit is bounded by the dataset's cap alone.
func (tx *Tx) SetReceiverLimit(dataset, receiver string, limit dp.Loss) error {
	if receiver == "" {
		return cleanroom.Errorf(cleanroom.EInvalid, "receiver limit of dataset %q: receiver is required", dataset)
	}
	if _, err := tx.Budget(dataset); err != nil {
		return err
	}
	u, err := limit.Units()
	if err != nil {
		return cleanroom.Errorf(cleanroom.EInvalid, "receiver limit of dataset %q for %q: %v", dataset, receiver, err)
	}
	_, err = tx.tx.ExecContext(tx.ctx, `INSERT INTO dp_receiver_limits (dataset, receiver, rho_cap, epsilon_cap, delta_cap, updated_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (dataset, receiver) DO UPDATE SET rho_cap = excluded.rho_cap, epsilon_cap = excluded.epsilon_cap,
			delta_cap = excluded.delta_cap, updated_at = excluded.updated_at`,
		dataset, receiver, u.Rho, u.Epsilon, u.Delta, formatTime(tx.now))
	if err != nil {
		return fmt.Errorf("set receiver limit of dataset %q for %q: %w", dataset, receiver, err)
	}
	if err := tx.setUsageCaps(fmt.Sprintf("receiver limit of dataset %q for %q", dataset, receiver), scopeReceiver, dataset, receiver, u); err != nil {
		return err
	}
	return nil
}

// SetPartyCap sets party's cap on source across all its rooms: every
// dataset whose Budget names this party and source is charged to it too.
// Its renewal rule cannot change once set.
func (tx *Tx) SetPartyCap(party, source string, limit dp.Loss, renewal Renewal) error {
	if renewal == "" {
		renewal = RenewNever
	}
	if party == "" || source == "" {
		return cleanroom.Errorf(cleanroom.EInvalid, "party cap: party and source are required")
	}
	if !renewal.valid() {
		return cleanroom.Errorf(cleanroom.EInvalid, "cap of party %q on %q: unknown renewal rule %q", party, source, renewal)
	}
	u, err := limit.Units()
	if err != nil {
		return cleanroom.Errorf(cleanroom.EInvalid, "cap of party %q on %q: %v", party, source, err)
	}
	var old string
	err = tx.tx.QueryRowContext(tx.ctx, `SELECT renewal FROM dp_party_caps WHERE party = ? AND source = ?`, party, source).Scan(&old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("set cap of party %q on %q: %w", party, source, err)
	case Renewal(old) != renewal:
		return cleanroom.Errorf(cleanroom.EConflict, "cap of party %q on %q: renewal rule cannot change (now %s)", party, source, old)
	}
	_, err = tx.tx.ExecContext(tx.ctx, `INSERT INTO dp_party_caps (party, source, rho_cap, epsilon_cap, delta_cap, renewal, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (party, source) DO UPDATE SET rho_cap = excluded.rho_cap, epsilon_cap = excluded.epsilon_cap,
			delta_cap = excluded.delta_cap, updated_at = excluded.updated_at`,
		party, source, u.Rho, u.Epsilon, u.Delta, string(renewal), formatTime(tx.now))
	if err != nil {
		return fmt.Errorf("set cap of party %q on %q: %w", party, source, err)
	}
	if err := tx.setUsageCaps(fmt.Sprintf("cap of party %q on %q", party, source), scopeParty, party, source, u); err != nil {
		return err
	}
	return nil
}

const (
	scopeDataset  = "dataset"
	scopeReceiver = "receiver"
	scopeParty    = "party"
)

// setUsageCaps copies a changed cap into the usage rows of every period;
// what names the cap in errors.
func (tx *Tx) setUsageCaps(what, scope, owner, subject string, limit dp.LossUnits) error {
	_, err := tx.tx.ExecContext(tx.ctx, `UPDATE dp_usage SET rho_cap = ?, epsilon_cap = ?, delta_cap = ? WHERE scope = ? AND owner = ? AND subject = ?`,
		limit.Rho, limit.Epsilon, limit.Delta, scope, owner, subject)
	if isCheckViolation(err) {
		return cleanroom.Errorf(cleanroom.EConflict, "%s: the new cap is below what a period has already used", what)
	}
	if err != nil {
		return fmt.Errorf("set %s: %w", what, err)
	}
	return nil
}

// DatasetRead is one dataset a release reads.
type DatasetRead struct {
	Dataset string
	// EventsFrom and EventsTo bound the event times of the rows read,
	// [EventsFrom, EventsTo). Required when a cap that applies renews;
	// ignored otherwise.
	EventsFrom, EventsTo time.Time
}

// BudgetRequest asks for budget for one release.
type BudgetRequest struct {
	// ID identifies the reservation, for example the run's ID. Required
	// and unique.
	ID string
	// Receiver is the party that receives the release. Required.
	Receiver string
	// Loss is what the release spends (dp aggregates and selections report
	// it). Required, not zero.
	Loss dp.Loss
	// Reads lists every dataset the release reads, each once. Required.
	Reads []DatasetRead
	// Description says what the release is, for the ledger's reader.
	Description string
}

// Reservation states.
const (
	Reserved  = "reserved"
	Committed = "committed"
	Released  = "released"
)

// Reservation is a recorded request for budget.
type Reservation struct {
	ID          string
	Receiver    string
	Loss        dp.Loss
	State       string // Reserved, Committed or Released
	Description string
	CreatedAt   time.Time
	SettledAt   *time.Time
	// Datasets are the datasets the reservation is charged to, sorted.
	Datasets []string
}

// account is one cap in one period.
type account struct {
	scope, owner, subject, period string
}

// ReserveBudget reserves r.Loss against every cap the release touches, in
// every period its reads fall in, and records an open reservation. If any
// cap would be exceeded nothing is recorded and the error, an EConflict
// *cleanroom.Error, names the dataset, the cap, what is spent and
// reserved, and what was requested. A missing budget is ENotFound; a
// malformed request is EInvalid.
//
// ReserveBudget is atomic by itself: when it fails it leaves the
// transaction as it found it, so the caller may still record the refusal
// (an audit entry) in the same transaction and commit.
func (tx *Tx) ReserveBudget(r BudgetRequest) (err error) {
	if _, err := tx.tx.ExecContext(tx.ctx, `SAVEPOINT reserve_budget`); err != nil {
		return fmt.Errorf("reserve budget %q: %w", r.ID, err)
	}
	defer func() {
		if err != nil {
			if _, rerr := tx.tx.ExecContext(tx.ctx, `ROLLBACK TO reserve_budget`); rerr != nil {
				err = errors.Join(err, fmt.Errorf("reserve budget %q: roll back: %w", r.ID, rerr))
			}
		}
		if _, rerr := tx.tx.ExecContext(tx.ctx, `RELEASE reserve_budget`); rerr != nil && err == nil {
			err = fmt.Errorf("reserve budget %q: %w", r.ID, rerr)
		}
	}()
	return tx.reserve(r)
}

func (tx *Tx) reserve(r BudgetRequest) error {
	if r.ID == "" || r.Receiver == "" {
		return cleanroom.Errorf(cleanroom.EInvalid, "reserve budget: reservation ID and receiver are required")
	}
	req, err := r.Loss.Units()
	if err != nil {
		return cleanroom.Errorf(cleanroom.EInvalid, "reserve budget %q: %v", r.ID, err)
	}
	if req == (dp.LossUnits{}) {
		return cleanroom.Errorf(cleanroom.EInvalid, "reserve budget %q: the loss is zero", r.ID)
	}
	if len(r.Reads) == 0 {
		return cleanroom.Errorf(cleanroom.EInvalid, "reserve budget %q: the release reads no dataset", r.ID)
	}
	var accounts []account
	seen := map[account]bool{}
	add := func(a account) {
		if !seen[a] {
			seen[a] = true
			accounts = append(accounts, a)
		}
	}
	datasets := map[string]bool{}
	for _, rd := range r.Reads {
		if datasets[rd.Dataset] {
			return cleanroom.Errorf(cleanroom.EInvalid, "reserve budget %q: dataset %q is listed twice", r.ID, rd.Dataset)
		}
		datasets[rd.Dataset] = true
		b, err := tx.Budget(rd.Dataset)
		if err != nil {
			return err
		}
		periods, err := periodsOf(b.Renewal, rd, fmt.Sprintf("dataset %q", rd.Dataset))
		if err != nil {
			return err
		}
		hasLimit, err := tx.exists(`SELECT count(*) FROM dp_receiver_limits WHERE dataset = ? AND receiver = ?`, rd.Dataset, r.Receiver)
		if err != nil {
			return fmt.Errorf("reserve budget %q: %w", r.ID, err)
		}
		for _, p := range periods {
			add(account{scopeDataset, rd.Dataset, "", p})
			if hasLimit {
				add(account{scopeReceiver, rd.Dataset, r.Receiver, p})
			}
		}
		if b.Source == "" {
			continue
		}
		var renewal string
		err = tx.tx.QueryRowContext(tx.ctx, `SELECT renewal FROM dp_party_caps WHERE party = ? AND source = ?`, b.Party, b.Source).Scan(&renewal)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reserve budget %q: %w", r.ID, err)
		}
		periods, err = periodsOf(Renewal(renewal), rd, fmt.Sprintf("the cap of party %q on %q", b.Party, b.Source))
		if err != nil {
			return err
		}
		for _, p := range periods {
			add(account{scopeParty, b.Party, b.Source, p})
		}
	}

	for _, a := range accounts {
		if err := tx.ensureUsage(a); err != nil {
			return fmt.Errorf("reserve budget %q: %w", r.ID, err)
		}
		u, err := tx.usage(a)
		if err != nil {
			return fmt.Errorf("reserve budget %q: %w", r.ID, err)
		}
		if err := u.admit(req); err != nil {
			return err
		}
	}

	_, err = tx.tx.ExecContext(tx.ctx, `INSERT INTO dp_reservations (id, receiver, rho, epsilon, delta, state, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Receiver, req.Rho, req.Epsilon, req.Delta, Reserved, r.Description, formatTime(tx.now))
	if isUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.EConflict, "reservation %q already exists", r.ID)
	}
	if err != nil {
		return fmt.Errorf("reserve budget %q: %w", r.ID, err)
	}
	for _, a := range accounts {
		_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO dp_charges (reservation, scope, owner, subject, period) VALUES (?, ?, ?, ?, ?)`,
			r.ID, a.scope, a.owner, a.subject, a.period)
		if isCheckViolation(err) {
			// admit has checked every cap; the schema refusing means the
			// check and the schema disagree, and the schema wins.
			return cleanroom.Errorf(cleanroom.EConflict, "reserve budget %q: %s %q would exceed its cap in period %s", r.ID, a.scope, a.owner, a.period)
		}
		if err != nil {
			return fmt.Errorf("reserve budget %q: %w", r.ID, err)
		}
	}
	return nil
}

// CommitReservation records that the release of reservation id has been
// delivered: its amounts move from reserved to spent, for good. Committing
// a settled reservation is an EConflict error.
func (tx *Tx) CommitReservation(id string) error { return tx.settle(id, Committed) }

// ReleaseReservation returns the amounts of an open reservation to its
// caps. Only call it when the release certainly never left the room.
// Releasing a settled reservation is an EConflict error.
func (tx *Tx) ReleaseReservation(id string) error { return tx.settle(id, Released) }

func (tx *Tx) settle(id, state string) error {
	res, err := tx.Reservation(id)
	if err != nil {
		return err
	}
	if res.State != Reserved {
		return cleanroom.Errorf(cleanroom.EConflict, "reservation %q is already %s", id, res.State)
	}
	_, err = tx.tx.ExecContext(tx.ctx, `UPDATE dp_reservations SET state = ?, settled_at = ? WHERE id = ? AND state = ?`,
		state, formatTime(tx.now), id, Reserved)
	if err != nil {
		return fmt.Errorf("settle reservation %q: %w", id, err)
	}
	return nil
}

// Reservation returns reservation id, or an ENotFound error.
func (tx *Tx) Reservation(id string) (*Reservation, error) {
	rs, err := tx.reservations(`WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, cleanroom.Errorf(cleanroom.ENotFound, "reservation %q not found", id)
	}
	return &rs[0], nil
}

// OpenReservations returns the reservations not yet committed or
// released, oldest first: after a crash, the ones to settle.
func (tx *Tx) OpenReservations() ([]Reservation, error) {
	return tx.reservations(`WHERE state = ?`, Reserved)
}

func (tx *Tx) reservations(where string, args ...any) ([]Reservation, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id, receiver, rho, epsilon, delta, state, description, created_at, settled_at
		FROM dp_reservations `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list reservations: %w", err)
	}
	var out []Reservation
	for rows.Next() {
		var r Reservation
		var u dp.LossUnits
		var created string
		var settled sql.NullString
		if err := rows.Scan(&r.ID, &r.Receiver, &u.Rho, &u.Epsilon, &u.Delta, &r.State, &r.Description, &created, &settled); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list reservations: %w", err)
		}
		r.Loss = u.Loss()
		if r.CreatedAt, err = parseTime(created); err != nil {
			rows.Close()
			return nil, err
		}
		if settled.Valid {
			t, err := parseTime(settled.String)
			if err != nil {
				rows.Close()
				return nil, err
			}
			r.SettledAt = &t
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list reservations: %w", err)
	}
	for i := range out {
		ds, err := tx.strings(`SELECT DISTINCT owner FROM dp_charges WHERE reservation = ? AND scope = ? ORDER BY owner`, out[i].ID, scopeDataset)
		if err != nil {
			return nil, fmt.Errorf("list reservations: %w", err)
		}
		out[i].Datasets = ds
	}
	return out, nil
}

// Usage is what one cap has used in one period.
type Usage struct {
	// Scope is "dataset", "receiver" or "party". Owner is the dataset (or
	// the party, for scope "party"); Subject is "" for a dataset, the
	// receiver, or the party's source.
	Scope, Owner, Subject string
	// Period is "all" for a cap that never renews, else "2026", "2026-Q4"
	// or "2026-11".
	Period               string
	Cap, Spent, Reserved dp.Loss
	// The same in whole quanta, which admit compares.
	units struct{ cap, spent, reserved dp.LossUnits }
}

// BudgetUsage returns the usage of dataset's cap and of its receivers'
// limits, by scope, subject and period.
func (tx *Tx) BudgetUsage(dataset string) ([]Usage, error) {
	return tx.usages(`WHERE scope IN ('dataset', 'receiver') AND owner = ?`, dataset)
}

// PartyUsage returns the usage of party's cap on source.
func (tx *Tx) PartyUsage(party, source string) ([]Usage, error) {
	return tx.usages(`WHERE scope = 'party' AND owner = ? AND subject = ?`, party, source)
}

func (tx *Tx) usage(a account) (*Usage, error) {
	us, err := tx.usages(`WHERE scope = ? AND owner = ? AND subject = ? AND period = ?`, a.scope, a.owner, a.subject, a.period)
	if err != nil {
		return nil, err
	}
	if len(us) == 0 {
		return nil, fmt.Errorf("usage of %v: missing", a)
	}
	return &us[0], nil
}

func (tx *Tx) usages(where string, args ...any) ([]Usage, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT scope, owner, subject, period, rho_cap, epsilon_cap, delta_cap,
		rho_spent, epsilon_spent, delta_spent, rho_reserved, epsilon_reserved, delta_reserved
		FROM dp_usage `+where+` ORDER BY scope, owner, subject, period`, args...)
	if err != nil {
		return nil, fmt.Errorf("read budget usage: %w", err)
	}
	defer rows.Close()
	var out []Usage
	for rows.Next() {
		var u Usage
		c, sp, rs := &u.units.cap, &u.units.spent, &u.units.reserved
		if err := rows.Scan(&u.Scope, &u.Owner, &u.Subject, &u.Period, &c.Rho, &c.Epsilon, &c.Delta,
			&sp.Rho, &sp.Epsilon, &sp.Delta, &rs.Rho, &rs.Epsilon, &rs.Delta); err != nil {
			return nil, fmt.Errorf("read budget usage: %w", err)
		}
		u.Cap, u.Spent, u.Reserved = c.Loss(), sp.Loss(), rs.Loss()
		out = append(out, u)
	}
	return out, rows.Err()
}

// ensureUsage creates the usage row of a, with the cap now in force, if it
// does not exist yet.
func (tx *Tx) ensureUsage(a account) error {
	var q string
	var args []any
	switch a.scope {
	case scopeDataset:
		q, args = `SELECT rho_cap, epsilon_cap, delta_cap FROM dp_budgets WHERE dataset = ?`, []any{a.owner}
	case scopeReceiver:
		q, args = `SELECT rho_cap, epsilon_cap, delta_cap FROM dp_receiver_limits WHERE dataset = ? AND receiver = ?`, []any{a.owner, a.subject}
	case scopeParty:
		q, args = `SELECT rho_cap, epsilon_cap, delta_cap FROM dp_party_caps WHERE party = ? AND source = ?`, []any{a.owner, a.subject}
	}
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO dp_usage (scope, owner, subject, period, rho_cap, epsilon_cap, delta_cap)
		SELECT ?, ?, ?, ?, rho_cap, epsilon_cap, delta_cap FROM (`+q+`) WHERE true
		ON CONFLICT (scope, owner, subject, period) DO NOTHING`,
		append([]any{a.scope, a.owner, a.subject, a.period}, args...)...)
	return err
}

// admit returns an EConflict error if req does not fit in u.
func (u *Usage) admit(req dp.LossUnits) error {
	c, sp, rs := u.units.cap, u.units.spent, u.units.reserved
	for _, f := range []struct {
		name                        string
		limit, spent, reserved, req int64
		cp, sp, rs, rq              float64
	}{
		{"rho", c.Rho, sp.Rho, rs.Rho, req.Rho, u.Cap.Rho, u.Spent.Rho, u.Reserved.Rho, req.Loss().Rho},
		{"epsilon", c.Epsilon, sp.Epsilon, rs.Epsilon, req.Epsilon, u.Cap.Epsilon, u.Spent.Epsilon, u.Reserved.Epsilon, req.Loss().Epsilon},
		{"delta", c.Delta, sp.Delta, rs.Delta, req.Delta, u.Cap.Delta, u.Spent.Delta, u.Reserved.Delta, req.Loss().Delta},
	} {
		if f.req == 0 || f.spent+f.reserved+f.req <= f.limit {
			continue
		}
		var who string
		switch u.Scope {
		case scopeDataset:
			who = fmt.Sprintf("dataset %q", u.Owner)
		case scopeReceiver:
			who = fmt.Sprintf("dataset %q, receiver %q", u.Owner, u.Subject)
		case scopeParty:
			who = fmt.Sprintf("party %q's cap on %q", u.Owner, u.Subject)
		}
		period := ""
		if u.Period != "all" {
			period = " for events in " + u.Period
		}
		return cleanroom.Errorf(cleanroom.EConflict, "%s: privacy budget exceeded%s: %s cap %g, spent %g, reserved %g, requested %g",
			who, period, f.name, f.cp, f.sp, f.rs, f.rq).
			WithHint("ask for less (a smaller %s, fewer cells or a coarser question) or wait for the budget to renew", f.name)
	}
	return nil
}

// CheckLedger verifies that every usage row equals the sum of the charges
// of its open and committed reservations. It returns nil for a consistent
// ledger; run it at start-up after settling open reservations, or in
// tests.
func (tx *Tx) CheckLedger() error {
	rows, err := tx.tx.QueryContext(tx.ctx, `
		SELECT u.scope, u.owner, u.subject, u.period
		FROM dp_usage u
		LEFT JOIN (
			SELECT c.scope, c.owner, c.subject, c.period,
				sum(CASE WHEN r.state = 'committed' THEN r.rho ELSE 0 END) AS rs,
				sum(CASE WHEN r.state = 'committed' THEN r.epsilon ELSE 0 END) AS es,
				sum(CASE WHEN r.state = 'committed' THEN r.delta ELSE 0 END) AS ds,
				sum(CASE WHEN r.state = 'reserved' THEN r.rho ELSE 0 END) AS rr,
				sum(CASE WHEN r.state = 'reserved' THEN r.epsilon ELSE 0 END) AS er,
				sum(CASE WHEN r.state = 'reserved' THEN r.delta ELSE 0 END) AS dr
			FROM dp_charges c JOIN dp_reservations r ON r.id = c.reservation
			GROUP BY c.scope, c.owner, c.subject, c.period
		) t ON t.scope = u.scope AND t.owner = u.owner AND t.subject = u.subject AND t.period = u.period
		WHERE u.rho_spent <> coalesce(t.rs, 0) OR u.epsilon_spent <> coalesce(t.es, 0) OR u.delta_spent <> coalesce(t.ds, 0)
			OR u.rho_reserved <> coalesce(t.rr, 0) OR u.epsilon_reserved <> coalesce(t.er, 0) OR u.delta_reserved <> coalesce(t.dr, 0)
		ORDER BY 1, 2, 3, 4`)
	if err != nil {
		return fmt.Errorf("check ledger: %w", err)
	}
	defer rows.Close()
	var bad []string
	for rows.Next() {
		var a account
		if err := rows.Scan(&a.scope, &a.owner, &a.subject, &a.period); err != nil {
			return fmt.Errorf("check ledger: %w", err)
		}
		bad = append(bad, fmt.Sprintf("%s %s/%s %s", a.scope, a.owner, a.subject, a.period))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check ledger: %w", err)
	}
	if len(bad) > 0 {
		return fmt.Errorf("check ledger: usage differs from the charges of %s", strings.Join(bad, ", "))
	}
	return nil
}

func (tx *Tx) exists(query string, args ...any) (bool, error) {
	var n int
	err := tx.tx.QueryRowContext(tx.ctx, query, args...).Scan(&n)
	return n > 0, err
}

// periodsOf returns the periods of a renewal rule that the events of a read
// fall in: "all" for RenewNever, else every month ("2026-11"), quarter
// ("2026-Q4") or year ("2026") that [EventsFrom, EventsTo) overlaps, in UTC.
func periodsOf(r Renewal, rd DatasetRead, what string) ([]string, error) {
	if r == RenewNever {
		return []string{"all"}, nil
	}
	if rd.EventsFrom.IsZero() || rd.EventsTo.IsZero() || !rd.EventsFrom.Before(rd.EventsTo) {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "%s renews %s: the request must give a non-empty event window of the rows read", what, r)
	}
	months := map[Renewal]int{RenewMonthly: 1, RenewQuarterly: 3, RenewYearly: 12}[r]
	from, last := rd.EventsFrom.UTC(), rd.EventsTo.UTC().Add(-time.Nanosecond)
	start := func(t time.Time) time.Time {
		m := (int(t.Month()) - 1) / months * months
		return time.Date(t.Year(), time.Month(m+1), 1, 0, 0, 0, 0, time.UTC)
	}
	var out []string
	for p := start(from); !p.After(last); p = p.AddDate(0, months, 0) {
		if len(out) == maxPeriods {
			return nil, cleanroom.Errorf(cleanroom.EInvalid, "%s: the event window spans more than %d periods", what, maxPeriods)
		}
		switch r {
		case RenewMonthly:
			out = append(out, p.Format("2006-01"))
		case RenewQuarterly:
			out = append(out, fmt.Sprintf("%d-Q%d", p.Year(), (int(p.Month())-1)/3+1))
		case RenewYearly:
			out = append(out, p.Format("2006"))
		}
	}
	sort.Strings(out)
	return out, nil
}

func isCheckViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "CHECK constraint failed")
}
