-- The commercial side: each room's terms, versioned (a version applies from
-- the time it was set), and the billing ledger's run entries, each written
-- in the transaction that records its query run. Amounts are whole minor
-- units of the currency. Subscriptions are derived from the terms and the
-- room's agreements when the ledger is read, so they are not stored.

CREATE TABLE billing_terms (
	room            TEXT NOT NULL REFERENCES rooms (name),
	version         INTEGER NOT NULL CHECK (version > 0),
	currency        TEXT NOT NULL CHECK (length(currency) = 3),
	subscription    INTEGER NOT NULL CHECK (subscription BETWEEN 0 AND 1000000000000),
	run_price       INTEGER NOT NULL CHECK (run_price BETWEEN 0 AND 1000000000000),
	template_prices TEXT NOT NULL, -- JSON: {template: amount}
	payer           TEXT NOT NULL,
	seller          TEXT NOT NULL CHECK (seller <> payer),
	effective_from  TEXT NOT NULL,
	set_by          TEXT NOT NULL,
	PRIMARY KEY (room, version)
) STRICT;

CREATE TABLE billing_ledger (
	seq       INTEGER PRIMARY KEY,
	room      TEXT NOT NULL REFERENCES rooms (name),
	quarter   TEXT NOT NULL, -- e.g. 2026Q4
	time      TEXT NOT NULL,
	kind      TEXT NOT NULL CHECK (kind = 'run'),
	template  TEXT NOT NULL,
	version   INTEGER NOT NULL,
	query     TEXT NOT NULL UNIQUE REFERENCES queries (id),
	payer     TEXT NOT NULL,
	seller    TEXT NOT NULL,
	amount    INTEGER NOT NULL CHECK (amount BETWEEN 0 AND 1000000000000),
	currency  TEXT NOT NULL CHECK (length(currency) = 3),
	terms     INTEGER NOT NULL,
	FOREIGN KEY (room, terms) REFERENCES billing_terms (room, version)
) STRICT;

CREATE INDEX billing_ledger_time ON billing_ledger (time);
CREATE INDEX billing_ledger_room ON billing_ledger (room, time);

-- The ledger is append-only, and terms once set never change: a change is
-- a new version.
CREATE TRIGGER billing_ledger_no_update BEFORE UPDATE ON billing_ledger
BEGIN
	SELECT RAISE(ABORT, 'billing_ledger is append-only');
END;

CREATE TRIGGER billing_ledger_no_delete BEFORE DELETE ON billing_ledger
BEGIN
	SELECT RAISE(ABORT, 'billing_ledger is append-only');
END;

CREATE TRIGGER billing_terms_no_update BEFORE UPDATE ON billing_terms
BEGIN
	SELECT RAISE(ABORT, 'billing_terms are immutable; set a new version');
END;

CREATE TRIGGER billing_terms_no_delete BEFORE DELETE ON billing_terms
BEGIN
	SELECT RAISE(ABORT, 'billing_terms are immutable; set a new version');
END;

-- Finding a room's runs and refusals by time, for the business view.
CREATE INDEX queries_room_time ON queries (room, created_at);
