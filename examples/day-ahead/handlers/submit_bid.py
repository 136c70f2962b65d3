#!/usr/bin/env python3
"""Submit the bid to the (simulated) exchange (gridflow-worker handler).

The exchange deduplicates on the client order id, so the task's idempotency key is sent as that id:
a retried or re-executed submission can never place the bid twice. The simulated gateway times out
on the first attempt, to show a retry in the run's history. An empty bid is rejected for good.
"""
import json
import os
import sys
import time


def fail(error_type: str, message: str, retryable: bool) -> None:
    json.dump({"error": {"type": error_type, "message": message, "retryable": retryable}}, sys.stdout)
    sys.exit(1)


def main() -> None:
    data = json.load(sys.stdin)
    bids = data["optimise"]["bids"]
    if not bids:
        fail("BidRejected", "the exchange rejects an empty bid", retryable=False)
    if os.environ.get("GRIDFLOW_ATTEMPT") == "1":
        time.sleep(0.2)
        print("exchange gateway timed out after 200ms", file=sys.stderr)
        sys.exit(75)
    key = os.environ["GRIDFLOW_IDEMPOTENCY_KEY"]
    json.dump({
        "exchange_order_id": "EX-" + key.split(":")[0][:8].upper(),
        "client_order_id": key,
        "fencing_token": int(os.environ["GRIDFLOW_LEASE_EPOCH"]),
        "quarter_hours": len(bids),
        "status": "received",
    }, sys.stdout)


if __name__ == "__main__":
    main()
