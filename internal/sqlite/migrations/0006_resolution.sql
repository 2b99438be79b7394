-- The vault version holding a finished run's room people (pseudonyms).
ALTER TABLE match_runs ADD COLUMN resolution INTEGER;
