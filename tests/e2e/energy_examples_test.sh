#!/usr/bin/env bash
# End-to-end: the three energy processes with the real engine, worker, CLI, simulator and Python
# client against the suite's PostgreSQL (a database of its own). Covers the normal day-ahead path
# (with a retried submission), a DST day (92 quarter-hours), a missed safety deadline (fallback and
# alert), a TSO activation, an imbalance settlement with a disputed invoice, and the exchange's
# side of the day-ahead bid (tests/e2e/venue_scenarios.py).
set -euo pipefail
BUILD_DIR=$1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/scripts/lib/processes.sh"
source "$ROOT/scripts/lib/examples.sh"

: "${GRIDFLOW_TEST_DATABASE_URL:?run the suite with scripts/test.sh}"
DB=gf_e2e_$$_$RANDOM
STATE=$(mktemp -d)
psql "$GRIDFLOW_TEST_DATABASE_URL" -qc "CREATE DATABASE $DB"
cleanup() {
  stop_examples
  psql "$GRIDFLOW_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  rm -rf "$STATE"
}
trap cleanup EXIT

# The engine serves as the runtime login role (may only append to history) and migrates as the
# owner (docs/security.md, "Database roles"); roles belong to the cluster, made once.
for role in "gridflow_runtime NOLOGIN" "gridflow_engine LOGIN IN ROLE gridflow_runtime"; do
  psql "$GRIDFLOW_TEST_DATABASE_URL" -qc \
    "DO \$\$ BEGIN CREATE ROLE $role; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$"
done
OWNER_URL=${GRIDFLOW_TEST_DATABASE_URL%/*}/$DB
start_examples "$BUILD_DIR" "$STATE" "$OWNER_URL" "${OWNER_URL/:\/\/gridflow@/://gridflow_engine@}"
DAY=$(/usr/bin/python3 -c "import datetime, zoneinfo; \
print((datetime.datetime.now(zoneinfo.ZoneInfo('Europe/Berlin')).date() + datetime.timedelta(days=2)).isoformat())")
run_day_ahead dab-normal "$DAY"
run_day_ahead dab-dst 2027-03-28
run_day_ahead dab-late "$DAY" 7d  # the safety deadline (gate closure - 7 days) has passed
run_activation afrr-1
run_settlement settlement-1
run_scheduled_day_ahead da-bid-solar-south
for id in dab-normal dab-dst dab-late afrr-1 settlement-1 settlement-1-r1; do
  ctl -o json runs history "$id" >"$STATE/$id.history.json"
  ctl -o json runs show "$id" >"$STATE/$id.run.json"
done
/usr/bin/python3 -c "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" \
  "$GRIDFLOW_SIMULATOR_URL/ledger" >"$STATE/ledger.json"
/usr/bin/python3 "$ROOT/tests/e2e/check_examples.py" "$STATE"
# Every history the energy processes wrote is an intact hash chain (docs/security.md).
ctl runs verify --all | tee "$STATE/verify.txt"
grep -q ", 0 broken" "$STATE/verify.txt"
# What the day-ahead example promises about the exchange: one order per day (a late original
# cannot displace the fallback), a cancelled run's bid withdrawn, a zombie worker refused.
GRIDFLOW_PYTHON_PATH=$BUILD_DIR/python /usr/bin/python3 "$ROOT/tests/e2e/venue_scenarios.py" \
  --engine "$GRIDFLOW_ADDRESS" --simulator "$GRIDFLOW_SIMULATOR_URL" --build-dir "$BUILD_DIR" \
  --state "$STATE" --worker-pid "$EXAMPLE_WORKER_PID" --worker-identity "$EXAMPLE_WORKER_IDENTITY"
