"""The client: definitions, runs, history, signals and operators' actions over gridflow.v1.

    client = gridflow.Client("localhost:7233", identity="bid-optimiser")
    client.start("dab-2026-11-26", "day-ahead-bid", {"delivery_day": "2026-11-26"})
    result = client.wait_for_result("dab-2026-11-26", timeout=300)

Calls that are safe to repeat (docs/reliability.md, "Client retry policy") are retried on
UNAVAILABLE; refusals raise GridflowError subclasses carrying the code and the engine's message.
"""
import json
import time
import uuid

import grpc

from . import errors
from ._transport import Caller, open_channel
from .types import Event, Run, StartResult
from .v1 import types_pb2, workflow_service_pb2 as ws, workflow_service_pb2_grpc as ws_grpc


def _view(summary):
    return ws.RUN_VIEW_SUMMARY if summary else ws.RUN_VIEW_FULL


def _status_name(value):
    return types_pb2.RunStatus.Name(value)


def _status_value(name):
    return types_pb2.RunStatus.Value("RUN_STATUS_" + name.upper())


def _dump(value):
    return "" if value is None else json.dumps(value)


class Client:
    """Thread-safe. `address`: "host:port", or "dns:///name:port" to use every replica."""

    def __init__(self, address, namespace="default", identity="", tls=False, tls_ca=None,
                 tls_cert=None, tls_key=None, token=None, tls_server_name=None, timeout=30.0,
                 retry_timeout=30.0, channel=None):
        self.namespace = namespace
        self.identity = identity
        self.channel = channel or open_channel(address, tls=tls, tls_ca=tls_ca, tls_cert=tls_cert,
                                               tls_key=tls_key, token=token,
                                               tls_server_name=tls_server_name)
        self._caller = Caller(timeout=timeout, retry_timeout=retry_timeout)
        self._stub = ws_grpc.WorkflowServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request, retry=True, timeout=None):
        return self._caller.call(method, request, retry=retry, timeout=timeout)

    def _run(self, proto):
        return Run.from_proto(proto, _status_name)

    # ---- definitions ----

    def register(self, definition, candidate=False):
        """Registers a definition (a dict or JSON text); the same content again is a no-op.
        Returns (definition proto, created)."""
        text = definition if isinstance(definition, str) else json.dumps(definition)
        r = self._call(self._stub.RegisterDefinition, ws.RegisterDefinitionRequest(
            namespace=self.namespace, definition_json=text, identity=self.identity,
            candidate=candidate))
        return r.definition, r.created

    def get_definition(self, name, version=0):
        return self._call(self._stub.GetDefinition, ws.GetDefinitionRequest(
            namespace=self.namespace, name=name, version=version))

    def list_definitions(self, name="", page_size=100):
        """Registered definitions (every version; only `name`'s when given), paged as iterated."""
        token = ""
        while True:
            r = self._call(self._stub.ListDefinitions, ws.ListDefinitionsRequest(
                namespace=self.namespace, name=name, page_size=page_size, page_token=token))
            yield from r.definitions
            token = r.next_page_token
            if not token:
                return

    # ---- runs ----

    def start(self, workflow_id, definition, run_input=None, version=0, period="", revision=0):
        """Starts a run (idempotent per workflow id: the same start again returns the same run,
        created False). With period and revision, a settlement revision (docs/revisions.md)."""
        r = self._call(self._stub.StartRun, ws.StartRunRequest(
            namespace=self.namespace, workflow_id=workflow_id, definition_name=definition,
            definition_version=version, input_json=_dump(run_input), identity=self.identity,
            period=period, revision=revision))
        return StartResult(run=self._run(r.run), created=r.created)

    def get(self, workflow_id, summary=False):
        """The run. `summary`: without its input, data and result (`fields_omitted`), for a run
        whose data is too large to fetch."""
        return self._run(self._call(self._stub.GetRun, ws.GetRunRequest(
            namespace=self.namespace, workflow_id=workflow_id, view=_view(summary))))

    def describe(self, workflow_id, summary=False):
        """The run now: active steps, open tasks with lease holders, pending timers (the proto).
        `summary` as for get."""
        return self._call(self._stub.DescribeRun, ws.DescribeRunRequest(
            namespace=self.namespace, workflow_id=workflow_id, view=_view(summary)))

    def list(self, status=None, definition="", query="", search="", period="",
             latest_revisions=False, order_by="", page_size=100, limit=None):
        """Runs matching the filters, newest first, fetched page by page as iterated. `query` is
        a search query (docs/search.md): "market = 'DE-LU' AND status = 'FAILED'"."""
        token, seen = "", 0
        while True:
            r = self._call(self._stub.ListRuns, ws.ListRunsRequest(
                namespace=self.namespace, status=_status_value(status) if status else 0,
                definition_name=definition, query=query, workflow_id_contains=search,
                period=period, latest_revisions_only=latest_revisions, order_by=order_by,
                page_size=page_size, page_token=token))
            for run in r.runs:
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield self._run(run)
            token = r.next_page_token
            if not token:
                return

    def history(self, workflow_id, page_size=500):
        """The run's history so far, in sequence order, fetched page by page as iterated."""
        token = ""
        while True:
            r = self._call(self._stub.GetHistory, ws.GetHistoryRequest(
                namespace=self.namespace, workflow_id=workflow_id, page_size=page_size,
                page_token=token))
            for e in r.events:
                yield Event.from_proto(e)
            token = r.next_page_token
            if not token:
                return

    def watch(self, workflow_id, after_sequence=0, timeout=None):
        """The history's events after `after_sequence`, then each new one as it is recorded,
        until the run closes. A replica that goes away mid-stream is left for another (the
        stream resumes after the last event seen). TimeoutError when `timeout` seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last, backoff, down_since = after_sequence, 0.1, None
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"run {workflow_id} still open after {timeout} s")
            stream = self._stub.WatchHistory(ws.WatchHistoryRequest(
                namespace=self.namespace, workflow_id=workflow_id, after_sequence=last), timeout=left)
            try:
                for e in stream:
                    down_since, backoff = None, 0.1
                    last = e.sequence
                    yield Event.from_proto(e)
                return
            except grpc.RpcError as e:
                error = errors.from_rpc_error(e)
                if isinstance(error, errors.DeadlineExceeded):
                    raise TimeoutError(f"run {workflow_id} still open after {timeout} s") from None
                if not isinstance(error, errors.Unavailable):
                    raise error from None
                down_since = down_since or time.monotonic()
                if time.monotonic() - down_since > self._caller.retry_timeout:
                    raise error from None
                time.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def wait(self, workflow_id, timeout=None):
        """Waits until the run is closed (COMPLETED, FAILED, CANCELLED or TERMINATED); returns it.
        TimeoutError when `timeout` seconds pass first."""
        run = self.get(workflow_id)
        if run.closed:
            return run
        for _ in self.watch(workflow_id, after_sequence=run.history_length, timeout=timeout):
            pass
        return self.get(workflow_id)

    def wait_for_result(self, workflow_id, timeout=None):
        """The result of a run that completed; RunFailed (carrying the run) for any other end."""
        run = self.wait(workflow_id, timeout=timeout)
        if run.status != "COMPLETED":
            raise errors.RunFailed(run)
        return run.result

    # ---- signals and operators' actions ----

    def signal(self, workflow_id, name, payload=None, dedup_id=None):
        """Delivers a signal. Without a dedup id one is made, so the retry policy cannot deliver
        it twice. Returns False when this dedup id was delivered before."""
        return self._call(self._stub.SignalRun, ws.SignalRunRequest(
            namespace=self.namespace, workflow_id=workflow_id, signal_name=name,
            payload_json=_dump(payload), dedup_id=dedup_id or str(uuid.uuid4()),
            identity=self.identity)).accepted

    def cancel(self, workflow_id, reason=""):
        return self._run(self._call(self._stub.CancelRun, ws.CancelRunRequest(
            namespace=self.namespace, workflow_id=workflow_id, reason=reason,
            identity=self.identity)).run)

    def terminate(self, workflow_id, reason):
        """Ends the run at once (no compensation); not retried (an operator decides again)."""
        return self._run(self._call(self._stub.TerminateRun, ws.TerminateRunRequest(
            namespace=self.namespace, workflow_id=workflow_id, reason=reason,
            identity=self.identity), retry=False).run)

    def retry(self, workflow_id, reason, from_step=""):
        """Continues a FAILED, CANCELLED or TERMINATED run from its failed step (or `from_step`);
        returns (run, step). Not retried: a second retry after a lost answer would be refused."""
        r = self._call(self._stub.RetryRun, ws.RetryRunRequest(
            namespace=self.namespace, workflow_id=workflow_id, from_step=from_step, reason=reason,
            identity=self.identity), retry=False)
        return self._run(r.run), r.from_step
