#!/usr/bin/python3
"""A small Python client for Gridflow's gRPC API (gridflow.v1), as a trading app would use it.

It uses Debian's python3-grpcio and the code generated from proto/ at build time
(<build>/python, on PYTHONPATH or found next to the build). Library and command line:

    client = GridflowClient("localhost:7233", identity="bid-optimiser")
    client.start_run("dab-2026-11-26", "day-ahead-bid", {"delivery_day": "2026-11-26", ...})
    client.signal("dab-2026-11-26", "exchange_ack", {"accepted": True}, dedup_id="EX-1")

    gridflow_client.py --address localhost:7233 start day-ahead-bid --id X --input-file in.json
    gridflow_client.py --address localhost:7233 signal X exchange_ack --payload '{"accepted": true}'
    gridflow_client.py --address localhost:7233 wait X --timeout 60
"""
import argparse
import json
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
for candidate in (os.environ.get("GRIDFLOW_PYTHON_PATH"),
                  os.path.join(_HERE, "..", "..", "build", "python")):
    if candidate and os.path.isdir(candidate) and candidate not in sys.path:
        sys.path.insert(0, candidate)

import grpc  # noqa: E402
from gridflow.v1 import types_pb2, workflow_service_pb2, workflow_service_pb2_grpc  # noqa: E402

CLOSED = {types_pb2.RUN_STATUS_COMPLETED, types_pb2.RUN_STATUS_FAILED, types_pb2.RUN_STATUS_CANCELLED,
          types_pb2.RUN_STATUS_TERMINATED}


class GridflowError(Exception):
    """A call the engine refused; `code` is the grpc.StatusCode."""

    def __init__(self, code, message):
        super().__init__(f"{code.name}: {message}")
        self.code = code


def open_channel(address, tls_ca=None, tls_cert=None, tls_key=None, token=None, tls=False):
    """A channel to the engine: plaintext, or TLS (with the system's CAs unless tls_ca) with an
    optional client certificate (mutual TLS) and bearer token. A token is only sent over TLS."""
    if not (tls or tls_ca or tls_cert or token):
        return grpc.insecure_channel(address)
    if bool(tls_cert) != bool(tls_key):
        raise ValueError("a client certificate needs its key (tls_cert and tls_key)")
    read = lambda path: open(path, "rb").read() if path else None
    credentials = grpc.ssl_channel_credentials(read(tls_ca), read(tls_key), read(tls_cert))
    if token:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token))
    return grpc.secure_channel(address, credentials)


