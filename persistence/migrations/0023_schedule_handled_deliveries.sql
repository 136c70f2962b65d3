-- Gridflow schema, version 23: a gate-closure schedule remembers the deliveries it handled.
--
-- A schedule's plan moves when the market rules change (docs/schedules.md). A closure moved later
-- for a delivery whose firing already happened was a new nominal time, so it fired again: a second
-- bid run for the same delivery. The engine now passes over closures of the deliveries recorded
-- here: those of the schedule's last 32 nominal times handled, oldest first — delivery days
-- ("2026-12-03") or, for products closing per delivery period, the start of the last period of a
-- firing (RFC 3339, UTC). A list, not the latest alone: an override may close a later delivery
-- before an earlier one, and the earlier one must still fire.
ALTER TABLE schedules ADD COLUMN handled_deliveries text[] NOT NULL DEFAULT '{}';

-- Gate-closure schedules that fired before this version: the deliveries of their latest firings
-- that started a run, as those runs were told them (their input's "schedule"), through the
-- firings' key.
UPDATE schedules s SET handled_deliveries = latest.deliveries
  FROM (SELECT g.namespace, g.id, ARRAY(
          SELECT DISTINCT d.delivery FROM (
            SELECT COALESCE(r.input->'schedule'->'periods'->-1->>'start',
                            r.input->'schedule'->>'delivery_day') AS delivery
              FROM schedule_firings f JOIN runs r ON r.id = f.run_id
             WHERE f.namespace = g.namespace AND f.schedule_id = g.id
             ORDER BY f.nominal_at DESC LIMIT 32) d
           WHERE d.delivery IS NOT NULL ORDER BY d.delivery) AS deliveries
          FROM schedules g WHERE g.spec->'trigger'->>'event' = 'gate_closure') latest
 WHERE s.namespace = latest.namespace AND s.id = latest.id;
