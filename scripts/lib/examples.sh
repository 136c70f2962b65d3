# shellcheck shell=bash
# The three energy examples (examples/), run end to end with the real binaries, the simulated
# exchange/TSO (examples/simulator) and the Python client. Used by scripts/demo.sh and by the test
# suite (tests/e2e/energy_examples_test.sh). Source processes.sh first.
#
#   start_examples BUILD_DIR STATE_DIR DATABASE_URL   # engine, simulator, worker; registers
#                                                     # (the worker: EXAMPLE_WORKER_PID, _IDENTITY)
#   run_day_ahead ID DELIVERY_DAY [SAFETY_MARGIN]     # starts a bid (Python client) and waits
#   run_activation ID                                 # a TSO activation with four assets
#   run_settlement ID                                 # metering revisions 1 (ID-r1) and 2 (ID),
#                                                     # invoice mismatch, dispute
#   run_scheduled_day_ahead SCHEDULE                  # the day-ahead schedule, triggered
#   show_run ID                                       # the run and its history (gridflowctl)
#   stop_examples                                     # stops what start_examples started

EXAMPLE_PIDS=()
EXAMPLE_WORKER_PID=
EXAMPLE_WORKER_IDENTITY=examples-worker
EXAMPLES_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

stop_examples() {
  local pid
  for pid in "${EXAMPLE_PIDS[@]}"; do stop_process "$pid"; done
  EXAMPLE_PIDS=()
}

py_client() {
  GRIDFLOW_PYTHON_PATH=$EXAMPLE_BIN/python /usr/bin/python3 \
    "$EXAMPLES_ROOT/examples/python/gridflow_client.py" --address "$GRIDFLOW_ADDRESS" "$@"
}

ctl() { "$EXAMPLE_BIN/cli/gridflowctl" --address "$GRIDFLOW_ADDRESS" "$@"; }

start_examples() {
  EXAMPLE_BIN=$1
  EXAMPLE_STATE=$2
  # $4, when given: the runtime role's URL; the engine then migrates as $3 (the owner) and serves
  # as $4 (docs/security.md, "Database roles").
  local database_url=$3 runtime_url=${4:-} simulator_port handlers type handler_flags=() db_flags
  if [[ -n "$runtime_url" ]]; then
    db_flags=(--migration-database-url "$database_url" --database-url "$runtime_url")
  else
    db_flags=(--database-url "$database_url")
  fi
  mkdir -p "$EXAMPLE_STATE"
  export GRIDFLOW_ADDRESS=127.0.0.1:$(free_port)
  simulator_port=$(free_port)
  export GRIDFLOW_SIMULATOR_URL=http://127.0.0.1:$simulator_port
  export GRIDFLOW_ALERTS_FILE=$EXAMPLE_STATE/alerts.jsonl

  echo "== starting gridflow-engine on $GRIDFLOW_ADDRESS (log: $EXAMPLE_STATE/engine.log)"
  "$EXAMPLE_BIN/engine/gridflow-engine" --listen "$GRIDFLOW_ADDRESS" "${db_flags[@]}" \
    >"$EXAMPLE_STATE/engine.log" 2>&1 &
  EXAMPLE_PIDS+=($!)
  wait_for_engine "$EXAMPLE_BIN/cli/gridflowctl" "$GRIDFLOW_ADDRESS" 30 ||
    { tail -n 20 "$EXAMPLE_STATE/engine.log" >&2; return 1; }

  echo "== starting the simulated exchange, TSO and assets on port $simulator_port"
  GRIDFLOW_PYTHON_PATH=$EXAMPLE_BIN/python /usr/bin/python3 "$EXAMPLES_ROOT/examples/simulator/simulator.py" \
    --port "$simulator_port" --engine "$GRIDFLOW_ADDRESS" --exchange-fail-first 1 \
    >"$EXAMPLE_STATE/simulator.log" 2>&1 &
  EXAMPLE_PIDS+=($!)

  echo "== starting gridflow-worker with the example handlers (log: $EXAMPLE_STATE/worker.log)"
  handlers=$EXAMPLES_ROOT/examples/handlers/energy.py
  for type in forecast optimise submit_bid submit_default_bid withdraw_bid nominate raise_alert \
    acknowledge_activation setpoint confirm_activation report_activation open_dispute; do
    handler_flags+=(--handler "$type=/usr/bin/python3 $handlers $type")
  done
  "$EXAMPLE_BIN/worker/gridflow-worker" --address "$GRIDFLOW_ADDRESS" --concurrency 16 \
    --identity "$EXAMPLE_WORKER_IDENTITY" \
    --queue trading --queue exchange --queue ops --queue tso --queue assets --queue reporting \
    "${handler_flags[@]}" >"$EXAMPLE_STATE/worker.log" 2>&1 &
  EXAMPLE_WORKER_PID=$!
  EXAMPLE_PIDS+=($!)
  # The settlement's many short tasks (a computation per quarter-hour) run in one process with the
  # Python SDK's worker instead of a process per task (examples/handlers/energy.py --serve).
  echo "== starting the Python SDK worker for the settlement queue (log: $EXAMPLE_STATE/settlement-worker.log)"
  PYTHONPATH=$EXAMPLE_BIN/python /usr/bin/python3 "$handlers" --serve "$GRIDFLOW_ADDRESS" \
    --queue settlement --identity settlement-worker >"$EXAMPLE_STATE/settlement-worker.log" 2>&1 &
  EXAMPLE_PIDS+=($!)

  local i
  for ((i = 0; i < 100; i++)); do
    curl -fs "$GRIDFLOW_SIMULATOR_URL/health" >/dev/null 2>&1 && break
    /usr/bin/python3 -c "import urllib.request; urllib.request.urlopen('$GRIDFLOW_SIMULATOR_URL/health')" \
      >/dev/null 2>&1 && break
    sleep 0.1
  done

  echo "== registering the energy workflows"
  ctl definitions apply "$EXAMPLES_ROOT/examples/day-ahead/definition.json" \
    "$EXAMPLES_ROOT/examples/activation/definition.json" "$EXAMPLES_ROOT/examples/settlement/definition.json"
}

