#!/usr/bin/env bash
# PostgreSQL restart and failover under a running engine, for real: a primary with a synchronous
# streaming standby, both started here from Debian's PostgreSQL on loopback ports. The engine gets
# the libpq multi-host string "host=primary,standby target_session_attrs=read-write".
#   1. runs start and execute; PostgreSQL restarts; more runs start;
#   2. the primary dies (immediate stop), the standby is promoted; more runs start;
# then every run whose start was acknowledged must complete, on the new primary.
set -euo pipefail
BUILD_DIR=$1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/scripts/lib/pg.sh"
source "$ROOT/scripts/lib/processes.sh"

BASE=$(mktemp -d /tmp/gridflow-failover.XXXXXX)
chmod 755 "$BASE"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_process "$pid"; done
  pg_stop "$BASE/primary"
  pg_stop "$BASE/standby"
  rm -rf "$BASE"
}
trap cleanup EXIT

echo "$(date +%T) == primary and synchronous standby"
pg_start "$BASE/primary"
P1=$GRIDFLOW_PG_PORT
pg_start_standby "$BASE/primary" "$BASE/standby"
P2=$GRIDFLOW_STANDBY_PORT
pg_psql "$BASE/primary" "ALTER SYSTEM SET synchronous_standby_names = 'standby'"
pg_psql "$BASE/primary" "SELECT pg_reload_conf()" >/dev/null
for ((i = 0; i < 100; i++)); do  # the reload takes effect a moment later
  [[ $(pg_psql "$BASE/primary" "SELECT sync_state FROM pg_stat_replication") == sync ]] && break
  sleep 0.1
done
[[ $(pg_psql "$BASE/primary" "SELECT sync_state FROM pg_stat_replication") == sync ]] ||
  { echo "the standby is not synchronous" >&2; exit 1; }

ADDRESS=127.0.0.1:$(free_port)
CTL=("$BUILD_DIR/cli/gridflowctl" --address "$ADDRESS" --timeout 10s)
DSN="host=127.0.0.1,127.0.0.1 port=$P1,$P2 user=gridflow dbname=gridflow target_session_attrs=read-write connect_timeout=2"
"$BUILD_DIR/engine/gridflow-engine" --listen "$ADDRESS" --database-url "$DSN" \
  --lease-reaper-interval 200ms >"$BASE/engine.log" 2>&1 &
PIDS+=($!)
wait_for_engine "$BUILD_DIR/cli/gridflowctl" "$ADDRESS" 30
"$BUILD_DIR/worker/gridflow-worker" --address "$ADDRESS" --queue failover --concurrency 8 \
  --handler 'step=sleep 0.05; cat' >"$BASE/worker.log" 2>&1 &
PIDS+=($!)
cat >"$BASE/definition.json" <<'JSON'
{"name": "failover", "version": 1, "steps": [
  {"name": "one", "kind": "task", "task_type": "step", "task_queue": "failover",
   "retry": {"max_attempts": 20, "initial_interval": "100ms", "max_interval": "1s"},
   "timeouts": {"start_to_close": "30s", "heartbeat": "5s"}},
  {"name": "pause", "kind": "timer", "duration": "300ms"},
  {"name": "two", "kind": "task", "task_type": "step", "task_queue": "failover",
   "retry": {"max_attempts": 20, "initial_interval": "100ms", "max_interval": "1s"},
   "timeouts": {"start_to_close": "30s", "heartbeat": "5s"}}]}
JSON
"${CTL[@]}" definitions apply "$BASE/definition.json"

ACKED=()
# start_runs PREFIX N: starts runs, retrying each until its start is acknowledged (a repeated start
# with the same id is idempotent, so a retry after an unknown outcome is safe).
start_runs() {
  local prefix=$1 n=$2 i attempt
  for ((i = 0; i < n; i++)); do
    for ((attempt = 0; attempt < 100; attempt++)); do
      if "${CTL[@]}" runs start failover --id "$prefix-$i" --input "{\"i\": $i}" >/dev/null 2>&1; then
        ACKED+=("$prefix-$i")
        break
      fi
      sleep 0.2
    done
  done
}

echo "$(date +%T) == runs, then a PostgreSQL restart under them"
start_runs before-restart 15
pg_restart "$BASE/primary"
start_runs after-restart 15

echo "$(date +%T) == the primary dies; the standby is promoted"
start_runs before-failover 15
pg_kill "$BASE/primary"
pg_promote "$BASE/standby"
start_runs after-failover 15

echo "$(date +%T) == every acknowledged run completes (${#ACKED[@]} runs)"
failed=0
for id in "${ACKED[@]}"; do
  if ! "${CTL[@]}" runs wait "$id" --timeout 90s >/dev/null; then
    echo "run $id did not complete:" >&2
    "${CTL[@]}" runs show "$id" >&2 || true
    failed=$((failed + 1))
  fi
done
[[ ${#ACKED[@]} -eq 60 ]] || { echo "only ${#ACKED[@]} of 60 starts were acknowledged" >&2; exit 1; }
[[ $failed -eq 0 ]] || { echo "$failed runs did not complete" >&2; tail -n 30 "$BASE/engine.log" >&2; exit 1; }
# The new primary holds everything: it is the only one left.
completed=$(pg_psql "$BASE/standby" "SELECT count(*) FROM runs WHERE status = 'COMPLETED'")
gaps=$(pg_psql "$BASE/standby" "SELECT count(*) FROM (SELECT run_id FROM events GROUP BY run_id
  HAVING max(seq) <> count(*)) g")
echo "failover: $completed runs completed on the promoted standby, history gaps: $gaps"
[[ $completed -eq 60 && $gaps -eq 0 ]]
