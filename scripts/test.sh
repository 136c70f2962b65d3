#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install what is missing, build everything,
# start an ephemeral PostgreSQL (temp folder, free port), run the unit, integration and end-to-end
# tests with CTest, and stop PostgreSQL whatever happens. `.ci/run` calls exactly this.
# Extra arguments go to ctest (e.g. -R Leases).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/lib/pg.sh"

"$ROOT/scripts/install-deps.sh"
echo "== building"
"$ROOT/scripts/build.sh"
BUILD_DIR=${GRIDFLOW_BUILD_DIR:-$ROOT/build}

PG_DIR=$(mktemp -d /tmp/gridflow-test-pg.XXXXXX)
cleanup() {
  pg_stop "$PG_DIR"
  rm -rf "$PG_DIR"
}
trap cleanup EXIT
echo "== starting PostgreSQL"
pg_start "$PG_DIR"
export GRIDFLOW_TEST_DATABASE_URL=$GRIDFLOW_PG_URL
PATH=$(pg_bindir):$PATH
export PATH

echo "== running tests"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 300 -j "$(nproc)" "$@"
