package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Artefacts are the dataset versions to delete and what was derived from
// them: the token manifests, the re-blinded token sets (by their version
// in the room's re-blinded vault), the pending re-blinding jobs, and the
// room-people maps (resolutions) of match runs that read them.
type Artefacts struct {
	Room, Dataset string
	Versions      []int
	Rows          map[int]int
	Manifests     []string // digests
	TokenSets     []int    // versions in the re-blinded vault
	Jobs          int
	Resolutions   []int // versions in the resolution vault
	Runs          []string
}

// ArtefactsOf finds what deleting versions of room's dataset removes.
func (tx *Tx) ArtefactsOf(room, dataset string, versions []int) (*Artefacts, error) {
	a := &Artefacts{Room: room, Dataset: dataset, Versions: slices.Sorted(slices.Values(versions)), Rows: map[int]int{}}
	if len(versions) == 0 {
		return a, nil
	}
	in, args := inList(versions)
	q := func(query string, extra ...any) ([][]any, error) {
		rows, err := tx.tx.QueryContext(tx.ctx, query, append(append([]any{room, dataset}, args...), extra...)...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return nil, err
			}
			out = append(out, vals)
		}
		return out, rows.Err()
	}
	rs, err := q(`SELECT version, rows FROM dataset_versions WHERE room = ? AND dataset = ? AND version IN ` + in)
	if err != nil {
		return nil, fmt.Errorf("plan deletion: %w", err)
	}
	for _, r := range rs {
		a.Rows[int(r[0].(int64))] = int(r[1].(int64))
	}
	if rs, err = q(`SELECT digest FROM manifests WHERE room = ? AND dataset = ? AND version IN ` + in); err != nil {
		return nil, fmt.Errorf("plan deletion: %w", err)
	}
	for _, r := range rs {
		a.Manifests = append(a.Manifests, asString(r[0]))
	}
	if rs, err = q(`SELECT count(*) FROM match_jobs WHERE room = ? AND dataset = ? AND version IN ` + in); err != nil {
		return nil, fmt.Errorf("plan deletion: %w", err)
	}
	a.Jobs = int(rs[0][0].(int64))
	if len(a.Manifests) > 0 {
		din, dargs := inList(a.Manifests)
		rows, err := tx.tx.QueryContext(tx.ctx, `SELECT vault_version FROM reblinded WHERE room = ? AND manifest_digest IN `+din, append([]any{room}, dargs...)...)
		if err != nil {
			return nil, fmt.Errorf("plan deletion: %w", err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return nil, err
			}
			a.TokenSets = append(a.TokenSets, v)
		}
		rows.Close()
	}
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id, datasets, resolution FROM match_runs WHERE room = ? AND resolution IS NOT NULL`, room)
	if err != nil {
		return nil, fmt.Errorf("plan deletion: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, raw string
		var res int
		if err := rows.Scan(&id, &raw, &res); err != nil {
			return nil, err
		}
		var ds []struct {
			Dataset string `json:"dataset"`
			Version int    `json:"version"`
		}
		if err := json.Unmarshal([]byte(raw), &ds); err != nil {
			return nil, fmt.Errorf("plan deletion: run %s: %w", id, err)
		}
		if slices.ContainsFunc(ds, func(d struct {
			Dataset string `json:"dataset"`
			Version int    `json:"version"`
		}) bool {
			return d.Dataset == dataset && slices.Contains(versions, d.Version)
		}) {
			a.Runs = append(a.Runs, id)
			a.Resolutions = append(a.Resolutions, res)
		}
	}
	return a, rows.Err()
}

// DeleteArtefacts deletes the rows of a: the versions (recorded in
// dataset_deletions with reason), their manifests, pending jobs and token
// set records, and the resolutions of the runs that read them.
func (tx *Tx) DeleteArtefacts(a *Artefacts, reason string) error {
	if len(a.Versions) == 0 {
		return nil
	}
	in, args := inList(a.Versions)
	exec := func(query string, args ...any) error {
		_, err := tx.tx.ExecContext(tx.ctx, query, args...)
		if err != nil {
			return fmt.Errorf("delete dataset %q: %w", a.Dataset, err)
		}
		return nil
	}
	base := append([]any{a.Room, a.Dataset}, args...)
	if len(a.Manifests) > 0 {
		din, dargs := inList(a.Manifests)
		if err := exec(`DELETE FROM reblinded WHERE room = ? AND manifest_digest IN `+din, append([]any{a.Room}, dargs...)...); err != nil {
			return err
		}
	}
	for _, id := range a.Runs {
		if err := exec(`UPDATE match_runs SET resolution = NULL WHERE id = ?`, id); err != nil {
			return err
		}
	}
	for _, q := range []string{
		`DELETE FROM match_jobs WHERE room = ? AND dataset = ? AND version IN ` + in,
		`DELETE FROM manifests WHERE room = ? AND dataset = ? AND version IN ` + in,
		`DELETE FROM dataset_versions WHERE room = ? AND dataset = ? AND version IN ` + in,
	} {
		if err := exec(q, base...); err != nil {
			return err
		}
	}
	for _, v := range a.Versions {
		if err := exec(`INSERT INTO dataset_deletions (room, dataset, version, rows, reason, deleted_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, a.Room, a.Dataset, v, a.Rows[v], reason, formatTime(tx.now)); err != nil {
			return err
		}
	}
	return nil
}

