-- Gridflow schema, version 23: a gate-closure schedule remembers the last delivery it handled.
--
-- A schedule's plan moves when the market rules change (docs/schedules.md). A closure moved later
-- for a delivery whose firing already happened was a new nominal time, so it fired again: a second
-- bid run for the same delivery. The engine now plans past the delivery recorded here — the
-- delivery day ("2026-12-03") or, for products closing per delivery period, the start of the last
-- period fired (RFC 3339, UTC). NULL: none handled yet, or a schedule of another kind.
ALTER TABLE schedules ADD COLUMN last_delivery text;
