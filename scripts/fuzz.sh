#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang, AddressSanitizer and UBSan, and runs each on a
# seed corpus made from the repository (example definitions, expressions, payloads), for a bounded
# time or number of inputs. Prints a table of executions per target; exits non-zero if any target
# found a crash, a leak, undefined behaviour or a timeout (the input is kept, its path printed).
#
#   scripts/fuzz.sh                    every target for 20 s (what the test suite runs)
#   scripts/fuzz.sh --seconds 600      longer
#   scripts/fuzz.sh --runs 2000000 definition expression   a number of inputs, some targets
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${GRIDFLOW_FUZZ_BUILD_DIR:-$ROOT/build/fuzz}
SECONDS_EACH=20
RUNS=""
TARGETS=()
while (($#)); do
  case $1 in
    --seconds) SECONDS_EACH=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) TARGETS+=("$1") ;;
  esac
  shift
done
((${#TARGETS[@]})) || TARGETS=(definition expression template page_token json_text run_query schedule market_rules)

CXX=$(command -v clang++-14 || command -v clang++ || true)
[[ -n $CXX ]] || { echo "fuzz: clang is missing (scripts/install-deps.sh installs it)" >&2; exit 2; }
cmake -S "$ROOT/fuzz" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER="$CXX" >/dev/null
cmake --build "$BUILD" >/dev/null

# Seeds, made afresh from what the repository holds (the corpus that grows is $BUILD/corpus).
SEEDS=$(mktemp -d)
trap 'rm -rf "$SEEDS"' EXIT
mkdir -p "$SEEDS"/{definition,expression,template,page_token,json_text,run_query,schedule,market_rules}
n=0
while IFS= read -r file; do
  n=$((n + 1))
  cp "$file" "$SEEDS/definition/$n.json"
  cp "$file" "$SEEDS/template/$n.json"
  cp "$file" "$SEEDS/json_text/$n.json"
done < <(find "$ROOT/examples" "$ROOT/engine/dsl/testdata" -name '*.json' -size -64k | sort)
split_lines() {  # FILE DIR: one seed per line
  local i=0
  while IFS= read -r line; do
    i=$((i + 1))
    printf '%s' "$line" >"$2/$i"
  done <"$1"
}
split_lines "$ROOT/fuzz/seeds/expressions.txt" "$SEEDS/expression"
split_lines "$ROOT/fuzz/seeds/page_tokens.txt" "$SEEDS/page_token"
split_lines "$ROOT/fuzz/seeds/run_queries.txt" "$SEEDS/run_query"
split_lines "$ROOT/fuzz/seeds/schedules.txt" "$SEEDS/schedule"
split_lines "$ROOT/fuzz/seeds/market_rules.txt" "$SEEDS/market_rules"
for file in "$ROOT"/examples/*/schedule.json; do cp "$file" "$SEEDS/schedule/${file//\//_}"; done
cp "$ROOT/engine/dsl/market_rules.json" "$SEEDS/market_rules/builtin.json"

failed=0
printf '%-12s %12s %8s %10s %8s  %s\n' TARGET INPUTS SECONDS INPUTS/S CORPUS RESULT
for target in "${TARGETS[@]}"; do
  corpus=$BUILD/corpus/$target
  mkdir -p "$corpus" "$BUILD/artifacts"
  limit=(-max_total_time="$SECONDS_EACH")
  [[ -n $RUNS ]] && limit=(-runs="$RUNS")
  log=$BUILD/$target.log
  start=$(date +%s.%N)
  if "$BUILD/fuzz_$target" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
      -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$target-" \
      "$corpus" "$SEEDS/$target" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log; input in $BUILD/artifacts/)"
    failed=1
  fi
  elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
  inputs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  inputs=${inputs:-0}
  printf '%-12s %12s %8s %10s %8s  %s\n' "$target" "$inputs" "$elapsed" \
    "$(awk -v n="$inputs" -v s="$elapsed" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')" \
    "$(find "$corpus" -type f | wc -l)" "$result"
done
exit $failed
