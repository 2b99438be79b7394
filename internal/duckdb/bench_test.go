package duckdb

import (
	"context"
	"iter"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom/internal/engine"
)

// segmentSizing compiles internal/engine's segment-sizing template: people
// by operator tier and bank balance band, among subscribers since
// 2020-01-01 and customers not in default, L0 = 2 of 6 groups.
func segmentSizing(t testing.TB) *engine.Plan {
	return compilePlan(t, filepath.Join("..", "engine", "testdata", "segment-sizing.yaml"), testSchemas(t),
		map[string]string{"since": "2020-01-01"}, nil)
}

// splitmix is SplitMix64's output function: a cheap, well-mixed hash.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// syntheticSubscribers yields n subscriber rows, one per person 0..n-1,
// with the columns of segmentSizing's plan: signup_date and tier.
func syntheticSubscribers(p *engine.Plan, n int) iter.Seq2[Row, error] {
	cols := p.Columns("subscribers")
	dates := make([]string, 3650)
	for i := range dates {
		dates[i] = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.DateOnly)
	}
	tiers := []string{"basic", "standard", "premium", "basic", ""}
	return func(yield func(Row, error) bool) {
		vals := make([]string, len(cols))
		for i := range n {
			h := splitmix(uint64(i))
			for j, c := range cols {
				switch c.Name {
				case "signup_date":
					vals[j] = dates[h%uint64(len(dates))]
				case "tier":
					vals[j] = tiers[h>>20%uint64(len(tiers))]
				}
			}
			if !yield(Row{Person: int32(i), Values: vals}, nil) {
				return
			}
		}
	}
}

// syntheticCustomers yields n customer rows of persons drawn at random
// from 0..n-1 (so about 37 % of persons have none, and many have several),
// with the columns default_flag and balance.
func syntheticCustomers(p *engine.Plan, n int) iter.Seq2[Row, error] {
	cols := p.Columns("customers")
	return func(yield func(Row, error) bool) {
		vals := make([]string, len(cols))
		for i := range n {
			h := splitmix(uint64(i) + 1<<40)
			for j, c := range cols {
				switch c.Name {
				case "default_flag":
					vals[j] = strconv.FormatBool(h>>8%20 == 0)
				case "balance":
					cents := int64(h>>24%120_000_000) - 1_000_000 // some below 0, some above the last edge
					vals[j] = formatCents(cents)
				}
			}
			if !yield(Row{Person: int32(h % uint64(n)), Values: vals}, nil) {
				return
			}
		}
	}
}

func formatCents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	frac := strconv.FormatInt(c%100, 10)
	if len(frac) == 1 {
		frac = "0" + frac
	}
	return sign + strconv.FormatInt(c/100, 10) + "." + frac
}

// handSegmentSizing is segmentSizing written by hand in DuckDB SQL, with
// the same contribution bounding (filters per row, one row per person and
// key, inner join on the person, at most 2 groups per person chosen by a
// seeded hash) and literal values.
const handSegmentSizing = `
WITH s AS (
  SELECT _person, tier FROM subscribers
  WHERE signup_date >= DATE '2020-01-01' AND tier IN ('basic', 'standard', 'premium')
  GROUP BY _person, tier
), c AS (
  SELECT _person, CASE WHEN balance < 500000 THEN 1 ELSE 2 END AS band FROM customers
  WHERE NOT default_flag AND balance BETWEEN 0 AND 100000000
  GROUP BY _person, band
), pg AS (
  SELECT _person, tier, band FROM s JOIN c USING (_person)
  QUALIFY row_number() OVER (PARTITION BY _person ORDER BY hash(_person, tier, band, 42)) <= 2
)
SELECT tier, band, count(*) FROM pg GROUP BY tier, band ORDER BY tier, band`

