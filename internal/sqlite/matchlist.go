package sqlite

import (
	"fmt"

	"github.com/cleanroom-dev/cleanroom"
)

// MatchRunIDs lists a room's match runs, newest first.
func (tx *Tx) MatchRunIDs(room string) ([]string, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id FROM match_runs WHERE room = ? ORDER BY created_at DESC, rowid DESC`, room)
	if err != nil {
		return nil, fmt.Errorf("list match runs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list match runs: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// AuditOf returns a room's entries about one object with one action,
// oldest first.
func (tx *Tx) AuditOf(room, object string, action cleanroom.Action) ([]cleanroom.AuditEntry, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+auditColumns+` FROM audit_log WHERE room = ? AND object = ? AND action = ? ORDER BY seq`,
		room, object, string(action))
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var out []cleanroom.AuditEntry
	for rows.Next() {
		var e cleanroom.AuditEntry
		if err := scanEntry(rows, &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
