-- Cells shown and suppressed by each run, for the rates the room tracks
-- per template.
ALTER TABLE queries ADD COLUMN cells INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queries ADD COLUMN suppressed INTEGER NOT NULL DEFAULT 0;
