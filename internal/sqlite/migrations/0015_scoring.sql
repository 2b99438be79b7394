-- Joint models kept in the room for online scoring: a released model
-- job's run whose template declares scoring. The model itself is in the
-- encrypted store ("<room>._models", version vault_version); this row says
-- which run it belongs to.
CREATE TABLE scoring_models (
	room          TEXT NOT NULL,
	query         TEXT NOT NULL,
	vault_version INTEGER NOT NULL CHECK (vault_version > 0),
	template      TEXT NOT NULL,
	version       INTEGER NOT NULL,
	party         TEXT NOT NULL,
	created_at    TEXT NOT NULL,
	PRIMARY KEY (room, query),
	UNIQUE (room, vault_version)
) STRICT;

-- Online scoring requests answered, per model and UTC day, against the
-- template's daily limit.
CREATE TABLE scoring_requests (
	room  TEXT NOT NULL,
	query TEXT NOT NULL,
	day   TEXT NOT NULL,
	count INTEGER NOT NULL CHECK (count >= 0),
	PRIMARY KEY (room, query, day)
) STRICT;
