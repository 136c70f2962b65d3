"""The worker: leases tasks of its queues, runs their handlers, heartbeats while they run, and
reports each outcome under the task's lease (docs/sdk-python.md).

    worker = gridflow.Worker("localhost:7233", queues=["forecasting"], concurrency=8)

    @worker.task("forecast")
    def forecast(ctx):                      # a plain function runs on a thread of its own
        ctx.progress({"done": 0.5})         # sent with the next heartbeat
        return {"mw": [...]}

    @worker.task("optimise")
    async def optimise(ctx):                # a coroutine runs on the worker's event loop
        ...

    worker.run()                            # until SIGTERM/SIGINT or worker.shutdown()

Execution is at-least-once: make handlers idempotent with ctx.idempotency_key and pass
ctx.fencing_token to venues that accept one. A handler learns that it should stop (the run was
cancelled, the lease was lost, or the worker is releasing it at shutdown) from ctx.cancelled,
ctx.sleep() returning False, or — for coroutines — asyncio.CancelledError.
"""
import asyncio
import concurrent.futures
import inspect
import json
import logging
import os
import signal
import socket
import threading
import time
import uuid

import grpc

from . import errors
from ._metrics import Metrics
from ._replicas import resolve_replica_targets
from ._transport import Caller, open_channel
from .v1 import worker_service_pb2 as wk, worker_service_pb2_grpc as wk_grpc

log = logging.getLogger("gridflow.worker")


# How often the address is resolved again, so replicas that come and go get a long-poll.
_RESOLVE_INTERVAL = 30.0

# The engine's limit on leases per HeartbeatTasks call.
_MAX_HEARTBEATS_PER_CALL = 1000
# A HeartbeatTasks result's code (an int) as the grpc.StatusCode it stands for.
_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}

# Dispatch classes by name (docs/dispatch.md), most urgent first.
_CLASSES = ("urgent", "high", "normal", "low", "bulk")

# The two kinds of slot a worker polls for, each with a long-poll of its own on every replica:
# reserved slots waiting for urgent work must never hold back ordinary slots freed meanwhile.
_ORDINARY, _RESERVED = 0, 1

# The most tasks one LeaseTasks call may ask for (the API's limit): more free slots than that
# are asked for by the next poll.
_MAX_TASKS_PER_POLL = 100

# How long a replica has to answer StopPolling before the worker cancels its polls there.
_STOP_POLLING_TIMEOUT = 2.0


