#!/usr/bin/env bash
# The TypeScript SDK (sdk/typescript) built from the checkout as a user would (npm ci from its
# lockfile, types generated from proto/, tsc), then tested against real engines on the suite's
# PostgreSQL (a database of its own).
set -euo pipefail
BUILD_DIR=$1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

: "${GRIDFLOW_TEST_DATABASE_URL:?run the suite with scripts/test.sh}"
DB=gf_sdk_ts_$$_$RANDOM
psql "$GRIDFLOW_TEST_DATABASE_URL" -qc "CREATE DATABASE $DB"
trap 'psql "$GRIDFLOW_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true' EXIT

cd "$ROOT/sdk/typescript"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
GRIDFLOW_ENGINE=$BUILD_DIR/engine/gridflow-engine \
GRIDFLOW_SDK_DATABASE_URL=${GRIDFLOW_TEST_DATABASE_URL%/*}/$DB \
  node --test dist/test/sdk.test.js
