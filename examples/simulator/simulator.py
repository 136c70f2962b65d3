#!/usr/bin/python3
"""A simulated power exchange, TSO, asset fleet and metering service, so the energy examples run
offline. HTTP/JSON on localhost; it answers the example handlers and, like the real counterparts,
calls back into Gridflow with signals (through the Python client).

Exchange  POST /exchange/orders       {client_order_id, fencing_token, workflow_id, bids, ...}
          Idempotent on client_order_id; a lower fencing token than one already seen is refused
          (409): a superseded attempt cannot overwrite a newer one. Soon after accepting an order
          it signals the run: exchange_ack, then auction_results.
          --exchange-fail-first N: the first N submissions of each order get 503 (to show retries).
TSO       POST /tso/acknowledgements, /tso/confirmations, /tso/reports
Assets    POST /assets/<id>/setpoint   {mw, activation_id}
Metering  POST /metering/publish       {workflow_id, day, periods} -> signal metering_data
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from gridflow_client import GridflowClient  # noqa: E402


class World:
    """The simulated counterparts' state, shared by the request threads."""

    def __init__(self, client, fail_first, ack_delay):
        self.client = client
        self.fail_first = fail_first
        self.ack_delay = ack_delay
        self.lock = threading.Lock()
        self.orders = {}        # client_order_id -> order
        self.attempts = {}      # client_order_id -> submissions seen
        self.setpoints = []
        self.tso = []

    def later(self, delay, fn, *args):
        timer = threading.Timer(delay, fn, args)
        timer.daemon = True
        timer.start()

    def signal(self, workflow_id, name, payload, dedup_id):
        for attempt in range(20):  # the engine may be restarting; the dedup id makes retries safe
            try:
                self.client.signal(workflow_id, name, payload, dedup_id)
                return
            except Exception as e:  # noqa: BLE001
                print(f"simulator: signal {name} to {workflow_id} failed ({e}); retrying", file=sys.stderr)
                time.sleep(min(0.1 * 2 ** attempt, 2))

    def submit_order(self, body):
        key = body["client_order_id"]
        token = int(body.get("fencing_token", 0))
        with self.lock:
            self.attempts[key] = self.attempts.get(key, 0) + 1
            if self.attempts[key] <= self.fail_first:
                return 503, {"error": "exchange gateway timeout"}
            existing = self.orders.get(key)
            if existing is not None:
                if token < existing["fencing_token"]:
                    return 409, {"error": f"stale fencing token {token} < {existing['fencing_token']}"}
                existing["fencing_token"] = token
                return 200, existing  # the same order: an exchange never books it twice
            bids = body.get("bids", [])
            order = {"order_id": f"EX-{len(self.orders) + 1:05d}", "client_order_id": key,
                     "fencing_token": token, "quarter_hours": len(bids), "status": "received",
                     "fallback": bool(body.get("fallback", False))}
            self.orders[key] = order
        workflow_id = body["workflow_id"]
        cleared = [round(b.get("volume_mw", 0) * 0.9, 2) for b in bids]
        self.later(self.ack_delay, self.signal, workflow_id, "exchange_ack",
                   {"order_id": order["order_id"], "accepted": len(bids) > 0}, "ack-" + order["order_id"])
        self.later(self.ack_delay * 2, self.signal, workflow_id, "auction_results",
                   {"order_id": order["order_id"], "cleared_mw": cleared,
                    "cleared_mwh": round(sum(cleared) / 4, 2)}, "results-" + order["order_id"])
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
                periods = [{"period": i, "metered_mwh": round(10 + (i % 7) * 0.5, 2),
                            "nominated_mwh": 10.0} for i in range(int(body.get("periods", 96)))]
                world.signal(body["workflow_id"], "metering_data", {"day": body.get("day"), "periods": periods},
                             "metering-" + str(body.get("day")))
                return self.reply(200, {"ok": True, "periods": len(periods)})
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
    world = World(GridflowClient(args.engine, identity="exchange-simulator"), args.exchange_fail_first,
                  args.ack_delay)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(world))
    print(f"simulator listening on 127.0.0.1:{args.port}, calling Gridflow at {args.engine}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
