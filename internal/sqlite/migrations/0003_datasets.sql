-- Provider datasets, their committed versions, upload sessions and the
-- token manifests signed by their owners.

CREATE TABLE datasets (
	room       TEXT NOT NULL REFERENCES rooms (name),
	name       TEXT NOT NULL,
	party      TEXT NOT NULL REFERENCES parties (name),
	schema     TEXT NOT NULL, -- JSON of cleanroom.Schema
	created_at TEXT NOT NULL,
	PRIMARY KEY (room, name)
) STRICT;

-- A version is visible once committed: its ciphertext file is in place
-- and this row exists, in the same transaction as its audit entry.
CREATE TABLE dataset_versions (
	room         TEXT NOT NULL,
	dataset      TEXT NOT NULL,
	version      INTEGER NOT NULL CHECK (version > 0),
	rows         INTEGER NOT NULL CHECK (rows >= 0),
	stats        TEXT NOT NULL, -- JSON: per-class valid/missing counts the room computed
	committed_at TEXT NOT NULL,
	PRIMARY KEY (room, dataset, version),
	FOREIGN KEY (room, dataset) REFERENCES datasets (room, name)
) STRICT;

CREATE TABLE manifests (
	room     TEXT NOT NULL,
	dataset  TEXT NOT NULL,
	version  INTEGER NOT NULL,
	class    TEXT NOT NULL,
	count    INTEGER NOT NULL,
	digest   TEXT NOT NULL,
	envelope BLOB NOT NULL,
	PRIMARY KEY (room, dataset, version, class),
	FOREIGN KEY (room, dataset, version) REFERENCES dataset_versions (room, dataset, version)
) STRICT;

-- Upload sessions: a version number is reserved when the session opens;
-- chunks are stored sealed until commit.
CREATE TABLE uploads (
	id         TEXT PRIMARY KEY,
	room       TEXT NOT NULL,
	dataset    TEXT NOT NULL,
	version    INTEGER NOT NULL CHECK (version > 0),
	party      TEXT NOT NULL,
	user       TEXT NOT NULL,
	state      TEXT NOT NULL CHECK (state IN ('open', 'committed', 'aborted')),
	chunks     INTEGER NOT NULL DEFAULT 0,
	created_at TEXT NOT NULL,
	UNIQUE (room, dataset, version),
	FOREIGN KEY (room, dataset) REFERENCES datasets (room, name)
) STRICT;
