package sqlite

import (
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/cleanroom-dev/cleanroom"
)

// AppendAudit appends e to the audit trail, setting its sequence number,
// time, and hash chain. It must run in the transaction of the change it
// records.
func (tx *Tx) AppendAudit(e *cleanroom.AuditEntry) error {
	var prev []byte
	var last sql.NullInt64
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
	if err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("append audit entry: %w", err)
	}
	if prev == nil {
		prev = make([]byte, sha256.Size)
	}
	e.Seq = last.Int64 + 1
	e.Time = tx.now
	e.PrevHash = prev
	e.Hash = EntryHash(e)
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	var room, code any
	if e.Room != "" {
		room = e.Room
	}
	if e.Code != "" {
		code = e.Code
	}
	_, err = tx.tx.ExecContext(tx.ctx, `INSERT INTO audit_log (seq, time, actor, action, object, room, outcome, code, detail, request_id, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, formatTime(e.Time), e.Actor, string(e.Action), e.Object, room, e.Outcome, code, string(detail), e.RequestID, e.PrevHash, e.Hash)
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// EntryHash returns SHA-256 over the entry's previous hash and the JSON
// encoding of its content; the trail is valid when each entry's PrevHash is
// the Hash of the entry before it.
func EntryHash(e *cleanroom.AuditEntry) []byte {
	content, _ := json.Marshal(struct {
		Seq       int64             `json:"seq"`
		Time      string            `json:"time"`
		Actor     string            `json:"actor"`
		Action    string            `json:"action"`
		Object    string            `json:"object"`
		Room      string            `json:"room"`
		Outcome   string            `json:"outcome"`
		Code      string            `json:"code"`
		Detail    map[string]string `json:"detail"`
		RequestID string            `json:"request_id"`
	}{e.Seq, formatTime(e.Time), e.Actor, string(e.Action), e.Object, e.Room, e.Outcome, e.Code, e.Detail, e.RequestID})
	h := sha256.New()
	h.Write(e.PrevHash)
	h.Write(content)
	return h.Sum(nil)
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	// Room selects one room's entries; PlatformOnly selects entries about
	// no room. With neither, every entry is selected.
	Room         string
	PlatformOnly bool
	// After skips entries with Seq <= After.
	After int64
	// Limit caps the number of entries (default 1000, at most 1001).
	Limit int
}

// Audit returns entries in sequence order.
func (tx *Tx) Audit(f AuditFilter) ([]cleanroom.AuditEntry, error) {
	if f.Limit <= 0 || f.Limit > 1001 {
		f.Limit = 1000
	}
	where, args := `WHERE seq > ?`, []any{f.After}
	switch {
	case f.Room != "":
		where += ` AND room = ?`
		args = append(args, f.Room)
	case f.PlatformOnly:
		where += ` AND room IS NULL`
	}
	args = append(args, f.Limit)
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+auditColumns+` FROM audit_log `+where+` ORDER BY seq LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	out := []cleanroom.AuditEntry{}
	for rows.Next() {
		var e cleanroom.AuditEntry
		if err := scanEntry(rows, &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// auditColumns are the audit_log columns scanEntry reads, in its order.
const auditColumns = `seq, time, actor, action, object, room, outcome, code, detail, request_id, prev_hash, hash`

// scanEntry reads an entry selected as auditColumns, followed by extra.
func scanEntry(rows *sql.Rows, e *cleanroom.AuditEntry, extra ...any) error {
	var t, action, detail string
	var room, code sql.NullString
	dest := append([]any{&e.Seq, &t, &e.Actor, &action, &e.Object, &room, &e.Outcome, &code, &detail, &e.RequestID, &e.PrevHash, &e.Hash}, extra...)
	if err := rows.Scan(dest...); err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	e.Action = cleanroom.Action(action)
	e.Room, e.Code = room.String, code.String
	var err error
	if e.Time, err = parseTime(t); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
		return fmt.Errorf("read audit log: entry %d: %w", e.Seq, err)
	}
	return nil
}

// VerifyAuditChain checks the hash chain of the whole trail and returns the
// sequence number of the first broken entry, or 0 if it is intact.
func (tx *Tx) VerifyAuditChain() (int64, error) {
	var after int64
	prev := make([]byte, sha256.Size)
	for {
		es, err := tx.Audit(AuditFilter{After: after})
		if err != nil {
			return 0, err
		}
		if len(es) == 0 {
			return 0, nil
		}
		for i := range es {
			e := &es[i]
			if string(e.PrevHash) != string(prev) || string(EntryHash(e)) != string(e.Hash) {
				return e.Seq, nil
			}
			prev = e.Hash
			after = e.Seq
		}
	}
}
