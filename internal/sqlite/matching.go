package sqlite

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// MatchRun is a match of a room's datasets.
type MatchRun struct {
	ID, Room, State, RequestedBy string
	Datasets                     []byte // JSON
	Report                       []byte // JSON, once done
	Error                        string
	// Resolution is the vault version of the run's room people, once
	// done (0 before).
	Resolution int
	CreatedAt  time.Time
	FinishedAt *time.Time
}

// MatchJob asks one party's agent to re-blind one token set.
type MatchJob struct {
	ID, Run, Room, Dataset string
	Version                int
	Class                  string
	ManifestDigest         string
	Party                  string
	State                  string
	CreatedAt              time.Time
}

// Reblinded records a token set re-blinded by a party's agent, kept in the
// vault for every later run.
type Reblinded struct {
	Room, ManifestDigest, Party string
	VaultVersion, Tokens        int
	CreatedAt                   time.Time
}

// CreateMatchRun records a run and its jobs.
func (tx *Tx) CreateMatchRun(r *MatchRun, jobs []MatchJob) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO match_runs (id, room, state, requested_by, datasets, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		r.ID, r.Room, r.State, r.RequestedBy, string(r.Datasets), formatTime(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("create match run: %w", err)
	}
	for _, j := range jobs {
		_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO match_jobs (id, run, room, dataset, version, class, manifest_digest, party, state, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			j.ID, j.Run, j.Room, j.Dataset, j.Version, j.Class, j.ManifestDigest, j.Party, j.State, formatTime(j.CreatedAt))
		if err != nil {
			return fmt.Errorf("create match job: %w", err)
		}
	}
	return nil
}

// MatchRun returns a run of a room, or an ENotFound error.
func (tx *Tx) MatchRun(room, id string) (*MatchRun, error) {
	r := &MatchRun{ID: id}
	var created string
	var report, errText, finished sql.NullString
	var resolution sql.NullInt64
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT room, state, requested_by, datasets, report, error, created_at, finished_at, resolution
		FROM match_runs WHERE id = ? AND room = ?`, id, room).
		Scan(&r.Room, &r.State, &r.RequestedBy, &r.Datasets, &report, &errText, &created, &finished, &resolution)
	r.Resolution = int(resolution.Int64)
	if err == sql.ErrNoRows {
		return nil, cleanroom.Errorf(cleanroom.ENotFound, "match run %s not found in room %q", id, room)
	}
	if err != nil {
		return nil, fmt.Errorf("read match run: %w", err)
	}
	if report.Valid {
		r.Report = []byte(report.String)
	}
	r.Error = errText.String
	if r.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if finished.Valid {
		t, err := parseTime(finished.String)
		if err != nil {
			return nil, err
		}
		r.FinishedAt = &t
	}
	return r, nil
}

// NextResolution returns the vault version for a room's next resolution.
func (tx *Tx) NextResolution(room string) (int, error) {
	var v sql.NullInt64
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT max(resolution) FROM match_runs WHERE room = ?`, room).Scan(&v); err != nil {
		return 0, fmt.Errorf("next resolution: %w", err)
	}
	return int(v.Int64) + 1, nil
}

// SetResolution records the vault version of a run's room people.
func (tx *Tx) SetResolution(id string, version int) error {
	if _, err := tx.tx.ExecContext(tx.ctx, `UPDATE match_runs SET resolution = ? WHERE id = ?`, version, id); err != nil {
		return fmt.Errorf("set resolution: %w", err)
	}
	return nil
}

// LatestResolution returns the newest done run of a room that has a
// resolution, or nil.
func (tx *Tx) LatestResolution(room string) (*MatchRun, error) {
	var id string
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT id FROM match_runs WHERE room = ? AND state = 'done' AND resolution IS NOT NULL
		ORDER BY resolution DESC LIMIT 1`, room).Scan(&id)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("latest resolution: %w", err)
	}
	return tx.MatchRun(room, id)
}

// FinishMatchRun records a run's outcome: its report, or its error.
func (tx *Tx) FinishMatchRun(id, state string, report []byte, errText string) error {
	var rep, e any
	if report != nil {
		rep = string(report)
	}
	if errText != "" {
		e = errText
	}
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE match_runs SET state = ?, report = ?, error = ?, finished_at = ? WHERE id = ? AND state = 'waiting'`,
		state, rep, e, formatTime(tx.now), id)
	if err != nil {
		return fmt.Errorf("finish match run: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return cleanroom.Errorf(cleanroom.EConflict, "match run %s is already finished", id)
	}
	return nil
}

