#!/usr/bin/python3
"""Chaos test: several engine replicas and workers against one PostgreSQL, killed with SIGKILL at
random while a few hundred runs execute, PostgreSQL fails over to its synchronous standby (the old
primary rebuilt as the new standby) and crash-restarts, the engines restart one by one, then a
checker proves that nothing was lost, done twice, or left stuck.

    chaos.py --build-dir build [--duration 60] [--runs 200] [--engines 3] [--workers 4] [--seed N]
             [--failovers 1] [--pg-restarts 1] [--kill-every 2.5] [--upgrade-from OLD_BUILD]

With --upgrade-from (tests/upgrade/upgrade_test.sh), engines and workers start as the previous
release's binaries, and the rolling restart becomes a rolling upgrade: each engine, then each
worker, is replaced by this build's binary one at a time (the first new engine applies the new
migrations; old and new replicas serve together meanwhile). Then also: no start or signal may
fail beyond the client retry policy, the schema must end at this build's version, and a run
started before the upgrade must complete after it.

A schedule fires every second meanwhile (docs/schedules.md): every nominal time in its range must
have exactly one run, and each must complete.

Prints a summary line: runs, kills, re-executions, violations. Exit 0 only with no violation.
The CI runs a short version (one failover); the soak recorded in docs/reliability.md is
`--duration 1800 --runs 3000 --failovers 3 --pg-restarts 2 --kill-every 1.3`.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "examples", "python"))

FINAL = ("COMPLETED", "FAILED", "CANCELLED")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def log(message):
    print(time.strftime("%H:%M:%S ") + message, flush=True)


class PostgreSQL:
    """A primary and a synchronous standby of the test's own (scripts/lib/pg.sh), reached by the
    engines through a libpq multi-host string (target_session_attrs=read-write), so that a failover
    needs no change of configuration: the primary killed, the standby promoted, the old primary
    rebuilt from a fresh base backup as the new standby, on its old address."""

    def __init__(self, directory):
        self.dirs = [os.path.join(directory, "pg-a"), os.path.join(directory, "pg-b")]
        self.primary = 0  # index into dirs

    def _pg(self, script):
        subprocess.run(["bash", "-c", f"source {ROOT}/scripts/lib/pg.sh && {script}"], check=True,
                       stdout=subprocess.DEVNULL)

    def _psql(self, index, sql):
        port = open(os.path.join(self.dirs[index], "port")).read().strip()
        return subprocess.run([os.path.join(self.bindir(), "psql"), "-h", "127.0.0.1", "-p", port,
                               "-U", "gridflow", "-d", "gridflow", "-qAt", "-c", sql],
                              check=True, capture_output=True, text=True).stdout.strip()

    def _make_synchronous(self):
        """The standby must confirm every commit: an acknowledged run survives the failover."""
        self._psql(self.primary, "ALTER SYSTEM SET synchronous_standby_names = 'standby'")
        self._psql(self.primary, "SELECT pg_reload_conf()")
        for _ in range(100):
            if self._psql(self.primary, "SELECT count(*) FROM pg_stat_replication "
                                        "WHERE sync_state = 'sync'") == "1":
                return
            time.sleep(0.1)
        raise RuntimeError("the standby did not become synchronous")

    def start(self):
        self._pg(f"pg_start {self.dirs[0]}")
        self._pg(f"pg_start_standby {self.dirs[0]} {self.dirs[1]}")
        self._make_synchronous()
        ports = [open(os.path.join(d, "port")).read().strip() for d in self.dirs]
        self.url = (f"postgresql://gridflow@127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/gridflow"
                    "?target_session_attrs=read-write&connect_timeout=2")

    def crash_restart(self):
        """The primary crashes and comes back (recovery replays the WAL); no failover."""
        d = self.dirs[self.primary]
        self._pg(f"pg_kill {d} && pg_start {d}")

    def failover(self):
        """The primary dies; the standby is promoted; the old primary is rebuilt as its standby."""
        old, new = self.primary, 1 - self.primary
        self._pg(f"pg_kill {self.dirs[old]}")
        self._pg(f"pg_promote {self.dirs[new]}")
        self.primary = new
        # Until a synchronous standby is back, commits on the new primary wait (it inherited the
        # setting): the rebuild is part of the outage the engines ride out.
        shutil.rmtree(os.path.join(self.dirs[old], "data"))
        self._pg(f"pg_start_standby {self.dirs[new]} {self.dirs[old]}")
        self._make_synchronous()

    def stop(self):
        for d in self.dirs:
            self._pg(f"pg_stop {d}")

    def query(self, sql):
        return self._psql(self.primary, sql)

    @staticmethod
    def bindir():
        return subprocess.run(["bash", "-c", f"source {ROOT}/scripts/lib/pg.sh && pg_bindir"],
                              check=True, capture_output=True, text=True).stdout.strip()


class Process:
    """A replica or worker that can be killed and started again with the same command line."""

    def __init__(self, name, argv, log_path, env=None):
        self.name, self.argv, self.log_path, self.env = name, argv, log_path, env
        self.proc = None

    def start(self):
        out = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True)

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


QUICK_RETRY = {"max_attempts": 50, "initial_interval": "100ms", "max_interval": "1s"}


def work(name, retry=QUICK_RETRY, priority=None):
    """A task step on the chaos queue that outlives killed workers (short heartbeat, many tries).
    `priority`: a class, or an expression giving one (the mix of urgent and bulk work)."""
    step = {"name": name, "kind": "task", "task_type": "work", "task_queue": "chaos",
            "retry": retry, "timeouts": {"start_to_close": "20s", "heartbeat": "2s"}}
    if priority is not None:
        step["priority"] = priority
    return step


DEFINITIONS = [
    {"name": "chaos-seq", "version": 1, "steps": [
        work("s0", priority="urgent"), work("s1", priority="bulk"), work("s2", priority="high")]},
    {"name": "chaos-timer", "version": 1, "steps": [
        work("before"),
        {"name": "pause", "kind": "timer", "duration": "1s"},
        work("after")]},
    {"name": "chaos-fanout", "version": 1, "steps": [
        {"name": "each", "kind": "foreach", "items": "range(4)", "max_concurrency": 2,
         "steps": [work("item_work", priority="=$/index")]},
        {"name": "both", "kind": "parallel", "branches": [
            {"name": "a", "steps": [work("a_work", retry={"max_attempts": 50})]},
            {"name": "b", "steps": [work("b_work", retry={"max_attempts": 50})]}]}]},
    {"name": "chaos-signal", "version": 1, "steps": [
        work("prepare"),
        {"name": "go", "kind": "wait_signal", "signal": "go", "timeout": "10m"},
        work("finish")]},
]


class Chaos:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.state = tempfile.mkdtemp(prefix="gridflow-chaos-")
        os.chmod(self.state, 0o755)
        self.db = PostgreSQL(os.path.join(self.state, "pg"))
        self.engines, self.workers = [], []
        self.kills = {"engine": 0, "worker": 0}
        self.pg_restarts = 0
        self.failovers = 0
        self.rolling_restarts = 0
        self.pauses = 0
        self.acknowledged = []  # workflow ids whose StartRun returned OK
        self.unacknowledged = 0
        self.failed_signals = 0  # refused beyond the client retry policy
        self.schema_versions = []  # (before, after) the rolling upgrade
        self.lock = threading.Lock()
        self.stop_faults = threading.Event()

    # ---- set-up ----

    def start(self):
        log(f"state in {self.state}; seed {self.args.seed}")
        self.db.start()
        build = os.path.abspath(self.args.upgrade_from or self.args.build_dir)
        self.ports = [free_port() for _ in range(self.args.engines)]
        self.target = "ipv4:" + ",".join(f"127.0.0.1:{p}" for p in self.ports)
        for i, port in enumerate(self.ports):
            p = Process(f"engine-{i}", [f"{build}/engine/gridflow-engine", "--listen", f"127.0.0.1:{port}",
                                        "--database-url", self.db.url, "--member-id", f"chaos-engine-{i}",
                                        "--lease-reaper-interval", "200ms", "--dispatch-fallback-poll", "500ms",
                                        "--drain-grace", "5s", "--database-pool-size", "8"],
                        os.path.join(self.state, f"engine-{i}.log"))
            p.start()
            self.engines.append(p)
        self.wait_for_engines()
        env = dict(os.environ, CHAOS_LOG=os.path.join(self.state, "executions.log"))
        for i in range(self.args.workers):
            p = Process(f"worker-{i}", [f"{build}/worker/gridflow-worker", "--address", self.target,
                                        "--queue", "chaos", "--concurrency", "8", "--identity", f"chaos-worker-{i}",
                                        "--poll-wait", "5s", "--shutdown-grace", "2s",
                                        # half the workers keep two slots for urgent work
                                        *(["--reserve", "urgent=2"] if i % 2 == 0 else []),
                                        "--handler", f"work=bash {ROOT}/tests/chaos/handler.sh"],
                        os.path.join(self.state, f"worker-{i}.log"), env)
            p.start()
            self.workers.append(p)
        os.environ["GRIDFLOW_PYTHON_PATH"] = os.path.join(os.path.abspath(self.args.build_dir), "python")
        from gridflow_client import GridflowClient
        self.client = GridflowClient(self.target, identity="chaos-client", timeout=5.0)
        import grpc  # noqa: F401  round-robin over the replicas, as the workers do
        self.client._channel = grpc.insecure_channel(self.target, options=[("grpc.lb_policy_name", "round_robin")])
        from gridflow.v1 import workflow_service_pb2_grpc
        self.client._stub = workflow_service_pb2_grpc.WorkflowServiceStub(self.client._channel)
        for definition in DEFINITIONS:
            self.retry(lambda d=definition: self.client.register(d))
        self.create_schedule()

    def wait_for_engines(self, ports=None):
        ctl = os.path.join(os.path.abspath(self.args.build_dir), "cli", "gridflowctl")
        for port in ports or self.ports:
            for _ in range(300):
                if subprocess.run([ctl, "--address", f"127.0.0.1:{port}", "--timeout", "1s", "cluster", "status"],
                                  capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)

    def ctl(self, *argv):
        """gridflowctl against any replica that answers (engines may be down: try each, retry)."""
        ctl = os.path.join(os.path.abspath(self.args.build_dir), "cli", "gridflowctl")
        for attempt in range(100):
            port = self.ports[attempt % len(self.ports)]
            if subprocess.run([ctl, "--address", f"127.0.0.1:{port}", "--timeout", "3s", *argv],
                              capture_output=True).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"gridflowctl {' '.join(argv)} failed on every replica")

    SCHEDULE = "chaos-tick"

    def create_schedule(self):
        """A run of chaos-seq every second, from a few seconds from now until the faults end."""
        now = int(time.time())
        self.schedule_from = now + 3
        self.schedule_to = now + int(self.args.duration)
        fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        spec = {"workflow": {"definition": "chaos-seq", "input": {"tick": "=$/schedule/nominal_time"}},
                "trigger": {"every": "1s"}, "overlap": "allow_all",
                "start_at": fmt(self.schedule_from), "end_at": fmt(self.schedule_to)}
        path = os.path.join(self.state, "schedule.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        ctl = os.path.join(os.path.abspath(self.args.build_dir), "cli", "gridflowctl")
        for _ in range(100):
            for port in self.ports:
                done = subprocess.run([ctl, "--address", f"127.0.0.1:{port}", "--timeout", "3s",
                                       "schedules", "create", self.SCHEDULE, "--file", path],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                # A create whose answer was lost finds its schedule on the retry.
                if done.returncode == 0 or "already exists" in done.stderr:
                    return
            time.sleep(0.5)
        raise RuntimeError("the schedule could not be created")

    def retry(self, call, attempts=100):
        """Retries what the client retry policy does (docs/reliability.md: UNAVAILABLE, CANCELLED
        this client did not cause, deadlines); every call used here is idempotent (same workflow id,
        same dedup id), so a retry after an unknown outcome is safe."""
        from gridflow_client import GridflowError
        import grpc
        transient = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                     grpc.StatusCode.DEADLINE_EXCEEDED)
        for attempt in range(attempts):
            try:
                return call()
            except GridflowError as e:
                if e.code not in transient or \
                        attempt == attempts - 1:
                    raise
            time.sleep(min(0.05 * 2 ** attempt, 1.0))

    # ---- load ----

    def start_runs(self):
        kinds = [d["name"] for d in DEFINITIONS]
        spacing = max(self.args.duration * 0.8 / max(self.args.runs, 1), 0.005)
        for i in range(self.args.runs):
            kind = kinds[i % len(kinds)]
            workflow_id = f"{kind}-{i}"
            try:
                self.retry(lambda: self.client.start_run(workflow_id, kind, {"i": i}), attempts=40)
                with self.lock:
                    self.acknowledged.append(workflow_id)
                if kind == "chaos-signal":  # delivered twice: the dedup id makes it count once
                    for _ in range(2):
                        threading.Thread(target=self.send_go, args=(workflow_id,), daemon=True).start()
            except Exception as e:  # noqa: BLE001
                self.unacknowledged += 1
                log(f"start of {workflow_id} never acknowledged: {e}")
            time.sleep(spacing)

    def send_go(self, workflow_id):
        from gridflow_client import GridflowError
        import grpc
        time.sleep(self.rng.uniform(0.1, 2.0))
        try:
            self.retry(lambda: self.client.signal(workflow_id, "go", {"from": "chaos"},
                                                  dedup_id="go-" + workflow_id))
        except GridflowError as e:
            # The other delivery was consumed and the run already finished: that is the point.
            if e.code != grpc.StatusCode.FAILED_PRECONDITION:
                log(f"signal to {workflow_id} failed: {e}")
                with self.lock:
                    self.failed_signals += 1

    # ---- faults ----

    def inject_faults(self):
        begin = time.time()
        end = begin + self.args.duration
        at = lambda share: begin + self.args.duration * share  # noqa: E731
        # Failovers and PostgreSQL crash-restarts spread over the run, apart from each other.
        failovers = [at((i + 1) / (self.args.failovers + 1) - 0.05) for i in range(self.args.failovers)]
        pg_restarts = [at((i + 1) / (self.args.pg_restarts + 1) + 0.05) for i in range(self.args.pg_restarts)]
        rolling_at = at(0.7)
        pause_at = at(0.55)
        mean = self.args.kill_every  # seconds between SIGKILLs, on average (0: none)
        while not self.stop_faults.is_set() and time.time() < end:
            time.sleep(self.rng.uniform(0.2, 1.2) * mean if mean > 0 else 0.5)
            if failovers and time.time() > failovers[0]:
                failovers.pop(0)
                began = time.time()
                log("fault: the PostgreSQL primary dies; the standby is promoted; the old primary "
                    "is rebuilt as the new standby")
                self.db.failover()
                self.failovers += 1
                log(f"failover done in {time.time() - began:.1f} s")
                continue
            if pg_restarts and time.time() > pg_restarts[0]:
                pg_restarts.pop(0)
                log("fault: PostgreSQL crash and restart")
                self.db.crash_restart()
                self.pg_restarts += 1
                continue
            if self.pauses == 0 and time.time() > pause_at:
                log("fault: the chaos queue paused by an operator for 3 s, then resumed")
                self.ctl("queues", "pause", "chaos", "--reason", "chaos harness")
                time.sleep(3.0)
                self.ctl("queues", "resume", "chaos")
                self.pauses += 1
                continue
            if self.rolling_restarts == 0 and time.time() > rolling_at:
                self.roll()
                self.rolling_restarts += 1
                continue
            if mean <= 0:
                continue
            kind = self.rng.choice(["engine", "worker"])
            victims = self.engines if kind == "engine" else self.workers
            victim = self.rng.choice(victims)
            log(f"fault: SIGKILL {victim.name}")
            victim.kill()
            self.kills[kind] += 1
            time.sleep(self.rng.uniform(0.1, 0.8) * mean)
            victim.start()

    def roll(self):
        """Every engine, one by one: SIGTERM, drain, start again (with --upgrade-from: as this
        build's binary, and every worker after them)."""
        if not self.args.upgrade_from:
            log("fault: rolling restart of every engine (SIGTERM, drain, start)")
            for engine in self.engines:
                engine.terminate()
                engine.start()
                time.sleep(1.0)
            return
        old = os.path.abspath(self.args.upgrade_from)
        new = os.path.abspath(self.args.build_dir)
        # A run that waits, started on the old release; its signal comes once all is new.
        self.retry(lambda: self.client.start_run(self.SPANNING, "chaos-signal", {}))
        with self.lock:
            self.acknowledged.append(self.SPANNING)
        before = self.schema_version()
        log(f"fault: rolling upgrade (schema {before}): each engine, then each worker, "
            "replaced by this build's binary")
        for i, p in enumerate(self.engines + self.workers):
            p.terminate()
            p.argv[0] = p.argv[0].replace(old, new, 1)
            p.start()
            if i < len(self.engines):
                self.wait_for_engines([self.ports[i]])
            time.sleep(1.0)
        self.schema_versions.append((before, self.schema_version()))
        log(f"rolling upgrade done (schema {self.schema_versions[-1][1]}); signalling {self.SPANNING}")
        self.retry(lambda: self.client.signal(self.SPANNING, "go", {"from": "upgrade"},
                                              dedup_id="go-" + self.SPANNING))

    SPANNING = "chaos-upgrade-spanning"

    def schema_version(self):
        return int(self.db.query("SELECT max(version) FROM gridflow_schema_migrations"))

    # ---- the end ----

    def wait_for_runs(self, timeout):
        """Until every run is closed, or `timeout` seconds pass without one more closing: a backlog
        left by the faults drains at its own pace, a stuck run is still found."""
        deadline = time.time() + timeout
        ids = "','".join(self.acknowledged)
        fewest = None
        while time.time() < deadline:
            open_runs = int(self.db.query(
                f"SELECT count(*) FROM runs WHERE (workflow_id IN ('{ids}') OR workflow_id LIKE "
                f"'{self.SCHEDULE}@%') AND status NOT IN ('COMPLETED','FAILED','CANCELLED')"))
            if open_runs == 0:
                return
            if fewest is None or open_runs < fewest:
                fewest = open_runs
                deadline = time.time() + timeout
            time.sleep(1.0)

    def check(self):
        violations = []
        q = self.db.query
        ids = "','".join(self.acknowledged)
        statuses = dict(tuple(line.split("|")) for line in q(
            f"SELECT workflow_id, status FROM runs WHERE workflow_id IN ('{ids}')").splitlines() if line)
        missing = [w for w in self.acknowledged if w not in statuses]
        if missing:
            violations.append(f"{len(missing)} acknowledged runs do not exist: {missing[:5]}")
        not_final = [w for w, s in statuses.items() if s not in FINAL]
        if not_final:
            violations.append(f"{len(not_final)} runs not finished (stuck): {not_final[:5]}")
        not_completed = [w for w, s in statuses.items() if s != "COMPLETED"]
        if not_completed:
            violations.append(f"{len(not_completed)} runs did not complete: {not_completed[:5]}")
        # The schedule: exactly one run per nominal time (every second of its range), each completed.
        expected = {self.SCHEDULE + "@" + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
                    for t in range(self.schedule_from, self.schedule_to + 1)}
        scheduled = dict(tuple(line.split("|")) for line in q(
            f"SELECT workflow_id, status FROM runs WHERE workflow_id LIKE '{self.SCHEDULE}@%'").splitlines()
            if line)
        missing_ticks = sorted(expected - scheduled.keys())
        if missing_ticks:
            violations.append(f"{len(missing_ticks)} nominal times of the schedule have no run: "
                              f"{missing_ticks[:5]}")
        extra_ticks = sorted(scheduled.keys() - expected)
        if extra_ticks:
            violations.append(f"{len(extra_ticks)} scheduled runs for no nominal time: {extra_ticks[:5]}")
        unfinished_ticks = [w for w, s in scheduled.items() if s != "COMPLETED"]
        if unfinished_ticks:
            violations.append(f"{len(unfinished_ticks)} scheduled runs did not complete: "
                              f"{unfinished_ticks[:5]}")
        failed_firings = q("SELECT count(*) FROM schedule_firings WHERE outcome NOT IN "
                           "('started', 'already_started')")
        if failed_firings != "0":
            violations.append(f"{failed_firings} schedule firings neither started nor found their run")
        # Each query counts the rows that break an invariant; every count must be 0.
        counted = [
            ("SELECT count(*) FROM (SELECT task_id FROM events WHERE type = 'TaskCompleted' "
             "GROUP BY task_id HAVING count(*) > 1) d",
             "tasks have more than one recorded completion"),
            ("SELECT count(*) FROM (SELECT run_id FROM events GROUP BY run_id "
             "HAVING min(seq) <> 1 OR max(seq) <> count(*)) g",
             "runs have gaps in their history"),
            ("SELECT count(*) FROM runs r WHERE r.status IN ('COMPLETED','FAILED','CANCELLED') AND "
             "(SELECT count(*) FROM events e WHERE e.run_id = r.id AND e.type IN "
             "('RunCompleted','RunFailed','RunCancelled')) <> 1 OR r.status IN "
             "('COMPLETED','FAILED','CANCELLED') AND (SELECT type FROM events e WHERE e.run_id = r.id "
             "ORDER BY seq DESC LIMIT 1) NOT IN ('RunCompleted','RunFailed','RunCancelled')",
             "runs do not end with exactly one terminal event"),
            ("SELECT count(*) FROM tasks WHERE state IN ('PENDING','LEASED')",
             "tasks are still queued or leased after every run ended"),
            ("SELECT count(*) FROM timers WHERE state = 'PENDING'", "timers still pending"),
            ("SELECT count(*) FROM dispatch_controls WHERE paused", "queues still paused after the resume"),
            ("SELECT count(*) FROM runs WHERE last_event_seq <> "
             "(SELECT count(*) FROM events e WHERE e.run_id = runs.id)",
             "runs disagree with their history length"),
            ("SELECT count(*) FROM (SELECT run_id FROM events WHERE type = 'SignalReceived' "
             "GROUP BY run_id HAVING count(*) > 1) s",
             "runs applied a deduplicated signal twice"),
        ]
        for sql, what in counted:
            count = q(sql)
            if count != "0":
                violations.append(f"{count} {what}")
        if self.args.upgrade_from:
            violations += self.check_upgrade(statuses)

        # Every recorded completion came from a real, successful execution under that very lease.
        executions = {}
        for line in open(os.path.join(self.state, "executions.log")):
            task, attempt, epoch, pid, outcome = line.split()
            executions.setdefault((task, epoch), []).append(outcome)
        completions = [tuple(line.split("|")) for line in q(
            "SELECT task_id, payload->>'lease_epoch' FROM events WHERE type = 'TaskCompleted'").splitlines()]
        phantom = [c for c in completions if "ok" not in executions.get(c, [])]
        if phantom:
            violations.append(f"{len(phantom)} completions without a matching execution: {phantom[:5]}")
        total_executions = sum(len(v) for v in executions.values())
        return violations, {
            "runs": len(self.acknowledged), "completed": sum(1 for s in statuses.values() if s == "COMPLETED"),
            "tasks": len(completions), "executions": total_executions,
            "re_executions": total_executions - len(completions),
            "lease_expiries": int(q("SELECT count(*) FROM events WHERE type = 'TaskLeaseExpired'")),
            "scheduled": len(scheduled),
        }

    def check_upgrade(self, statuses):
        violations = []
        if self.unacknowledged or self.failed_signals:
            violations.append(f"{self.unacknowledged} starts and {self.failed_signals} signals failed "
                              "beyond the client retry policy")
        if not self.schema_versions:
            return violations + ["the rolling upgrade did not happen"]
        migrations = os.listdir(os.path.join(ROOT, "persistence", "migrations"))
        expected = max(int(name.split("_")[0]) for name in migrations if name.endswith(".sql"))
        before, after = self.schema_versions[0]
        if after != expected:
            violations.append(f"schema at version {after} after the upgrade, this build's is {expected}")
        spanning = self.db.query(
            "SELECT count(*) FROM events e JOIN runs r ON r.id = e.run_id WHERE r.workflow_id = "
            f"'{self.SPANNING}' AND e.type = 'SignalReceived'")
        if statuses.get(self.SPANNING) != "COMPLETED" or spanning != "1":
            violations.append(f"{self.SPANNING}, started before the upgrade, did not complete after "
                              f"its signal ({statuses.get(self.SPANNING)})")
        log(f"upgrade: schema {before} -> {after}, {self.SPANNING} {statuses.get(self.SPANNING)}")
        return violations

    def shutdown(self, keep):
        for p in self.workers + self.engines:
            p.terminate(timeout=10)
        self.db.stop()
        if not keep:
            shutil.rmtree(self.state, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--duration", type=float, default=60, help="seconds of fault injection")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--engines", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--failovers", type=int, default=1, help="PostgreSQL failovers")
    parser.add_argument("--pg-restarts", type=int, default=1, help="PostgreSQL crash-restarts")
    parser.add_argument("--kill-every", type=float, default=2.5,
                        help="mean seconds between SIGKILLs (a victim restarts after about half of that)")
    parser.add_argument("--upgrade-from", help="the previous release's build dir: a rolling upgrade "
                        "from it replaces the rolling restart")
    parser.add_argument("--keep", action="store_true", help="keep the state folder (logs)")
    args = parser.parse_args()

    chaos = Chaos(args)
    violations = ["harness did not finish"]
    try:
        chaos.start()
        faults = threading.Thread(target=chaos.inject_faults, daemon=True)
        faults.start()
        chaos.start_runs()
        faults.join()
        log("faults over; every engine and worker is up; waiting for the runs to finish")
        for p in chaos.engines + chaos.workers:
            if not p.alive():
                p.start()
        chaos.wait_for_runs(timeout=180)  # 180 s without progress
        time.sleep(2.0)  # let the last clean-ups (timers, messages) land
        violations, figures = chaos.check()
        kills = chaos.kills["engine"] + chaos.kills["worker"]
        print(f"chaos: seed={args.seed} duration={args.duration:.0f}s runs={figures['runs']} "
              f"completed={figures['completed']} tasks={figures['tasks']} kills={kills} "
              f"(engines {chaos.kills['engine']}, workers {chaos.kills['worker']}) "
              f"failovers={chaos.failovers} pg_restarts={chaos.pg_restarts} rolling_restarts={chaos.rolling_restarts} "
              f"pauses={chaos.pauses} upgrades={len(chaos.schema_versions)} "
              f"executions={figures['executions']} re-executions={figures['re_executions']} "
              f"lease_expiries={figures['lease_expiries']} unacknowledged_starts={chaos.unacknowledged} "
              f"failed_signals={chaos.failed_signals} "
              f"scheduled_runs={figures['scheduled']} "
              f"violations={len(violations)}", flush=True)
        for v in violations:
            print("  violation: " + v, flush=True)
    finally:
        chaos.shutdown(keep=args.keep or bool(violations))
        if violations:
            print(f"state kept in {chaos.state}", flush=True)
    return 0 if not violations else 1


if __name__ == "__main__":
    sys.exit(main())