// handSegmentSizingInt is handSegmentSizing with the tier mapped to an
// integer before grouping, as the engine does: the same plan, so their
// ratio is the engine's own overhead (bound parameters, generated text).
const handSegmentSizingInt = `
WITH s AS (
  SELECT _person, CASE tier WHEN 'basic' THEN 0 WHEN 'standard' THEN 1 WHEN 'premium' THEN 2 END AS tier FROM subscribers
  WHERE signup_date >= DATE '2020-01-01' AND tier IN ('basic', 'standard', 'premium')
  GROUP BY _person, tier
), c AS (
  SELECT _person, CASE WHEN balance < 500000 THEN 1 ELSE 2 END AS band FROM customers
  WHERE NOT default_flag AND balance BETWEEN 0 AND 100000000
  GROUP BY _person, band
), pg AS (
  SELECT _person, tier, band FROM s JOIN c USING (_person)
  QUALIFY row_number() OVER (PARTITION BY _person ORDER BY hash(_person, tier, band, 42)) <= 2
)
SELECT ['basic', 'standard', 'premium'][tier + 1], band, count(*) FROM pg GROUP BY tier, band ORDER BY tier, band`

// runHand runs a hand-written query and returns its groups in the
// engine's form.
func runHand(ctx context.Context, db *DB, p *engine.Plan, query string) ([]engine.Group, error) {
	rows, err := db.db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []engine.Group
	for rows.Next() {
		var tier string
		var band, n int64
		if err := rows.Scan(&tier, &band, &n); err != nil {
			return nil, err
		}
		out = append(out, engine.Group{
			Key:     []int{slices.Index(p.Keys[0].Categories, tier), int(band - 1)},
			People:  n,
			Metrics: []engine.Aggregate{{Sum: n, Count: n}},
		})
	}
	slices.SortFunc(out, func(a, b engine.Group) int { return slices.Compare(a.Key, b.Key) })
	return out, rows.Err()
}

// BenchmarkSegmentSizing runs the segment-sizing plan on 1,000,000
// subscriber rows and 1,000,000 customer rows with shared person ids, and
// the same aggregation written by hand (grouping by the tier's text, and by
// an integer as the engine does), alternately on the same tables in one
// process. It reports each one's time per run and the ratios engine/hand.
func BenchmarkSegmentSizing(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	p := segmentSizing(b)
	db, err := Open(ctx, Limits{MemoryLimit: 4 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	if _, err := db.Load(ctx, "subscribers", p.Columns("subscribers"), syntheticSubscribers(p, n)); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Load(ctx, "customers", p.Columns("customers"), syntheticCustomers(p, n)); err != nil {
		b.Fatal(err)
	}
	load := time.Since(start)

	// Warm up both, and check they agree.
	res, err := db.Run(ctx, p, 42)
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{handSegmentSizing, handSegmentSizingInt} {
		hand, err := runHand(ctx, db, p, q)
		if err != nil {
			b.Fatal(err)
		}
		if !reflect.DeepEqual(res.Groups, hand) {
			b.Fatalf("engine %+v\nhand   %+v", res.Groups, hand)
		}
	}
	var people int64
	for _, g := range res.Groups {
		people += g.People
	}

	// The three run in turn, in an order rotated every iteration, so that
	// none always runs first or after the same one.
	times := make([]time.Duration, 3)
	runs := []func() error{
		func() error { _, err := db.Run(ctx, p, 42); return err },
		func() error { _, err := runHand(ctx, db, p, handSegmentSizing); return err },
		func() error { _, err := runHand(ctx, db, p, handSegmentSizingInt); return err },
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range runs {
			k := (i + j) % len(runs)
			start := time.Now()
			if err := runs[k](); err != nil {
				b.Fatal(err)
			}
			times[k] += time.Since(start)
		}
	}
	engineTime, handTime, handIntTime := times[0], times[1], times[2]
	b.ReportMetric(engineTime.Seconds()/float64(b.N), "engine-s/run")
	b.ReportMetric(handTime.Seconds()/float64(b.N), "hand-s/run")
	b.ReportMetric(handIntTime.Seconds()/float64(b.N), "hand-int-s/run")
	b.ReportMetric(float64(engineTime)/float64(handTime), "ratio")
	b.ReportMetric(float64(engineTime)/float64(handIntTime), "ratio-int")
	b.ReportMetric(load.Seconds(), "load-s")
	b.ReportMetric(float64(people), "people")
}
