"""The Python SDK against real engines and PostgreSQL (run by tests/sdk/python_sdk_test.sh, which
installs the package with pip into a fresh virtual environment first).

Environment: GRIDFLOW_ENGINE (the gridflow-engine binary), GRIDFLOW_SDK_DATABASE_URL (a database
of this test's own)."""
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import urllib.request

import grpc

import gridflow

# The test scripts' TCP proxy (tests/lib), from the checkout these tests are run from.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "lib"))
from tcp_proxy import TcpProxy  # noqa: E402

ENGINE = os.environ["GRIDFLOW_ENGINE"]
DATABASE_URL = os.environ["GRIDFLOW_SDK_DATABASE_URL"]
STATE = tempfile.mkdtemp(prefix="gf-sdk-")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet_port():
    """A free port below the kernel's ephemeral range (32768 and up by default): while an engine
    on it is down, nothing that binds port 0 or connects out can be given it."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free port below 32000")


def eventually(condition, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


class Engine:
    """A gridflow-engine process on a port of its own (kept across restarts)."""

    def __init__(self, name, *flags, port=None):
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.flags = list(flags)
        self.log = os.path.join(STATE, name + ".log")
        self.process = None

    def start(self, wait=True):
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [ENGINE, "--listen", self.address, "--database-url", DATABASE_URL,
                 "--member-id", f"sdk-{self.port}", *self.flags], stdout=log, stderr=log)
        if wait:
            eventually(self._serving, what=f"engine on {self.address}")
        return self

    def _serving(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def log_tail(self, lines=40):
        with open(self.log) as f:
            return "".join(f.readlines()[-lines:])

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def engine_sample(port, name, **labels):
    """The value of the sample `name` with (at least) `labels` on the engine's /metrics; 0 if none."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        given = dict(part.split("=", 1) for part in line[len(name) + 1:line.index("}")].split(","))
        if all(given.get(k) == f'"{v}"' for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def definition(name, steps):
    return {"name": name, "version": 1, "steps": steps}


def task(step, task_type, **extra):
    return {"name": step, "kind": "task", "task_type": task_type, "task_queue": "sdk", **extra}


class WorkerThread:
    """A Worker serving from a thread of its own."""

    def __init__(self, worker):
        self.worker = worker
        self.thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.worker.shutdown()
        self.thread.join(30)


class HeldTasks:
    """A handler that holds every task until release(), counting how many run at once."""

    def __init__(self):
        self.released = threading.Event()
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, ctx):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.released.wait(30)
        with self._lock:
            self.running -= 1
        return {}

    def release(self):
        self.released.set()


ENGINE_MAIN = None


def setUpModule():
    global ENGINE_MAIN
    ENGINE_MAIN = Engine("main").start()
    admin = gridflow.Client(ENGINE_MAIN.address, identity="sdk-tests")
    admin.register(definition("sdk-two-steps", [
        task("forecast", "forecast"),
        task("optimise", "optimise", input={"mw": "=$/forecast/mw"})]))
    admin.register(definition("sdk-long", [
        task("work", "long_work", timeouts={"heartbeat": "1s"})]))
    admin.register(definition("sdk-fails", [
        task("submit", "submit", retry={"max_attempts": 1})]))
    admin.close()


def tearDownModule():
    ENGINE_MAIN.stop()


