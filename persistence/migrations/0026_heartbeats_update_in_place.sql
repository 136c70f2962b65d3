-- Gridflow schema, version 26: a heartbeat rewrites its task row in place.
--
-- A heartbeat moves the lease's expiry (tasks.lease_expires_at) and nothing any other index reads.
-- While an index keyed that column (tasks_lease_expiry), every renewal was a non-HOT update: a new
-- row version and new entries in every index of the table, so a task renewed every half second
-- left its primary key a trail of dead entries that each later look-up walked until vacuum caught
-- up — renewing 3,000 leases slowed by the second (docs/benchmarks.md, 2026-12-06). The reaper's
-- look-up of expired leases now reads the leased tasks through an index keyed by their id (which
-- never changes) and filters on the expiry: its cost follows the leases held, as the rest of the
-- live look-ups do (migration 11), and a renewal touches no indexed column. Keyed by id, the index
-- also serves a look-up of leased tasks by id as the primary key would; keyed by namespace, the
-- planner preferred it to the primary key for them and scanned every lease per look-up.
CREATE INDEX tasks_leased ON tasks (id) WHERE state = 'LEASED';
DROP INDEX IF EXISTS tasks_lease_expiry;
