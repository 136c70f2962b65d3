#!/usr/bin/python3
"""Example task handlers for the three energy processes, served two ways:

- as external commands of gridflow-worker (any language can do this; a process per task):
      gridflow-worker --handler 'forecast=/usr/bin/python3 energy.py forecast' ...
  Each reads the task input (JSON) on stdin and prints the result (JSON) on stdout. Failures print
  {"error": {"type", "message", "retryable"}} and exit non-zero.
- in one process by the Python SDK's worker (docs/sdk-python.md), which suits short, numerous
  tasks such as the settlement's per-quarter-hour computations:
      python3 energy.py --serve ADDRESS --queue settlement [--concurrency 16]
 The exchange, the TSO, the assets
and the metering service are the simulator (GRIDFLOW_SIMULATOR_URL, default http://127.0.0.1:8089).
Calls to external venues carry the task's idempotency key and lease epoch (fencing token).
"""
import argparse
import json
import math
import os
import sys
import threading
import urllib.error
import urllib.request

SIMULATOR = os.environ.get("GRIDFLOW_SIMULATOR_URL", "http://127.0.0.1:8089")
ALERTS = os.environ.get("GRIDFLOW_ALERTS_FILE", "")


class TaskError(Exception):
    def __init__(self, error_type, message, retryable=True):
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable


