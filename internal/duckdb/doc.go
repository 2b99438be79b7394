// Package duckdb runs compiled query plans (internal/engine) on DuckDB
// (github.com/duckdb/duckdb-go/v2, cgo), in process and in memory. It is
// the only package that imports DuckDB: every test binary that links it
// pays about 30 s, so nothing else should.
//
// # Using it
//
// One DB serves one run: open it with a memory limit, load the dataset
// versions the plan reads, run the plan, close it. Closing frees every
// plaintext value it held.
//
//	db, err := duckdb.Open(ctx, duckdb.Limits{MemoryLimit: 4 << 30})
//	if err != nil { ... }
//	defer db.Close()
//	for _, d := range plan.Datasets {
//		// payload: the decrypted version's upload.Reader; persons: its
//		// rows' room people from the match Assignment (-1 for none).
//		if _, err := db.LoadVersion(ctx, plan, d.Name, payload, persons); err != nil { ... }
//	}
//	res, err := db.Run(ctx, plan, seed)
//	if errors.Is(err, duckdb.ErrMemoryLimit) { ... the run does not fit ... }
//
// Run returns the plan's TRUE, contribution-bounded aggregates (see
// internal/engine for the bounding). They must not leave the room, or be
// shown to anyone, except through the privacy core (internal/dp).
//
// # Memory and disk
//
// The database is in memory and never writes plaintext to disk: Open sets
// temp_directory to the empty string (DuckDB otherwise spills an in-memory database to
// ".tmp" in the working directory), sets memory_limit, disables external
// access (no file reads or writes from SQL, no extension loading) and locks
// the configuration, then checks that no temporary directory is set. A
// load or a run that needs more than the limit fails with an error that
// wraps ErrMemoryLimit and leaves no file behind. The limit covers DuckDB's
// buffer manager (table data and the hash tables of joins and
// aggregations), which is nearly all of a run's memory.
//
// # SQL
//
// Query renders a plan as one SQL statement whose values (literals,
// parameters, category names, bucket edges, clamp bounds, L0 and the seed)
// are all bound parameters ("?"). Identifiers come only from the plan,
// whose dataset and column names were validated against the room's
// schemas; they are quoted all the same. The engine's own names start with
// '_' ("_person", "_k0"), which no column name can. The shape, for two
// datasets:
//
//	WITH "_d0" AS (   -- per person and key parts: filtered, row-clamped sums
//	  SELECT "_person", <key index> AS "_k0", sum(<"m" clamped to [?, ?]>) AS "_m1"
//	  FROM "subscribers" WHERE <filters> AND <key domain>
//	  GROUP BY "_person", "_k0"),
//	"_d1" AS (...),
//	"_pg" AS (        -- per person and group: inner join, per-person clamp, L0
//	  SELECT "_person", "_k0", CAST(<"_m1" clamped to [?, ?]> AS BIGINT) AS "_v1"
//	  FROM "_d0" JOIN "_d1" USING ("_person")
//	  QUALIFY row_number() OVER (PARTITION BY "_person"
//	    ORDER BY (((CAST(? AS BIGINT) * ? + "_person") % 2147483647
//	      * ? + "_k0") % 2147483647 * ?) % 2147483647, "_k0") <= ?)
//	SELECT "_k0", count(*), sum("_v1"), count("_v1") FROM "_pg" GROUP BY ALL ORDER BY ALL
//
// A clamp is "CASE WHEN x < lo THEN lo WHEN x > hi THEN hi ELSE x END",
// which keeps a missing value missing. The ORDER BY of the QUALIFY clause
// is engine.Rank in BIGINT arithmetic, so that every executor keeps the
// same groups of a person for the same seed. The QUALIFY clause is left out when the template has fewer groups than
// L0 + 1, since no person can then exceed L0.
package duckdb