class ClientAndWorkerTest(unittest.TestCase):
    def setUp(self):
        self.client = gridflow.Client(ENGINE_MAIN.address, identity="bid-optimiser")
        self.workers = []

    def tearDown(self):
        for w in self.workers:
            w.stop()
        self.client.close()

    def leased(self, workflow_id):
        return any(t.state == "LEASED" for t in self.client.describe(workflow_id).open_tasks)

    def serve(self, handlers, concurrency=4):
        worker = gridflow.Worker(ENGINE_MAIN.address, queues=["sdk"], concurrency=concurrency,
                                 poll_wait=1.0, shutdown_grace=2.0)
        for task_type, fn in handlers.items():
            worker.task(task_type)(fn)
        self.workers.append(WorkerThread(worker))
        return worker

    def test_start_wait_and_history_with_sync_and_async_handlers(self):
        seen = {}

        def forecast(ctx):
            seen["forecast"] = (ctx.idempotency_key, ctx.run_id, ctx.fencing_token, ctx.attempt)
            ctx.progress({"done": 1.0})
            return {"mw": [1.5, 2.5]}

        async def optimise(ctx):
            await asyncio.sleep(0.01)
            return {"bids": [mw * 2 for mw in ctx.input["mw"]]}

        worker = self.serve({"forecast": forecast, "optimise": optimise})
        started = self.client.start("sdk-run-1", "sdk-two-steps", {"delivery_day": "2026-12-03"})
        self.assertTrue(started.created)
        self.assertEqual(started.run.input, {"delivery_day": "2026-12-03"})
        again = self.client.start("sdk-run-1", "sdk-two-steps", {"delivery_day": "2026-12-03"})
        self.assertFalse(again.created)
        self.assertEqual(again.run.run_id, started.run.run_id)

        result = self.client.wait_for_result("sdk-run-1", timeout=20)  # the run data: no succeed step
        self.assertEqual(result["optimise"], {"bids": [3.0, 5.0]})
        run = self.client.get("sdk-run-1")
        self.assertEqual(run.status, "COMPLETED")
        self.assertTrue(run.closed)
        self.assertFalse(run.fields_omitted)
        summary = self.client.get("sdk-run-1", summary=True)  # without input, data and result
        self.assertTrue(summary.fields_omitted)
        self.assertEqual((summary.status, summary.input, summary.result), ("COMPLETED", None, None))
        self.assertTrue(self.client.describe("sdk-run-1", summary=True).run.fields_omitted)
        self.assertEqual(run.started_by, "anonymous")
        key, run_id, token, attempt = seen["forecast"]
        self.assertEqual(key, run_id + ":forecast")
        self.assertGreaterEqual(token, 1)
        self.assertEqual(attempt, 1)
        history = list(self.client.history("sdk-run-1", page_size=2))  # paged
        types = [e.type for e in history]
        self.assertEqual(types[0], "RunStarted")
        self.assertEqual(types[-1], "RunCompleted")
        self.assertEqual([e.sequence for e in history], list(range(1, len(history) + 1)))
        self.assertEqual([e.type for e in self.client.watch("sdk-run-1")], types)
        listed = [r.workflow_id for r in self.client.list(definition="sdk-two-steps")]
        self.assertIn("sdk-run-1", listed)
        self.assertEqual([(d.name, d.version) for d in self.client.list_definitions("sdk-long")],
                         [("sdk-long", 1)])
        self.assertEqual(self.client.get_definition("sdk-two-steps").version, 1)
        self.assertEqual(worker.metrics.value("gridflow_worker_tasks_total", outcome="completed"), 2)

    def test_the_runs_next_step_comes_with_the_completion(self):
        threads = set()

        def forecast(ctx):
            threads.add(threading.get_ident())
            return {"mw": [1.0]}

        def optimise(ctx):
            threads.add(threading.get_ident())
            return {"bids": ctx.input["mw"]}

        worker = self.serve({"forecast": forecast, "optimise": optimise}, concurrency=1)
        self.client.start("sdk-eager-1", "sdk-two-steps", {})
        self.assertEqual(self.client.wait_for_result("sdk-eager-1", timeout=20)["optimise"],
                         {"bids": [1.0]})
        # One long-poll brought the first task; the second came with the first's completion and
        # ran on the same thread.
        self.assertEqual(worker.metrics.value("gridflow_worker_polls_total", result="tasks"), 1)
        self.assertEqual(worker.metrics.value("gridflow_worker_tasks_leased_total"), 2)
        self.assertEqual(worker.metrics.value("gridflow_worker_tasks_total", outcome="completed"),
                         2)
        self.assertEqual(len(threads), 1)

    def test_reserved_slots_run_an_activation_behind_bulk_work_and_never_bulk_work(self):
        # Bulk settlement work on the queue the activations use: two ordinary slots, one reserved
        # for urgent tasks. The polls wait 30 s: a slot left idle until a poll ends shows.
        queue = [{"name": "s", "kind": "task", "task_type": "settle", "task_queue": "reserving",
                  "priority": "bulk"}]
        self.client.register(definition("sdk-settle", queue))
        self.client.register(definition("sdk-activation", [
            {"name": "s", "kind": "task", "task_type": "setpoint", "task_queue": "reserving",
             "priority": "urgent"}]))
        settle, activated = HeldTasks(), threading.Event()

        def setpoint(ctx):
            activated.set()
            return {"mw": 5}

        worker = gridflow.Worker(ENGINE_MAIN.address, queues=["reserving"], concurrency=2,
                                 reserved_slots=1, reserved_priority="urgent", poll_wait=30.0,
                                 shutdown_grace=2.0)
        worker.task("settle")(settle)
        worker.task("setpoint")(setpoint)
        ids = [f"sdk-settle-{i}" for i in range(6)]
        for workflow_id in ids:
            self.client.start(workflow_id, "sdk-settle", {})
        self.workers.append(WorkerThread(worker))
        eventually(lambda: settle.running == 2, what="two settlements running")
        time.sleep(0.5)  # room for the reserved slot to take bulk work, which it must not
        self.assertEqual(settle.most, 2)
        # The activation takes the reserved slot while both ordinary slots are busy.
        self.client.start("sdk-activation-1", "sdk-activation", {})
        self.assertTrue(activated.wait(10), "the activation did not start behind the bulk work")
        self.assertEqual(self.client.wait_for_result("sdk-activation-1", timeout=10)["s"],
                         {"mw": 5})
        self.assertEqual(settle.most, 2)
        # Each ordinary slot that frees is polled for at once, not after the reserved poll ends.
        settle.release()
        for workflow_id in ids:
            self.client.wait_for_result(workflow_id, timeout=10)
        self.assertEqual(settle.most, 2)
        with self.assertRaises(ValueError):
            gridflow.Worker(ENGINE_MAIN.address, reserved_slots=1, reserved_priority="critical")

    def test_a_worker_with_more_slots_than_one_lease_may_take_runs_its_queue(self):
        # The API hands out at most 100 tasks per LeaseTasks call; a worker of 150 slots polls
        # for 100 at most, never for all of them at once (refused as INVALID_ARGUMENT).
        self.client.register(definition("sdk-wide", [
            {"name": "s", "kind": "task", "task_type": "wide", "task_queue": "wide"}]))
        ids = [f"sdk-wide-{i}" for i in range(120)]
        for workflow_id in ids:
            self.client.start(workflow_id, "sdk-wide", {})
        worker = gridflow.Worker(ENGINE_MAIN.address, queues=["wide"], concurrency=150,
                                 poll_wait=1.0, shutdown_grace=2.0)
        worker.task("wide")(lambda ctx: {})
        self.workers.append(WorkerThread(worker))
        for workflow_id in ids:
            self.client.wait_for_result(workflow_id, timeout=20)
        self.assertEqual(worker.metrics.value("gridflow_worker_polls_total", result="error"), 0)

    def test_errors_carry_the_code_and_the_engines_message(self):
        with self.assertRaises(gridflow.NotFound) as nf:
            self.client.get("no-such-run")
        self.assertIn("no-such-run", nf.exception.message)
        with self.assertRaises(gridflow.InvalidArgument) as bad:
            self.client.register({"name": "x", "version": 0, "steps": []})
        self.assertIn("version", bad.exception.message)

        def submit(ctx):
            raise gridflow.TaskError("BidRejected", "price cap exceeded", retryable=False,
                                     details={"cap": 4000})

        self.serve({"submit": submit})
        self.client.start("sdk-fail-1", "sdk-fails", {})
        with self.assertRaises(gridflow.RunFailed) as failed:
            self.client.wait_for_result("sdk-fail-1", timeout=20)
        self.assertEqual(failed.exception.run.status, "FAILED")
        self.assertEqual(failed.exception.run.failure["error_type"], "BidRejected")
        self.assertEqual(failed.exception.run.failure["message"], "price cap exceeded")

    def test_a_terminated_run_ends_wait(self):
        release = threading.Event()
        self.serve({"long_work": lambda ctx: release.wait(30) and {}})
        self.client.start("sdk-term-1", "sdk-long", {})
        eventually(lambda: self.leased("sdk-term-1"), what="task leased")
        ender = threading.Timer(0.3, self.client.terminate, ["sdk-term-1", "operator stopped it"])
        ender.start()
        self.assertEqual(self.client.wait("sdk-term-1", timeout=20).status, "TERMINATED")
        release.set()

    def test_running_tasks_have_their_leases_renewed_together(self):
        def long_work(ctx):
            ctx.progress({"stage": "computing"})
            ctx.sleep(2.5)  # over two heartbeat timeouts
            return {"attempt": ctx.attempt}

        worker = self.serve({"long_work": long_work})

        def single(ctx, raise_stale):
            raise AssertionError("a lease was renewed alone")
        worker._heartbeat = single  # every renewal goes through HeartbeatTasks
        for i in range(3):
            self.client.start(f"sdk-renew-{i}", "sdk-long", {})
        for i in range(3):
            self.assertEqual(self.client.wait_for_result(f"sdk-renew-{i}", timeout=20)["work"],
                             {"attempt": 1})
        self.assertEqual(worker.metrics.value("gridflow_worker_heartbeat_failures_total",
                                              reason="error"), 0)

    def test_progress_the_engine_refuses_costs_no_lease(self):
        refused = []

        def long_work(ctx):
            if ctx.workflow_id.endswith("-0"):
                deep = []
                for _ in range(100):  # deeper than the engine takes (64)
                    deep = [deep]
                ctx.progress(deep)
            else:
                ctx.progress({"stage": "computing"})
            for bad in (object(), float("nan")):  # JSON cannot carry them: refused at once
                try:
                    ctx.progress(bad)
                except (TypeError, ValueError) as e:
                    refused.append(type(e).__name__)
            ctx.sleep(2.5)  # over two heartbeat timeouts
            return {"attempt": ctx.attempt}

        worker = self.serve({"long_work": long_work})
        for i in range(3):
            self.client.start(f"sdk-refused-{i}", "sdk-long", {})
        for i in range(3):
            self.assertEqual(self.client.wait_for_result(f"sdk-refused-{i}", timeout=20)["work"],
                             {"attempt": 1})
        self.assertEqual(sorted(set(refused)), ["TypeError", "ValueError"])
        self.assertEqual(worker.metrics.value("gridflow_worker_heartbeat_failures_total",
                                              reason="error"), 0)

    def test_cancellation_reaches_a_running_handler(self):
        stopped = {}

        def long_work(ctx):
            while ctx.sleep(0.05):
                pass
            stopped[ctx.workflow_id] = ctx.stop_reason
            return {"interrupted": True}

        self.serve({"long_work": long_work})
        self.client.start("sdk-cancel-1", "sdk-long", {})
        eventually(lambda: self.leased("sdk-cancel-1"), what="task leased")
        self.client.cancel("sdk-cancel-1", reason="gate closure moved")
        self.assertEqual(self.client.wait("sdk-cancel-1", timeout=20).status, "CANCELLED")
        self.assertEqual(stopped, {"sdk-cancel-1": "cancelled"})

    def test_cancellation_reaches_a_coroutine_handler(self):
        cancelled = threading.Event()

        async def long_work(ctx):
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        self.serve({"long_work": long_work})
        self.client.start("sdk-cancel-2", "sdk-long", {})
        eventually(lambda: self.leased("sdk-cancel-2"), what="task leased")
        self.client.cancel("sdk-cancel-2", reason="activation withdrawn")
        self.assertEqual(self.client.wait("sdk-cancel-2", timeout=20).status, "CANCELLED")
        self.assertTrue(cancelled.is_set())

    def test_a_stale_completion_after_a_lost_lease_is_refused_and_surfaced(self):
        in_handler, finish = threading.Event(), threading.Event()
        contexts = []

        def slow(ctx):
            contexts.append(ctx)
            in_handler.set()
            finish.wait(30)
            return {"by": "zombie"}

        zombie = self.serve({"long_work": slow}, concurrency=1)  # its one slot stays taken
        zombie._renew_together_leases = lambda due: []  # frozen: its heartbeats stop
        self.client.start("sdk-stale-1", "sdk-long", {})
        self.assertTrue(in_handler.wait(20))
        eventually(lambda: "TaskLeaseExpired" in [e.type for e in self.client.history("sdk-stale-1")],
                   what="lease expired")
        self.serve({"long_work": lambda ctx: {"by": "successor", "attempt": ctx.attempt}})
        self.assertEqual(self.client.wait_for_result("sdk-stale-1", timeout=20)["work"],
                         {"by": "successor", "attempt": 2})
        finish.set()
        eventually(lambda: zombie.metrics.value("gridflow_worker_tasks_total",
                                                outcome="rejected") == 1, what="rejected counted")
        self.assertTrue(contexts[0].lease_lost)
        with self.assertRaises(gridflow.StaleLease):
            contexts[0].heartbeat()
        self.assertEqual(self.client.get("sdk-stale-1").result["work"],
                         {"by": "successor", "attempt": 2})


