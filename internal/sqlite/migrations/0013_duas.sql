-- Data-use agreements: the canonical document once, each party's detached
-- signature over it, and a party's signed termination.
CREATE TABLE duas (
	room           TEXT NOT NULL REFERENCES rooms (name),
	version        INTEGER NOT NULL CHECK (version > 0),
	document       BLOB NOT NULL,
	digest         TEXT NOT NULL,
	drafted_by     TEXT NOT NULL,
	drafted_at     TEXT NOT NULL,
	terminated_by  TEXT,
	terminated_at  TEXT,
	termination    BLOB,
	PRIMARY KEY (room, version)
) STRICT;

CREATE TABLE dua_signatures (
	room      TEXT NOT NULL,
	version   INTEGER NOT NULL,
	party     TEXT NOT NULL,
	signature BLOB NOT NULL,
	signed_by TEXT NOT NULL,
	signed_at TEXT NOT NULL,
	PRIMARY KEY (room, version, party),
	FOREIGN KEY (room, version) REFERENCES duas (room, version)
) STRICT;