run_day_ahead() {
  local id=$1 day=$2 margin=${3:-30m} input
  input=$(/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['delivery_day']=sys.argv[2]; \
d['safety_margin']=sys.argv[3]; print(json.dumps(d))" "$EXAMPLES_ROOT/examples/day-ahead/input.json" "$day" "$margin")
  echo "== day-ahead bid $id for delivery on $day (started by the Python client)"
  py_client --identity bid-optimiser start day-ahead-bid --id "$id" --input "$input"
  ctl runs wait "$id" --timeout 2m
}

# The day-ahead schedule (examples/day-ahead/schedule.json: every delivery day, 45 min before gate
# closure) created as SCHEDULE and triggered: its next delivery day's bid runs now.
run_scheduled_day_ahead() {
  local schedule=$1 id
  echo "== schedule $schedule: the day-ahead bid of every delivery day, 45 min before gate closure"
  ctl schedules create "$schedule" --file "$EXAMPLES_ROOT/examples/day-ahead/schedule.json" \
    --description "EPEX DE-LU day-ahead bid of portfolio solar-south" >/dev/null
  id=$(ctl -o json schedules trigger "$schedule" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["firing"]["workflow_id"])')
  echo "triggered ahead of its time: $id"
  ctl runs wait "$id" --timeout 2m
  ctl schedules show "$schedule"
}

run_activation() {
  local id=$1 input
  input=$(/usr/bin/python3 -c "import datetime,json,sys; print(json.dumps({'activation_id': sys.argv[1], \
'tso': 'TenneT', 'product': 'aFRR', 'direction': 'up', 'mw': 25.0, 'ack_within': '5s', \
'received_at': datetime.datetime.now(datetime.timezone.utc).isoformat(), \
'assets': [{'id': 'bess-1', 'share': 0.4}, {'id': 'bess-2', 'share': 0.3}, {'id': 'chp-7', 'share': 0.2}, \
{'id': 'pv-hybrid-3', 'share': 0.1}]}))" "$id")
  echo "== activation order $id from the TSO (started by the Python client)"
  py_client --identity tso-gateway start activation-order --id "$id" --input "$input"
  ctl runs wait "$id" --timeout 1m
}

# Waits (up to a minute) until run ID is at STEP.
wait_for_step() {
  local i
  for ((i = 0; i < 600; i++)); do
    ctl -o json runs show "$1" | /usr/bin/python3 -c \
      'import json, sys; sys.exit(json.load(sys.stdin)["run"].get("current_step") != sys.argv[1])' \
      "$2" && return 0
    sleep 0.1
  done
  echo "run $1 did not reach step $2:" >&2
  ctl runs show "$1" >&2
  return 1
}

# The settlement of 2026-11-24 as the metering service revises it (docs/revisions.md): revision 1
# (ID-r1) from the preliminary data books a provisional settlement and waits for the invoice;
# the corrected data starts revision 2 (ID), which cancels revision 1 (its posting is reversed)
# and goes on to the invoice, a dispute and a person's decision.
run_settlement() {
  local id=$1
  echo "== imbalance settlement of 2026-11-24: preliminary metering (revision 1, $id-r1)"
  settlement_revision "$id-r1" 1
  wait_for_step "$id-r1" invoice
  echo "== corrected metering: revision 2 ($id) supersedes $id-r1"
  settlement_revision "$id" 2
  /usr/bin/python3 - "$GRIDFLOW_SIMULATOR_URL" "$id" <<'PY'
import json, sys, urllib.request
url, run = sys.argv[1], sys.argv[2]
req = urllib.request.Request(url + "/tso/invoices", json.dumps({"workflow_id": run, "total_eur": 99999.0}).encode(),
                             {"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=10)  # does not match: a dispute follows
print("TSO invoice sent")
PY
  wait_for_step "$id" resolution
  ctl --identity settlement-analyst runs signal "$id" dispute_resolved \
    --payload '{"decision": "accept TSO invoice", "ticket": "DSP-1"}' --dedup-id resolution-1
  ctl runs wait "$id" --timeout 1m
  ctl runs list --definition imbalance-settlement --period 2026-11-24
}

# The simulated metering service publishes revision REVISION of 2026-11-24 as run ID.
settlement_revision() {
  /usr/bin/python3 - "$GRIDFLOW_SIMULATOR_URL" "$1" "$2" <<'PY'
import json, sys, urllib.request
url, run, revision = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = {"definition": "imbalance-settlement", "workflow_id": run, "day": "2026-11-24",
        "revision": revision, "periods": 96,
        "input": {"settlement_day": "2026-11-24", "bidding_zone": "DE-LU", "periods": 96,
                  "imbalance_price_eur_mwh": 120.5, "tolerance_eur": 1.0}}
req = urllib.request.Request(url + "/metering/revisions", json.dumps(body).encode(),
                             {"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(req, timeout=30))
print(f"metering revision {revision} published; settlement run {run} started"
      + (f", superseding {answer['supersedes']}" if answer["supersedes"] else ""))
PY
}

show_run() {
  ctl runs show "$1" | grep -v '^input\|^result'
  echo
  ctl runs history "$1"
  echo
}