class GridflowClient:
    def __init__(self, address, namespace="", identity="python-client", timeout=10.0, channel=None):
        self._channel = channel or grpc.insecure_channel(address)
        self._stub = workflow_service_pb2_grpc.WorkflowServiceStub(self._channel)
        self.namespace = namespace
        self.identity = identity
        self.timeout = timeout

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise GridflowError(e.code(), e.details()) from None

    def register(self, definition):
        text = definition if isinstance(definition, str) else json.dumps(definition)
        return self._call(self._stub.RegisterDefinition, workflow_service_pb2.RegisterDefinitionRequest(
            namespace=self.namespace, definition_json=text, identity=self.identity))

    def start_run(self, workflow_id, definition, run_input, version=0, period="", revision=0):
        """Starts a run; repeating it with the same id and input returns the same run. With a
        period and revision, the run is that settlement revision (docs/revisions.md): it
        supersedes older revisions of the period, whose open runs are cancelled."""
        return self._call(self._stub.StartRun, workflow_service_pb2.StartRunRequest(
            namespace=self.namespace, workflow_id=workflow_id, definition_name=definition,
            definition_version=version, input_json=json.dumps(run_input), identity=self.identity,
            period=period, revision=revision))

    def signal(self, workflow_id, name, payload=None, dedup_id=""):
        return self._call(self._stub.SignalRun, workflow_service_pb2.SignalRunRequest(
            namespace=self.namespace, workflow_id=workflow_id, signal_name=name,
            payload_json=json.dumps(payload), dedup_id=dedup_id, identity=self.identity)).accepted

    def get_run(self, workflow_id):
        return self._call(self._stub.GetRun, workflow_service_pb2.GetRunRequest(
            namespace=self.namespace, workflow_id=workflow_id))

    def describe(self, workflow_id):
        """The run with its current steps, open tasks (lease holders) and pending timers."""
        return self._call(self._stub.DescribeRun, workflow_service_pb2.DescribeRunRequest(
            namespace=self.namespace, workflow_id=workflow_id))

    def cancel(self, workflow_id, reason):
        """Asks the run to stop; its completed steps' compensations run before it ends CANCELLED."""
        return self._call(self._stub.CancelRun, workflow_service_pb2.CancelRunRequest(
            namespace=self.namespace, workflow_id=workflow_id, reason=reason,
            identity=self.identity)).run

    def history(self, workflow_id):
        events, token = [], ""
        while True:
            page = self._call(self._stub.GetHistory, workflow_service_pb2.GetHistoryRequest(
                namespace=self.namespace, workflow_id=workflow_id, page_size=1000, page_token=token))
            events.extend(page.events)
            token = page.next_page_token
            if not token:
                return events

    def wait(self, workflow_id, timeout=60.0, poll=0.2):
        """Waits until the run is closed; returns it (raises TimeoutError otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(workflow_id)
            if run.status in CLOSED:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {workflow_id} still {types_pb2.RunStatus.Name(run.status)}")
            time.sleep(poll)


def status_name(status):
    return types_pb2.RunStatus.Name(status).replace("RUN_STATUS_", "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=os.environ.get("GRIDFLOW_ADDRESS", "localhost:7233"))
    parser.add_argument("--identity", default="python-client")
    env = os.environ.get
    parser.add_argument("--tls", action="store_true", default=bool(env("GRIDFLOW_TLS")),
                        help="connect with TLS (the system's CAs unless --tls-ca)")
    parser.add_argument("--tls-ca", default=env("GRIDFLOW_TLS_CA"), help="CA of the engine's certificate")
    parser.add_argument("--tls-cert", default=env("GRIDFLOW_TLS_CERT"), help="client certificate (mutual TLS)")
    parser.add_argument("--tls-key", default=env("GRIDFLOW_TLS_KEY"), help="client key (mutual TLS)")
    parser.add_argument("--token", default=env("GRIDFLOW_TOKEN"), help="bearer token (needs TLS)")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a run")
    start.add_argument("definition")
    start.add_argument("--id", required=True)
    start.add_argument("--input", default="{}")
    start.add_argument("--input-file")
    signal = commands.add_parser("signal", help="send a signal to a run")
    signal.add_argument("workflow_id")
    signal.add_argument("name")
    signal.add_argument("--payload", default="null")
    signal.add_argument("--dedup-id", default="")
    wait = commands.add_parser("wait", help="wait until a run ends")
    wait.add_argument("workflow_id")
    wait.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    try:
        channel = open_channel(args.address, args.tls_ca, args.tls_cert, args.tls_key, args.token,
                               args.tls)
    except (OSError, ValueError) as e:
        print(f"gridflow_client: {e}", file=sys.stderr)
        return 2
    client = GridflowClient(args.address, identity=args.identity, channel=channel)
    try:
        if args.command == "start":
            run_input = json.load(open(args.input_file)) if args.input_file else json.loads(args.input)
            response = client.start_run(args.id, args.definition, run_input)
            print(("started " if response.created else "already started ") + response.run.workflow_id)
        elif args.command == "signal":
            accepted = client.signal(args.workflow_id, args.name, json.loads(args.payload), args.dedup_id)
            print(f"signal {args.name} " + ("delivered" if accepted else "already delivered"))
        elif args.command == "wait":
            run = client.wait(args.workflow_id, args.timeout)
            print(f"{run.workflow_id}: {status_name(run.status)}")
            return 0 if run.status == types_pb2.RUN_STATUS_COMPLETED else 6
    except GridflowError as e:
        print(f"gridflow_client: {e}", file=sys.stderr)
        return 1
    except TimeoutError as e:
        print(f"gridflow_client: {e}", file=sys.stderr)
        return 7
    return 0


if __name__ == "__main__":
    sys.exit(main())