// Deletion is a deleted dataset version.
type Deletion struct {
	Version   int       `json:"version"`
	Rows      int       `json:"rows"`
	Reason    string    `json:"reason"`
	DeletedAt time.Time `json:"deleted_at"`
}

// Deletions returns the deleted versions of room's dataset.
func (tx *Tx) Deletions(room, dataset string) ([]Deletion, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT version, rows, reason, deleted_at FROM dataset_deletions
		WHERE room = ? AND dataset = ? ORDER BY version`, room, dataset)
	if err != nil {
		return nil, fmt.Errorf("read deletions: %w", err)
	}
	defer rows.Close()
	var out []Deletion
	for rows.Next() {
		var d Deletion
		var at string
		if err := rows.Scan(&d.Version, &d.Rows, &d.Reason, &at); err != nil {
			return nil, err
		}
		if d.DeletedAt, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// WithdrawPending rejects room's results waiting for review and deletes
// their sealed copies: a result that was never delivered does not outlive
// the data it came from. It returns the queries withdrawn.
func (tx *Tx) WithdrawPending(room, by string) ([]string, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id FROM queries WHERE room = ? AND state = 'pending_review' ORDER BY id`, room)
	if err != nil {
		return nil, fmt.Errorf("withdraw results: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM query_sealed WHERE room = ? AND query = ?`, room, id); err != nil {
			return nil, fmt.Errorf("withdraw results: %w", err)
		}
		if err := tx.DecideQuery(room, id, "rejected", by); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// OpenUploadIDs returns the IDs of room's open upload sessions.
func (tx *Tx) OpenUploadIDs(room string) ([]string, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id FROM uploads WHERE room = ? AND state = 'open' ORDER BY id`, room)
	if err != nil {
		return nil, fmt.Errorf("read uploads: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Checkpoint moves every change into the database file and truncates the
// write-ahead log, so that pages secure_delete zeroed replace their old
// images on disk and no copy of deleted rows stays in the log.
func (db *DB) Checkpoint(ctx context.Context) error {
	for range 50 {
		var busy, logFrames, done int
		if err := db.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if busy == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("checkpoint: the database stayed busy")
}

func inList[T any](vs []T) (string, []any) {
	args := make([]any, len(vs))
	for i, v := range vs {
		args[i] = v
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", len(vs)), ", ") + ")", args
}

func asString(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return fmt.Sprint(v)
}