WORKER_SCRIPT = textwrap.dedent("""
    import sys, time, gridflow
    worker = gridflow.Worker(sys.argv[1], queues=["sdk"], poll_wait=1.0)
    @worker.task("long_work")
    def long_work(ctx):
        open(sys.argv[2], "w").write(ctx.task_id)
        time.sleep(600)
    worker.run()
""")


class KilledWorkerTest(unittest.TestCase):
    def test_a_killed_workers_task_completes_on_another(self):
        client = gridflow.Client(ENGINE_MAIN.address)
        marker = os.path.join(STATE, "killed-worker-started")
        script = os.path.join(STATE, "killed_worker.py")
        with open(script, "w") as f:
            f.write(WORKER_SCRIPT)
        victim = subprocess.Popen([sys.executable, script, ENGINE_MAIN.address, marker])
        try:
            client.start("sdk-kill-1", "sdk-long", {})
            eventually(lambda: os.path.exists(marker), what="the victim's handler started")
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            survivor = gridflow.Worker(ENGINE_MAIN.address, queues=["sdk"], poll_wait=1.0)
            survivor.task("long_work")(lambda ctx: {"attempt": ctx.attempt})
            serving = WorkerThread(survivor)
            try:
                self.assertEqual(client.wait_for_result("sdk-kill-1", timeout=30)["work"],
                                 {"attempt": 2})
            finally:
                serving.stop()
            types = [e.type for e in client.history("sdk-kill-1")]
            self.assertIn("TaskLeaseExpired", types)
        finally:
            if victim.poll() is None:
                victim.kill()
            client.close()


