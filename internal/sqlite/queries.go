package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// QueryRow is a stored query run.
type QueryRow struct {
	ID, Room, Template string
	Version            int
	Request            string
	Params             map[string]string
	Analyst            string
	State              string
	Receivers          []string
	ReviewBy           []string
	DecidedBy          string
	// Cells and Suppressed count the groups the run showed and withheld.
	Cells, Suppressed int
	CreatedAt         time.Time
}

// CreateQuery records a query run.
func (tx *Tx) CreateQuery(q QueryRow) error {
	params, _ := json.Marshal(q.Params)
	recv, _ := json.Marshal(q.Receivers)
	rev, _ := json.Marshal(q.ReviewBy)
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO queries (id, room, template, version, request, params, analyst, state, receivers, review_by, cells, suppressed, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, q.ID, q.Room, q.Template, q.Version, q.Request, string(params), q.Analyst, q.State,
		string(recv), string(rev), q.Cells, q.Suppressed, formatTime(q.CreatedAt))
	if err != nil {
		return fmt.Errorf("record query: %w", err)
	}
	return nil
}

const queryColumns = `id, room, template, version, request, params, analyst, state, receivers, review_by, decided_by, cells, suppressed, created_at`

// Query returns a query run of a room, or an ENotFound error.
func (tx *Tx) Query(room, id string) (*QueryRow, error) {
	qs, err := tx.queries(`WHERE room = ? AND id = ?`, room, id)
	if err != nil {
		return nil, err
	}
	if len(qs) == 0 {
		return nil, cleanroom.Errorf(cleanroom.ENotFound, "query %s not found", id)
	}
	return &qs[0], nil
}

// QueryByRequest returns a room's released run of the same request, or nil.
func (tx *Tx) QueryByRequest(room, request string) (*QueryRow, error) {
	qs, err := tx.queries(`WHERE room = ? AND request = ? AND state = 'released' ORDER BY created_at LIMIT 1`, room, request)
	if err != nil || len(qs) == 0 {
		return nil, err
	}
	return &qs[0], nil
}

// Queries returns a room's query runs, newest first.
func (tx *Tx) Queries(room string) ([]QueryRow, error) {
	return tx.queries(`WHERE room = ? ORDER BY created_at DESC, id`, room)
}

func (tx *Tx) queries(where string, args ...any) ([]QueryRow, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+queryColumns+` FROM queries `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read queries: %w", err)
	}
	defer rows.Close()
	var out []QueryRow
	for rows.Next() {
		var q QueryRow
		var params, recv, rev, created string
		var decided sql.NullString
		if err := rows.Scan(&q.ID, &q.Room, &q.Template, &q.Version, &q.Request, &params, &q.Analyst, &q.State, &recv, &rev,
			&decided, &q.Cells, &q.Suppressed, &created); err != nil {
			return nil, fmt.Errorf("read queries: %w", err)
		}
		json.Unmarshal([]byte(params), &q.Params)
		json.Unmarshal([]byte(recv), &q.Receivers)
		json.Unmarshal([]byte(rev), &q.ReviewBy)
		q.DecidedBy = decided.String
		if q.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// DecideQuery records a review decision on a pending query.
func (tx *Tx) DecideQuery(room, id, state, by string) error {
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE queries SET state = ?, decided_by = ? WHERE room = ? AND id = ? AND state = 'pending_review'`,
		state, by, room, id)
	if err != nil {
		return fmt.Errorf("decide query: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return cleanroom.Errorf(cleanroom.EConflict, "query %s is not waiting for review", id)
	}
	return nil
}

// TemplateStats are the rates the room tracks per template: how often its
// runs were refused, and what share of groups the output controls withheld.
type TemplateStats struct {
	Runs       int `json:"runs"`
	Refused    int `json:"refused"`
	Cells      int `json:"cells_shown"`
	Suppressed int `json:"cells_suppressed"`
}

// TemplateStats counts a template's runs, refusals (from the audit trail)
// and cells.
func (tx *Tx) TemplateStats(room, name string) (TemplateStats, error) {
	var s TemplateStats
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*), coalesce(sum(cells), 0), coalesce(sum(suppressed), 0) FROM queries
		WHERE room = ? AND template = ?`, room, name).Scan(&s.Runs, &s.Cells, &s.Suppressed)
	if err != nil {
		return s, fmt.Errorf("template stats: %w", err)
	}
	err = tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM audit_log WHERE room = ? AND action = 'query.run' AND outcome = 'refused' AND object = ?`,
		room, "template:"+name).Scan(&s.Refused)
	if err != nil {
		return s, fmt.Errorf("template stats: %w", err)
	}
	return s, nil
}

// PutSealedResult stores a query's result sealed to one party.
func (tx *Tx) PutSealedResult(room, query, party string, sealed []byte) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO query_sealed (room, query, party, sealed) VALUES (?, ?, ?, ?)`, room, query, party, sealed)
	if err != nil {
		return fmt.Errorf("store sealed result: %w", err)
	}
	return nil
}

// SealedResult returns a query's result sealed to party, or nil.
func (tx *Tx) SealedResult(room, query, party string) ([]byte, error) {
	var b []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT sealed FROM query_sealed WHERE room = ? AND query = ? AND party = ?`, room, query, party).Scan(&b)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read sealed result: %w", err)
	}
	return b, nil
}
