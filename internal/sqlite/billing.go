package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// PutTerms stores a new version of a room's commercial terms, numbering it
// and making it effective at the transaction's time.
func (tx *Tx) PutTerms(t *cleanroom.Terms) error {
	var last sql.NullInt64
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT max(version) FROM billing_terms WHERE room = ?`, t.Room).Scan(&last); err != nil {
		return fmt.Errorf("store terms: %w", err)
	}
	t.Version = int(last.Int64) + 1
	t.EffectiveFrom = tx.now
	prices := t.TemplatePrices
	if prices == nil {
		prices = map[string]int64{}
	}
	raw, err := json.Marshal(prices)
	if err != nil {
		return fmt.Errorf("store terms: %w", err)
	}
	_, err = tx.tx.ExecContext(tx.ctx, `INSERT INTO billing_terms (room, version, currency, subscription, run_price, template_prices, payer, seller, effective_from, set_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.Room, t.Version, t.Currency, t.Subscription, t.RunPrice, string(raw), t.Payer, t.Seller,
		formatTime(t.EffectiveFrom), t.SetBy)
	if err != nil {
		return fmt.Errorf("store terms: %w", err)
	}
	return nil
}

// Terms returns every version of a room's terms, oldest first.
func (tx *Tx) Terms(room string) ([]cleanroom.Terms, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT version, currency, subscription, run_price, template_prices, payer, seller, effective_from, set_by
		FROM billing_terms WHERE room = ? ORDER BY version`, room)
	if err != nil {
		return nil, fmt.Errorf("read terms: %w", err)
	}
	defer rows.Close()
	var out []cleanroom.Terms
	for rows.Next() {
		t := cleanroom.Terms{Room: room}
		var prices, from string
		if err := rows.Scan(&t.Version, &t.Currency, &t.Subscription, &t.RunPrice, &prices, &t.Payer, &t.Seller, &from, &t.SetBy); err != nil {
			return nil, fmt.Errorf("read terms: %w", err)
		}
		if err := json.Unmarshal([]byte(prices), &t.TemplatePrices); err != nil {
			return nil, fmt.Errorf("read terms of room %s version %d: %w", room, t.Version, err)
		}
		if t.EffectiveFrom, err = parseTime(from); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TermsAt returns the version of a room's terms in effect at t, or nil if
// none was set by then.
func TermsAt(versions []cleanroom.Terms, t time.Time) *cleanroom.Terms {
	var in *cleanroom.Terms
	for i := range versions {
		if !versions[i].EffectiveFrom.After(t) {
			in = &versions[i]
		}
	}
	return in
}

// AppendLedger appends a run's entry to the billing ledger, setting its
// sequence number. It must run in the transaction that records the run, so
// that the run and its charge are committed together or not at all.
func (tx *Tx) AppendLedger(e *cleanroom.LedgerEntry) error {
	if e.Kind != cleanroom.ChargeRun {
		return fmt.Errorf("append ledger entry: kind %q is not stored", e.Kind)
	}
	err := tx.tx.QueryRowContext(tx.ctx, `INSERT INTO billing_ledger (room, quarter, time, kind, template, version, query, payer, seller, amount, currency, terms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`, e.Room, e.Quarter.String(), formatTime(e.Time), e.Kind, e.Template, e.Version, e.Query,
		e.Payer, e.Seller, e.Amount, e.Currency, e.Terms).Scan(&e.Seq)
	if err != nil {
		return fmt.Errorf("append ledger entry: %w", err)
	}
	return nil
}

// LedgerFilter selects run entries: those of Rooms (every room if nil)
// recorded in [From, To), after sequence number After, at most Limit (all
// if 0), in sequence order.
type LedgerFilter struct {
	Rooms    []string
	From, To time.Time
	After    int64
	Limit    int
}

// Ledger returns the run entries f selects.
func (tx *Tx) Ledger(f LedgerFilter) ([]cleanroom.LedgerEntry, error) {
	where, args := ledgerWhere(f)
	q := `SELECT seq, room, quarter, time, kind, template, version, query, payer, seller, amount, currency, terms FROM billing_ledger ` +
		where + ` AND seq > ? ORDER BY seq`
	args = append(args, f.After)
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := tx.tx.QueryContext(tx.ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	defer rows.Close()
	out := []cleanroom.LedgerEntry{}
	for rows.Next() {
		var e cleanroom.LedgerEntry
		var quarter, at string
		if err := rows.Scan(&e.Seq, &e.Room, &quarter, &at, &e.Kind, &e.Template, &e.Version, &e.Query, &e.Payer, &e.Seller,
			&e.Amount, &e.Currency, &e.Terms); err != nil {
			return nil, fmt.Errorf("read ledger: %w", err)
		}
		if e.Quarter, err = cleanroom.ParseQuarter(quarter); err != nil {
			return nil, fmt.Errorf("read ledger entry %d: %w", e.Seq, err)
		}
		if e.Time, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func ledgerWhere(f LedgerFilter) (string, []any) {
	where := `WHERE time >= ? AND time < ?`
	args := []any{formatTime(f.From), formatTime(f.To)}
	if f.Rooms != nil {
		if len(f.Rooms) == 0 {
			return where + ` AND 0`, args
		}
		in, rs := inList(f.Rooms)
		where += ` AND room IN ` + in
		args = append(args, rs...)
	}
	return where, args
}

// RunCharges are the run entries of one room and template over a period.
type RunCharges struct {
	Room, Template, Currency string
	Runs                     int
	Amount                   int64
}

// LedgerTotals sums the run entries f selects (After and Limit aside) per
// room, template and currency.
func (tx *Tx) LedgerTotals(f LedgerFilter) ([]RunCharges, error) {
	where, args := ledgerWhere(f)
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT room, template, currency, count(*), sum(amount) FROM billing_ledger `+where+`
		GROUP BY room, template, currency ORDER BY room, template, currency`, args...)
	if err != nil {
		return nil, fmt.Errorf("sum ledger: %w", err)
	}
	defer rows.Close()
	var out []RunCharges
	for rows.Next() {
		var c RunCharges
		if err := rows.Scan(&c.Room, &c.Template, &c.Currency, &c.Runs, &c.Amount); err != nil {
			return nil, fmt.Errorf("sum ledger: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Activity is what happened in a room over a period, for the business
// view: query runs per template, the cells of its released runs, query run
// attempts and refusals (from the audit trail), and its incidents.
type Activity struct {
	Runs       map[string]int // per template
	Cells      int            // shown by released runs
	Suppressed int            // withheld by released runs
	Attempts   int            // query.run requests, refused included
	Refused    int
	Incidents  cleanroom.IncidentCounts
}

// RoomActivity returns a room's activity in [from, to).
func (tx *Tx) RoomActivity(room string, from, to time.Time) (*Activity, error) {
	a := &Activity{Runs: map[string]int{}}
	f, t := formatTime(from), formatTime(to)
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT template, count(*) FROM queries WHERE room = ? AND created_at >= ? AND created_at < ?
		GROUP BY template`, room, f, t)
	if err != nil {
		return nil, fmt.Errorf("room activity: %w", err)
	}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("room activity: %w", err)
		}
		a.Runs[name] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("room activity: %w", err)
	}
	// Cell counts only of released results, as the audit log records them.
	err = tx.tx.QueryRowContext(tx.ctx, `SELECT coalesce(sum(cells), 0), coalesce(sum(suppressed), 0) FROM queries
		WHERE room = ? AND created_at >= ? AND created_at < ? AND state = ?`, room, f, t, cleanroom.QueryReleased).Scan(&a.Cells, &a.Suppressed)
	if err != nil {
		return nil, fmt.Errorf("room activity: %w", err)
	}
	err = tx.tx.QueryRowContext(tx.ctx, `SELECT count(*), coalesce(sum(outcome = ?), 0) FROM audit_log
		WHERE room = ? AND action = ? AND time >= ? AND time < ?`, cleanroom.OutcomeRefused, room, string(cleanroom.ActionQueryRun), f, t).
		Scan(&a.Attempts, &a.Refused)
	if err != nil {
		return nil, fmt.Errorf("room activity: %w", err)
	}
	c := &a.Incidents
	err = tx.tx.QueryRowContext(tx.ctx, `SELECT count(*),
			coalesce(sum(t.verdict = 'breach'), 0), coalesce(sum(t.verdict = 'false_positive'), 0)
		FROM audit_log a LEFT JOIN incident_triage t ON t.seq = a.seq
		WHERE a.room = ? AND a.outcome = ? AND a.time >= ? AND a.time < ?`, room, cleanroom.OutcomeRefused, f, t).
		Scan(&c.Total, &c.Breach, &c.FalsePositive)
	if err != nil {
		return nil, fmt.Errorf("room activity: %w", err)
	}
	c.Untriaged = c.Total - c.Breach - c.FalsePositive
	return a, nil
}

// LatestMatchReport returns the report of a room's newest match run that
// finished by before, or nil if none did.
func (tx *Tx) LatestMatchReport(room string, before time.Time) ([]byte, error) {
	var report string
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT report FROM match_runs WHERE room = ? AND state = 'done' AND report IS NOT NULL
		AND finished_at < ? ORDER BY finished_at DESC, rowid DESC LIMIT 1`, room, formatTime(before)).Scan(&report)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read match report: %w", err)
	}
	return []byte(report), nil
}
