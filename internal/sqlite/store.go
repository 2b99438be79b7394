package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// CreateParty registers a party. A party of the same name is a conflict.
func (tx *Tx) CreateParty(p *cleanroom.Party) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO parties (name, display_name, signing_key, created_at) VALUES (?, ?, ?, ?)`,
		p.Name, p.DisplayName, []byte(p.SigningKey), formatTime(p.CreatedAt))
	if isUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.EConflict, "party %q already exists", p.Name)
	}
	if err != nil {
		return fmt.Errorf("create party: %w", err)
	}
	return nil
}

// Party returns the named party, or an ENotFound error.
func (tx *Tx) Party(name string) (*cleanroom.Party, error) {
	ps, err := tx.parties(`WHERE name = ?`, name)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, cleanroom.Errorf(cleanroom.ENotFound, "party %q not found", name)
	}
	return &ps[0], nil
}

// Parties returns every party, sorted by name.
func (tx *Tx) Parties() ([]cleanroom.Party, error) { return tx.parties(``) }

func (tx *Tx) parties(where string, args ...any) ([]cleanroom.Party, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT name, display_name, signing_key, created_at FROM parties `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list parties: %w", err)
	}
	defer rows.Close()
	var out []cleanroom.Party
	for rows.Next() {
		var p cleanroom.Party
		var key []byte
		var created string
		if err := rows.Scan(&p.Name, &p.DisplayName, &key, &created); err != nil {
			return nil, fmt.Errorf("list parties: %w", err)
		}
		p.SigningKey = key
		if p.CreatedAt, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("list parties: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PartyRooms returns the rooms party is invited to, sorted.
func (tx *Tx) PartyRooms(party string) ([]string, error) {
	return tx.strings(`SELECT room FROM room_parties WHERE party = ? ORDER BY room`, party)
}

// EnsureUser records a user of party if it is not yet known.
func (tx *Tx) EnsureUser(party, user string) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO users (party, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		party, user, formatTime(tx.now))
	if err != nil {
		return fmt.Errorf("record user %s/%s: %w", party, user, err)
	}
	return nil
}

// CreateToken stores a token's record and the hash of its secret.
func (tx *Tx) CreateToken(t *cleanroom.Token, hash []byte) error {
	kind := "user"
	var party, user any = t.Party, t.User
	if t.Kind == cleanroom.Admin {
		kind, party, user = "admin", nil, nil
	}
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO tokens (id, hash, kind, party, user, description, created_at, expires_at, admin_minted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, hash, kind, party, user, t.Description, formatTime(t.CreatedAt), formatTime(t.ExpiresAt), t.AdminMinted)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

const tokenColumns = `id, kind, party, user, description, created_at, expires_at, revoked_at, admin_minted`

// TokenByHash returns the token whose secret hashes to hash, or nil.
func (tx *Tx) TokenByHash(hash []byte) (*cleanroom.Token, error) {
	ts, err := tx.tokens(`WHERE hash = ?`, hash)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	return &ts[0], nil
}

// Token returns the token with the given ID, or nil.
func (tx *Tx) Token(id string) (*cleanroom.Token, error) {
	ts, err := tx.tokens(`WHERE id = ?`, id)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	return &ts[0], nil
}

// Tokens returns the tokens of one user, or every token when party is "".
func (tx *Tx) Tokens(party, user string) ([]cleanroom.Token, error) {
	if party == "" {
		return tx.tokens(``)
	}
	return tx.tokens(`WHERE party = ? AND user = ?`, party, user)
}

func (tx *Tx) tokens(where string, args ...any) ([]cleanroom.Token, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+tokenColumns+` FROM tokens `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []cleanroom.Token
	for rows.Next() {
		var t cleanroom.Token
		var kind, created, expires string
		var party, user, revoked sql.NullString
		if err := rows.Scan(&t.ID, &kind, &party, &user, &t.Description, &created, &expires, &revoked, &t.AdminMinted); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.Kind = cleanroom.User
		if kind == "admin" {
			t.Kind = cleanroom.Admin
		}
		t.Party, t.User = party.String, user.String
		if t.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if t.ExpiresAt, err = parseTime(expires); err != nil {
			return nil, err
		}
		if revoked.Valid {
			r, err := parseTime(revoked.String)
			if err != nil {
				return nil, err
			}
			t.RevokedAt = &r
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken marks a token revoked at the transaction's time. Revoking a
// revoked token is a conflict.
func (tx *Tx) RevokeToken(id string) error {
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, formatTime(tx.now), id)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return cleanroom.Errorf(cleanroom.EConflict, "token %s is already revoked", id)
	}
	return nil
}

// CreateRoom creates a room with its invited parties, which must exist.
func (tx *Tx) CreateRoom(r *cleanroom.Room) error {
	if r.Matching == "" {
		r.Matching = cleanroom.MatchingECDH
	}
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO rooms (name, host, description, matching, created_at) VALUES (?, ?, ?, ?, ?)`,
		r.Name, r.Host, r.Description, r.Matching, formatTime(r.CreatedAt))
	if isUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.EConflict, "room %q already exists", r.Name)
	}
	if err != nil {
		return fmt.Errorf("create room: %w", err)
	}
	for _, p := range r.Parties {
		if err := tx.InviteParty(r.Name, p); err != nil {
			return err
		}
	}
	return nil
}

// InviteParty adds party to room. Both must exist; inviting a party twice
// is a conflict.
func (tx *Tx) InviteParty(room, party string) error {
	if _, err := tx.Party(party); cleanroom.ErrorCode(err) == cleanroom.ENotFound {
		return cleanroom.Errorf(cleanroom.EInvalid, "party %q is not registered", party).
			WithHint("the platform admin registers parties with `cleanroom party create`")
	} else if err != nil {
		return err
	}
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO room_parties (room, party, invited_at) VALUES (?, ?, ?)`,
		room, party, formatTime(tx.now))
	if isUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.EConflict, "party %q is already in room %q", party, room)
	}
	if err != nil {
		return fmt.Errorf("invite party %q to room %q: %w", party, room, err)
	}
	return nil
}

