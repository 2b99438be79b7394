package sqlite

import (
	"fmt"

	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
)

// PutCosignature keeps a party's cosignature of a checkpoint of room's
// log; a second one of the same size is ignored.
func (tx *Tx) PutCosignature(room string, cs auditlog.Cosignature, by string) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO audit_cosignatures (room, party, size, root, signature, signed_by, at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, room, cs.Party, cs.Size, cs.Root, cs.Signature, by, formatTime(tx.now)); err != nil {
		return fmt.Errorf("keep cosignature: %w", err)
	}
	return nil
}

// LatestCosignatures returns each party's cosignature of the largest
// checkpoint of room's log it cosigned, by party name.
func (tx *Tx) LatestCosignatures(room string) ([]auditlog.Cosignature, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT party, size, root, signature FROM audit_cosignatures c
		WHERE room = ? AND size = (SELECT max(size) FROM audit_cosignatures WHERE room = c.room AND party = c.party)
		ORDER BY party`, room)
	if err != nil {
		return nil, fmt.Errorf("read cosignatures: %w", err)
	}
	defer rows.Close()
	out := []auditlog.Cosignature{}
	for rows.Next() {
		var cs auditlog.Cosignature
		if err := rows.Scan(&cs.Party, &cs.Size, &cs.Root, &cs.Signature); err != nil {
			return nil, fmt.Errorf("read cosignatures: %w", err)
		}
		out = append(out, cs)
	}
	return out, rows.Err()
}
