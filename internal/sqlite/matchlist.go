package sqlite

import "fmt"

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
