#!/usr/bin/env bash
# End-to-end: the README's day-ahead example with the real engine, worker and CLI binaries against
# the suite's PostgreSQL (a database of its own). Checks the run completed with the retried
# submission and a gap-free history.
set -euo pipefail
BUILD_DIR=$1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/scripts/lib/processes.sh"
source "$ROOT/scripts/lib/day_ahead.sh"

: "${GRIDFLOW_TEST_DATABASE_URL:?run the suite with scripts/test.sh}"
DB=gf_e2e_$$_$RANDOM
STATE=$(mktemp -d)
psql "$GRIDFLOW_TEST_DATABASE_URL" -qc "CREATE DATABASE $DB"
cleanup() {
  stop_day_ahead_processes
  psql "$GRIDFLOW_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  rm -rf "$STATE"
}
trap cleanup EXIT

run_day_ahead_example "$BUILD_DIR" "$STATE" "${GRIDFLOW_TEST_DATABASE_URL%/*}/$DB"

python3 - "$STATE/history.json" <<'PY'
import json, sys
history = json.load(open(sys.argv[1]))
events = history["events"]
types = [e["type"] for e in events]
assert history["run_status"] == "RUN_STATUS_COMPLETED", history["run_status"]
assert [int(e["sequence"]) for e in events] == list(range(1, len(events) + 1)), "gap in history"
assert types[0] == "RunStarted" and types[-1] == "RunCompleted", types
steps = [e["step"] for e in events if e["type"] == "TaskCompleted"]
assert steps == ["forecast", "optimise", "submit", "confirm"], steps
failed = [e for e in events if e["type"] == "TaskFailed"]
assert len(failed) == 1 and failed[0]["step"] == "submit", failed
assert json.loads(failed[0]["payload_json"])["will_retry"] is True
result = json.loads(events[-1]["payload_json"])["result"]
assert result["forecast"]["quarter_hours"] == 96, result["forecast"]["quarter_hours"]
assert len(result["optimise"]["bids"]) == 96
assert result["submit"]["client_order_id"].endswith(":submit")
assert result["confirm"]["acknowledged"] is True
print("e2e day-ahead example: OK (%d events)" % len(events))
PY