def _dispatch_class(value):
    """A class name (urgent .. bulk) or number (0 .. 4) as the API's number."""
    if isinstance(value, str) and value in _CLASSES:
        return _CLASSES.index(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(_CLASSES):
        return value
    raise ValueError(f"reserved_priority {value!r} is not a class ({', '.join(_CLASSES)}) "
                     "or 0 .. 4")


class _Replica:
    """An engine replica the worker holds a long-poll on: a run started there finds a poll waiting
    and is handed over in the start's own transaction (no NOTIFY, no claim by another replica)."""

    def __init__(self, target, stub, channel=None):
        self.target = target
        self.stub = stub
        self.channel = channel  # its own channel, None when it uses the worker's
        self.threads = []  # a poll loop per kind of slot the worker has
        self.gone = threading.Event()  # set once retired: ends a backoff at once
        # Guarded by the worker's lock:
        self.retired = False  # no longer resolved, or shutdown: its loops end
        self.healthy = True   # its last poll did not fail
        self.polls = [None, None]  # the long-poll in flight, by kind of slot

    def join(self):
        for thread in self.threads:
            thread.join()

    def close(self):
        """After its loop ended."""
        if self.channel is not None:
            self.channel.close()

    def retire(self, cancel=True):
        """Ends its loops: at once (`cancel`: the polls in flight are cancelled), or as its polls
        are answered (at shutdown, the worker asks the replica to answer them: StopPolling)."""
        self.retired = True
        self.gone.set()
        if cancel:
            self.cancel_polls()

    def cancel_polls(self):
        for poll in self.polls:
            if poll is not None:
                poll.cancel()


def _seconds(duration):
    return duration.seconds + duration.nanos / 1e9


class TaskContext:
    """One leased task as its handler sees it."""

    def __init__(self, worker, task, reserved=False, origin=None):
        self._worker = worker
        self._reserved = reserved  # holds one of the worker's reserved slots
        # The replica that handed it over (None: unknown, or the worker has one channel): its
        # outcome is reported there (Worker._report_at_origin).
        self._origin = origin
        self._answered_by = None  # the replica that took its completion, if that was the origin
        self.task = task  # the LeasedTask proto
        self.task_id = task.task_id
        self.lease_epoch = task.lease_epoch
        self.namespace = task.namespace
        self.workflow_id = task.workflow_id
        self.run_id = task.run_id
        self.step = task.step
        self.task_type = task.task_type
        self.queue = task.task_queue
        self.attempt = task.attempt
        self.max_attempts = task.max_attempts
        self.idempotency_key = task.idempotency_key
        self.definition_name = task.definition_name
        self.definition_version = task.definition_version
        self.iteration = task.iteration
        self.input = json.loads(task.input_json) if task.input_json else None
        hb = _seconds(task.heartbeat_timeout) if task.HasField("heartbeat_timeout") else 0.0
        self.heartbeat_timeout = hb or None
        self._interval = max(0.2, hb / 3) if hb else 10.0
        self._next_heartbeat = time.monotonic() + self._interval
        self._progress = None
        self._finished = False  # the handler returned; its outcome is being reported
        self._stop = threading.Event()
        self.stop_reason = ""  # "cancelled", "lease_lost" or "released" once stopped
        self._future = None    # a coroutine handler's future, cancelled with the task

    @property
    def fencing_token(self):
        """The lease epoch: grows with every lease of the task; pass it to venues as a fence."""
        return self.lease_epoch

    @property
    def cancelled(self):
        """True once the handler should stop: the run was cancelled, the lease was lost, or the
        worker is shutting down and hands the task back."""
        return self._stop.is_set()

    @property
    def lease_lost(self):
        return self.stop_reason == "lease_lost"

    def sleep(self, seconds):
        """Sleeps; returns False (at once) when the handler should stop."""
        return not self._stop.wait(seconds)

    def progress(self, details):
        """Progress (JSON-serialisable) sent with the heartbeats from now on; operators see it.
        Raises TypeError or ValueError (NaN, infinity) at once for a value JSON cannot carry."""
        self._progress = None if details is None else json.dumps(details, allow_nan=False)

    def heartbeat(self, details=None):
        """Heartbeats now (the worker also does so in the background). Raises StaleLease when the
        lease is gone; returns whether the run was cancelled."""
        if details is not None:
            self.progress(details)
        return self._worker._heartbeat(self, raise_stale=True)

    def _halt(self, reason):
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()
            future = self._future
            if future is not None:
                future.cancel()


class Worker:
    def __init__(self, address=None, queues=("default",), namespace="default", identity=None,
                 concurrency=4, tls=False, tls_ca=None, tls_cert=None, tls_key=None, token=None,
                 tls_server_name=None, poll_wait=10.0, shutdown_grace=30.0, metrics_port=None,
                 metrics_host="127.0.0.1", channel=None, reserved_slots=0,
                 reserved_priority="urgent"):
        if channel is None and address is None:
            raise ValueError("give an address (or a channel)")
        if not isinstance(reserved_slots, int) or not 0 <= reserved_slots <= 1000:
            raise ValueError(f"reserved_slots {reserved_slots!r} is not 0 .. 1000")
        self.namespace = namespace
        self.queues = list(queues)
        self.identity = identity or f"{socket.gethostname()}-{os.getpid()}"
        self.concurrency = concurrency
        # Slots beyond `concurrency` that only tasks of reserved_priority or more urgent take.
        self.reserved_slots = reserved_slots
        self.reserved_priority = _dispatch_class(reserved_priority)
        self.poll_wait = poll_wait
        self.shutdown_grace = shutdown_grace
        self._address = None if channel is not None else address
        self._transport = dict(tls=tls, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key,
                               token=token, tls_server_name=tls_server_name)
        self.channel = channel or open_channel(address, **self._transport)
        self._stub = wk_grpc.WorkerServiceStub(self.channel)
        self._caller = Caller(timeout=30.0, retry_timeout=60.0)
        # On every long-poll, so StopPolling ends this worker's polls and no one else's.
        self._instance_key = uuid.uuid4().hex
        self._handlers = {}
        self._running = {}  # task id -> TaskContext
        self._renew_together = True  # until an engine answers HeartbeatTasks with UNIMPLEMENTED
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._replicas = {}  # target -> _Replica, guarded by _lock
        self._promised = [0, 0]  # slots the long-polls in flight asked for, by kind (_lock)
        self._loop = None
        self.metrics = Metrics()
        self.metrics.set("gridflow_worker_slots", concurrency)
        self.metrics.set("gridflow_worker_tasks_running", 0)
        self._metrics_port = metrics_port
        self._metrics_host = metrics_host
        self.metrics_server = None

    # ---- registration ----

    def task(self, task_type):
        """Decorator: registers the handler of `task_type` (a function or a coroutine function
        taking the TaskContext and returning a JSON-serialisable result)."""
        def register(fn):
            self._handlers[task_type] = fn
            return fn
        return register

    def _served_types(self):
        """The task types this worker has handlers for, in the order every call names them."""
        return sorted(self._handlers)

    # ---- running ----

    def run(self, install_signal_handlers=True):
        """Serves until shutdown() (or SIGTERM/SIGINT when installed from the main thread): stops
        polling, lets running handlers finish for `shutdown_grace` seconds, then releases the
        tasks still running so another worker takes them at once (their handlers are told to
        stop through the context; one that does not is abandoned, its outcome dropped)."""
        if not self._handlers:
            raise ValueError("no handlers: register some with @worker.task(...)")
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.shutdown())
        if self._metrics_port is not None:
            self.metrics_server = self.metrics.serve(self._metrics_host, self._metrics_port)
        self._loop = asyncio.new_event_loop()
        loop_thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                       name="gridflow-asyncio")
        loop_thread.start()
        beats = threading.Thread(target=self._heartbeat_loop, daemon=True, name="gridflow-heartbeat")
        beats.start()
        try:
            self._poll_replicas()
            self._drain()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            loop_thread.join(timeout=5)
            if not self._loop.is_running():
                self._loop.close()
            if self.metrics_server is not None:
                self.metrics_server.shutdown()
            self._stopped.set()

    def shutdown(self):
        """Asks run() to stop (safe from any thread or a signal handler)."""
        self._stopping.set()
        with self._lock:
            for replica in self._replicas.values():
                replica.retire(cancel=False)  # _poll_replicas ends the polls in flight
            self._lock.notify_all()

    def wait_stopped(self, timeout=None):
        return self._stopped.wait(timeout)

    def _poll_replicas(self):
        """Keeps one long-poll loop per replica the address resolves to (again every 30 s, so
        replicas that come and go are followed) until shutdown."""
        while not self._stopping.is_set():
            if self._address is None:
                self._update_replicas([None], "")  # a channel given: polled as it is
            else:
                self._update_replicas(*resolve_replica_targets(self._address))
            self._stopping.wait(_RESOLVE_INTERVAL)
        with self._lock:
            replicas = list(self._replicas.values())
        # Every replica asked at once: replicas that cannot answer delay the stop by one timeout in
        # all, not one each.
        asking = [threading.Thread(target=self._stop_polling, args=(replica,), daemon=True)
                  for replica in replicas]
        for thread in asking:
            thread.start()
        for thread in asking:
            thread.join()
        for replica in replicas:
            replica.join()
            replica.close()

    def _stop_polling(self, replica):
        """At shutdown: asks `replica` to end this worker's long-polls there (StopPolling) rather
        than cancelling them — a task handed to a poll just as it is cancelled would wait for its
        lease to expire. A poll answered with tasks runs them (the drain lets them finish or
        releases them). Only a replica that cannot be asked has its polls cancelled."""
        with self._lock:
            if all(poll is None for poll in replica.polls):
                return
        request = wk.StopPollingRequest(namespace=self.namespace,
                                        worker_instance_key=self._instance_key,
                                        identity=self.identity)
        try:
            replica.stub.StopPolling(request, timeout=_STOP_POLLING_TIMEOUT)
        except grpc.RpcError as e:
            log.warning("worker %s: StopPolling on %s failed (%s); cancelling its polls",
                        self.identity, replica.target, e.code())
            with self._lock:
                replica.cancel_polls()

    def _update_replicas(self, targets, host):
        added, gone = [], []
        with self._lock:
            if self._stopping.is_set():
                return
            for target in [t for t in self._replicas if t not in targets]:
                replica = self._replicas.pop(target)
                replica.retire()
                gone.append(replica)
            for target in targets:
                if target in self._replicas:
                    continue
                stub, channel = self._stub, None
                if len(targets) > 1:
                    # A channel to this replica alone; TLS still checks the name the address gave.
                    transport = dict(self._transport)
                    transport["tls_server_name"] = transport["tls_server_name"] or host or None
                    channel = open_channel(target, **transport)
                    stub = wk_grpc.WorkerServiceStub(channel)
                replica = _Replica(target, stub, channel)
                kinds = [_ORDINARY] + ([_RESERVED] if self.reserved_slots else [])
                replica.threads = [
                    threading.Thread(target=self._poll_loop, args=(replica, kind), daemon=True,
                                     name=f"gridflow-poll-{target}" + ("-reserved" if kind else ""))
                    for kind in kinds]
                self._replicas[target] = replica
                added.append(replica)
            self._lock.notify_all()  # retired loops end; the others' share of the slots changed
        for replica in added:
            for thread in replica.threads:
                thread.start()
        for replica in gone:
            replica.join()
            replica.close()
        if added or gone:
            log.info("worker %s: long-polling %d engine replica(s)", self.identity, len(targets))

    def _unpromised(self, kind):
        """Free slots of `kind` no long-poll in flight has asked for yet (_lock held)."""
        in_reserved = sum(1 for ctx in self._running.values() if ctx._reserved)
        if kind == _RESERVED:
            return self.reserved_slots - in_reserved - self._promised[kind]
        return self.concurrency - (len(self._running) - in_reserved) - self._promised[kind]

    def _ends(self, replica):
        # Shutdown retires every replica; a loop started meanwhile checks the flag itself.
        return replica.retired or self._stopping.is_set()

    def _poll_loop(self, replica, kind):
        """Long-polls `replica` for free slots of `kind`: ordinary ones take any class, reserved
        ones (max_tasks 0, reserved_slots N) only tasks of reserved_priority or more urgent."""
        backoff = 0.1
        while True:
            with self._lock:
                while self._unpromised(kind) <= 0 and not self._ends(replica):
                    self._lock.wait(0.5)
                if self._ends(replica):
                    return
                # Most slots go to the poll asking now (polls return where work arrives, and ask
                # again there), but one stays for each other replica without a poll, so one waits
                # on every replica.
                others = sum(1 for r in self._replicas.values()
                             if r is not replica and r.healthy and r.polls[kind] is None)
                ask = min(self._unpromised(kind), max(1, self._unpromised(kind) - others),
                          _MAX_TASKS_PER_POLL)
                request = wk.LeaseTasksRequest(namespace=self.namespace, task_queues=self.queues,
                                               task_types=self._served_types(),
                                               identity=self.identity,
                                               worker_instance_key=self._instance_key)
                if kind == _RESERVED:
                    request.reserved_slots = ask
                    request.reserved_priority = self.reserved_priority
                else:
                    request.max_tasks = ask
                request.wait.seconds = int(self.poll_wait)
                request.wait.nanos = int(self.poll_wait % 1 * 1e9)
                self._promised[kind] += ask
                poll = replica.stub.LeaseTasks.future(request, timeout=self.poll_wait + 10)
                replica.polls[kind] = poll
            tasks, failed = (), False
            try:
                tasks = poll.result().tasks
                backoff = 0.1
            except grpc.FutureCancelledError:
                pass  # shutdown, or the replica is no longer resolved: the loop top ends it
            except grpc.RpcError as e:
                failed = not (e.code() == grpc.StatusCode.CANCELLED and replica.retired)
                if failed:
                    error = errors.from_rpc_error(e)
                    if not isinstance(error, (errors.Unavailable, errors.DeadlineExceeded,
                                              errors.ResourceExhausted)):
                        log.error("leasing tasks on %s failed: %s", replica.target, error)
            origin = replica if replica.channel is not None else None
            contexts = [TaskContext(self, task, reserved=kind == _RESERVED, origin=origin)
                        for task in tasks]
            with self._lock:
                replica.polls[kind] = None
                replica.healthy = not failed
                self._promised[kind] -= ask
                for ctx in contexts:
                    self._running[ctx.task_id] = ctx
                self.metrics.set("gridflow_worker_tasks_running", len(self._running))
                # Slots this poll asked for and did not fill: another replica's poll may ask.
                self._lock.notify_all()
            if failed:
                self.metrics.inc("gridflow_worker_polls_total", [("result", "error")])
                replica.gone.wait(backoff)
                backoff = min(backoff * 2, 2.0)  # a replica back is polled within 2 s
                continue
            if contexts or not replica.retired:
                self.metrics.inc("gridflow_worker_polls_total",
                                 [("result", "tasks" if contexts else "empty")])
            # Leased to this worker even if its replica was retired meanwhile: run them (at
            # shutdown the drain lets them finish or releases them).
            for ctx in contexts:
                self.metrics.inc("gridflow_worker_tasks_leased_total")
                # A daemon thread per task (the slots bound them): a handler that ignores
                # ctx.cancelled cannot keep the process alive once its task was released.
                threading.Thread(target=self._execute, args=(ctx,), daemon=True).start()

    def _drain(self):
        deadline = time.monotonic() + self.shutdown_grace
        with self._lock:
            while self._running and time.monotonic() < deadline:
                self._lock.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            left = list(self._running.values())
        for ctx in left:
            ctx._halt("released")
            try:
                self._caller.call(self._stub.ReleaseTask, wk.ReleaseTaskRequest(
                    namespace=self.namespace, task_id=ctx.task_id, lease_epoch=ctx.lease_epoch,
                    reason="worker shutting down", identity=self.identity), stale_lease=True)
                self._count(ctx, "released")
                log.info("run=%s task=%s step=%s released at shutdown", ctx.run_id, ctx.task_id,
                         ctx.step)
            except errors.GridflowError as e:
                log.warning("run=%s task=%s release failed: %s", ctx.run_id, ctx.task_id, e)

    # ---- one task ----

    def _execute(self, ctx):
        """Runs a task, then on the same thread each next task its completion brought (eager
        dispatch: the run's next step, already leased to this worker in the freed slot)."""
        while ctx is not None:
            # Named after the task it runs now, for log records (`%(threadName)s`).
            threading.current_thread().name = f"gridflow-task-{ctx.task_id}"
            ctx = self._execute_one(ctx)

    def _execute_one(self, ctx):
        """Runs one task and reports its outcome; returns the next task to run, if one came."""
        handler = self._handlers.get(ctx.task_type)
        started = time.monotonic()
        outcome = None
        try:
            if handler is None:
                raise errors.TaskError("gridflow.UnknownTaskType",
                                       f"this worker has no handler for {ctx.task_type}", False)
            if inspect.iscoroutinefunction(handler):
                ctx._future = asyncio.run_coroutine_threadsafe(handler(ctx), self._loop)
                if ctx.cancelled:
                    ctx._future.cancel()
                result = ctx._future.result()
            else:
                result = handler(ctx)
            outcome = ("complete", result)
        except (asyncio.CancelledError, concurrent.futures.CancelledError):
            outcome = ("fail", errors.TaskError("gridflow.Cancelled", "the handler stopped: " +
                                                (ctx.stop_reason or "cancelled"), False))
        except errors.TaskError as e:
            outcome = ("fail", e)
        except Exception as e:  # noqa: BLE001 - any handler error fails the attempt
            if ctx.cancelled:
                e = errors.TaskError("gridflow.Cancelled", f"the handler stopped ({e})", False)
            else:
                e = errors.TaskError(type(e).__name__, str(e), True)
            outcome = ("fail", e)
        finally:
            self.metrics.observe("gridflow_worker_handler_seconds",
                                 [("queue", ctx.queue), ("task_type", ctx.task_type)],
                                 time.monotonic() - started)
        next_tasks = ()
        ctx._finished = True  # heartbeat answers no longer matter: the report decides
        try:
            next_tasks = self._report(ctx, outcome)
        finally:
            contexts = [TaskContext(self, task, origin=ctx._answered_by) for task in next_tasks]
            with self._lock:
                # The freed slot passes to the next task in the same step: a poll never sees it.
                self._running.pop(ctx.task_id, None)
                for leased in contexts:
                    self._running[leased.task_id] = leased
                self.metrics.set("gridflow_worker_tasks_running", len(self._running))
                self._lock.notify_all()
        for leased in contexts:
            self.metrics.inc("gridflow_worker_tasks_leased_total")
        for leased in contexts[1:]:  # more than asked for: never, but each would get a thread
            threading.Thread(target=self._execute, args=(leased,), daemon=True).start()
        return contexts[0] if contexts else None

    def _report(self, ctx, outcome):
        """Reports the outcome under the task's lease; returns the tasks the completion handed
        this worker (eager dispatch)."""
        if ctx.stop_reason == "released":
            return ()  # handed back at shutdown: another worker runs it
        kind, value = outcome
        try:
            if kind == "complete":
                request = wk.CompleteTaskRequest(
                    namespace=self.namespace, task_id=ctx.task_id, lease_epoch=ctx.lease_epoch,
                    result_json=json.dumps(value), identity=self.identity)
                if not self._stopping.is_set() and not ctx._reserved:
                    # The slot this completion frees: the run's next step comes in the answer,
                    # leased to this worker — no long-poll and no claim in between. (Not for a
                    # reserved slot: it stays free for the next urgent task.)
                    request.max_next_tasks = 1
                    request.task_queues.extend(self.queues)
                    request.task_types.extend(self._served_types())
                response = self._report_at_origin(ctx, "CompleteTask", request)
                self._count(ctx, "completed")
                return response.next_tasks
            else:
                self._report_at_origin(ctx, "FailTask", wk.FailTaskRequest(
                    namespace=self.namespace, task_id=ctx.task_id, lease_epoch=ctx.lease_epoch,
                    error_type=value.error_type, message=value.message or str(value),
                    details_json=json.dumps(value.details) if value.details is not None else "",
                    non_retryable=not value.retryable, identity=self.identity))
                self._count(ctx, "failed")
        except errors.StaleLease as e:
            # The engine refused the outcome: the lease expired and the task is (or will be)
            # run again elsewhere. Counted as "rejected"; the outcome is dropped.
            ctx._halt("lease_lost")
            self._count(ctx, "rejected")
            log.warning("run=%s task=%s step=%s outcome refused, the lease was lost: %s",
                        ctx.run_id, ctx.task_id, ctx.step, e.message)
        except errors.GridflowError as e:
            log.error("run=%s task=%s step=%s outcome not recorded: %s (the lease will expire and "
                      "the task run again)", ctx.run_id, ctx.task_id, ctx.step, e)
        return ()

    def _report_at_origin(self, ctx, method, request):
        """Sends the outcome to the replica that handed the task over, while its polls succeed:
        the run's next transition joins the group commit of the replica already serving the run
        (docs/worker.md, "Several replicas"). After a transient error there, and for a task of no
        known origin, round-robin with retries."""
        origin = ctx._origin
        with self._lock:
            usable = origin is not None and origin.healthy and not origin.retired
        if usable:
            try:
                response = getattr(origin.stub, method)(request, timeout=self._caller.timeout)
                ctx._answered_by = origin
                return response
            except grpc.RpcError as e:
                error = errors.from_rpc_error(e, stale_lease=True)
                if not isinstance(error, (errors.Unavailable, errors.Cancelled,
                                          errors.DeadlineExceeded, errors.ResourceExhausted)):
                    raise error from None
            except ValueError:
                pass  # its channel closed meanwhile (the replica was retired)
        return self._caller.call(getattr(self._stub, method), request, stale_lease=True)

    def _count(self, ctx, outcome):
        self.metrics.inc("gridflow_worker_tasks_total",
                         [("queue", ctx.queue), ("task_type", ctx.task_type), ("outcome", outcome)])

    # ---- heartbeats ----

    def _heartbeat_loop(self):
        while not self._stopped.is_set():
            now = time.monotonic()
            with self._lock:
                due = [c for c in self._running.values()
                       if not c.cancelled and not c._finished and c._next_heartbeat <= now]
            try:
                if due and self._renew_together:
                    due = self._renew_together_leases(due)
                for ctx in due:  # an engine that predates HeartbeatTasks, or refused progress
                    self._heartbeat(ctx, raise_stale=False)
            except Exception:  # noqa: BLE001 - the thread must outlive any one round's surprise
                log.exception("heartbeat round failed; the next round follows")
            if self._stopped.wait(0.1):
                return

    def _renew_together_leases(self, due):
        """Renews the leases of `due` with HeartbeatTasks, 1000 per call (one transaction on the
        engine; each lease answered on its own). Returns those left for single heartbeats: all of
        them once an engine answers UNIMPLEMENTED, and a lease whose progress the engine refused
        (the single heartbeat drops it with a warning and renews the lease without it)."""
        alone = []
        for start in range(0, len(due), _MAX_HEARTBEATS_PER_CALL):
            part = due[start:start + _MAX_HEARTBEATS_PER_CALL]
            now = time.monotonic()
            for ctx in part:
                ctx._next_heartbeat = now + ctx._interval
            beats = [wk.TaskHeartbeat(task_id=ctx.task_id, lease_epoch=ctx.lease_epoch,
                                      details_json=ctx._progress or "") for ctx in part]
            try:
                r = self._caller.call(self._stub.HeartbeatTasks, wk.HeartbeatTasksRequest(
                    namespace=self.namespace, heartbeats=beats, identity=self.identity),
                    timeout=max(1.0, min(c._interval for c in part)), retry=False)
            except errors.GridflowError as e:
                if e.code == grpc.StatusCode.UNIMPLEMENTED:
                    log.info("the engine does not renew leases together: one heartbeat per lease")
                    self._renew_together = False
                    return alone + due[start:]
                log.warning("heartbeat of %d lease(s) failed: %s", len(part), e)
                for ctx in part:  # in the background: the next round follows soon
                    self._note_heartbeat(ctx, e.code, e.message, False)
                continue
            for ctx, beat, result in zip(part, beats, r.results):
                code = _STATUS_CODES.get(result.code, grpc.StatusCode.UNKNOWN)
                if code == grpc.StatusCode.INVALID_ARGUMENT and beat.details_json:
                    alone.append(ctx)  # its progress refused: must not cost it its lease
                    continue
                self._note_heartbeat(ctx, code, result.message, result.cancel_requested, warn=True)
        return alone

    def _heartbeat(self, ctx, raise_stale):
        ctx._next_heartbeat = time.monotonic() + ctx._interval
        details = ctx._progress or ""

        def send():  # in the background not retried: the next one follows soon
            return self._caller.call(self._stub.Heartbeat, wk.HeartbeatRequest(
                namespace=self.namespace, task_id=ctx.task_id, lease_epoch=ctx.lease_epoch,
                details_json=details, identity=self.identity), timeout=max(1.0, ctx._interval),
                retry=raise_stale, stale_lease=True)
        try:
            try:
                r = send()
            except errors.InvalidArgument as e:
                if not details:
                    raise
                # Progress the engine refuses must not cost the task its lease.
                log.warning("run=%s task=%s progress dropped, the engine refused it: %s",
                            ctx.run_id, ctx.task_id, e.message)
                if ctx._progress == details:
                    ctx._progress = None
                details = ""
                r = send()
        except errors.GridflowError as e:
            self._note_heartbeat(ctx, e.code, e.message, False, warn=True)
            if raise_stale and isinstance(e, errors.StaleLease):
                raise
            return ctx.cancelled
        self._note_heartbeat(ctx, grpc.StatusCode.OK, "", r.cancel_requested)
        return r.cancel_requested

    def _note_heartbeat(self, ctx, code, message, cancel_requested, warn=False):
        """Acts on one lease's heartbeat answer: a cancelled run stops the handler; a lease no
        longer held (FAILED_PRECONDITION) is lost; any other failure is counted (and, with `warn`,
        logged). An answer for a task whose handler already returned is ignored: one saying the
        task is no longer leased is the outcome's own doing."""
        if ctx._finished:
            return
        if code == grpc.StatusCode.OK:
            if cancel_requested:
                ctx._halt("cancelled")
        elif code == grpc.StatusCode.FAILED_PRECONDITION:
            self.metrics.inc("gridflow_worker_heartbeat_failures_total", [("reason", "lease_lost")])
            ctx._halt("lease_lost")
        else:
            self.metrics.inc("gridflow_worker_heartbeat_failures_total", [("reason", "error")])
            if warn:
                log.warning("run=%s task=%s heartbeat failed: %s", ctx.run_id, ctx.task_id,
                            message)
