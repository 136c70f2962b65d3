#!/usr/bin/python3
"""A simulated power exchange, TSO, asset fleet and metering service, so the energy examples run
offline. HTTP/JSON on localhost; it answers the example handlers and, like the real counterparts,
calls back into Gridflow with signals and starts settlement revisions (through the Python SDK).

Exchange  POST /exchange/orders       {client_order_id, fencing_token, workflow_id, portfolio, market,
                                        delivery_day, bids, fallback?, replaces?}
          A portfolio has at most one active order per market and delivery day, as on a real
          day-ahead exchange: a new order replaces the active one (which becomes "replaced").
          Idempotent on client_order_id. Fenced: a submission whose fencing token is lower than
          that of the same client order, or than that of the active order it would replace, is
          refused (409) - a worker that lost its lease cannot book after its successor, and a late
          original cannot displace the fallback that replaced it. Soon after accepting an order it
          signals the run: exchange_ack, then auction_results (for an order still active).
          --exchange-fail-first N: the first N submissions of each order get 503 (to show retries).
          POST /exchange/orders/<order_id>/withdraw {client_order_id, fencing_token}: the order
          stops being active (idempotent); GET /exchange/book: every order with its status.
Test hooks POST /admin/workflows/<workflow_id> {"hold_first_submission": bool, "fail_first": N,
          "ack_delay": seconds}: per-run behaviour; a held submission waits (unanswered) until
          POST /admin/workflows/<workflow_id>/release. GET /admin/held: held submissions.
TSO       POST /tso/acknowledgements, /tso/confirmations, /tso/reports
Assets    POST /assets/<id>/setpoint   {mw, activation_id}
Metering  POST /metering/publish       {workflow_id, day, periods, revision?} -> signal metering_data
          POST /metering/revisions     {definition, workflow_id, day, revision, periods, input}:
          a metering revision of the day (revision 1 preliminary, then corrections): starts that
          settlement revision (period = day; docs/revisions.md), which supersedes the older
          ones, then publishes the revision's data to it
Ledger    POST /ledger/postings        {client_order_id, fencing_token, workflow_id, day, total_eur,
                                        revision}: books a settlement; idempotent on client_order_id
          POST /ledger/postings/<posting_id>/reverse {client_order_id}: reverses it (idempotent)
          GET  /ledger                 every posting with its status
Invoices  POST /tso/invoices           {workflow_id, total_eur}    -> signal tso_invoice
          GET  /health, GET /exchange/orders/<id>, GET /stats
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

for candidate in (os.environ.get("GRIDFLOW_PYTHON_PATH"),
                  os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "python")):
    if candidate and os.path.isdir(candidate) and candidate not in sys.path:
        sys.path.insert(0, candidate)  # the Python SDK as the build places it (docs/sdk-python.md)
import gridflow  # noqa: E402


class World:
    """The simulated counterparts' state, shared by the request threads."""

    def __init__(self, client, fail_first, ack_delay):
        self.client = client
        self.fail_first = fail_first
        self.ack_delay = ack_delay
        self.lock = threading.Lock()
        self.orders = {}        # client_order_id -> order
        self.slots = {}         # (portfolio, market, delivery_day) -> client_order_id of the active order
        self.attempts = {}      # client_order_id -> submissions seen
        self.refused = []       # submissions refused for a stale fencing token
        self.setpoints = []
        self.tso = []
        self.behaviour = {}     # workflow_id -> {"hold_first_submission", "fail_first", "ack_delay"}
        self.holds = {}         # workflow_id -> threading.Event released by the test
        self.held = []          # client_order_ids waiting in a hold
        self.postings = {}      # client_order_id -> ledger posting

    def later(self, delay, fn, *args):
        timer = threading.Timer(delay, fn, args)
        timer.daemon = True
        timer.start()

    def signal(self, workflow_id, name, payload, dedup_id):
        # The SDK retries while the engine restarts; the dedup id makes that safe.
        try:
            self.client.signal(workflow_id, name, payload, dedup_id)
        except gridflow.GridflowError as e:
            print(f"simulator: signal {name} to {workflow_id} failed: {e}", file=sys.stderr)

    def setting(self, workflow_id, name, default):
        return self.behaviour.get(workflow_id, {}).get(name, default)

    def hold_if_asked(self, body):
        """A test hook: the first submission of a held run waits until the test releases it, as if
        the request had been stuck in the network."""
        workflow_id, key = body.get("workflow_id"), body["client_order_id"]
        with self.lock:
            first = key not in self.attempts and key not in self.held
            hold = first and not body.get("fallback") and self.setting(workflow_id, "hold_first_submission", False)
            if not hold:
                return
            event = self.holds.setdefault(workflow_id, threading.Event())
            self.held.append(key)
        event.wait(timeout=120)
        with self.lock:
            self.held.remove(key)

    def submit_order(self, body):
        self.hold_if_asked(body)
        key = body["client_order_id"]
        token = int(body.get("fencing_token", 0))
        workflow_id = body["workflow_id"]
        slot = (body.get("portfolio", workflow_id), body.get("market"), body.get("delivery_day"))
        with self.lock:
            self.attempts[key] = self.attempts.get(key, 0) + 1
            if self.attempts[key] <= self.setting(workflow_id, "fail_first", self.fail_first):
                return 503, {"error": "exchange gateway timeout"}
            existing = self.orders.get(key)
            if existing is not None:
                if token < existing["fencing_token"]:
                    return self.refuse(key, token, f"stale fencing token {token} < {existing['fencing_token']} "
                                                   f"for client order {key}")
                existing["fencing_token"] = token
                return 200, existing  # the same order: an exchange never books it twice
            active = self.orders.get(self.slots.get(slot))
            if active is not None and active["status"] == "active" and active["fencing_token"] > token:
                return self.refuse(key, token, f"stale fencing token {token}: order {active['order_id']} "
                                               f"(token {active['fencing_token']}) holds this portfolio's bid")
            bids = body.get("bids", [])
            order = {"order_id": f"EX-{len(self.orders) + 1:05d}", "client_order_id": key,
                     "workflow_id": workflow_id, "portfolio": slot[0], "market": slot[1],
                     "delivery_day": slot[2], "fencing_token": token, "quarter_hours": len(bids),
                     "status": "active", "fallback": bool(body.get("fallback", False)),
                     "replaces": body.get("replaces")}
            if active is not None and active["status"] == "active":
                active["status"] = "replaced"
                active["replaced_by"] = order["order_id"]
            self.orders[key] = order
            self.slots[slot] = key
            ack_delay = self.setting(workflow_id, "ack_delay", self.ack_delay)
        cleared = [round(b.get("volume_mw", 0) * 0.9, 2) for b in bids]
        self.later(ack_delay, self.signal, workflow_id, "exchange_ack",
                   {"order_id": order["order_id"], "accepted": len(bids) > 0}, "ack-" + order["order_id"])
        self.later(ack_delay * 2, self.publish_results, order, cleared)
        return 200, order

    def start(self, workflow_id, definition, run_input, period, revision):
        # Retried by the SDK while the engine restarts: the same start again is the same run.
        return self.client.start(workflow_id, definition, run_input, period=period, revision=revision)

    def metering(self, body):
        """The day's metered quarter-hours; a correction (revision > 1) revises them."""
        revision = int(body.get("revision", 1))
        correction = 0.25 * (revision - 1)
        periods = [{"period": i, "metered_mwh": round(10 + (i % 7) * 0.5 + correction, 2),
                    "nominated_mwh": 10.0} for i in range(int(body.get("periods", 96)))]
        self.signal(body["workflow_id"], "metering_data",
                    {"day": body.get("day"), "revision": revision, "periods": periods},
                    f"metering-{body.get('day')}-r{revision}")
        return len(periods)

    def post_settlement(self, body):
        key = body["client_order_id"]
        with self.lock:
            posting = self.postings.get(key)
            if posting is None:
                posting = {"posting_id": f"LG-{len(self.postings) + 1:05d}", "client_order_id": key,
                           "workflow_id": body.get("workflow_id"), "day": body.get("day"),
                           "revision": body.get("revision"), "total_eur": body.get("total_eur"),
                           "status": "booked"}
                self.postings[key] = posting
            return 200, posting

    def reverse_posting(self, posting_id, body):
        with self.lock:
            posting = next((p for p in self.postings.values() if p["posting_id"] == posting_id), None)
            if posting is None:
                return 404, {"error": f"no posting {posting_id}"}
            if posting["status"] == "booked":
                posting["status"] = "reversed"
                posting["reversed_by"] = body.get("client_order_id")
            return 200, posting

    def refuse(self, key, token, message):
        self.refused.append({"client_order_id": key, "fencing_token": token, "reason": message})
        return 409, {"error": message}

    def publish_results(self, order, cleared):
        with self.lock:
            if order["status"] != "active":
                return  # replaced or withdrawn: no results for it
        self.signal(order["workflow_id"], "auction_results",
                    {"order_id": order["order_id"], "cleared_mw": cleared,
                     "cleared_mwh": round(sum(cleared) / 4, 2)}, "results-" + order["order_id"])

    def withdraw_order(self, order_id, body):
        with self.lock:
            order = next((o for o in self.orders.values() if o["order_id"] == order_id), None)
            if order is None:
                return 404, {"error": f"no order {order_id}"}
            if order["status"] == "active":
                order["status"] = "withdrawn"
                order["withdrawn_by"] = body.get("client_order_id")
            return 200, order


