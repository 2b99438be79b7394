-- Query templates of a room, versioned, and the approvals each reading
-- party signed over a version's canonical digest.

CREATE TABLE templates (
	room        TEXT NOT NULL REFERENCES rooms (name),
	name        TEXT NOT NULL,
	version     INTEGER NOT NULL CHECK (version > 0),
	digest      TEXT NOT NULL,
	content     TEXT NOT NULL, -- canonical JSON of cleanroom.Template
	state       TEXT NOT NULL CHECK (state IN ('proposed', 'approved', 'retired')),
	proposed_by TEXT NOT NULL,
	proposed_at TEXT NOT NULL,
	PRIMARY KEY (room, name, version)
) STRICT;

CREATE TABLE template_approvals (
	room        TEXT NOT NULL,
	name        TEXT NOT NULL,
	version     INTEGER NOT NULL,
	party       TEXT NOT NULL,
	envelope    BLOB NOT NULL,
	approved_at TEXT NOT NULL,
	PRIMARY KEY (room, name, version, party),
	FOREIGN KEY (room, name, version) REFERENCES templates (room, name, version)
) STRICT;
