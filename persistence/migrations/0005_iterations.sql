-- Gridflow schema, version 5: history events and tasks say which foreach iteration they belong to
-- ("[3]", nested "[2][0]"; '' outside a foreach), so a history shows setpoint[3], not setpoint.
-- Adding columns with a constant default rewrites nothing; older engines ignore them.
ALTER TABLE events ADD COLUMN iteration text NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN iteration text NOT NULL DEFAULT '';
