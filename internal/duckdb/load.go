package duckdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	ddb "github.com/duckdb/duckdb-go/v2"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// personColumn is the room person of every loaded row. Column names start
// with a letter, so it cannot collide with one.
const personColumn = "_person"

// Row is one row of a dataset version: its room person (negative for none)
// and its values of the loaded columns, in their order, written as a
// payload writes them ("" for missing).
type Row struct {
	Person int32
	Values []string
}

// Load creates table and loads rows into it with DuckDB's appender: a
// BIGINT person column and one column per entry of columns, typed by it:
// VARCHAR for strings, BIGINT for ints and for decimals (as integers in
// units of 10^-Scale), DATE and BOOLEAN. Rows without a room person are
// skipped: they can join nothing. It returns the number of rows loaded.
// A value that is not of its column's type fails the load with an error
// that names the row and column but not the value. After a failed load the
// table may exist with some rows: close the DB rather than retry.
func (db *DB) Load(ctx context.Context, table string, columns []engine.Column, rows iter.Seq2[Row, error]) (int, error) {
	n, err := db.load(ctx, table, columns, rows)
	if err != nil {
		return 0, fmt.Errorf("load %s: %w", table, db.classify(err))
	}
	return n, nil
}

func (db *DB) load(ctx context.Context, table string, columns []engine.Column, rows iter.Seq2[Row, error]) (int, error) {
	if table == "" || strings.HasPrefix(table, "_") {
		return 0, fmt.Errorf("table name %q is not a dataset name", table)
	}
	var ddl strings.Builder
	ddl.WriteString("CREATE TABLE " + quote(table) + " (" + quote(personColumn) + " BIGINT NOT NULL")
	for _, c := range columns {
		t, err := sqlType(c.Type)
		if err != nil {
			return 0, err
		}
		if strings.HasPrefix(c.Name, "_") {
			return 0, fmt.Errorf("column name %q is not a schema column name", c.Name)
		}
		ddl.WriteString(", " + quote(c.Name) + " " + t)
	}
	ddl.WriteString(")")
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, ddl.String()); err != nil {
		return 0, err
	}
	loaded := 0
	err = conn.Raw(func(dc any) error {
		a, err := ddb.NewAppenderFromConn(dc.(driver.Conn), "", table)
		if err != nil {
			return err
		}
		vals := make([]driver.Value, len(columns)+1)
		line := 0
		for r, err := range rows {
			line++
			if err != nil {
				a.Close()
				return err
			}
			if r.Person < 0 {
				continue
			}
			if len(r.Values) != len(columns) {
				a.Close()
				return fmt.Errorf("row %d: %d values, want %d", line, len(r.Values), len(columns))
			}
			vals[0] = int64(r.Person)
			for i, c := range columns {
				v, err := engine.ParseValue(c, r.Values[i])
				if err != nil {
					a.Close()
					return fmt.Errorf("row %d: column %s: %w", line, c.Name, err)
				}
				vals[i+1] = v
			}
			if err := a.AppendRow(vals...); err != nil {
				a.Close()
				return err
			}
			loaded++
			if loaded%(1<<16) == 0 {
				if err := ctx.Err(); err != nil {
					a.Close()
					return err
				}
			}
		}
		return a.CloseWithCancel(ctx)
	})
	if err != nil {
		return 0, err
	}
	return loaded, nil
}

// LoadVersion loads the columns plan reads of one dataset version (see
// engine.Plan.Columns) from its decrypted payload into the table named
// after the dataset. persons holds the room person of each of the
// payload's rows, in order (match.AssignedDataset.Rows). Columns the plan
// does not read are not loaded.
func (db *DB) LoadVersion(ctx context.Context, plan *engine.Plan, dataset string, payload *upload.Reader, persons []int32) (int, error) {
	columns := plan.Columns(dataset)
	index := make([]int, len(columns))
	for i, c := range columns {
		index[i] = -1
		for j, f := range payload.Header.Attributes {
			if f.Column == c.Name {
				if f.Type != string(c.Type) {
					return 0, fmt.Errorf("load %s: column %s is %s in the payload, %s in the plan", dataset, c.Name, f.Type, c.Type)
				}
				index[i] = j
			}
		}
		if index[i] < 0 {
			return 0, fmt.Errorf("load %s: the payload has no column %s", dataset, c.Name)
		}
	}
	if payload.Header.Rows != len(persons) {
		return 0, fmt.Errorf("load %s: the payload has %d rows, the assignment %d", dataset, payload.Header.Rows, len(persons))
	}
	rows := func(yield func(Row, error) bool) {
		values := make([]string, len(columns))
		for i := 0; ; i++ {
			r, err := payload.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Row{}, err)
				return
			}
			if i >= len(persons) {
				yield(Row{}, errors.New("more rows than the assignment"))
				return
			}
			for k, j := range index {
				values[k] = r.Values[j]
			}
			if !yield(Row{Person: persons[i], Values: values}, nil) {
				return
			}
		}
	}
	return db.Load(ctx, dataset, columns, rows)
}

func sqlType(t cleanroom.ColumnType) (string, error) {
	switch t {
	case cleanroom.TypeString:
		return "VARCHAR", nil
	case cleanroom.TypeInt, cleanroom.TypeDecimal:
		return "BIGINT", nil
	case cleanroom.TypeDate:
		return "DATE", nil
	case cleanroom.TypeBool:
		return "BOOLEAN", nil
	}
	return "", fmt.Errorf("unknown column type %q", t)
}
