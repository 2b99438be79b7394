package sqlite

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// ScoringModel is a joint model kept in the room for online scoring: the
// released model run it came from and where the encrypted store keeps it.
type ScoringModel struct {
	Room, Query  string
	VaultVersion int
	Template     string
	Version      int
	// Party is the party the scores go to.
	Party     string
	CreatedAt time.Time
}

// PutScoringModel records a kept model.
func (tx *Tx) PutScoringModel(m ScoringModel) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO scoring_models (room, query, vault_version, template, version, party, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, m.Room, m.Query, m.VaultVersion, m.Template, m.Version, m.Party, formatTime(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("record scoring model: %w", err)
	}
	return nil
}

// ScoringModel returns the kept model of a query run, or an ENotFound
// error.
func (tx *Tx) ScoringModel(room, query string) (*ScoringModel, error) {
	m := ScoringModel{Room: room, Query: query}
	var created string
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT vault_version, template, version, party, created_at FROM scoring_models WHERE room = ? AND query = ?`,
		room, query).Scan(&m.VaultVersion, &m.Template, &m.Version, &m.Party, &created)
	if err == sql.ErrNoRows {
		return nil, cleanroom.Errorf(cleanroom.ENotFound, "room %q keeps no scoring model of query %s", room, query).
			WithHint("run a model job whose template declares scoring; its model is kept once the run is released")
	}
	if err != nil {
		return nil, fmt.Errorf("read scoring model: %w", err)
	}
	if m.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	return &m, nil
}

// ScoringModels lists a room's kept models, oldest first.
func (tx *Tx) ScoringModels(room string) ([]ScoringModel, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT query, vault_version, template, version, party, created_at FROM scoring_models
		WHERE room = ? ORDER BY vault_version`, room)
	if err != nil {
		return nil, fmt.Errorf("list scoring models: %w", err)
	}
	defer rows.Close()
	var out []ScoringModel
	for rows.Next() {
		m := ScoringModel{Room: room}
		var created string
		if err := rows.Scan(&m.Query, &m.VaultVersion, &m.Template, &m.Version, &m.Party, &created); err != nil {
			return nil, fmt.Errorf("list scoring models: %w", err)
		}
		if m.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// DeleteScoringModels forgets a room's kept models (their store is
// destroyed by the caller).
func (tx *Tx) DeleteScoringModels(room string) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM scoring_models WHERE room = ?`, room); err != nil {
		return fmt.Errorf("delete scoring models: %w", err)
	}
	return nil
}

// NextScoringVersion returns the store version for a room's next kept
// model.
func (tx *Tx) NextScoringVersion(room string) (int, error) {
	var v sql.NullInt64
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT max(vault_version) FROM scoring_models WHERE room = ?`, room).Scan(&v); err != nil {
		return 0, fmt.Errorf("next scoring version: %w", err)
	}
	return int(v.Int64) + 1, nil
}

// ScoringRequests returns how many requests a model answered on day
// (YYYY-MM-DD, UTC).
func (tx *Tx) ScoringRequests(room, query, day string) (int, error) {
	var n int
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT count FROM scoring_requests WHERE room = ? AND query = ? AND day = ?`, room, query, day).Scan(&n)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read scoring requests: %w", err)
	}
	return n, nil
}

// CountScoringRequest adds one answered request to a model's count for
// day and returns the new count.
func (tx *Tx) CountScoringRequest(room, query, day string) (int, error) {
	var n int
	err := tx.tx.QueryRowContext(tx.ctx, `INSERT INTO scoring_requests (room, query, day, count) VALUES (?, ?, ?, 1)
		ON CONFLICT (room, query, day) DO UPDATE SET count = count + 1 RETURNING count`, room, query, day).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count scoring request: %w", err)
	}
	return n, nil
}