def stop_all(serving, clients, engines):
    """Tears down a test's own worker (if it started), clients and engines, in that order."""
    if serving is not None:
        serving.stop()
    for client in clients:
        client.close()
    for engine in engines:
        engine.stop()


class SeveralReplicasTest(unittest.TestCase):
    def test_replica_targets(self):
        from gridflow._replicas import resolve_replica_targets
        self.assertEqual(resolve_replica_targets("ipv4:10.0.0.1:7233,10.0.0.2:7233"),
                         (["ipv4:10.0.0.1:7233", "ipv4:10.0.0.2:7233"], ""))
        self.assertEqual(resolve_replica_targets("localhost:7233"), (["localhost:7233"], ""))
        self.assertEqual(resolve_replica_targets("dns:///localhost:7233"),
                         (["dns:///localhost:7233"], ""))
        self.assertEqual(resolve_replica_targets("unix:/run/gf.sock"), (["unix:/run/gf.sock"], ""))
        self.assertEqual(resolve_replica_targets("no-such-host.invalid:7233"),
                         (["no-such-host.invalid:7233"], ""))

    def test_a_worker_stops_within_one_timeout_when_several_replicas_do_not_answer(self):
        # Listening sockets nobody serves: the connection is made, the HTTP/2 handshake never
        # comes, so the polls and StopPolling there wait. Every replica is asked at once: the stop
        # takes one StopPolling timeout (2 s) in all, not one per silent replica.
        silent = []
        for _ in range(3):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(16)
            silent.append(s)
        targets = ",".join([ENGINE_MAIN.address] +
                           [f"127.0.0.1:{s.getsockname()[1]}" for s in silent])
        worker = gridflow.Worker(f"ipv4:{targets}", queues=["silent"], concurrency=4,
                                 poll_wait=30.0, shutdown_grace=2.0)
        worker.task("never")(lambda ctx: {})
        serving = WorkerThread(worker)
        try:
            eventually(lambda: worker._promised[0] == 4, what="a poll on each of the four")
            begun = time.monotonic()
            serving.stop()
            self.assertFalse(serving.thread.is_alive())
            self.assertLess(time.monotonic() - begun, 4.0)
        finally:
            for s in silent:
                s.close()

    def test_a_worker_holds_a_long_poll_on_every_replica_within_its_slots(self):
        from gridflow.v1 import cluster_service_pb2 as cl, cluster_service_pb2_grpc as cl_grpc
        a, b = Engine("replica-a").start(), Engine("replica-b").start()
        client_a = gridflow.Client(a.address)
        client_b = gridflow.Client(b.address)
        hold = HeldTasks()
        serving = None
        try:
            client_a.register(definition("sdk-spread", [
                {"name": "s", "kind": "task", "task_type": "hold", "task_queue": "spread"}]))
            # Work queued on both replicas before the worker starts: its first polls claim at once.
            ids = [f"sdk-spread-{i}" for i in range(8)]
            for i, workflow_id in enumerate(ids):
                (client_a if i % 2 == 0 else client_b).start(workflow_id, "sdk-spread", {})
            worker = gridflow.Worker(f"ipv4:{a.address},{b.address}", queues=["spread"],
                                     concurrency=3, poll_wait=2.0, shutdown_grace=2.0)
            worker.task("hold")(hold)
            serving = WorkerThread(worker)
            eventually(lambda: hold.running == 3, what="three handlers running")
            time.sleep(0.3)  # room for a poll to overreach
            self.assertEqual(hold.most, 3)
            # Leased, not only running: no task was leased beyond the slots.
            leased = sum(1 for w in ids for t in client_a.describe(w).open_tasks
                         if t.state == "LEASED")
            self.assertEqual(leased, 3)
            hold.release()
            for workflow_id in ids:
                client_a.wait_for_result(workflow_id, timeout=30)
            # Nothing left to do: a poll waits on each replica (the engines report their waiting
            # polls with their membership heartbeat, every 5 s).
            queues = cl_grpc.ClusterServiceStub(client_a.channel)

            def polls_waiting():
                for q in queues.ListQueues(cl.ListQueuesRequest(), timeout=5).queues:
                    if q.name == "spread":
                        return q.waiting_polls
                return 0
            eventually(lambda: polls_waiting() == 2, timeout=15, what="a poll on each replica")
        finally:
            hold.release()
            stop_all(serving, [client_a, client_b], [a, b])


    def test_a_completion_goes_to_the_replica_that_handed_the_task_over(self):
        # Each replica completes exactly the tasks it leased (its polls', and the next steps its
        # completions handed over): completions do not go round-robin (docs/worker.md).
        metrics = [free_port(), free_port()]
        a = Engine("affine-a", "--metrics-listen", f"127.0.0.1:{metrics[0]}").start()
        b = Engine("affine-b", "--metrics-listen", f"127.0.0.1:{metrics[1]}").start()
        client_a = gridflow.Client(a.address)
        client_b = gridflow.Client(b.address)
        serving = None
        try:
            client_a.register(definition("sdk-affine", [
                {"name": f"s{i}", "kind": "task", "task_type": "noop", "task_queue": "affine"}
                for i in range(3)]))
            worker = gridflow.Worker(f"ipv4:{a.address},{b.address}", queues=["affine"],
                                     concurrency=4, poll_wait=2.0, shutdown_grace=2.0)
            worker.task("noop")(lambda ctx: {})
            serving = WorkerThread(worker)
            ids = [f"sdk-affine-{i}" for i in range(20)]
            for i, workflow_id in enumerate(ids):
                (client_a if i % 2 == 0 else client_b).start(workflow_id, "sdk-affine", {})
            for workflow_id in ids:
                client_a.wait_for_result(workflow_id, timeout=30)

            def counts(port):
                return (engine_sample(port, "gridflow_tasks_leased_total", queue="affine"),
                        engine_sample(port, "gridflow_rpcs_total", code="0",
                                      method="/gridflow.v1.WorkerService/CompleteTask"))
            for port in metrics:  # the last answer is counted just after it was sent
                eventually(lambda: counts(port)[0] > 0 and counts(port)[0] == counts(port)[1],
                           what=f"completions matching leases on the replica ({counts(port)})")
            self.assertEqual(sum(counts(port)[0] for port in metrics), 60)
        finally:
            stop_all(serving, [client_a, client_b], [a, b])


