-- Gridflow schema, version 4: TERMINATED is a final status like the others, so a terminated run has
-- a closing time. Runs terminated before this version were left without one: they closed when
-- they were last updated.
UPDATE runs SET closed_at = updated_at WHERE status = 'TERMINATED' AND closed_at IS NULL;
