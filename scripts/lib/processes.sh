# shellcheck shell=bash
# Helpers for the demo and the test scripts: free ports, waiting for an engine, stopping processes.

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_engine CTL ADDRESS SECONDS: until gridflowctl gets an answer from the engine.
wait_for_engine() {
  local ctl=$1 address=$2 seconds=$3 i
  for ((i = 0; i < seconds * 10; i++)); do
    if "$ctl" --address "$address" --timeout 1s definitions list >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "engine at $address did not answer within ${seconds}s" >&2
  return 1
}

# stop_process PID: SIGTERM, then SIGKILL after 20 s; ignores processes already gone.
stop_process() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
