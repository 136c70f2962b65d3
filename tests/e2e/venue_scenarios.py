#!/usr/bin/python3
"""What the day-ahead example promises about the exchange, checked against the simulated exchange:

  late-original  The original submission is stuck in the network past the safety deadline; the
                 fallback is booked; when the original arrives it is refused (its fencing token is
                 older than the fallback's): the exchange holds exactly one order for the day.
  cancelled      A run cancelled after its bid was booked runs its compensation: the order is
                 withdrawn at the exchange.
  zombie         The worker submitting the bid freezes (SIGSTOP) with its request stuck in the
                 network; its lease expires and another worker submits and books the order; the
                 stuck request then arrives with the older fencing token and is refused, and the
                 frozen worker's late report is refused by the engine: one order, one outcome.

Run by tests/e2e/energy_examples_test.sh after start_examples (engine, simulator, worker).
"""
import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
from gridflow_client import GridflowClient, GridflowError  # noqa: E402
from gridflow.v1 import types_pb2, workflow_service_pb2  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FAILURES = []


def expect(condition, message):
    if not condition:
        FAILURES.append(message)
        print(f"FAILED: {message}", file=sys.stderr)


def http(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"},
                                     method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_until(what, condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


class Scenarios:
    def __init__(self, args):
        self.args = args
        self.client = GridflowClient(args.engine, identity="venue-test")
        self.simulator = args.simulator
        self.base_input = json.load(open(os.path.join(ROOT, "examples", "day-ahead", "input.json")))
        self.day = (datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Berlin")).date()
                    + datetime.timedelta(days=3)).isoformat()

    def start(self, workflow_id, portfolio, **overrides):
        run_input = dict(self.base_input, delivery_day=self.day, portfolio=portfolio, **overrides)
        self.client.start_run(workflow_id, "day-ahead-bid", run_input)

    def behave(self, workflow_id, **settings):
        http(f"{self.simulator}/admin/workflows/{workflow_id}", settings)

    def release(self, workflow_id):
        http(f"{self.simulator}/admin/workflows/{workflow_id}/release", {})

    def book(self, portfolio):
        book = http(f"{self.simulator}/exchange/book")
        orders = [o for o in book["orders"] if o["portfolio"] == portfolio and o["delivery_day"] == self.day]
        return orders, book["refused"]

    def events(self, workflow_id, event_type, step=None):
        return [e for e in self.client.history(workflow_id)
                if e.type == event_type and (step is None or e.step == step)]

    def wait_closed(self, workflow_id, timeout=90.0):
        return wait_until(f"{workflow_id} to close", lambda: (
            lambda run: run if run.status in (types_pb2.RUN_STATUS_COMPLETED, types_pb2.RUN_STATUS_FAILED,
                                              types_pb2.RUN_STATUS_CANCELLED, types_pb2.RUN_STATUS_TERMINATED)
            else None)(self.client.get_run(workflow_id)), timeout)

    def held(self):
        return http(f"{self.simulator}/admin/held")["held"]

    def late_original(self):
        wid, portfolio = "venue-late-original", "pf-late"
        self.behave(wid, hold_first_submission=True, fail_first=0)
        # The safety deadline (gate closure - margin) 6 s from now.
        closure = datetime.datetime.fromisoformat(f"{(datetime.date.fromisoformat(self.day) - datetime.timedelta(days=1)).isoformat()}T12:00:00").replace(
            tzinfo=zoneinfo.ZoneInfo("Europe/Brussels"))
        margin_ms = int((closure - datetime.datetime.now(datetime.timezone.utc)).total_seconds() * 1000) - 6000
        self.start(wid, portfolio, safety_margin=f"{margin_ms}ms")
        wait_until("the original submission to be stuck", lambda: len(self.held()) == 1)
        wait_until("the fallback to be booked",
                   lambda: any(o["fallback"] and o["status"] == "active" for o in self.book(portfolio)[0]), 30)
        self.release(wid)  # the original arrives, late
        run = self.wait_closed(wid)
        expect(run.status == types_pb2.RUN_STATUS_COMPLETED, f"{wid}: {run.status}")
        expect(json.loads(run.result_json).get("fallback") is True, f"{wid}: did not take the fallback")
        orders, refused = self.book(portfolio)
        expect(len(orders) == 1 and orders[0]["fallback"] and orders[0]["status"] == "active",
               f"{wid}: the exchange should hold exactly the fallback order, holds {orders}")
        expect(any(r["client_order_id"].endswith(":submit") for r in refused
                   if r["client_order_id"].startswith(run.run_id)),
               f"{wid}: the late original was not refused: {refused}")
        expect(len(self.events(wid, "DeadlinePassed")) == 1, f"{wid}: no DeadlinePassed")

    def cancelled(self):
        wid, portfolio = "venue-cancelled", "pf-cancel"
        self.behave(wid, fail_first=0, ack_delay=600)  # the exchange takes its time to acknowledge
        self.start(wid, portfolio)
        wait_until("the bid to be booked and the run to wait for the acknowledgement",
                   lambda: self.client.get_run(wid).current_step == "exchange_ack")
        orders, _ = self.book(portfolio)
        expect(len(orders) == 1 and orders[0]["status"] == "active", f"{wid}: booked {orders}")
        self.client.cancel(wid, "the desk withdrew the bid before the auction")
        run = self.wait_closed(wid)
        expect(run.status == types_pb2.RUN_STATUS_CANCELLED, f"{wid}: {run.status}")
        orders, _ = self.book(portfolio)
        expect(len(orders) == 1 and orders[0]["status"] == "withdrawn",
               f"{wid}: the order should be withdrawn at the exchange: {orders}")
        compensated = [e for e in self.events(wid, "TaskCompleted", "submit")
                       if json.loads(e.payload_json).get("result", {}).get("status") == "withdrawn"]
        expect(len(compensated) == 1, f"{wid}: no completed withdraw_bid compensation in the history")

    def terminated(self):
        """An operator terminates a run: a client waiting for it sees it end (TERMINATED is final)."""
        wid = "venue-terminated"
        self.behave(wid, fail_first=0, ack_delay=600)
        self.start(wid, "pf-terminated")
        wait_until("the run to wait for the acknowledgement",
                   lambda: self.client.get_run(wid).current_step == "exchange_ack")
        self.client._call(self.client._stub.TerminateRun, workflow_service_pb2.TerminateRunRequest(
            workflow_id=wid, reason="venue outage drill", identity="operator"))
        run = self.client.wait(wid, timeout=10)
        expect(run.status == types_pb2.RUN_STATUS_TERMINATED, f"{wid}: {run.status}")

    def zombie(self):
        wid, portfolio = "venue-zombie", "pf-zombie"
        self.behave(wid, hold_first_submission=True, fail_first=0)
        handlers = os.path.join(ROOT, "examples", "handlers", "energy.py")
        log = open(os.path.join(self.args.state, "standby-worker.log"), "w")
        standby = subprocess.Popen(
            [os.path.join(self.args.build_dir, "worker", "gridflow-worker"), "--address", self.args.engine,
             "--identity", "exchange-standby", "--queue", "exchange", "--concurrency", "4"]
            + [a for t in ("submit_bid", "submit_default_bid", "withdraw_bid")
               for a in ("--handler", f"{t}=/usr/bin/python3 {handlers} {t}")],
            stdout=log, stderr=subprocess.STDOUT)
        workers = {self.args.worker_identity: self.args.worker_pid, "exchange-standby": standby.pid}
        stopped = None
        try:
            self.start(wid, portfolio)
            owner = wait_until("the submission to be leased and stuck at the exchange", lambda: next(
                (t.lease_owner for t in self.client.describe(wid).open_tasks
                 if t.step == "submit" and t.state == "LEASED" and self.held()), None))
            stopped = workers[owner]
            os.kill(stopped, signal.SIGSTOP)  # the worker freezes: no more heartbeats
            wait_until("the lease to expire and another worker to complete the submission",
                       lambda: self.events(wid, "TaskCompleted", "submit"), 90)
            self.release(wid)  # the frozen worker's request reaches the exchange, late
            wait_until("the stuck request to be refused by the exchange",
                       lambda: any(r["client_order_id"].startswith(self.client.get_run(wid).run_id)
                                   for r in self.book(portfolio)[1]), 30)
            os.kill(stopped, signal.SIGCONT)
            stopped = None
            run = self.wait_closed(wid)
            expect(run.status == types_pb2.RUN_STATUS_COMPLETED, f"{wid}: {run.status}")
            orders, refused = self.book(portfolio)
            expect(len(orders) == 1, f"{wid}: the exchange should hold one order, holds {orders}")
            completed = self.events(wid, "TaskCompleted", "submit")
            expired = self.events(wid, "TaskLeaseExpired", "submit")
            completers = [json.loads(e.payload_json)["worker"] for e in completed]
            expect(len(completed) == 1 and completers[0] != owner,
                   f"{wid}: one completion, by the other worker ({completers})")
            expect(expired and all(json.loads(e.payload_json)["lease_owner"] == owner for e in expired),
                   f"{wid}: the frozen worker's lease (and only its) should have expired")
            token = json.loads(completed[0].payload_json)["lease_epoch"]
            expect(orders and orders[0]["fencing_token"] == token,
                   f"{wid}: the booked order should carry the successor's token {token}: {orders}")
            stale = [r for r in refused if r["client_order_id"] == orders[0]["client_order_id"]]
            expect(stale and all(r["fencing_token"] < token for r in stale),
                   f"{wid}: the stuck request should be refused for its older token: {refused}")
            # The frozen worker's report comes after its lease: refused, so nothing is recorded.
            expect(not self.events(wid, "TaskFailed", "submit"),
                   f"{wid}: the stale worker's report must not be recorded")
        finally:
            if stopped is not None:
                os.kill(stopped, signal.SIGCONT)
            standby.terminate()
            standby.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True)
    parser.add_argument("--simulator", required=True)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--worker-pid", type=int, required=True)
    parser.add_argument("--worker-identity", required=True)
    args = parser.parse_args()
    scenarios = Scenarios(args)
    for name in ("late_original", "cancelled", "terminated", "zombie"):
        print(f"== venue scenario: {name}", flush=True)
        getattr(scenarios, name)()
    if FAILURES:
        print(f"{len(FAILURES)} venue check(s) failed", file=sys.stderr)
        return 1
    print("venue scenarios: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
