-- A query's result, sealed to each receiving and reviewing party's agent
-- key: the room keeps no readable copy.
CREATE TABLE query_sealed (
	room   TEXT NOT NULL,
	query  TEXT NOT NULL REFERENCES queries (id),
	party  TEXT NOT NULL,
	sealed BLOB NOT NULL,
	PRIMARY KEY (room, query, party)
) STRICT;
