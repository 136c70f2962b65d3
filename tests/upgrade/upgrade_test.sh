#!/usr/bin/env bash
# A rolling upgrade from the previous release to this build, under load (docs/reliability.md):
# builds the release named in tests/upgrade/previous-release from this repository's history into
# BUILD_DIR/previous/<commit> (once: kept for later runs; ccache makes the files both versions
# share cheap), then runs the chaos harness with --upgrade-from it: engines and workers start as
# the previous release, each is replaced by this build's binary one at a time under load, and the
# harness checks that no start failed beyond the client retry policy, the schema reached this
# build's version, a run started before the upgrade completed after it, and nothing was lost or
# done twice.
# Usage: upgrade_test.sh BUILD_DIR [chaos.py options]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=$(cd "${1:?usage: upgrade_test.sh BUILD_DIR [chaos.py options]}" && pwd)
shift

read -r TAG COMMIT < <(grep -v '^#' "$ROOT/tests/upgrade/previous-release")
PREVIOUS=$BUILD_DIR/previous/$COMMIT
binaries=("$PREVIOUS/build/engine/gridflow-engine" "$PREVIOUS/build/worker/gridflow-worker")
if [[ ! -x ${binaries[0]} || ! -x ${binaries[1]} ]]; then
  if ! git -C "$ROOT" cat-file -e "$COMMIT^{commit}" 2>/dev/null; then
    echo "the previous release $TAG ($COMMIT) is not in this clone's history (shallow clone?)" >&2
    exit 1
  fi
  rm -rf "$PREVIOUS"
  mkdir -p "$PREVIOUS"
  git -C "$ROOT" archive "$COMMIT" | tar -x -C "$PREVIOUS"
  echo "== building the previous release $TAG ($COMMIT)"
  GRIDFLOW_BUILD_DIR=$PREVIOUS/build bash "$PREVIOUS/scripts/build.sh" gridflow-engine gridflow-worker
fi
echo "== rolling upgrade from $TAG to this build"
exec /usr/bin/python3 "$ROOT/tests/chaos/chaos.py" --build-dir "$BUILD_DIR" \
  --upgrade-from "$PREVIOUS/build" --duration 90 --runs 300 --failovers 0 --pg-restarts 0 \
  --kill-every 0 "$@"