// Room returns the named room with its parties, or an ENotFound error.
// Members are not filled in: they come from verified grants.
func (tx *Tx) Room(name string) (*cleanroom.Room, error) {
	rs, err := tx.rooms(`WHERE name = ?`, name)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, cleanroom.Errorf(cleanroom.ENotFound, "room %q not found", name)
	}
	return &rs[0], nil
}

// Rooms returns every room with its parties, sorted by name.
func (tx *Tx) Rooms() ([]cleanroom.Room, error) { return tx.rooms(``) }

func (tx *Tx) rooms(where string, args ...any) ([]cleanroom.Room, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT name, host, description, matching, created_at FROM rooms `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	var out []cleanroom.Room
	for rows.Next() {
		var r cleanroom.Room
		var created string
		if err := rows.Scan(&r.Name, &r.Host, &r.Description, &r.Matching, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list rooms: %w", err)
		}
		if r.CreatedAt, err = parseTime(created); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	for i := range out {
		ps, err := tx.strings(`SELECT party FROM room_parties WHERE room = ? ORDER BY party`, out[i].Name)
		if err != nil {
			return nil, err
		}
		out[i].Parties = ps
		if out[i].Parties == nil {
			out[i].Parties = []string{}
		}
	}
	return out, nil
}

// StoredGrant is a grant statement's envelope as stored, not yet verified.
type StoredGrant struct {
	Party, User, Room string
	Envelope          []byte
	IssuedAt          time.Time
}

// PutGrant stores the statement now in force for (party, user, room),
// replacing any earlier one, and records the user.
func (tx *Tx) PutGrant(g StoredGrant) error {
	if err := tx.EnsureUser(g.Party, g.User); err != nil {
		return err
	}
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO grants (party, user, room, envelope, issued_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (party, user, room) DO UPDATE SET envelope = excluded.envelope, issued_at = excluded.issued_at`,
		g.Party, g.User, g.Room, g.Envelope, formatTime(g.IssuedAt))
	if err != nil {
		return fmt.Errorf("store grant: %w", err)
	}
	return nil
}

// Grant returns the stored statement for (party, user, room), or nil.
func (tx *Tx) Grant(party, user, room string) (*StoredGrant, error) {
	gs, err := tx.grants(`WHERE party = ? AND user = ? AND room = ?`, party, user, room)
	if err != nil || len(gs) == 0 {
		return nil, err
	}
	return &gs[0], nil
}

// GrantsOfUser returns the stored statements about one user.
func (tx *Tx) GrantsOfUser(party, user string) ([]StoredGrant, error) {
	return tx.grants(`WHERE party = ? AND user = ?`, party, user)
}

// GrantsOfParty returns the stored statements a party made.
func (tx *Tx) GrantsOfParty(party string) ([]StoredGrant, error) {
	return tx.grants(`WHERE party = ?`, party)
}

// GrantsInRoom returns the stored statements about a room.
func (tx *Tx) GrantsInRoom(room string) ([]StoredGrant, error) {
	return tx.grants(`WHERE room = ?`, room)
}

func (tx *Tx) grants(where string, args ...any) ([]StoredGrant, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT party, user, room, envelope, issued_at FROM grants `+where+` ORDER BY room, party, user`, args...)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	defer rows.Close()
	var out []StoredGrant
	for rows.Next() {
		var g StoredGrant
		var issued string
		if err := rows.Scan(&g.Party, &g.User, &g.Room, &g.Envelope, &issued); err != nil {
			return nil, fmt.Errorf("list grants: %w", err)
		}
		if g.IssuedAt, err = parseTime(issued); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (tx *Tx) strings(query string, args ...any) ([]string, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Count returns the number of rows of one of the known tables; tests and
// the metrics collector use it.
func (tx *Tx) Count(table string) (int, error) {
	switch table {
	case "parties", "users", "tokens", "rooms", "room_parties", "grants", "audit_log", "datasets", "dataset_versions", "manifests", "uploads", "match_runs", "match_jobs", "reblinded", "agent_keys", "hmac_secrets", "hmac_sealed", "templates", "template_approvals", "queries", "query_sealed", "duas", "dua_signatures":
	default:
		return 0, errors.New("count: unknown table " + table)
	}
	var n int
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM `+table).Scan(&n)
	return n, err
}
