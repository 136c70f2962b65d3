#!/usr/bin/env bash
# The chaos test's task handler (run by gridflow-worker): records the execution, works for a random
# while, fails now and then (retryably), and echoes a small result. One line per execution in
# $CHAOS_LOG: "<task id> <attempt> <lease epoch> <pid> <outcome>" (appends of short lines are
# atomic, so concurrent handlers never interleave).
set -u
cat >/dev/null  # the input is not needed
sleep "$(printf '0.%03d' $((RANDOM % 300 + 10)))"
if ((RANDOM % 100 < ${CHAOS_FAILURE_PERCENT:-10})); then
  printf '%s %s %s %s failed\n' "$GRIDFLOW_TASK_ID" "$GRIDFLOW_ATTEMPT" "$GRIDFLOW_LEASE_EPOCH" "$$" >>"$CHAOS_LOG"
  echo "chaos: simulated transient failure" >&2
  exit 1
fi
printf '%s %s %s %s ok\n' "$GRIDFLOW_TASK_ID" "$GRIDFLOW_ATTEMPT" "$GRIDFLOW_LEASE_EPOCH" "$$" >>"$CHAOS_LOG"
printf '{"task": %s, "epoch": %s}\n' "$GRIDFLOW_TASK_ID" "$GRIDFLOW_LEASE_EPOCH"
