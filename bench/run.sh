#!/usr/bin/env bash
# Gridflow's benchmark on this machine: starts an ephemeral PostgreSQL and one engine replica,
# runs gridflow-bench against it (throughput of multi-step runs, dispatch latency at a steady
# rate), then pgbench with the equivalent step transaction on the same PostgreSQL (its ceiling
# without the engine), and prints one table with the machine and the date. Results go into
# docs/benchmarks.md by hand, with that header.
#
#   bench/run.sh            the full run (a few minutes)
#   bench/run.sh --peers    the full run, plus graphile-worker and pg-boss (npm, bench/peers)
#   bench/run.sh --quick    small sizes: a smoke check that the benchmark works (CTest runs it)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/lib/pg.sh"
BUILD_DIR=${GRIDFLOW_BUILD_DIR:-$ROOT/build}
QUICK=0 PEERS=0
case ${1:-} in
  --quick) QUICK=1 ;;
  --peers) PEERS=1 ;;
  "") ;;
  *)
    echo "usage: bench/run.sh [--quick|--peers]" >&2
    exit 2
    ;;
esac

if ((QUICK)); then
  BENCH_ARGS=(--runs 60 --steps 2 --starters 4 --workers 1 --concurrency 8 --rate 40 --seconds 2)
  PGBENCH_SECONDS=2
else
  "$ROOT/scripts/install-deps.sh"
  "$ROOT/scripts/build.sh" gridflow-engine gridflow-bench gridflowctl
  BENCH_ARGS=(--runs 3000 --steps 3 --starters 16 --workers 2 --concurrency 32 --rate 200 --seconds 20)
  PGBENCH_SECONDS=30
fi

WORK=$(mktemp -d /tmp/gridflow-bench.XXXXXX)
chmod 755 "$WORK"  # PostgreSQL runs as its own user in $WORK/pg
ENGINE_PID=""
cleanup() {
  if [[ -n $ENGINE_PID ]]; then kill "$ENGINE_PID" 2>/dev/null && wait "$ENGINE_PID" 2>/dev/null || true; fi
  pg_stop "$WORK/pg"
  rm -rf "$WORK"
}
trap cleanup EXIT

pg_start "$WORK/pg"
BIN=$(pg_bindir)
PORT=$(pg_free_port)
ADDRESS=127.0.0.1:$PORT
"$BUILD_DIR/engine/gridflow-engine" --listen "$ADDRESS" --database-url "$GRIDFLOW_PG_URL" \
  --log-level warn >"$WORK/engine.log" 2>&1 &
ENGINE_PID=$!
for _ in $(seq 1 100); do
  if "$BUILD_DIR/cli/gridflowctl" --address "$ADDRESS" --timeout 1s cluster status >/dev/null 2>&1; then break; fi
  sleep 0.1
done

echo "== gridflow-bench ${BENCH_ARGS[*]}" >&2
if ! "$BUILD_DIR/bench/gridflow-bench" --address "$ADDRESS" "${BENCH_ARGS[@]}" >"$WORK/bench.tsv"; then
  cat "$WORK/engine.log" >&2
  exit 1
fi

echo "== pgbench, the equivalent step transaction, ${PGBENCH_SECONDS}s" >&2
"$BIN/createdb" -h 127.0.0.1 -p "$GRIDFLOW_PG_PORT" -U gridflow steps
"$BIN/psql" -h 127.0.0.1 -p "$GRIDFLOW_PG_PORT" -U gridflow -d steps -qX -v ON_ERROR_STOP=1 \
  -f "$ROOT/bench/pgbench_setup.sql" >/dev/null
"$BIN/pgbench" -h 127.0.0.1 -p "$GRIDFLOW_PG_PORT" -U gridflow -n -M prepared -c 8 -j 2 \
  -T "$PGBENCH_SECONDS" -f "$ROOT/bench/pgbench_step.sql" steps >"$WORK/pgbench.txt" 2>&1 ||
  { cat "$WORK/pgbench.txt" >&2; exit 1; }
TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$WORK/pgbench.txt")
LAT=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$WORK/pgbench.txt")
if [[ -z $TPS ]]; then
  cat "$WORK/pgbench.txt" >&2
  exit 1
fi

if ((PEERS)); then
  echo "== peers: graphile-worker and pg-boss (bench/peers)" >&2
  (cd "$ROOT/bench/peers" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  for db in peer_graphile peer_pgboss; do
    "$BIN/createdb" -h 127.0.0.1 -p "$GRIDFLOW_PG_PORT" -U gridflow "$db"
  done
  PEER_URL="postgresql://gridflow@127.0.0.1:$GRIDFLOW_PG_PORT"
  node "$ROOT/bench/peers/peers.mjs" --graphile "$PEER_URL/peer_graphile" --pgboss "$PEER_URL/peer_pgboss" \
    --jobs 9000 --rate 200 --seconds 20 --concurrency 64 >"$WORK/peers.tsv"
fi

CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
MEM=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
PGV=$("$BIN/postgres" --version | awk '{print $3}')
echo
echo "Gridflow benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) vCPU ($CPU), $MEM;"
echo "PostgreSQL $PGV (fsync on), engine, workers and load generator on the same machine."
echo
echo "| measure | value | unit |"
echo "|---|---:|---|"
while IFS=$'\t' read -r name value unit; do
  echo "| gridflow: $name | $value | $unit |"
done <"$WORK/bench.tsv"
if ((PEERS)); then
  while IFS=$'\t' read -r name value unit; do
    echo "| peer: $name | $value | $unit |"
  done <"$WORK/peers.tsv"
fi
echo "| pgbench: step transaction (8 clients) | $TPS | tps |"
echo "| pgbench: step transaction latency | $LAT | ms (average) |"
