-- A room's matching mode, fixed at creation, and what hmac mode needs: each
-- provider's agent key (a signed statement) and the secret's signed
-- commitment with the secret sealed to each agent key. The room never holds
-- the secret itself.

ALTER TABLE rooms ADD COLUMN matching TEXT NOT NULL DEFAULT 'ecdh' CHECK (matching IN ('ecdh', 'hmac'));

CREATE TABLE agent_keys (
	room       TEXT NOT NULL REFERENCES rooms (name),
	party      TEXT NOT NULL REFERENCES parties (name),
	envelope   BLOB NOT NULL,
	created_at TEXT NOT NULL,
	PRIMARY KEY (room, party)
) STRICT;

CREATE TABLE hmac_secrets (
	room       TEXT PRIMARY KEY REFERENCES rooms (name),
	creator    TEXT NOT NULL,
	envelope   BLOB NOT NULL,
	created_at TEXT NOT NULL
) STRICT;

CREATE TABLE hmac_sealed (
	room       TEXT NOT NULL REFERENCES hmac_secrets (room),
	party      TEXT NOT NULL,
	sealed     BLOB NOT NULL,
	created_at TEXT NOT NULL,
	PRIMARY KEY (room, party)
) STRICT;
