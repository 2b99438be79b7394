// Package engine compiles an approved query template and its bound
// parameters into a Plan: a small, typed description of the computation
// that an executor (internal/duckdb) turns into a query over the room's
// decrypted-in-memory data. It holds no SQL and no data; it decides what
// is computed, so every executor computes the same thing.
//
// # Using it
//
//	b, err := template.Bind(t, params)          // typed values, never SQL text
//	p, err := engine.Compile(t, b, schemas)     // the Plan
//	fmt.Print(p)                                // what `cleanroom query explain` shows
//	db, err := duckdb.Open(ctx, duckdb.Limits{MemoryLimit: 4 << 30})
//	for _, d := range p.Datasets { db.LoadVersion(ctx, p, d.Name, payload, persons) }
//	res, err := db.Run(ctx, p, seed)            // *engine.Result: TRUE aggregates
//
// # What a Result is, and what it is not
//
// A Result holds the exact, contribution-bounded aggregates of every group
// that has at least one person: its distinct-person count, and for each
// metric the exact sum of the people's clamped values (scaled integers)
// and the number of people who have a value. These are the true values.
// Nothing in a Result may leave the room or be shown to anyone, reviewers
// included, without going through the privacy core (internal/dp):
// partition selection with the minimum group size, noise, coarsening and
// the budget. The Result is the privacy core's input, not a release.
//
// # Contribution bounding
//
// The privacy unit is the room person: the matched person of the newest
// match run (internal/match.Assignment). Rows that belong to no room person
// are not loaded. The plan bounds every person's contribution as follows,
// in this order:
//
//  1. Filters are applied to rows, per dataset: a row counts only if it
//     satisfies every filter on its own dataset's columns. A missing value
//     (NULL) satisfies no filter, "!=" included.
//  2. Group keys are taken per row: each dimension maps a row's value to
//     the index of its category, bucket or bool value (see Key). A row whose
//     value is outside the dimension's domain (an undeclared category, a
//     value outside the bucket range, a missing value) is in no group and
//     is dropped.
//  3. Per dataset, a person's remaining rows are reduced to one row per
//     distinct combination of that dataset's key parts, summing each
//     metric column after clamping every row's value to the metric's
//     [Lo, Hi].
//  4. The datasets are inner-joined on the person: a person without a
//     remaining row in every joined dataset is in no group. A person with
//     key parts in several datasets falls in every combination of them; a
//     metric's value in a group is the sum over the person's rows of the
//     metric's own dataset whose key parts match the group, so no row is
//     counted twice because of rows in another dataset.
//  5. The person's total of each metric in a group is clamped to [Lo, Hi]
//     again: whatever the number of rows, one person changes a group's sum
//     by at most max(|Lo|, |Hi|), and its count by at most 1. A person whose
//     rows all lack the metric's value contributes to neither the sum nor
//     the metric's count.
//  6. A person falling in more than L0 groups (Controls.MaxGroupsPerPerson)
//     keeps L0 of them, chosen pseudo-randomly per person by a hash of the
//     person, the group key and a per-run seed (ties, which need a hash
//     collision, go to the smallest key). The choice depends only on that
//     person's own rows and the seed, so the bound holds for any seed; a
//     fresh seed per run avoids always dropping the same groups, and a
//     fixed seed makes a run reproducible. Picking the smallest keys
//     instead would bias every release towards low buckets.
//
// So each person counts once in each of at most L0 groups and moves each
// metric sum of a group by at most max(|Lo|, |Hi|): the bounds of the
// privacy core with MaxGroups = L0 and MaxRowsPerGroup = 1 (dp.Params) and
// Lo, Hi, Decimals = Scale of each metric (dp.SumParams).
//
// # Values
//
// Numbers are compared and summed as scaled integers, never as floating
// point: a decimal column of scale s holds round-free integers in units of
// 10^-s (the payload writes every decimal at exactly its column's scale).
// Compile converts every literal, parameter, bucket edge and clamp bound
// into that representation exactly: a comparison with a value finer than
// the column's scale becomes the equivalent integer comparison (v < 12.345
// at scale 2 is v < 1235), an equality with such a value matches nothing,
// and clamp bounds round inwards. All values reach the executor as bound
// parameters; identifiers come only from validated schema column and
// dataset names.
package engine
