# shellcheck shell=bash
# The day-ahead bid example, run end to end with the real binaries. Used by scripts/demo.sh and by
# the test suite (tests/e2e/day_ahead_example_test.sh). Source processes.sh first.
#
#   run_day_ahead_example BUILD_DIR STATE_DIR DATABASE_URL
# Starts an engine and a worker (logs in STATE_DIR), registers the definition, runs one bid to
# completion, prints the run and its history, and stops both. Sets DAY_AHEAD_RUN_ID. Returns
# non-zero if anything fails; the caller's EXIT trap should call stop_day_ahead_processes.

DAY_AHEAD_PIDS=()

stop_day_ahead_processes() {
  local pid
  for pid in "${DAY_AHEAD_PIDS[@]}"; do stop_process "$pid"; done
  DAY_AHEAD_PIDS=()
}

run_day_ahead_example() {
  local bin=$1 state=$2 database_url=$3
  local root ctl address handlers
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  ctl=$bin/cli/gridflowctl
  address=127.0.0.1:$(free_port)
  handlers=$root/examples/day-ahead/handlers
  mkdir -p "$state"

  echo "== starting gridflow-engine on $address (log: $state/engine.log)"
  "$bin/engine/gridflow-engine" --listen "$address" --database-url "$database_url" \
    >"$state/engine.log" 2>&1 &
  DAY_AHEAD_PIDS+=($!)
  wait_for_engine "$ctl" "$address" 30 || { tail -n 20 "$state/engine.log" >&2; return 1; }

  echo "== starting gridflow-worker (log: $state/worker.log)"
  "$bin/worker/gridflow-worker" --address "$address" --queue trading --queue exchange \
    --concurrency 4 \
    --handler "forecast=/usr/bin/python3 $handlers/forecast.py" \
    --handler "optimise=/usr/bin/python3 $handlers/optimise.py" \
    --handler "submit_bid=/usr/bin/python3 $handlers/submit_bid.py" \
    --handler "confirm_bid=/usr/bin/python3 $handlers/confirm_bid.py" \
    >"$state/worker.log" 2>&1 &
  DAY_AHEAD_PIDS+=($!)

  echo "== registering the day-ahead bid workflow"
  "$ctl" --address "$address" definitions apply "$root/examples/day-ahead/definition.json"

  DAY_AHEAD_RUN_ID="day-ahead-$(date -u +%Y%m%dT%H%M%S)-$RANDOM"
  echo "== starting run $DAY_AHEAD_RUN_ID"
  "$ctl" --address "$address" runs start day-ahead-bid --id "$DAY_AHEAD_RUN_ID" \
    --input-file "$root/examples/day-ahead/input.json"
  if ! "$ctl" --address "$address" runs wait "$DAY_AHEAD_RUN_ID" --timeout 2m; then
    "$ctl" --address "$address" runs history "$DAY_AHEAD_RUN_ID" || true
    tail -n 30 "$state/worker.log" >&2
    return 1
  fi
  echo
  "$ctl" --address "$address" runs show "$DAY_AHEAD_RUN_ID" | grep -v '^result\|^input'
  echo
  echo "== history of $DAY_AHEAD_RUN_ID"
  "$ctl" --address "$address" runs history "$DAY_AHEAD_RUN_ID"
  "$ctl" --address "$address" -o json runs history "$DAY_AHEAD_RUN_ID" >"$state/history.json"
  stop_day_ahead_processes
}
