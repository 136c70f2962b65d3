#!/usr/bin/python3
"""Checks the runs of tests/e2e/energy_examples_test.sh from their exported histories."""
import json
import os
import sys

STATE = sys.argv[1]


def load(run_id):
    history = json.load(open(os.path.join(STATE, run_id + ".history.json")))
    run = json.load(open(os.path.join(STATE, run_id + ".run.json")))["run"]  # runs show: DescribeRun
    return run, history["events"]


def check_history(run_id, events):
    seqs = [int(e["sequence"]) for e in events]
    assert seqs == list(range(1, len(events) + 1)), f"{run_id}: gap in history {seqs}"
    terminal = [e for e in events if e["type"] in ("RunCompleted", "RunFailed", "RunCancelled", "RunTerminated")]
    assert len(terminal) == 1 and events[-1] is terminal[0], f"{run_id}: not one final event at the end"


def types(events):
    return [e["type"] for e in events]


def result(run):
    return json.loads(run["result_json"])


def main():
    failures = []

    def expect(condition, message):
        if not condition:
            failures.append(message)

    for run_id in ("dab-normal", "dab-dst", "dab-late", "afrr-1", "settlement-1"):
        run, events = load(run_id)
        check_history(run_id, events)
        expect(run["status"] == "RUN_STATUS_COMPLETED", f"{run_id}: {run['status']}")

    run, events = load("dab-normal")
    r = result(run)
    expect(r["quarter_hours"] == 96, f"dab-normal: {r['quarter_hours']} quarter-hours")
    expect(r["fallback"] is False, "dab-normal took the fallback")
    retried = [e for e in events if e["type"] == "TaskFailed" and e["step"] == "submit"]
    expect(len(retried) == 1 and json.loads(retried[0]["payload_json"])["will_retry"],
           "dab-normal: the first submission should fail once and be retried")
    consumed = [json.loads(e["payload_json"])["signal"] for e in events if e["type"] == "SignalConsumed"]
    expect(consumed == ["exchange_ack", "auction_results"], f"dab-normal signals: {consumed}")
    started = [e for e in events if e["type"] == "RunStarted"][0]
    # The actor is the principal the engine authenticated; what the client claimed is a detail.
    claimed = lambda e: json.loads(e["payload_json"]).get("client_identity")
    expect(claimed(started) == "bid-optimiser", "dab-normal: started by the Python client's identity")
    acks = [e for e in events if e["type"] == "SignalReceived"]
    expect(len(acks) == 2 and all(claimed(e) == "exchange-simulator" for e in acks),
           "dab-normal: two signals from the simulator")

    run, events = load("dab-dst")
    expect(result(run)["quarter_hours"] == 92, "dab-dst: spring DST day must have 92 quarter-hours")

    run, events = load("dab-late")
    expect(result(run)["fallback"] is True, "dab-late: must take the fallback path")
    expect("DeadlinePassed" in types(events), "dab-late: no DeadlinePassed event")
    steps = [e["step"] for e in events if e["type"] == "TaskCompleted"]
    expect("fallback" in steps and "alert" in steps and "submit" not in steps, f"dab-late steps {steps}")
    alerts = open(os.path.join(STATE, "alerts.jsonl")).read()
    expect("dab-late" in alerts, "dab-late: the alert was not raised")

    run, events = load("afrr-1")
    r = result(run)
    expect(r["assets"] == 4, f"afrr-1: {r['assets']} assets dispatched")
    expect(0 < r["dispatch_ms"] < 30000, f"afrr-1: dispatch took {r['dispatch_ms']} ms")
    setpoints = [e for e in events if e["type"] == "TaskCompleted" and e["step"] == "setpoint"]
    expect(len(setpoints) == 4, f"afrr-1: {len(setpoints)} set-points")

    run, events = load("settlement-1")
    r = result(run)
    expect(r["periods"] == 96 and r["disputed"] is True, f"settlement-1 result {r}")
    resolution = [e for e in events if e["type"] == "SignalReceived"
                  and json.loads(e["payload_json"])["signal_name"] == "dispute_resolved"]
    expect(len(resolution) == 1 and claimed(resolution[0]) == "settlement-analyst",
           "settlement-1: the human decision is recorded with its actor")
    # Settlement revisions: revision 2 (settlement-1) superseded revision 1 (settlement-1-r1),
    # which was cancelled and compensated; the ledger booked one posting per revision and
    # reversed revision 1's.
    expect(r["revision"] == {"period": "2026-11-24", "number": 2, "supersedes": "settlement-1-r1"},
           f"settlement-1 revision {r.get('revision')}")
    old, old_events = load("settlement-1-r1")
    check_history("settlement-1-r1", old_events)
    expect(old["status"] == "RUN_STATUS_CANCELLED" and old.get("superseded_by_workflow_id") == "settlement-1",
           f"settlement-1-r1: {old['status']}, superseded by {old.get('superseded_by_workflow_id')}")
    expect("CompensationStarted" in types(old_events), "settlement-1-r1: no compensation ran")
    postings = json.load(open(os.path.join(STATE, "ledger.json")))["postings"]
    by_revision = {}
    for p in postings:
        by_revision.setdefault(p["revision"], []).append(p)
    expect(sorted(by_revision) == [1, 2] and all(len(v) == 1 for v in by_revision.values()),
           f"ledger: not one posting per revision: {postings}")
    if sorted(by_revision) == [1, 2]:
        expect(by_revision[1][0]["status"] == "reversed" and by_revision[2][0]["status"] == "booked",
               f"ledger: revision 1 should be reversed, revision 2 booked: {postings}")
        expect(by_revision[2][0]["client_order_id"] == "default/imbalance-settlement/2026-11-24/r2:provisional",
               f"ledger: revision 2's key {by_revision[2][0]['client_order_id']}")

    if failures:
        print("energy examples: FAILED\n  " + "\n  ".join(failures))
        return 1
    print("energy examples: OK (day-ahead normal, DST day, missed deadline; activation in "
          f"{result(load('afrr-1')[0])['dispatch_ms']} ms; settlement revised once, with dispute)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
