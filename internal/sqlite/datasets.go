package sqlite

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// DatasetRecord is a registered dataset as stored; Schema is its JSON.
type DatasetRecord struct {
	Room, Name, Party string
	Schema            []byte
	CreatedAt         time.Time
}

// CreateDataset registers a dataset in a room. A dataset of the same name
// in the room is a conflict.
func (tx *Tx) CreateDataset(d DatasetRecord) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO datasets (room, name, party, schema, created_at) VALUES (?, ?, ?, ?, ?)`,
		d.Room, d.Name, d.Party, string(d.Schema), formatTime(d.CreatedAt))
	if isUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.EConflict, "dataset %q already exists in room %q", d.Name, d.Room)
	}
	if err != nil {
		return fmt.Errorf("create dataset: %w", err)
	}
	return nil
}

// Dataset returns a room's dataset, or an ENotFound error.
func (tx *Tx) Dataset(room, name string) (*DatasetRecord, error) {
	ds, err := tx.datasets(`WHERE room = ? AND name = ?`, room, name)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, cleanroom.Errorf(cleanroom.ENotFound, "dataset %q not found in room %q", name, room)
	}
	return &ds[0], nil
}

// Datasets returns a room's datasets sorted by name.
func (tx *Tx) Datasets(room string) ([]DatasetRecord, error) {
	return tx.datasets(`WHERE room = ?`, room)
}

func (tx *Tx) datasets(where string, args ...any) ([]DatasetRecord, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT room, name, party, schema, created_at FROM datasets `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list datasets: %w", err)
	}
	defer rows.Close()
	var out []DatasetRecord
	for rows.Next() {
		var d DatasetRecord
		var schema, created string
		if err := rows.Scan(&d.Room, &d.Name, &d.Party, &schema, &created); err != nil {
			return nil, fmt.Errorf("list datasets: %w", err)
		}
		d.Schema = []byte(schema)
		if d.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// VersionRecord is a committed dataset version.
type VersionRecord struct {
	Room, Dataset string
	Version       int
	Rows          int
	Stats         []byte // JSON
	CommittedAt   time.Time
}

// ManifestRecord is a token manifest as its owner signed it.
type ManifestRecord struct {
	Class    string
	Count    int
	Digest   string
	Envelope []byte
}

// CommitVersion records a committed version with its manifests.
func (tx *Tx) CommitVersion(v VersionRecord, manifests []ManifestRecord) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO dataset_versions (room, dataset, version, rows, stats, committed_at) VALUES (?, ?, ?, ?, ?, ?)`,
		v.Room, v.Dataset, v.Version, v.Rows, string(v.Stats), formatTime(v.CommittedAt))
	if isUniqueViolation(err) {
		return cleanroom.Errorf(cleanroom.EConflict, "version %d of dataset %q is already committed", v.Version, v.Dataset)
	}
	if err != nil {
		return fmt.Errorf("commit version: %w", err)
	}
	for _, m := range manifests {
		_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO manifests (room, dataset, version, class, count, digest, envelope) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			v.Room, v.Dataset, v.Version, m.Class, m.Count, m.Digest, m.Envelope)
		if err != nil {
			return fmt.Errorf("commit version: manifest %s: %w", m.Class, err)
		}
	}
	return nil
}

// Versions returns a dataset's committed versions, oldest first.
func (tx *Tx) Versions(room, dataset string) ([]VersionRecord, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT version, rows, stats, committed_at FROM dataset_versions
		WHERE room = ? AND dataset = ? ORDER BY version`, room, dataset)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	defer rows.Close()
	var out []VersionRecord
	for rows.Next() {
		v := VersionRecord{Room: room, Dataset: dataset}
		var stats, committed string
		if err := rows.Scan(&v.Version, &v.Rows, &stats, &committed); err != nil {
			return nil, fmt.Errorf("list versions: %w", err)
		}
		v.Stats = []byte(stats)
		if v.CommittedAt, err = parseTime(committed); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Manifests returns the manifests of one version.
func (tx *Tx) Manifests(room, dataset string, version int) ([]ManifestRecord, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT class, count, digest, envelope FROM manifests
		WHERE room = ? AND dataset = ? AND version = ? ORDER BY class`, room, dataset, version)
	if err != nil {
		return nil, fmt.Errorf("list manifests: %w", err)
	}
	defer rows.Close()
	var out []ManifestRecord
	for rows.Next() {
		var m ManifestRecord
		if err := rows.Scan(&m.Class, &m.Count, &m.Digest, &m.Envelope); err != nil {
			return nil, fmt.Errorf("list manifests: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UploadRecord is an upload session.
type UploadRecord struct {
	ID, Room, Dataset string
	Version           int
	Party, User       string
	State             string
	Chunks            int
	CreatedAt         time.Time
}

// OpenUpload starts an upload session and reserves the dataset's next
// version number for it.
func (tx *Tx) OpenUpload(u *UploadRecord) error {
	var last sql.NullInt64
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT max(version) FROM uploads WHERE room = ? AND dataset = ?`, u.Room, u.Dataset).Scan(&last)
	if err != nil {
		return fmt.Errorf("open upload: %w", err)
	}
	u.Version = int(last.Int64) + 1
	u.State = "open"
	_, err = tx.tx.ExecContext(tx.ctx, `INSERT INTO uploads (id, room, dataset, version, party, user, state, chunks, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		u.ID, u.Room, u.Dataset, u.Version, u.Party, u.User, u.State, formatTime(u.CreatedAt))
	if err != nil {
		return fmt.Errorf("open upload: %w", err)
	}
	return nil
}

// Upload returns an upload session, or an ENotFound error.
func (tx *Tx) Upload(id string) (*UploadRecord, error) {
	u := &UploadRecord{ID: id}
	var created string
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT room, dataset, version, party, user, state, chunks, created_at FROM uploads WHERE id = ?`, id).
		Scan(&u.Room, &u.Dataset, &u.Version, &u.Party, &u.User, &u.State, &u.Chunks, &created)
	if err == sql.ErrNoRows {
		return nil, cleanroom.Errorf(cleanroom.ENotFound, "upload %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	if u.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	return u, nil
}

// SetUploadState moves an open upload to committed or aborted, recording
// its chunk count.
func (tx *Tx) SetUploadState(id, state string, chunks int) error {
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE uploads SET state = ?, chunks = ? WHERE id = ? AND state = 'open'`, state, chunks, id)
	if err != nil {
		return fmt.Errorf("update upload: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return cleanroom.Errorf(cleanroom.EConflict, "upload %s is no longer open", id)
	}
	return nil
}

// OpenUploads returns the sessions still open, for clean-up at start.
func (tx *Tx) OpenUploads() ([]UploadRecord, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id FROM uploads WHERE state = 'open' ORDER BY created_at`)
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
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
	var out []UploadRecord
	for _, id := range ids {
		u, err := tx.Upload(id)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, nil
}
