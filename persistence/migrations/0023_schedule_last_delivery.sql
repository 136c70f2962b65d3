-- Gridflow schema, version 23: a gate-closure schedule remembers the last delivery it handled.
--
-- A schedule's plan moves when the market rules change (docs/schedules.md). A closure moved later
-- for a delivery whose firing already happened was a new nominal time, so it fired again: a second
-- bid run for the same delivery. The engine now plans past the delivery recorded here — the
-- delivery day ("2026-12-03") or, for products closing per delivery period, the start of the last
-- period fired (RFC 3339, UTC). NULL: none handled yet, or a schedule of another kind.
ALTER TABLE schedules ADD COLUMN last_delivery text;

-- Gate-closure schedules that fired before this version: the delivery of their latest firing that
-- started a run, as that run was told it (its input's "schedule"), through the firings' key.
UPDATE schedules s SET last_delivery = latest.delivery
  FROM (SELECT g.namespace, g.id, (
          SELECT COALESCE(r.input->'schedule'->'periods'->-1->>'start',
                          r.input->'schedule'->>'delivery_day')
            FROM schedule_firings f JOIN runs r ON r.id = f.run_id
           WHERE f.namespace = g.namespace AND f.schedule_id = g.id
           ORDER BY f.nominal_at DESC LIMIT 1) AS delivery
          FROM schedules g WHERE g.spec->'trigger'->>'event' = 'gate_closure') latest
 WHERE s.namespace = latest.namespace AND s.id = latest.id AND latest.delivery IS NOT NULL;