class ShutdownTest(unittest.TestCase):
    def test_sigterm_releases_running_tasks_after_the_grace(self):
        client = gridflow.Client(ENGINE_MAIN.address)
        release_marker = os.path.join(STATE, "shutdown-worker-started")
        script = os.path.join(STATE, "shutdown_worker.py")
        with open(script, "w") as f:
            f.write(WORKER_SCRIPT.replace('poll_wait=1.0)', 'poll_wait=1.0, shutdown_grace=0.5)'))
        worker = subprocess.Popen([sys.executable, script, ENGINE_MAIN.address, release_marker])
        try:
            client.start("sdk-shutdown-1", "sdk-long", {})
            eventually(lambda: os.path.exists(release_marker), what="handler started")
            worker.send_signal(signal.SIGTERM)
            self.assertEqual(worker.wait(20), 0)
            eventually(lambda: "TaskReleased" in [e.type for e in client.history("sdk-shutdown-1")],
                       what="task released")
            client.cancel("sdk-shutdown-1")
        finally:
            if worker.poll() is None:
                worker.kill()
            client.close()

    def test_a_stopping_worker_has_its_long_poll_answered_not_cancelled(self):
        # StopPolling, not a cancel: a task handed to a poll just as its worker cancelled it would
        # wait for its lease to expire.
        worker = gridflow.Worker(ENGINE_MAIN.address, queues=["sdk-stopping"],
                                 identity="sdk-stopping-worker", poll_wait=30.0)
        worker.task("never")(lambda ctx: {})
        thread = WorkerThread(worker)
        eventually(lambda: any(r.polls[0] is not None for r in list(worker._replicas.values())),
                   what="a long-poll in flight")
        time.sleep(0.3)  # room for it to reach the engine
        started = time.monotonic()
        thread.stop()
        self.assertFalse(thread.thread.is_alive())
        self.assertLess(time.monotonic() - started, 10)  # not the poll's 30 s

        def logged():
            with open(ENGINE_MAIN.log) as f:
                return ("worker sdk-stopping-worker stopped polling: 1 waiting poll(s) answered"
                        in f.read())
        eventually(logged, what="StopPolling in the engine's log")


