package sqlite

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// TemplateRow is a stored template version; Content is its canonical JSON.
type TemplateRow struct {
	Room, Name string
	Version    int
	Digest     string
	Content    []byte
	State      string
	ProposedBy string
	ProposedAt time.Time
	// Approvals are the parties that approved this version, sorted.
	Approvals []string
}

// NextTemplateVersion returns the version number a new proposal of name
// takes.
func (tx *Tx) NextTemplateVersion(room, name string) (int, error) {
	var v sql.NullInt64
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT max(version) FROM templates WHERE room = ? AND name = ?`, room, name).Scan(&v); err != nil {
		return 0, fmt.Errorf("next template version: %w", err)
	}
	return int(v.Int64) + 1, nil
}

// CreateTemplate stores a proposed template version.
func (tx *Tx) CreateTemplate(t TemplateRow) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO templates (room, name, version, digest, content, state, proposed_by, proposed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.Room, t.Name, t.Version, t.Digest, string(t.Content), t.State, t.ProposedBy, formatTime(t.ProposedAt))
	if isUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.EConflict, "template %s version %d already exists", t.Name, t.Version)
	}
	if err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	return nil
}

// Template returns one version of a room's template (the newest with
// version 0), or an ENotFound error.
func (tx *Tx) Template(room, name string, version int) (*TemplateRow, error) {
	q := `SELECT version, digest, content, state, proposed_by, proposed_at FROM templates WHERE room = ? AND name = ?`
	args := []any{room, name}
	if version > 0 {
		q += ` AND version = ?`
		args = append(args, version)
	}
	rows, err := tx.templates(q+` ORDER BY version DESC LIMIT 1`, room, name, args...)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		if version > 0 {
			return nil, cleanroom.Errorf(cleanroom.ENotFound, "template %q version %d not found in room %q", name, version, room)
		}
		return nil, cleanroom.Errorf(cleanroom.ENotFound, "template %q not found in room %q", name, room)
	}
	return &rows[0], nil
}

// Templates returns every version of every template of a room.
func (tx *Tx) Templates(room string) ([]TemplateRow, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT name FROM templates WHERE room = ? GROUP BY name ORDER BY name`, room)
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	var out []TemplateRow
	for _, n := range names {
		ts, err := tx.templates(`SELECT version, digest, content, state, proposed_by, proposed_at FROM templates
			WHERE room = ? AND name = ? ORDER BY version`, room, n, room, n)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	return out, nil
}

func (tx *Tx) templates(q, room, name string, args ...any) ([]TemplateRow, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	var out []TemplateRow
	for rows.Next() {
		t := TemplateRow{Room: room, Name: name}
		var content, proposed string
		if err := rows.Scan(&t.Version, &t.Digest, &content, &t.State, &t.ProposedBy, &proposed); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read templates: %w", err)
		}
		t.Content = []byte(content)
		if t.ProposedAt, err = parseTime(proposed); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, t)
	}
	rows.Close()
	for i := range out {
		ps, err := tx.strings(`SELECT party FROM template_approvals WHERE room = ? AND name = ? AND version = ? ORDER BY party`,
			room, name, out[i].Version)
		if err != nil {
			return nil, err
		}
		out[i].Approvals = ps
	}
	return out, nil
}

// PutApproval records a party's signed approval of a template version.
// Approving twice is a conflict.
func (tx *Tx) PutApproval(room, name string, version int, party string, envelope []byte) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO template_approvals (room, name, version, party, envelope, approved_at) VALUES (?, ?, ?, ?, ?, ?)`,
		room, name, version, party, envelope, formatTime(tx.now))
	if isUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.EConflict, "party %q already approved template %s version %d", party, name, version)
	}
	if err != nil {
		return fmt.Errorf("record approval: %w", err)
	}
	return nil
}

// SetTemplateState moves a template version to a new state.
func (tx *Tx) SetTemplateState(room, name string, version int, state string) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE templates SET state = ? WHERE room = ? AND name = ? AND version = ?`,
		state, room, name, version); err != nil {
		return fmt.Errorf("set template state: %w", err)
	}
	return nil
}

// ApprovalEnvelopes returns the signed approvals of a template version, in
// the order of the approving parties' names.
func (tx *Tx) ApprovalEnvelopes(room, name string, version int) ([][]byte, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT envelope FROM template_approvals WHERE room = ? AND name = ? AND version = ? ORDER BY party`,
		room, name, version)
	if err != nil {
		return nil, fmt.Errorf("read approvals: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("read approvals: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
