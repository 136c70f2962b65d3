#!/usr/bin/env bash
# The Python SDK (sdk/python) installed with pip into a fresh virtual environment, as a user would,
# then tested against real engines on the suite's PostgreSQL (a database of its own).
set -euo pipefail
BUILD_DIR=$1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

: "${GRIDFLOW_TEST_DATABASE_URL:?run the suite with scripts/test.sh}"
DB=gf_sdk_py_$$_$RANDOM
WORK=$(mktemp -d)
psql "$GRIDFLOW_TEST_DATABASE_URL" -qc "CREATE DATABASE $DB"
cleanup() {
  psql "$GRIDFLOW_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# As docs/sdk-python.md says: Debian's grpcio and protobuf, the package from the checkout.
/usr/bin/python3 -m venv --system-site-packages "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --no-index --no-build-isolation "$ROOT/sdk/python"

cd "$WORK"  # imports the installed package, not the sources
GRIDFLOW_ENGINE=$BUILD_DIR/engine/gridflow-engine \
GRIDFLOW_SDK_DATABASE_URL=${GRIDFLOW_TEST_DATABASE_URL%/*}/$DB \
  "$WORK/venv/bin/python" "$ROOT/sdk/python/tests/test_sdk.py" -v 2>&1
