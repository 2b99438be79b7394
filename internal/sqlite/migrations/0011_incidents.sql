-- A reviewer's triage of an incident: a refused request audited in a room.
-- The incident itself is the audit entry; it is triaged at most once.
CREATE TABLE incident_triage (
	seq        INTEGER PRIMARY KEY REFERENCES audit_log (seq),
	room       TEXT NOT NULL,
	verdict    TEXT NOT NULL CHECK (verdict IN ('breach', 'false_positive')),
	triaged_by TEXT NOT NULL,
	note       TEXT NOT NULL,
	triaged_at TEXT NOT NULL
) STRICT;
CREATE INDEX incident_triage_room ON incident_triage (room);
