package sqlite

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// DUARecord is a stored data-use agreement: its canonical document, the
// parties' signatures over it and, if a party ended it, the termination.
type DUARecord struct {
	Room      string
	Version   int
	Document  []byte // RFC 8785 canonical JSON of a cleanroom.DUA
	Digest    string // hex SHA-256 of Document
	DraftedBy string
	DraftedAt time.Time
	// Signatures are the parties' signatures, by party name.
	Signatures []DUASignature
	// TerminatedBy is the party that terminated the agreement, "" if none;
	// Termination is its signed statement (a statement.Envelope in JSON).
	TerminatedBy string
	TerminatedAt time.Time
	Termination  []byte
}

// DUASignature is one party's signature over an agreement's document.
type DUASignature struct {
	Party     string
	Signature []byte
	SignedBy  string // the user who submitted it
	SignedAt  time.Time
}

// PutDUA stores a new agreement version.
func (tx *Tx) PutDUA(d *DUARecord) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO duas (room, version, document, digest, drafted_by, drafted_at) VALUES (?, ?, ?, ?, ?, ?)`,
		d.Room, d.Version, d.Document, d.Digest, d.DraftedBy, formatTime(tx.now))
	if isUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.EConflict, "room %q already has an agreement version %d", d.Room, d.Version)
	}
	if err != nil {
		return fmt.Errorf("store agreement: %w", err)
	}
	d.DraftedAt = tx.now
	return nil
}

// PutDUASignature records a party's signature of an agreement version,
// replacing one that no longer verifies.
func (tx *Tx) PutDUASignature(room string, version int, s DUASignature) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO dua_signatures (room, version, party, signature, signed_by, signed_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (room, version, party) DO UPDATE SET signature = excluded.signature, signed_by = excluded.signed_by, signed_at = excluded.signed_at`,
		room, version, s.Party, s.Signature, s.SignedBy, formatTime(tx.now))
	if err != nil {
		return fmt.Errorf("record agreement signature: %w", err)
	}
	return nil
}

// TerminateDUA records a party's termination of an agreement version.
func (tx *Tx) TerminateDUA(room string, version int, party string, statement []byte) error {
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE duas SET terminated_by = ?, terminated_at = ?, termination = ?
		WHERE room = ? AND version = ? AND terminated_by IS NULL`, party, formatTime(tx.now), statement, room, version)
	if err != nil {
		return fmt.Errorf("terminate agreement: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return cleanroom.Errorf(cleanroom.EConflict, "agreement version %d of room %q is already terminated", version, room)
	}
	return nil
}

// DUAs returns room's agreements, oldest first, with their signatures.
func (tx *Tx) DUAs(room string) ([]DUARecord, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT version, document, digest, drafted_by, drafted_at, terminated_by, terminated_at, termination
		FROM duas WHERE room = ? ORDER BY version`, room)
	if err != nil {
		return nil, fmt.Errorf("read agreements: %w", err)
	}
	var out []DUARecord
	for rows.Next() {
		d := DUARecord{Room: room}
		var drafted string
		var by, at sql.NullString
		if err := rows.Scan(&d.Version, &d.Document, &d.Digest, &d.DraftedBy, &drafted, &by, &at, &d.Termination); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read agreements: %w", err)
		}
		if d.DraftedAt, err = parseTime(drafted); err != nil {
			rows.Close()
			return nil, err
		}
		if by.Valid {
			d.TerminatedBy = by.String
			if d.TerminatedAt, err = parseTime(at.String); err != nil {
				rows.Close()
				return nil, err
			}
		}
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read agreements: %w", err)
	}
	for i := range out {
		if out[i].Signatures, err = tx.duaSignatures(room, out[i].Version); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (tx *Tx) duaSignatures(room string, version int) ([]DUASignature, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT party, signature, signed_by, signed_at FROM dua_signatures
		WHERE room = ? AND version = ? ORDER BY party`, room, version)
	if err != nil {
		return nil, fmt.Errorf("read agreement signatures: %w", err)
	}
	defer rows.Close()
	var out []DUASignature
	for rows.Next() {
		var s DUASignature
		var at string
		if err := rows.Scan(&s.Party, &s.Signature, &s.SignedBy, &at); err != nil {
			return nil, fmt.Errorf("read agreement signatures: %w", err)
		}
		if s.SignedAt, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
