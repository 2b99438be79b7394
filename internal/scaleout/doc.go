// Package scaleout runs the room's heavy work as Apache Beam pipelines
// (Go SDK), on Prism inside this process or on any runner with a portable
// job server (Flink, Spark, a Prism of its own). It is the only package
// that imports Beam, and only in builds tagged "beam": without the tag,
// Run, Prepare and ServeWorkers return ErrNotBuilt and the binary links
// none of the SDK.
//
// # Using it
//
// Room side, an approved plan over dataset versions, with the same exact
// result as the DuckDB executor for the same seed:
//
//	res, err := scaleout.Run(ctx, plan, []scaleout.Input{{Dataset: "subscribers", Open: open, Persons: rows}, …},
//		seed, scaleout.Options{Runner: scaleout.RunnerPrism})
//
// Party side, many files prepared as one version, with the same payload
// and manifests as prepare.Prepare of their rows in order:
//
//	p, err := scaleout.Prepare(ctx, "exports/*.csv", "", cfg, scaleout.PrepareOptions{})
//
// Workers in other processes (Beam's EXTERNAL environment):
//
//	err := scaleout.ServeWorkers(ctx, listener, scaleout.WorkerConfig{JobDir: dir, ZoneSecret: zone, Open: open})
//
// # What a runner sees
//
// The pipeline a job server receives carries only a job's ID and shard
// numbers. The plan, the inputs and the keys stay in the submitting
// process, or are sealed in a job directory that only its worker pools
// can open. Every value that crosses a shuffle is sealed (AES-256-GCM
// under a per-run key: per-worker HKDF subkeys, counter nonces, bound to
// the job, the shuffle and the shuffle key) and is shuffled under an HMAC
// of its person or group. No combiner runs, since runners lift combiners
// and would shuffle partial sums in the clear. docs/scale-out.md describes
// the stages, what a runner can infer, and sizing.
//
// # Arithmetic
//
// eval.go is the plan's arithmetic, engine-neutral: filters, group keys,
// row clamps, the per-dataset reduction, the inner join on the person, the
// per-person clamp and the L0 bound by engine.Rank, exactly as
// internal/engine documents them and internal/duckdb renders them in SQL.
// Sums are exact 128-bit integers until a group's total, which must fit
// in an int64.
package scaleout
