package sqlite

import (
	"database/sql"
	"fmt"

	"github.com/cleanroom-dev/cleanroom"
)

// PutAgentKey stores a party's signed agent key statement for a room,
// replacing an earlier one.
func (tx *Tx) PutAgentKey(room, party string, envelope []byte) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO agent_keys (room, party, envelope, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (room, party) DO UPDATE SET envelope = excluded.envelope, created_at = excluded.created_at`,
		room, party, envelope, formatTime(tx.now))
	if err != nil {
		return fmt.Errorf("store agent key: %w", err)
	}
	return nil
}

// AgentKeys returns the signed agent key statements of a room by party.
func (tx *Tx) AgentKeys(room string) (map[string][]byte, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT party, envelope FROM agent_keys WHERE room = ? ORDER BY party`, room)
	if err != nil {
		return nil, fmt.Errorf("list agent keys: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var party string
		var env []byte
		if err := rows.Scan(&party, &env); err != nil {
			return nil, fmt.Errorf("list agent keys: %w", err)
		}
		out[party] = env
	}
	return out, rows.Err()
}

// PutSecretCommitment stores a room's hmac secret commitment; a room has
// one for life.
func (tx *Tx) PutSecretCommitment(room, creator string, envelope []byte) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO hmac_secrets (room, creator, envelope, created_at) VALUES (?, ?, ?, ?)`,
		room, creator, envelope, formatTime(tx.now))
	if isUniqueViolation(err) {
		return errSecretExists(room)
	}
	if err != nil {
		return fmt.Errorf("store secret commitment: %w", err)
	}
	return nil
}

// SecretCommitment returns a room's stored commitment, or nil.
func (tx *Tx) SecretCommitment(room string) ([]byte, error) {
	var env []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT envelope FROM hmac_secrets WHERE room = ?`, room).Scan(&env)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secret commitment: %w", err)
	}
	return env, nil
}

// PutSealedSecret stores the secret sealed to one party's agent key, if
// none is stored for that party yet; it reports whether it stored it.
func (tx *Tx) PutSealedSecret(room, party string, sealed []byte) (bool, error) {
	res, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO hmac_sealed (room, party, sealed, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		room, party, sealed, formatTime(tx.now))
	if err != nil {
		return false, fmt.Errorf("store sealed secret: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// SealedSecrets returns a room's sealed secrets by party.
func (tx *Tx) SealedSecrets(room string) (map[string][]byte, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT party, sealed FROM hmac_sealed WHERE room = ? ORDER BY party`, room)
	if err != nil {
		return nil, fmt.Errorf("list sealed secrets: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var party string
		var b []byte
		if err := rows.Scan(&party, &b); err != nil {
			return nil, fmt.Errorf("list sealed secrets: %w", err)
		}
		out[party] = b
	}
	return out, rows.Err()
}

func errSecretExists(room string) error {
	return conflictf("room %q already has its hmac secret", room)
}

func conflictf(format string, args ...any) error {
	return cleanroom.Errorf(cleanroom.EConflict, format, args...)
}
