-- Parties, their users and API tokens, rooms, signed grants, and the audit
-- trail. Times are RFC 3339 UTC strings with nanoseconds.

CREATE TABLE parties (
	name         TEXT PRIMARY KEY,
	display_name TEXT NOT NULL,
	signing_key  BLOB NOT NULL CHECK (length(signing_key) = 32),
	created_at   TEXT NOT NULL
) STRICT;

CREATE TABLE users (
	party      TEXT NOT NULL REFERENCES parties (name),
	name       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	PRIMARY KEY (party, name)
) STRICT;

-- Tokens are stored only as SHA-256 hashes of the secret.
CREATE TABLE tokens (
	id          TEXT PRIMARY KEY,
	hash        BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
	kind        TEXT NOT NULL CHECK (kind IN ('admin', 'user')),
	party       TEXT,
	user        TEXT,
	description TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	expires_at  TEXT NOT NULL,
	revoked_at  TEXT,
	CHECK ((kind = 'admin') = (party IS NULL AND user IS NULL)),
	FOREIGN KEY (party, user) REFERENCES users (party, name)
) STRICT;

CREATE TABLE rooms (
	name        TEXT PRIMARY KEY,
	host        TEXT NOT NULL,
	description TEXT NOT NULL,
	created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE room_parties (
	room       TEXT NOT NULL REFERENCES rooms (name),
	party      TEXT NOT NULL REFERENCES parties (name),
	invited_at TEXT NOT NULL,
	PRIMARY KEY (room, party)
) STRICT;

-- The statement in force for each (party, user, room): the signed envelope
-- as received, verified again each time it is used.
CREATE TABLE grants (
	party     TEXT NOT NULL,
	user      TEXT NOT NULL,
	room      TEXT NOT NULL REFERENCES rooms (name),
	envelope  BLOB NOT NULL,
	issued_at TEXT NOT NULL,
	PRIMARY KEY (party, user, room),
	FOREIGN KEY (party, user) REFERENCES users (party, name)
) STRICT;

CREATE TABLE audit_log (
	seq        INTEGER PRIMARY KEY,
	time       TEXT NOT NULL,
	actor      TEXT NOT NULL,
	action     TEXT NOT NULL,
	object     TEXT NOT NULL,
	room       TEXT,
	outcome    TEXT NOT NULL CHECK (outcome IN ('ok', 'refused')),
	code       TEXT,
	detail     TEXT NOT NULL,
	request_id TEXT NOT NULL,
	prev_hash  BLOB NOT NULL,
	hash       BLOB NOT NULL
) STRICT;

CREATE INDEX audit_log_room ON audit_log (room, seq);

-- The audit trail is append-only.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
