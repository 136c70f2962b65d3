#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine: install what is missing, build, start a
# local PostgreSQL (an ephemeral cluster under .gridflow/demo on a free port), start the engine and
# a worker, register the day-ahead bid workflow, run it to completion and print its history.
# Leaves nothing running when it ends.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/lib/pg.sh"
source "$ROOT/scripts/lib/processes.sh"
source "$ROOT/scripts/lib/day_ahead.sh"

"$ROOT/scripts/install-deps.sh"
echo "== building"
"$ROOT/scripts/build.sh" gridflow-engine gridflow-worker gridflowctl

STATE=$ROOT/.gridflow/demo
rm -rf "$STATE"
mkdir -p "$STATE"
cleanup() {
  stop_day_ahead_processes
  pg_stop "$STATE/pg"
}
trap cleanup EXIT

echo "== starting PostgreSQL"
pg_start "$STATE/pg"
run_day_ahead_example "${GRIDFLOW_BUILD_DIR:-$ROOT/build}" "$STATE" "$GRIDFLOW_PG_URL"
echo
echo "demo complete: $DAY_AHEAD_RUN_ID COMPLETED; the worker, the engine and PostgreSQL are stopped"
