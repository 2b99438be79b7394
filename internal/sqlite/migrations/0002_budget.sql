-- The privacy budget ledger (internal/dp): caps per provider dataset, per
-- receiver of a dataset and per party source across rooms; the usage of
-- every cap in every renewal period; and the reservations that move usage.
--
-- Amounts are whole quanta of internal/dp: rho and epsilon in 1e-12, delta
-- in 1e-18. Caps are copied into each usage row so that a CHECK constraint
-- can compare them in the row: no statement, whatever the code around it
-- does, can leave spent + reserved above a cap. Triggers keep usage equal
-- to the sum of the charges of open and committed reservations.

CREATE TABLE dp_budgets (
	dataset     TEXT PRIMARY KEY,
	party       TEXT NOT NULL,
	source      TEXT NOT NULL, -- the party's dataset this one is drawn from; '' for none
	size        INTEGER NOT NULL CHECK (size >= 1),
	rho_cap     INTEGER NOT NULL CHECK (rho_cap BETWEEN 0 AND 1000000000000000),
	epsilon_cap INTEGER NOT NULL CHECK (epsilon_cap BETWEEN 0 AND 40000000000000),
	delta_cap   INTEGER NOT NULL CHECK (delta_cap BETWEEN 0 AND 1000000000000000),
	renewal     TEXT NOT NULL CHECK (renewal IN ('never', 'monthly', 'quarterly', 'yearly')),
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE dp_receiver_limits (
	dataset     TEXT NOT NULL REFERENCES dp_budgets (dataset),
	receiver    TEXT NOT NULL,
	rho_cap     INTEGER NOT NULL CHECK (rho_cap BETWEEN 0 AND 1000000000000000),
	epsilon_cap INTEGER NOT NULL CHECK (epsilon_cap BETWEEN 0 AND 40000000000000),
	delta_cap   INTEGER NOT NULL CHECK (delta_cap BETWEEN 0 AND 1000000000000000),
	updated_at  TEXT NOT NULL,
	PRIMARY KEY (dataset, receiver)
) STRICT;

CREATE TABLE dp_party_caps (
	party       TEXT NOT NULL,
	source      TEXT NOT NULL CHECK (source <> ''),
	rho_cap     INTEGER NOT NULL CHECK (rho_cap BETWEEN 0 AND 1000000000000000),
	epsilon_cap INTEGER NOT NULL CHECK (epsilon_cap BETWEEN 0 AND 40000000000000),
	delta_cap   INTEGER NOT NULL CHECK (delta_cap BETWEEN 0 AND 1000000000000000),
	renewal     TEXT NOT NULL CHECK (renewal IN ('never', 'monthly', 'quarterly', 'yearly')),
	updated_at  TEXT NOT NULL,
	PRIMARY KEY (party, source)
) STRICT;

-- One row per cap and period: scope 'dataset' (owner = dataset, subject =
-- ''), 'receiver' (owner = dataset, subject = receiver) or 'party' (owner =
-- party, subject = source). Period is 'all' for caps that never renew.
CREATE TABLE dp_usage (
	scope            TEXT NOT NULL CHECK (scope IN ('dataset', 'receiver', 'party')),
	owner            TEXT NOT NULL,
	subject          TEXT NOT NULL,
	period           TEXT NOT NULL,
	rho_cap          INTEGER NOT NULL CHECK (rho_cap BETWEEN 0 AND 1000000000000000),
	epsilon_cap      INTEGER NOT NULL CHECK (epsilon_cap BETWEEN 0 AND 40000000000000),
	delta_cap        INTEGER NOT NULL CHECK (delta_cap BETWEEN 0 AND 1000000000000000),
	rho_spent        INTEGER NOT NULL DEFAULT 0 CHECK (rho_spent >= 0),
	rho_reserved     INTEGER NOT NULL DEFAULT 0 CHECK (rho_reserved >= 0),
	epsilon_spent    INTEGER NOT NULL DEFAULT 0 CHECK (epsilon_spent >= 0),
	epsilon_reserved INTEGER NOT NULL DEFAULT 0 CHECK (epsilon_reserved >= 0),
	delta_spent      INTEGER NOT NULL DEFAULT 0 CHECK (delta_spent >= 0),
	delta_reserved   INTEGER NOT NULL DEFAULT 0 CHECK (delta_reserved >= 0),
	CHECK (rho_spent + rho_reserved <= rho_cap),
	CHECK (epsilon_spent + epsilon_reserved <= epsilon_cap),
	CHECK (delta_spent + delta_reserved <= delta_cap),
	PRIMARY KEY (scope, owner, subject, period)
) STRICT;

CREATE TABLE dp_reservations (
	id          TEXT PRIMARY KEY CHECK (id <> ''),
	receiver    TEXT NOT NULL CHECK (receiver <> ''),
	rho         INTEGER NOT NULL CHECK (rho >= 0),
	epsilon     INTEGER NOT NULL CHECK (epsilon >= 0),
	delta       INTEGER NOT NULL CHECK (delta >= 0),
	state       TEXT NOT NULL CHECK (state IN ('reserved', 'committed', 'released')),
	description TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	settled_at  TEXT,
	CHECK ((state = 'reserved') = (settled_at IS NULL))
) STRICT;

CREATE INDEX dp_reservations_open ON dp_reservations (created_at) WHERE state = 'reserved';

-- The caps and periods one reservation charges, and the datasets it reads.
CREATE TABLE dp_charges (
	reservation TEXT NOT NULL REFERENCES dp_reservations (id),
	scope       TEXT NOT NULL,
	owner       TEXT NOT NULL,
	subject     TEXT NOT NULL,
	period      TEXT NOT NULL,
	PRIMARY KEY (reservation, scope, owner, subject, period),
	FOREIGN KEY (scope, owner, subject, period) REFERENCES dp_usage (scope, owner, subject, period)
) STRICT;

CREATE INDEX dp_charges_usage ON dp_charges (scope, owner, subject, period);

-- Charges are added only to open reservations and never change.
CREATE TRIGGER dp_charges_open BEFORE INSERT ON dp_charges
WHEN (SELECT state FROM dp_reservations WHERE id = NEW.reservation) IS NOT 'reserved'
BEGIN
	SELECT RAISE(ABORT, 'dp_charges: reservation is not open');
END;

CREATE TRIGGER dp_charges_reserve AFTER INSERT ON dp_charges
BEGIN
	UPDATE dp_usage SET
		rho_reserved = rho_reserved + (SELECT rho FROM dp_reservations WHERE id = NEW.reservation),
		epsilon_reserved = epsilon_reserved + (SELECT epsilon FROM dp_reservations WHERE id = NEW.reservation),
		delta_reserved = delta_reserved + (SELECT delta FROM dp_reservations WHERE id = NEW.reservation)
	WHERE scope = NEW.scope AND owner = NEW.owner AND subject = NEW.subject AND period = NEW.period;
END;

CREATE TRIGGER dp_charges_no_update BEFORE UPDATE ON dp_charges
BEGIN
	SELECT RAISE(ABORT, 'dp_charges are immutable');
END;

CREATE TRIGGER dp_charges_no_delete BEFORE DELETE ON dp_charges
BEGIN
	SELECT RAISE(ABORT, 'dp_charges are immutable');
END;

-- A reservation is settled once, from 'reserved' to 'committed' or
-- 'released'; nothing else about it changes, and it is never deleted.
CREATE TRIGGER dp_reservations_settle_once BEFORE UPDATE ON dp_reservations
WHEN OLD.state <> 'reserved' OR NEW.state = 'reserved'
	OR NEW.id IS NOT OLD.id OR NEW.receiver IS NOT OLD.receiver
	OR NEW.rho IS NOT OLD.rho OR NEW.epsilon IS NOT OLD.epsilon OR NEW.delta IS NOT OLD.delta
	OR NEW.description IS NOT OLD.description OR NEW.created_at IS NOT OLD.created_at
BEGIN
	SELECT RAISE(ABORT, 'dp_reservations: only an open reservation can be settled, once');
END;

CREATE TRIGGER dp_reservations_no_delete BEFORE DELETE ON dp_reservations
BEGIN
	SELECT RAISE(ABORT, 'dp_reservations are never deleted');
END;

CREATE TRIGGER dp_reservations_commit AFTER UPDATE OF state ON dp_reservations
WHEN NEW.state = 'committed'
BEGIN
	UPDATE dp_usage SET
		rho_reserved = rho_reserved - NEW.rho, rho_spent = rho_spent + NEW.rho,
		epsilon_reserved = epsilon_reserved - NEW.epsilon, epsilon_spent = epsilon_spent + NEW.epsilon,
		delta_reserved = delta_reserved - NEW.delta, delta_spent = delta_spent + NEW.delta
	WHERE (scope, owner, subject, period) IN
		(SELECT scope, owner, subject, period FROM dp_charges WHERE reservation = NEW.id);
END;

CREATE TRIGGER dp_reservations_release AFTER UPDATE OF state ON dp_reservations
WHEN NEW.state = 'released'
BEGIN
	UPDATE dp_usage SET
		rho_reserved = rho_reserved - NEW.rho,
		epsilon_reserved = epsilon_reserved - NEW.epsilon,
		delta_reserved = delta_reserved - NEW.delta
	WHERE (scope, owner, subject, period) IN
		(SELECT scope, owner, subject, period FROM dp_charges WHERE reservation = NEW.id);
END;
