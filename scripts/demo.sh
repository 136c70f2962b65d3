#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine: install what is missing, build, start a
# local PostgreSQL (an ephemeral cluster in a folder under /tmp, on a free port), the engine, a worker
# with the example handlers and the simulated exchange/TSO; run a day-ahead bid, the day-ahead
# schedule (triggered) and a TSO activation end to end and print their histories. Leaves nothing running when it ends.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/lib/pg.sh"
source "$ROOT/scripts/lib/processes.sh"
source "$ROOT/scripts/lib/examples.sh"

"$ROOT/scripts/install-deps.sh"
echo "== building"
"$ROOT/scripts/build.sh" gridflow-engine gridflow-worker gridflowctl gridflow_python

STATE=$ROOT/.gridflow/demo  # logs of the engine, worker and simulator
rm -rf "$STATE"
mkdir -p "$STATE"
# PostgreSQL runs as the postgres user, which may not enter the clone (root's home is private on
# Debian): its cluster lives under /tmp.
PG_DIR=$(mktemp -d /tmp/gridflow-demo-pg.XXXXXX)
cleanup() {
  stop_examples
  pg_stop "$PG_DIR"
  rm -rf "$PG_DIR"
}
trap cleanup EXIT

echo "== starting PostgreSQL"
pg_start "$PG_DIR"
# The engine serves as a role that can only append to history; it migrates as the owner.
start_examples "${GRIDFLOW_BUILD_DIR:-$ROOT/build}" "$STATE" "$GRIDFLOW_PG_URL" "$(pg_runtime_login "$PG_DIR")"

# Deliver the day after tomorrow (market time), so gate closure is still ahead.
DAY=$(/usr/bin/python3 -c "import datetime, zoneinfo; \
print((datetime.datetime.now(zoneinfo.ZoneInfo('Europe/Berlin')).date() + datetime.timedelta(days=2)).isoformat())")
STAMP=$(date -u +%Y%m%dT%H%M%S)
run_day_ahead "dab-$DAY-$STAMP" "$DAY"
show_run "dab-$DAY-$STAMP"
echo "== the day's bids, found by market and delivery day (search attributes, docs/search.md)"
ctl runs list --query "market = 'EPEX-DE-LU' AND delivery_day = '$DAY'" | tee "$STATE/found.txt"
grep -q "dab-$DAY-$STAMP" "$STATE/found.txt" || { echo "demo: the bid was not found by its search attributes" >&2; exit 1; }
run_scheduled_day_ahead "da-bid-solar-south"
run_activation "afrr-$STAMP"
show_run "afrr-$STAMP"
echo "time from the TSO's order to all set-points dispatched: $(ctl -o json runs show "afrr-$STAMP" |
  /usr/bin/python3 -c 'import json,sys; print(json.loads(json.load(sys.stdin)["run"]["result_json"])["dispatch_ms"])') ms"
echo "  (from the order's timestamp, taken before the Python client started; every example handler is a"
echo "  Python process that gridflow-worker starts per task. The engine's own dispatch latency, with"
echo "  in-process workers: bash bench/run.sh, docs/benchmarks.md)"
echo
echo "demo complete: the day-ahead bids (by hand and by schedule) and the activation COMPLETED; stopping everything"