def post(path, body):
    request = urllib.request.Request(SIMULATOR + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        detail = json.load(e).get("error", str(e))
        if e.code == 409:
            raise TaskError("FencingRejected", detail, retryable=False)
        if 400 <= e.code < 500:
            raise TaskError("Rejected", detail, retryable=False)
        raise TaskError("VenueUnavailable", f"{path}: HTTP {e.code}: {detail}")
    except OSError as e:
        raise TaskError("VenueUnavailable", f"{path}: {e}")


# The task being handled: from the environment (external command) or the SDK's task context.
_TASK = threading.local()


def current(field):
    """idempotency_key, lease_epoch, workflow_id or run_id of the task being handled."""
    values = getattr(_TASK, "values", None)
    if values is not None:
        return values[field]
    return os.environ["GRIDFLOW_" + field.upper()]


def venue_identity():
    """What a venue needs to deduplicate and fence this task's calls."""
    return {"client_order_id": current("idempotency_key"),
            "fencing_token": int(current("lease_epoch")),
            "workflow_id": current("workflow_id")}


# ---- day-ahead bid ----

def forecast(task):
    qhs = task["quarter_hours"]
    capacity = float(task["capacity_mw"])
    seed = sum(map(ord, task["portfolio"] + qhs[0]["start"]))
    values = [round(capacity * (0.45 + 0.35 * math.sin((i + seed) / 9.0) * math.cos(i / 31.0)), 2)
              for i in range(len(qhs))]
    return {"forecast_mw": values, "quarter_hours": len(qhs)}


def optimise(task):
    floor = float(task["price_floor_eur_mwh"])
    bids = []
    for i, mw in enumerate(task["forecast_mw"]):
        peak = 1.0 if 68 <= i < 84 else 0.0  # the evening peak prices higher
        bids.append({"qh": i, "volume_mw": mw, "price_eur_mwh": round(max(floor, 35 + 40 * peak - mw / 10), 2)})
    return {"bids": bids, "total_mwh": round(sum(b["volume_mw"] for b in bids) / 4, 2)}


def submit_bid(task):
    order = post("/exchange/orders", {**venue_identity(), "portfolio": task["portfolio"], "market": task["market"],
                                      "delivery_day": task["delivery_day"], "bids": task["bids"]})
    return {"order_id": order["order_id"], "client_order_id": order["client_order_id"],
            "quarter_hours": order["quarter_hours"]}


def submit_default_bid(task):
    bids = task.get("bids") or [{"qh": i, "volume_mw": 0.0, "price_eur_mwh": -500.0} for i in range(96)]
    # The exchange keeps one active order per portfolio, market and day: this one replaces whatever
    # was booked, and (having the newer fencing token) cannot be displaced by a late original.
    order = post("/exchange/orders", {**venue_identity(), "portfolio": task["portfolio"], "market": task["market"],
                                      "fallback": True, "replaces": task.get("replaces"),
                                      "delivery_day": task["delivery_day"], "bids": bids})
    return {"order_id": order["order_id"], "fallback": True, "reason": task.get("reason")}


def withdraw_bid(task):
    """The submission's compensation (the run failed or was cancelled): take the order off the book."""
    order = post(f"/exchange/orders/{task['order_id']}/withdraw", venue_identity())
    return {"withdrawn": order["order_id"], "status": order["status"]}


def nominate(task):
    post("/tso/reports", {"kind": "nomination", "delivery_day": task["delivery_day"],
                          "volumes_mw": task["cleared_mw"]})
    return {"nominated_quarter_hours": len(task["cleared_mw"])}


def raise_alert(task):
    if ALERTS:
        with open(ALERTS, "a") as f:
            f.write(json.dumps({"workflow_id": current("workflow_id"), **task}) + "\n")
    print(f"ALERT [{task.get('severity', 'high')}]: {task.get('message')}", file=sys.stderr)
    return {"alerted": True}


# ---- activation order ----

def acknowledge_activation(task):
    return post("/tso/acknowledgements", {"activation_id": task["activation_id"]})


def setpoint(task):
    return post(f"/assets/{task['asset']}/setpoint", {"mw": task["mw"], "activation_id": task["activation_id"]})


def confirm_activation(task):
    post("/tso/confirmations", {"activation_id": task["activation_id"], "setpoints": len(task["setpoints"])})
    return {"confirmed": True, "dispatch_ms": task["dispatch_ms"]}


def report_activation(task):
    post("/tso/reports", {"kind": "activation", **task})
    return {"reported": True}


# ---- imbalance settlement ----

def validate_metering(task):
    periods = task["periods"]
    if len(periods) != task["expected"]:
        return {"valid": False, "reason": f"{len(periods)} periods metered, {task['expected']} expected"}
    return {"valid": True, "periods": periods}


def compute_period(task):
    p = task["period"]
    imbalance = round(p["metered_mwh"] - p["nominated_mwh"], 3)
    return {"period": p["period"], "imbalance_mwh": imbalance,
            "cost_eur": round(imbalance * float(task["price_eur_mwh"]), 2)}


def reconcile(task):
    ours = round(sum(c["cost_eur"] for c in task["costs"]), 2)
    difference = round(float(task["invoice_eur"]) - ours, 2)
    return {"our_total_eur": ours, "invoice_eur": task["invoice_eur"], "difference_eur": difference,
            "matches": abs(difference) <= float(task["tolerance_eur"])}


def open_dispute(task):
    return {"dispute_id": "DSP-" + current("run_id")[:8], "difference_eur": task["difference_eur"]}


def post_settlement(task):
    """Books a revision's provisional settlement. The idempotency key names the revision
    (<namespace>/<definition>/<period>/r<n>:provisional): the ledger books it once per revision."""
    total = round(sum(c["cost_eur"] for c in task["costs"]), 2)
    revision = task.get("revision") or {}
    return post("/ledger/postings", {**venue_identity(), "day": task["day"], "total_eur": total,
                                     "revision": revision.get("number")})


def reverse_settlement(task):
    """Reverses a superseded (or failed) revision's provisional posting: the compensation."""
    return post(f"/ledger/postings/{task['posting_id']}/reverse", venue_identity())


def close_settlement(task):
    return {"closed": True, **task}


HANDLERS = {f.__name__: f for f in (
    forecast, optimise, submit_bid, submit_default_bid, withdraw_bid, nominate, raise_alert,
    acknowledge_activation, setpoint, confirm_activation, report_activation,
    validate_metering, compute_period, post_settlement, reverse_settlement, reconcile, open_dispute,
    close_settlement)}


def serve(argv):
    """Serves every handler from one process with the Python SDK's worker."""
    import gridflow  # the SDK: pip-installed, or build/python on PYTHONPATH

    parser = argparse.ArgumentParser(prog="energy.py --serve")
    parser.add_argument("address")
    parser.add_argument("--queue", action="append", required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--identity", default=None)
    args = parser.parse_args(argv)
    worker = gridflow.Worker(args.address, queues=args.queue, concurrency=args.concurrency,
                             identity=args.identity)

    def adapt(fn):
        def handle(ctx):
            _TASK.values = {"idempotency_key": ctx.idempotency_key, "lease_epoch": ctx.lease_epoch,
                            "workflow_id": ctx.workflow_id, "run_id": ctx.run_id}
            try:
                return fn(ctx.input)
            except TaskError as e:
                raise gridflow.TaskError(e.error_type, str(e), retryable=e.retryable) from None
            finally:
                _TASK.values = None
        return handle

    for name, fn in HANDLERS.items():
        worker.task(name)(adapt(fn))
    worker.run()
    return 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--serve":
        return serve(sys.argv[2:])
    if len(sys.argv) != 2 or sys.argv[1] not in HANDLERS:
        print(f"usage: energy.py {{{','.join(sorted(HANDLERS))}}}", file=sys.stderr)
        return 2
    try:
        json.dump(HANDLERS[sys.argv[1]](json.load(sys.stdin)), sys.stdout)
        return 0
    except TaskError as e:
        json.dump({"error": {"type": e.error_type, "message": str(e), "retryable": e.retryable}}, sys.stdout)
        return 1


if __name__ == "__main__":
    sys.exit(main())
