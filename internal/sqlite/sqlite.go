// Package sqlite stores the room server's metadata, grants and audit trail in
// an embedded SQLite database (modernc.org/sqlite, no cgo).
//
// Every write happens in a transaction started by DB.Update; the audit entry
// that records a change is appended in the same transaction, so a change and
// its entry are committed together or not at all. A DB runs one write
// transaction at a time and hands the next to the writers of the process in
// the order they asked, so none waits behind the others past SQLite's busy
// timeout, which then only applies to other processes. Migrations are embedded
// .sql files applied in order at Open. secure_delete is on, so deleted rows
// do not linger in free pages.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the metadata database. It is safe for concurrent use.
type DB struct {
	db   *sql.DB
	path string
	// Now returns the current time; tests may replace it before use.
	Now func() time.Time
	// writer holds a token while a write transaction of this DB is open.
	// Writers queue on it first come, first served: left to SQLite's busy
	// handler, which polls with growing sleeps, a writer among many can
	// wait past the busy timeout and fail with SQLITE_BUSY while others
	// take the lock before it.
	writer chan struct{}
}

// busyTimeout is how long a write transaction waits for another process's
// write lock.
var busyTimeout = 10 * time.Second

// Open opens (creating if needed) the database at path and applies pending
// migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "secure_delete(1)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	sdb, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db := &DB{db: sdb, path: path, Now: func() time.Time { return time.Now().UTC() }, writer: make(chan struct{}, 1)}
	if err := db.migrate(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.db.Close() }

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migrate: %s: name does not start with a version number", base)
		}
		err = db.Update(ctx, func(tx *Tx) error {
			var n int
			if err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			body, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err = tx.tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				version, base, formatTime(tx.now))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
	}
	return nil
}

// SchemaVersion returns the newest applied migration.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := db.db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

// Tx is a transaction. Its methods must not be used after the function
// given to Update or View returns.
type Tx struct {
	ctx context.Context
	tx  *sql.Tx
	now time.Time
}

// Now returns the transaction's time: one clock reading for everything the
// transaction writes.
func (tx *Tx) Now() time.Time { return tx.now }

// Update runs fn in a write transaction and commits it if fn returns nil.
// It waits for the write transactions of db started before it; fn must not
// start another (nor wait for one started elsewhere).
func (db *DB) Update(ctx context.Context, fn func(*Tx) error) error {
	return db.run(ctx, false, fn)
}

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(*Tx) error) error {
	return db.run(ctx, true, fn)
}

func (db *DB) run(ctx context.Context, readOnly bool, fn func(*Tx) error) (err error) {
	if !readOnly {
		select {
		case db.writer <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("begin transaction: %w", ctx.Err())
		}
		defer func() { <-db.writer }()
	}
	stx, err := db.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{ctx: ctx, tx: stx, now: db.Now()}
	defer func() {
		if p := recover(); p != nil {
			stx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rerr := stx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed") ||
		err != nil && strings.Contains(err.Error(), "PRIMARY KEY constraint failed")
}
