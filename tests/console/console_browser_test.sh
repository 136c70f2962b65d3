#!/usr/bin/env bash
# gridflow-console in Debian's headless Chromium (tests/console/browser_test.mjs, puppeteer-core
# from the lockfile, no browser download): an engine with TLS, tokens and an access policy on the
# suite's PostgreSQL (a database of its own), a gridflow-worker, and the console in front.
# Screenshots go to BUILD_DIR/console-screenshots (CI keeps them as artifacts).
set -euo pipefail
BUILD_DIR=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$ROOT/scripts/lib/processes.sh"

: "${GRIDFLOW_TEST_DATABASE_URL:?run the suite with scripts/test.sh}"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[[ -x $CHROMIUM ]] || { echo "console browser test: $CHROMIUM is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }

STATE=$(mktemp -d /tmp/gf-console-test.XXXXXX)
DB=gf_console_$$_$RANDOM
PIDS=()
cleanup() {
  local pid
  [[ -f $STATE/engine-ctl.sh ]] && bash "$STATE/engine-ctl.sh" stop
  for pid in "${PIDS[@]}"; do stop_process "$pid"; done
  psql "$GRIDFLOW_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true
  rm -rf "$STATE"
}
trap cleanup EXIT
psql "$GRIDFLOW_TEST_DATABASE_URL" -qc "CREATE DATABASE $DB"
DATABASE_URL=${GRIDFLOW_TEST_DATABASE_URL%/*}/$DB

# A CA and a server certificate for 127.0.0.1; tokens and the access policy.
(
  cd "$STATE"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj "/CN=console test CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
    -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
    -days 2 -extfile san.ext 2>/dev/null
)
printf 't-admin admin\nt-ops ops-anna\nt-reader reader-rita\nt-worker worker\n' >"$STATE/tokens"
cat >"$STATE/policy.json" <<'JSON'
{"grants": [
  {"principals": ["token:admin"], "namespaces": ["*"], "roles": ["admin"]},
  {"principals": ["token:ops-anna"], "namespaces": ["default"], "roles": ["operator"]},
  {"principals": ["token:reader-rita"], "namespaces": ["default"], "roles": ["reader"]},
  {"principals": ["token:worker"], "namespaces": ["default"], "roles": ["worker"]}]}
JSON

ENGINE_ADDRESS=127.0.0.1:$(free_port)
ctl() {
  local token=$1
  shift
  "$BUILD_DIR/cli/gridflowctl" --address "$ENGINE_ADDRESS" --tls-ca "$STATE/ca.pem" --token "$token" "$@"
}
# engine-ctl.sh start|stop: the browser test restarts the engine under the console with it.
cat >"$STATE/engine-ctl.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
case \$1 in
  start)
    "$BUILD_DIR/engine/gridflow-engine" --listen "$ENGINE_ADDRESS" --database-url "$DATABASE_URL" \\
      --tls-cert "$STATE/server.pem" --tls-key "$STATE/server.key" \\
      --auth-tokens-file "$STATE/tokens" --access-policy-file "$STATE/policy.json" \\
      >>"$STATE/engine.log" 2>&1 </dev/null &
    for ((i = 0; i < 300; i++)); do
      "$BUILD_DIR/cli/gridflowctl" --address "$ENGINE_ADDRESS" --tls-ca "$STATE/ca.pem" \\
        --token t-admin --timeout 1s definitions list >/dev/null 2>&1 && exit 0
      sleep 0.1
    done
    echo "the engine did not start" >&2; tail -n 20 "$STATE/engine.log" >&2; exit 1 ;;
  stop)
    pkill -TERM -f -- "--listen $ENGINE_ADDRESS" || true
    for ((i = 0; i < 200; i++)); do
      pgrep -f -- "--listen $ENGINE_ADDRESS" >/dev/null || exit 0
      sleep 0.1
    done
    pkill -KILL -f -- "--listen $ENGINE_ADDRESS" || true ;;
esac
SH
bash "$STATE/engine-ctl.sh" start

cat >"$STATE/settlement.json" <<'JSON'
{"name": "imbalance-settlement", "version": 1, "time_zone": "Europe/Berlin",
 "description": "settles one delivery day against the TSO's imbalance prices",
 "steps": [
  {"name": "fetch_metering", "kind": "task", "task_type": "fetch_metering", "task_queue": "settlement"},
  {"name": "per_area", "kind": "parallel", "branches": [
    {"name": "north", "steps": [{"name": "price_north", "kind": "task", "task_type": "price", "task_queue": "settlement"}]},
    {"name": "south", "steps": [{"name": "price_south", "kind": "task", "task_type": "price", "task_queue": "settlement"}]}]},
  {"name": "settle", "kind": "task", "task_type": "settle", "task_queue": "settlement",
   "retry": {"max_attempts": 1}},
  {"name": "report", "kind": "task", "task_type": "report", "task_queue": "settlement"}]}
JSON
sed -e 's/"version": 1/"version": 2/' -e 's/"max_attempts": 1/"max_attempts": 3/' \
  "$STATE/settlement.json" >"$STATE/settlement-v2.json"
ctl t-admin definitions apply "$STATE/settlement.json" "$STATE/settlement-v2.json" >/dev/null
export CONSOLE_LEDGER_OPEN=$STATE/ledger-open
"$BUILD_DIR/worker/gridflow-worker" --address "$ENGINE_ADDRESS" --tls-ca "$STATE/ca.pem" \
  --token t-worker --queue settlement --concurrency 4 --identity settlement-worker-1 \
  --handler 'fetch_metering=echo {}' --handler 'price=echo {}' --handler 'report=echo {}' \
  --handler "settle=$HERE/settle_handler.sh" >"$STATE/worker.log" 2>&1 &
PIDS+=($!)
for day in 2026-12-01 2026-12-02; do
  ctl t-admin runs start imbalance-settlement --id "settlement-$day" --version 1 \
    --input "{\"delivery_day\": \"$day\"}" >/dev/null
done
for day in 2026-12-01 2026-12-02; do
  ctl t-admin runs wait "settlement-$day" --timeout 60s >/dev/null 2>&1 || true
done

CONSOLE_PORT=$(free_port)
openssl rand -hex 32 >"$STATE/session.key"
"$BUILD_DIR/console/gridflow-console" --listen "127.0.0.1:$CONSOLE_PORT" --address "$ENGINE_ADDRESS" \
  --tls-ca "$STATE/ca.pem" --session-key-file "$STATE/session.key" --call-timeout 3s \
  >"$STATE/console.log" 2>&1 &
PIDS+=($!)
python3 - "$CONSOLE_PORT" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit("the console did not start")
PY

cd "$HERE"
npm ci --no-audit --no-fund --loglevel=error
SHOTS=$BUILD_DIR/console-screenshots
mkdir -p "$SHOTS"
status=0
CONSOLE_URL=http://127.0.0.1:$CONSOLE_PORT SCREENSHOT_DIR=$SHOTS CHROMIUM=$CHROMIUM \
  ENGINE_CTL="$STATE/engine-ctl.sh" node browser_test.mjs || status=$?
if ((status != 0)); then
  echo "--- console log"; tail -n 30 "$STATE/console.log"
  echo "--- engine log"; tail -n 30 "$STATE/engine.log"
  echo "--- worker log"; tail -n 30 "$STATE/worker.log"
fi
exit $status
