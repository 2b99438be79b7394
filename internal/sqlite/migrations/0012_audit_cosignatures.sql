-- Parties' cosignatures of checkpoints of a room's audit log. The server
-- keeps them so that every member can collect every other party's.
CREATE TABLE audit_cosignatures (
	room      TEXT NOT NULL,
	party     TEXT NOT NULL,
	size      INTEGER NOT NULL CHECK (size > 0),
	root      BLOB NOT NULL,
	signature BLOB NOT NULL,
	signed_by TEXT NOT NULL,
	at        TEXT NOT NULL,
	PRIMARY KEY (room, party, size)
) STRICT;
