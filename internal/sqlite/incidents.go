package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/cleanroom-dev/cleanroom"
)

// Incidents returns a room's refused requests after seq after, oldest
// first, with their triage.
func (tx *Tx) Incidents(room string, after int64, limit int) ([]cleanroom.Incident, error) {
	cols := "a." + strings.ReplaceAll(auditColumns, ", ", ", a.")
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+cols+`, t.verdict, t.triaged_by, t.triaged_at, t.note
		FROM audit_log a LEFT JOIN incident_triage t ON t.seq = a.seq
		WHERE a.room = ? AND a.outcome = ? AND a.seq > ? ORDER BY a.seq LIMIT ?`,
		room, cleanroom.OutcomeRefused, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	defer rows.Close()
	out := []cleanroom.Incident{}
	for rows.Next() {
		var in cleanroom.Incident
		var verdict, by, at, note sql.NullString
		if err := scanEntry(rows, &in.Entry, &verdict, &by, &at, &note); err != nil {
			return nil, err
		}
		if verdict.Valid {
			t, err := parseTime(at.String)
			if err != nil {
				return nil, err
			}
			in.Verdict, in.TriagedBy, in.TriagedAt, in.TriageNote = verdict.String, by.String, &t, note.String
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// IncidentCounts counts a room's incidents by triage state.
func (tx *Tx) IncidentCounts(room string) (cleanroom.IncidentCounts, error) {
	var c cleanroom.IncidentCounts
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*),
			coalesce(sum(t.verdict = 'breach'), 0), coalesce(sum(t.verdict = 'false_positive'), 0)
		FROM audit_log a LEFT JOIN incident_triage t ON t.seq = a.seq
		WHERE a.room = ? AND a.outcome = ?`, room, cleanroom.OutcomeRefused).Scan(&c.Total, &c.Breach, &c.FalsePositive)
	if err != nil {
		return c, fmt.Errorf("count incidents: %w", err)
	}
	c.Untriaged = c.Total - c.Breach - c.FalsePositive
	return c, nil
}

// TriageIncident records a reviewer's verdict on incident seq of room. An
// incident is triaged once.
func (tx *Tx) TriageIncident(room string, seq int64, verdict, by, note string) error {
	var outcome string
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT outcome FROM audit_log WHERE seq = ? AND room = ?`, seq, room).Scan(&outcome)
	if errors.Is(err, sql.ErrNoRows) || err == nil && outcome != cleanroom.OutcomeRefused {
		return cleanroom.Errorf(cleanroom.ENotFound, "incident %d not found in room %q", seq, room).
			WithHint("incidents are the room's refused requests: `cleanroom incident list --room %s`", room)
	}
	if err != nil {
		return fmt.Errorf("read incident: %w", err)
	}
	var prev, prevBy string
	err = tx.tx.QueryRowContext(tx.ctx, `SELECT verdict, triaged_by FROM incident_triage WHERE seq = ?`, seq).Scan(&prev, &prevBy)
	if err == nil {
		return cleanroom.Errorf(cleanroom.EConflict, "incident %d was already triaged as %s by %s", seq, prev, prevBy)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read incident triage: %w", err)
	}
	if _, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO incident_triage (seq, room, verdict, triaged_by, note, triaged_at) VALUES (?, ?, ?, ?, ?, ?)`,
		seq, room, verdict, by, note, formatTime(tx.now)); err != nil {
		return fmt.Errorf("triage incident: %w", err)
	}
	return nil
}
