package duckdb

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/engine"
)

// Run runs plan over the loaded tables (one per plan dataset, named after
// it; see LoadVersion) and returns the TRUE, contribution-bounded
// aggregates of every group with at least one person. seed picks the
// groups kept of a person in more than L0; any value keeps the bound (see
// internal/engine).
//
// The result must reach no one except through the privacy core
// (internal/dp). A run that does not fit in the memory limit fails with an
// error wrapping ErrMemoryLimit; a cancelled ctx interrupts it. A sum that
// does not fit in an int64 fails the run.
func (db *DB) Run(ctx context.Context, plan *engine.Plan, seed uint64) (*engine.Result, error) {
	res, err := db.run(ctx, plan, seed)
	if err != nil {
		return nil, fmt.Errorf("run plan %q: %w", plan.Template, db.classify(err))
	}
	return res, nil
}

func (db *DB) run(ctx context.Context, plan *engine.Plan, seed uint64) (*engine.Result, error) {
	query, args, err := Query(plan, seed)
	if err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var sums []int // the metrics with a sum and count column, in order
	for i, m := range plan.Metrics {
		if m.Kind != cleanroom.MetricCount {
			sums = append(sums, i)
		}
	}
	res := &engine.Result{}
	cells := make([]any, len(plan.Keys)+1+2*len(sums))
	ptrs := make([]any, len(cells))
	for i := range cells {
		ptrs[i] = &cells[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		g := engine.Group{Key: make([]int, len(plan.Keys)), Metrics: make([]engine.Aggregate, len(plan.Metrics))}
		for i := range plan.Keys {
			k, err := toInt64(cells[i])
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i, err)
			}
			g.Key[i] = int(k)
		}
		n := len(plan.Keys)
		if g.People, err = toInt64(cells[n]); err != nil {
			return nil, fmt.Errorf("people: %w", err)
		}
		if g.People == 0 {
			continue // the single group of a plan without keys, empty
		}
		for i, m := range plan.Metrics {
			if m.Kind == cleanroom.MetricCount {
				g.Metrics[i] = engine.Aggregate{Sum: g.People, Count: g.People}
			}
		}
		for j, i := range sums {
			s, err := toInt64(cells[n+1+2*j])
			if err != nil {
				return nil, fmt.Errorf("metric %s: sum: %w", plan.Metrics[i].Name, err)
			}
			c, err := toInt64(cells[n+2+2*j])
			if err != nil {
				return nil, fmt.Errorf("metric %s: count: %w", plan.Metrics[i].Name, err)
			}
			g.Metrics[i] = engine.Aggregate{Sum: s, Count: c}
		}
		res.Groups = append(res.Groups, g)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// toInt64 converts a scanned integer; NULL (an empty sum) is 0.
func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case *big.Int:
		if !x.IsInt64() {
			return 0, errors.New("overflows int64")
		}
		return x.Int64(), nil
	}
	return 0, fmt.Errorf("unexpected %T", v)
}