// MatchJobs returns a run's jobs, or with run "" the pending jobs of a
// party in a room.
func (tx *Tx) MatchJobs(room, run, party string) ([]MatchJob, error) {
	q := `SELECT id, run, room, dataset, version, class, manifest_digest, party, state, created_at FROM match_jobs WHERE room = ?`
	args := []any{room}
	if run != "" {
		q += ` AND run = ?`
		args = append(args, run)
	} else {
		q += ` AND party = ? AND state = 'pending'`
		args = append(args, party)
	}
	rows, err := tx.tx.QueryContext(tx.ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list match jobs: %w", err)
	}
	defer rows.Close()
	var out []MatchJob
	for rows.Next() {
		var j MatchJob
		var created string
		if err := rows.Scan(&j.ID, &j.Run, &j.Room, &j.Dataset, &j.Version, &j.Class, &j.ManifestDigest, &j.Party, &j.State, &created); err != nil {
			return nil, fmt.Errorf("list match jobs: %w", err)
		}
		if j.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// MatchJob returns a job of a room, or an ENotFound error.
func (tx *Tx) MatchJob(room, id string) (*MatchJob, error) {
	var j MatchJob
	var created string
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT id, run, room, dataset, version, class, manifest_digest, party, state, created_at
		FROM match_jobs WHERE id = ? AND room = ?`, id, room).
		Scan(&j.ID, &j.Run, &j.Room, &j.Dataset, &j.Version, &j.Class, &j.ManifestDigest, &j.Party, &j.State, &created)
	if err == sql.ErrNoRows {
		return nil, cleanroom.Errorf(cleanroom.ENotFound, "job %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read match job: %w", err)
	}
	if j.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	return &j, nil
}

// CompleteMatchJobs marks done every pending job for a re-blinded set.
func (tx *Tx) CompleteMatchJobs(room, manifestDigest, party string) error {
	_, err := tx.tx.ExecContext(tx.ctx, `UPDATE match_jobs SET state = 'done' WHERE room = ? AND manifest_digest = ? AND party = ? AND state = 'pending'`,
		room, manifestDigest, party)
	if err != nil {
		return fmt.Errorf("complete match jobs: %w", err)
	}
	return nil
}

// PutReblinded records a re-blinded set. A set re-blinded twice is a
// conflict.
func (tx *Tx) PutReblinded(r Reblinded) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO reblinded (room, manifest_digest, party, vault_version, tokens, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		r.Room, r.ManifestDigest, r.Party, r.VaultVersion, r.Tokens, formatTime(r.CreatedAt))
	if isUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.EConflict, "this set was already re-blinded by party %q", r.Party)
	}
	if err != nil {
		return fmt.Errorf("record re-blinded set: %w", err)
	}
	return nil
}

// GetReblinded returns the record of a re-blinded set, or nil.
func (tx *Tx) GetReblinded(room, manifestDigest, party string) (*Reblinded, error) {
	r := Reblinded{Room: room, ManifestDigest: manifestDigest, Party: party}
	var created string
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT vault_version, tokens, created_at FROM reblinded WHERE room = ? AND manifest_digest = ? AND party = ?`,
		room, manifestDigest, party).Scan(&r.VaultVersion, &r.Tokens, &created)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read re-blinded set: %w", err)
	}
	if r.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	return &r, nil
}

// NextReblindedVersion returns the vault version number for a room's next
// re-blinded set.
func (tx *Tx) NextReblindedVersion(room string) (int, error) {
	var v sql.NullInt64
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT max(vault_version) FROM reblinded WHERE room = ?`, room).Scan(&v); err != nil {
		return 0, fmt.Errorf("next re-blinded version: %w", err)
	}
	return int(v.Int64) + 1, nil
}