def make_certificates():
    """A CA and a server certificate for 127.0.0.1 (openssl, as operators would)."""
    d = os.path.join(STATE, "tls")
    os.makedirs(d, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=sdk-test-ca",
        "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout",
        f"{d}/server.key", "-out", f"{d}/server.csr")
    with open(f"{d}/san.ext", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", f"{d}/san.ext", "-out", f"{d}/server.pem")
    return d


class TlsAndTokenTest(unittest.TestCase):
    def test_tls_with_a_token(self):
        d = make_certificates()
        with open(f"{d}/tokens", "w") as f:
            f.write("s3cret-sdk-token sdk-tests\n")
        engine = Engine("tls", "--tls-cert", f"{d}/server.pem", "--tls-key", f"{d}/server.key",
                        "--auth-tokens-file", f"{d}/tokens").start()
        try:
            client = gridflow.Client(engine.address, tls_ca=f"{d}/ca.pem", token="s3cret-sdk-token")
            worker = gridflow.Worker(engine.address, queues=["sdk"], tls_ca=f"{d}/ca.pem",
                                     token="s3cret-sdk-token", poll_wait=1.0)
            worker.task("forecast")(lambda ctx: {"mw": [1]})
            worker.task("optimise")(lambda ctx: {"secure": True})
            serving = WorkerThread(worker)
            try:
                client.start("sdk-tls-1", "sdk-two-steps", {})
                self.assertEqual(client.wait_for_result("sdk-tls-1", timeout=20)["optimise"],
                                 {"secure": True})
                self.assertEqual(client.get("sdk-tls-1").started_by, "token:sdk-tests")
            finally:
                serving.stop()
            anonymous = gridflow.Client(engine.address, tls_ca=f"{d}/ca.pem", retry_timeout=1)
            with self.assertRaises(gridflow.Unauthenticated):
                anonymous.get("sdk-tls-1")
            with self.assertRaises(ValueError):  # a token never travels in plaintext
                gridflow.Client(engine.address, token="s3cret-sdk-token")
        except Exception as e:
            # What the engine saw is the clue when a call fails here (an earlier flake, UNAVAILABLE
            # "tcp handshaker shutdown", was the SDK cutting slow handshakes: ConnectionTest).
            raise AssertionError(f"{e}\n-- the TLS engine's log:\n{engine.log_tail()}") from e
        finally:
            engine.stop()


class ConnectionTest(unittest.TestCase):
    def test_a_connection_slow_to_set_up_is_waited_for(self):
        # An engine that needs 0.6 s to answer a new connection (a busy machine, a TLS handshake
        # under load) is reached with the first connection: an attempt is not cut short after the
        # reconnect interval and begun again (which, under load, can fail for the whole retry
        # window).
        engine = Engine("slow-to-connect").start()
        proxy = TcpProxy("127.0.0.1", engine.port, connect_delay=0.6)
        try:
            client = gridflow.Client(proxy.address, retry_timeout=20)
            begun = time.monotonic()
            client.register(definition("sdk-slow-connect", [task("a", "noop")]))
            self.assertGreaterEqual(time.monotonic() - begun, 0.5)
            self.assertEqual(proxy.connections, 1)
        finally:
            proxy.close()
            engine.stop()


class RetryPolicyTest(unittest.TestCase):
    def test_calls_made_while_the_engine_restarts_succeed(self):
        engine = Engine("restarting").start()
        try:
            client = gridflow.Client(engine.address, retry_timeout=30)
            client.start("sdk-restart-1", "sdk-two-steps", {})
            engine.kill()
            threading.Timer(2.0, engine.start, kwargs={"wait": False}).start()
            begun = time.monotonic()
            # Made while no engine listens: retried until the restarted one answers.
            self.assertEqual(client.get("sdk-restart-1").workflow_id, "sdk-restart-1")
            started = client.start("sdk-restart-2", "sdk-two-steps", {})
            self.assertGreater(time.monotonic() - begun, 1.5)
            self.assertTrue(started.created)
            impatient = gridflow.Client(f"127.0.0.1:{free_port()}", retry_timeout=0.5)
            with self.assertRaises(gridflow.Unavailable):
                impatient.get("sdk-restart-1")
            client.cancel("sdk-restart-1")
            client.cancel("sdk-restart-2")
        finally:
            engine.stop()


    def test_a_worker_takes_work_again_within_seconds_of_its_engines_return(self):
        # After 35 s down, gRPC's default reconnect backoff and its rate-limited re-resolution
        # would find the engine again 10 s or more after its return (measured 11 s before the
        # worker's options were set); the SDK's poll within about 2 s.
        engine = Engine("worker-restart", port=quiet_port()).start()
        ran = threading.Event()
        worker = gridflow.Worker(engine.address, queues=["restart"], concurrency=2, poll_wait=2.0,
                                 shutdown_grace=2.0)
        worker.task("restart_step")(lambda ctx: ran.set() or {})
        serving = WorkerThread(worker)
        try:
            client = gridflow.Client(engine.address, retry_timeout=30)
            client.register(definition("sdk-worker-restart", [
                {"name": "a", "kind": "task", "task_type": "restart_step",
                 "task_queue": "restart"}]))
            eventually(lambda: worker._promised[0] > 0, what="a long-poll")
            engine.stop()
            time.sleep(35)
            engine.start()
            back = time.monotonic()
            client.start("sdk-worker-restart-1", "sdk-worker-restart", {})
            self.assertTrue(ran.wait(30), "the worker never took the task")
            self.assertLess(time.monotonic() - back, 5.0)
        finally:
            serving.stop()
            engine.stop()

    def test_a_cancellation_the_caller_did_not_cause_is_retried(self):
        # What gRPC answers for a call that reached a replica as its server closed (a restart):
        # CANCELLED, the call never ran. Retried like UNAVAILABLE; other refusals are not.
        from gridflow._transport import Caller

        class Refused(grpc.RpcError):
            def __init__(self, code):
                self._code = code

            def code(self):
                return self._code

            def details(self):
                return "refused"

        answers = [Refused(grpc.StatusCode.CANCELLED), Refused(grpc.StatusCode.UNAVAILABLE), "ok"]

        def method(request, timeout):
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        self.assertEqual(Caller(retry_timeout=5).call(method, None), "ok")
        self.assertEqual(answers, [])
        answers.extend([Refused(grpc.StatusCode.CANCELLED), "ok"])
        with self.assertRaises(gridflow.Cancelled):
            Caller(retry_timeout=5).call(method, None, retry=False)
        answers[:] = [Refused(grpc.StatusCode.INVALID_ARGUMENT), "ok"]
        with self.assertRaises(gridflow.InvalidArgument):
            Caller(retry_timeout=5).call(method, None)


class DocsTest(unittest.TestCase):
    DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "docs",
                       "sdk-python.md")

    def test_the_quick_start_runs_as_written(self):
        # docs/sdk-python.md's quick start is a whole program a new user copies: run it as it is,
        # against this suite's engine instead of localhost:7233.
        with open(self.DOC) as f:
            doc = f.read()
        section = doc[doc.index("## Quick start"):]
        program = section[section.index("```python\n") + 10:section.index("\n```\n")]
        self.assertIn('"localhost:7233"', program)
        program = program.replace('"localhost:7233"', repr(ENGINE_MAIN.address))
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                              timeout=90)
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])
        self.assertEqual(done.stdout.strip(), "96 quarter-hours forecast")


if __name__ == "__main__":
    unittest.main()
