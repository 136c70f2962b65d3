-- Gridflow schema, version 28: the index of open runs holds only the runs that are closing.
--
-- runs_open (migration 6: namespace and status of every open run) had one reader left: the
-- stuck-runs gauge, which asks for open runs in CANCELLING or COMPENSATING that have not moved
-- (persistence/run_store.cc, run_stuck_counts). Listings of open runs read runs_by_status,
-- runs_open_by_created and runs_open_by_updated_second. Yet every run insert wrote an entry into
-- it, and so did every update of a running run that could not stay on its page (a step crossing
-- into a new second changes updated_second, which is indexed): about 6 % of PostgreSQL's CPU per
-- step for an index nothing read on the hot path (docs/benchmarks.md, 2026-12-07 04:45).
--
-- runs_closing holds the runs the gauge asks for and no others: a running run never enters it,
-- and the gauge's cost still follows the runs closing, not the runs kept.
DROP INDEX IF EXISTS runs_open;
CREATE INDEX runs_closing ON runs (status)
  WHERE closed_at IS NULL AND status IN ('CANCELLING', 'COMPENSATING');
