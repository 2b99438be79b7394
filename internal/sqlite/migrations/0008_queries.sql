-- Query runs: what was asked, by whom, and its state. A repeat of the same
-- request over the same dataset versions is found by its digest.
CREATE TABLE queries (
	id            TEXT PRIMARY KEY,
	room          TEXT NOT NULL REFERENCES rooms (name),
	template      TEXT NOT NULL,
	version       INTEGER NOT NULL,
	request       TEXT NOT NULL, -- hex SHA-256 of template version, parameters, dataset versions
	params        TEXT NOT NULL, -- JSON
	analyst       TEXT NOT NULL, -- party/user
	state         TEXT NOT NULL CHECK (state IN ('pending_review', 'released', 'rejected')),
	receivers     TEXT NOT NULL, -- JSON list of parties
	review_by     TEXT NOT NULL, -- JSON list of parties
	decided_by    TEXT,
	created_at    TEXT NOT NULL
) STRICT;

CREATE INDEX queries_request ON queries (room, request);
