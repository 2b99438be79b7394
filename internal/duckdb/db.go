package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	ddb "github.com/duckdb/duckdb-go/v2"
)

// ErrMemoryLimit is wrapped by the errors of Load, LoadVersion and Run when
// the work does not fit in Limits.MemoryLimit.
var ErrMemoryLimit = errors.New("the run does not fit in its memory limit")

// MinMemoryLimit is the smallest Limits.MemoryLimit Open accepts.
const MinMemoryLimit = 16 << 20

// Limits bound the resources of a DB.
type Limits struct {
	// MemoryLimit is the most memory, in bytes, DuckDB may use for the
	// loaded tables and the state of a run. Required, at least
	// MinMemoryLimit. Nothing spills to disk: past the limit, work fails
	// with ErrMemoryLimit.
	MemoryLimit int64
	// Threads is the number of threads a run uses. Optional; 0 means one
	// per CPU.
	Threads int
}

// DB is an in-memory DuckDB database holding the tables of one run. It is
// safe for concurrent use, but a run is meant to load its tables, run and
// close, in that order.
type DB struct {
	db     *sql.DB
	limits Limits
}

// Open opens an empty in-memory database with the limits l, configured so
// that nothing is ever written to disk (see the package documentation).
func Open(ctx context.Context, l Limits) (*DB, error) {
	if l.MemoryLimit < MinMemoryLimit {
		return nil, fmt.Errorf("open duckdb: memory limit %d bytes, want at least %d", l.MemoryLimit, MinMemoryLimit)
	}
	if l.Threads < 0 {
		return nil, fmt.Errorf("open duckdb: %d threads", l.Threads)
	}
	opts := url.Values{}
	// memory_limit takes a size with a unit; KiB keeps any byte count
	// within a rounding of 1 KiB.
	opts.Set("memory_limit", strconv.FormatInt(l.MemoryLimit>>10, 10)+"KiB")
	opts.Set("temp_directory", "")
	opts.Set("autoinstall_known_extensions", "false")
	opts.Set("autoload_known_extensions", "false")
	if l.Threads > 0 {
		opts.Set("threads", strconv.Itoa(l.Threads))
	}
	connector, err := ddb.NewConnector("?"+opts.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	db := &DB{db: sql.OpenDB(connector), limits: l}
	var tmp string
	if err := db.db.QueryRowContext(ctx, "SELECT current_setting('temp_directory')").Scan(&tmp); err != nil {
		db.Close()
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	if tmp != "" {
		db.Close()
		return nil, fmt.Errorf("open duckdb: temp_directory is %q; spilling must be off", tmp)
	}
	// The driver applies the options above in no fixed order, and with
	// external access disabled temp_directory cannot be set: these come
	// after, the lock last.
	for _, stmt := range []string{"SET enable_external_access = false", "SET lock_configuration = true"} {
		if _, err := db.db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("open duckdb: %w", err)
		}
	}
	return db, nil
}

// Close closes the database and frees everything it held.
func (db *DB) Close() error {
	if err := db.db.Close(); err != nil {
		return fmt.Errorf("close duckdb: %w", err)
	}
	return nil
}

// classify wraps DuckDB's out-of-memory errors with ErrMemoryLimit, keeping
// only the first line of DuckDB's message: the rest advises setting a
// temporary directory, which is exactly what a run must not do.
func (db *DB) classify(err error) error {
	var e *ddb.Error
	if !errors.As(err, &e) {
		return err
	}
	// The appender reports an allocation failure without its type.
	if e.Type != ddb.ErrorTypeOutOfMemory && !strings.Contains(e.Msg, "could not allocate block") {
		return err
	}
	msg, _, _ := strings.Cut(e.Msg, "\n")
	return fmt.Errorf("%w (%d MiB): %s", ErrMemoryLimit, db.limits.MemoryLimit>>20, msg)
}

// quote quotes an identifier. Identifiers come from validated schema
// names, which hold no quote; doubling is the rule all the same.
func quote(name string) string {
	b := make([]byte, 0, len(name)+2)
	b = append(b, '"')
	for i := 0; i < len(name); i++ {
		if name[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, name[i])
	}
	return string(append(b, '"'))
}