def make_handler(world):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # quiet
            pass

        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health":
                return self.reply(200, {"ok": True})
            if self.path == "/stats":
                with world.lock:
                    return self.reply(200, {"orders": len(world.orders), "setpoints": len(world.setpoints),
                                            "tso_messages": len(world.tso)})
            if self.path == "/ledger":
                with world.lock:
                    return self.reply(200, {"postings": list(world.postings.values())})
            if self.path == "/exchange/book":
                with world.lock:
                    return self.reply(200, {"orders": list(world.orders.values()), "refused": world.refused})
            if self.path == "/admin/held":
                with world.lock:
                    return self.reply(200, {"held": list(world.held)})
            if self.path.startswith("/exchange/orders/"):
                key = self.path.rsplit("/", 1)[1]
                with world.lock:
                    order = next((o for o in world.orders.values() if o["order_id"] == key), None)
                return self.reply(200 if order else 404, order or {"error": "no such order"})
            return self.reply(404, {"error": "not found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/exchange/orders":
                return self.reply(*world.submit_order(body))
            if self.path.startswith("/exchange/orders/") and self.path.endswith("/withdraw"):
                return self.reply(*world.withdraw_order(self.path.split("/")[3], body))
            if self.path.startswith("/admin/workflows/"):
                parts = self.path.split("/")
                workflow_id = parts[3]
                with world.lock:
                    if len(parts) > 4 and parts[4] == "release":
                        world.holds.setdefault(workflow_id, threading.Event()).set()
                    else:
                        world.behaviour[workflow_id] = body
                return self.reply(200, {"ok": True})
            if self.path.startswith("/assets/") and self.path.endswith("/setpoint"):
                asset = self.path.split("/")[2]
                ack = {"asset": asset, "mw": body.get("mw"), "activation_id": body.get("activation_id"),
                       "acknowledged_at": time.time()}
                with world.lock:
                    world.setpoints.append(ack)
                return self.reply(200, ack)
            if self.path in ("/tso/acknowledgements", "/tso/confirmations", "/tso/reports"):
                with world.lock:
                    world.tso.append({"kind": self.path.rsplit("/", 1)[1], **body})
                return self.reply(200, {"ok": True, "received_at": time.time()})
            if self.path == "/metering/publish":
                return self.reply(200, {"ok": True, "periods": world.metering(body)})
            if self.path == "/metering/revisions":
                try:
                    started = world.start(body["workflow_id"], body["definition"], body.get("input", {}),
                                          body["day"], int(body["revision"]))
                except gridflow.GridflowError as e:  # e.g. an older revision than one settled
                    return self.reply(409, {"error": str(e)})
                periods = world.metering(body)
                return self.reply(200, {"ok": True, "periods": periods, "created": started.created,
                                        "supersedes": started.run.supersedes_workflow_id})
            if self.path == "/ledger/postings":
                return self.reply(*world.post_settlement(body))
            if self.path.startswith("/ledger/postings/") and self.path.endswith("/reverse"):
                return self.reply(*world.reverse_posting(self.path.split("/")[3], body))
            if self.path == "/tso/invoices":
                world.signal(body["workflow_id"], "tso_invoice", {"total_eur": body.get("total_eur")},
                             "invoice-" + body["workflow_id"])
                return self.reply(200, {"ok": True})
            return self.reply(404, {"error": "not found"})

    return Handler


def main():
    parser = argparse.ArgumentParser(description="Simulated exchange, TSO, assets and metering")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--engine", default=os.environ.get("GRIDFLOW_ADDRESS", "localhost:7233"))
    parser.add_argument("--exchange-fail-first", type=int, default=0)
    parser.add_argument("--ack-delay", type=float, default=0.2)
    args = parser.parse_args()
    world = World(gridflow.Client(args.engine, identity="exchange-simulator", retry_timeout=60),
                  args.exchange_fail_first,
                  args.ack_delay)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(world))
    print(f"simulator listening on 127.0.0.1:{args.port}, calling Gridflow at {args.engine}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
