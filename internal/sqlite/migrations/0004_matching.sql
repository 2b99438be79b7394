-- Match runs, the re-blinding jobs they give the parties' agents, and the
-- re-blinded token sets kept (encrypted, in the vault) for later runs: a
-- party's agent re-blinds each manifest once.

CREATE TABLE match_runs (
	id           TEXT PRIMARY KEY,
	room         TEXT NOT NULL REFERENCES rooms (name),
	state        TEXT NOT NULL CHECK (state IN ('waiting', 'done', 'failed')),
	requested_by TEXT NOT NULL,
	datasets     TEXT NOT NULL, -- JSON: [{dataset, party, version}]
	report       TEXT,          -- JSON: the released report, once done
	error        TEXT,
	created_at   TEXT NOT NULL,
	finished_at  TEXT
) STRICT;

CREATE TABLE match_jobs (
	id              TEXT PRIMARY KEY,
	run             TEXT NOT NULL REFERENCES match_runs (id),
	room            TEXT NOT NULL,
	dataset         TEXT NOT NULL,
	version         INTEGER NOT NULL,
	class           TEXT NOT NULL,
	manifest_digest TEXT NOT NULL,
	party           TEXT NOT NULL, -- the party whose agent re-blinds
	state           TEXT NOT NULL CHECK (state IN ('pending', 'done')),
	created_at      TEXT NOT NULL,
	UNIQUE (run, dataset, class, party)
) STRICT;

CREATE TABLE reblinded (
	room            TEXT NOT NULL,
	manifest_digest TEXT NOT NULL,
	party           TEXT NOT NULL,
	vault_version   INTEGER NOT NULL,
	tokens          INTEGER NOT NULL,
	created_at      TEXT NOT NULL,
	PRIMARY KEY (room, manifest_digest, party),
	UNIQUE (room, vault_version)
) STRICT;
