-- Dataset versions the room deleted (retention, or the end of the room's
-- data-use agreement). The version rows and everything derived from them
-- are gone; this keeps the fact, so numbering continues and the dataset
-- says what became of its versions.
CREATE TABLE dataset_deletions (
	room       TEXT NOT NULL,
	dataset    TEXT NOT NULL,
	version    INTEGER NOT NULL CHECK (version > 0),
	rows       INTEGER NOT NULL,
	reason     TEXT NOT NULL,
	deleted_at TEXT NOT NULL,
	PRIMARY KEY (room, dataset, version)
) STRICT;
