#!/usr/bin/python3
"""The restore drill (docs/reliability.md, "Restore drill"), scripted: a point-in-time recovery of
Gridflow's database under load, proven.

  1. A PostgreSQL primary with WAL archiving; an engine and a worker on it; runs started and
     completed continuously (two task steps each).
  2. A base backup taken while the load runs; the load goes on.
  3. The recovery instant T (the database's clock) is noted with the load still running; a
     "zombie" worker leases a task after T and keeps it. The load goes on after T; then the primary
     is lost (immediate stop) and its engine killed.
  4. Recovery into a new cluster: the base backup, the archived WAL replayed up to T, promoted.
     An engine starts on it; the recovery time is measured.
  5. Checks: every run whose start was acknowledged before T is there;
     no run whose start was asked for after T is there (exactly the work after T is
     lost); the open runs resume and complete; the zombie, still holding its lease from after T,
     cannot complete its task — neither before the task is leased again nor after, and the new
     lease's fencing token is higher than the zombie's (tokens never repeat after a restore).

Prints one summary line (recovery_time=, lost_runs=, violations=) and exits non-zero on any
violation. Usage: restore_drill.py --build-dir build [--load-seconds 4]
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PG_LIB = os.path.join(ROOT, "scripts", "lib", "pg.sh")


def pg(function, *args):
    """Runs a function of scripts/lib/pg.sh (clusters as the postgres user when root)."""
    return subprocess.run(["bash", "-c", f'source "{PG_LIB}"; "$@"', "pg", function, *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def psql(cluster, sql):
    return pg("pg_psql", cluster, sql)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def owned_by_postgres(path):
    os.makedirs(path, exist_ok=True)
    if os.getuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    os.chmod(path, 0o700)


class Drill:
    def __init__(self, args):
        self.build = os.path.abspath(args.build_dir)
        sys.path.insert(0, os.path.join(self.build, "python"))  # the Python SDK, as the build places it
        import gridflow
        from gridflow.v1 import worker_service_pb2 as wk, worker_service_pb2_grpc as wk_grpc
        self.gridflow, self.wk, self.wk_grpc = gridflow, wk, wk_grpc
        self.load_seconds = args.load_seconds
        self.base = tempfile.mkdtemp(prefix="gridflow-restore-drill.")
        os.chmod(self.base, 0o755)
        self.primary = os.path.join(self.base, "primary")
        self.restored = os.path.join(self.base, "restored")
        self.archive = os.path.join(self.base, "archive")
        self.engines = []
        self.violations = []
        self.acked = {}       # workflow id -> time its start was acknowledged
        self.asked = {}       # workflow id -> time its start was asked for
        self.stop_load = threading.Event()

    # ---- the pieces ----

    def start_engine(self, cluster, name):
        port = free_port()
        url = f"postgresql://gridflow@127.0.0.1:{open(os.path.join(cluster, 'port')).read().strip()}/gridflow"
        log = open(os.path.join(self.base, name + ".log"), "a")
        process = subprocess.Popen([os.path.join(self.build, "engine", "gridflow-engine"),
                                    "--listen", f"127.0.0.1:{port}", "--database-url", url,
                                    "--member-id", name], stdout=log, stderr=log)
        self.engines.append(process)
        address = f"127.0.0.1:{port}"
        client = self.gridflow.Client(address, identity="restore-drill", retry_timeout=60)
        deadline = time.monotonic() + 60
        while True:
            try:
                list(client.list(limit=1))
                return process, address, client
            except self.gridflow.GridflowError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def worker(self, address):
        w = self.gridflow.Worker(address, queues=["drill"], concurrency=8, poll_wait=1.0,
                                 identity="drill-worker", shutdown_grace=1.0)
        w.task("step")(lambda ctx: {"step": ctx.step, "attempt": ctx.attempt})
        thread = threading.Thread(target=w.run, kwargs={"install_signal_handlers": False}, daemon=True)
        thread.start()
        return w, thread

    def load(self, client):
        """Starts a run every 20 ms until told to stop, noting when each was asked and acknowledged."""
        n = 0
        while not self.stop_load.is_set():
            n += 1
            workflow_id = f"drill-{n:05d}"
            self.asked[workflow_id] = time.time()
            try:
                client.start(workflow_id, "drill", {"n": n})
                self.acked[workflow_id] = time.time()
            except self.gridflow.GridflowError:
                pass  # the primary is going away: not acknowledged, nothing promised
            time.sleep(0.02)

    # ---- the drill ----

    def run(self):
        try:
            self.prepare()
            t, zombie = self.under_load()
            started = time.monotonic()
            self.recover(t)
            recovered = time.monotonic() - started
            _, address, client = self.start_engine(self.restored, "engine-restored")
            ready = time.monotonic() - started
            lost = self.check(client, address, t, zombie)
            print(f"restore drill: recovery_time={recovered:.1f}s engine_serving={ready:.1f}s "
                  f"target={t} runs_before_target={self.before} lost_runs={lost} "
                  f"zombie_refused={not any('zombie' in v for v in self.violations)} "
                  f"violations={len(self.violations)}")
            for v in self.violations:
                print("  VIOLATION: " + v)
            return 1 if self.violations else 0
        finally:
            for process in self.engines:
                if process.poll() is None:
                    process.kill()
            for cluster in (self.primary, self.restored):
                try:
                    pg("pg_stop", cluster)
                except subprocess.CalledProcessError:
                    pass
            shutil.rmtree(self.base, ignore_errors=True)

    def prepare(self):
        print("== primary with WAL archiving", flush=True)
        owned_by_postgres(self.archive)
        pg("pg_start", self.primary)
        psql(self.primary, "ALTER SYSTEM SET archive_mode = 'on'")
        psql(self.primary, f"ALTER SYSTEM SET archive_command = 'test ! -f {self.archive}/%f && cp %p {self.archive}/%f'")
        pg("pg_restart", self.primary)

    def under_load(self):
        _, address, client = self.start_engine(self.primary, "engine-primary")
        # A short heartbeat timeout: a task that was leased at T comes back from the restore
        # leased to a worker that is gone, and runs again once that lease expires.
        client.register({"name": "drill", "version": 1, "steps": [
            {"name": "a", "kind": "task", "task_type": "step", "task_queue": "drill",
             "timeouts": {"heartbeat": "2s"}},
            {"name": "b", "kind": "task", "task_type": "step", "task_queue": "drill",
             "timeouts": {"heartbeat": "2s"}}]})
        client.register({"name": "drill-zombie", "version": 1, "steps": [
            {"name": "work", "kind": "task", "task_type": "zombie_work", "task_queue": "zombie"}]})
        # The zombie's run exists before T; its task is leased only after T.
        client.start("drill-zombie", "drill-zombie", {})
        w, thread = self.worker(address)
        loader = threading.Thread(target=self.load, args=(client,), daemon=True)
        loader.start()
        print(f"== load running; base backup in {self.load_seconds / 2:.0f} s", flush=True)
        time.sleep(self.load_seconds / 2)
        owned_by_postgres(self.restored)
        subprocess.run(["bash", "-c", f'source "{PG_LIB}"; pg_as_owner "$(pg_bindir)/pg_basebackup" '
                        f'-h 127.0.0.1 -p "$(cat {self.primary}/port)" -U gridflow -D {self.restored}/data '
                        f'-X stream -c fast'], check=True)
        print("== base backup taken; the load goes on", flush=True)
        time.sleep(self.load_seconds / 2)
        t = psql(self.primary, "SELECT now()")
        self.t_local = time.time()
        print(f"== recovery target T = {t}", flush=True)
        zombie = self.lease_zombie(address)
        time.sleep(self.load_seconds / 2)  # work after T: to be lost
        self.stop_load.set()
        loader.join()
        w.shutdown()
        thread.join(10)
        # The segment the switch completed (the engine still writes: the current position may
        # already be in the next segment, which is archived only when it fills).
        last = psql(self.primary, "SELECT pg_walfile_name(pg_switch_wal())")
        deadline = time.monotonic() + 30
        while psql(self.primary, "SELECT COALESCE(last_archived_wal, '') FROM pg_stat_archiver") < last:
            if time.monotonic() > deadline:
                raise RuntimeError("the WAL was not archived")
            time.sleep(0.1)
        print("== the primary is lost (immediate stop), its engine killed", flush=True)
        for process in self.engines:
            process.kill()
        pg("pg_kill", self.primary)
        return t, zombie

    def lease_zombie(self, address):
        import grpc
        stub = self.wk_grpc.WorkerServiceStub(grpc.insecure_channel(address))
        request = self.wk.LeaseTasksRequest(task_queues=["zombie"], max_tasks=1, identity="zombie-worker")
        request.wait.seconds = 10
        tasks = stub.LeaseTasks(request, timeout=20).tasks
        if not tasks:
            raise RuntimeError("the zombie leased nothing")
        return tasks[0]

    def recover(self, t):
        print("== recovery: the base backup, the archive replayed to T, promoted", flush=True)
        with open(os.path.join(self.restored, "data", "postgresql.auto.conf"), "a") as conf:
            conf.write(f"restore_command = 'cp {self.archive}/%f %p'\n"
                       f"recovery_target_time = '{t}'\n"
                       "recovery_target_action = 'promote'\n"
                       "archive_mode = 'off'\n")
        open(os.path.join(self.restored, "data", "recovery.signal"), "w").close()
        if os.getuid() == 0:
            for path in ("postgresql.auto.conf", "recovery.signal"):
                shutil.chown(os.path.join(self.restored, "data", path), "postgres", "postgres")
        for stale in ("postmaster.pid",):
            try:
                os.remove(os.path.join(self.restored, "data", stale))
            except FileNotFoundError:
                pass
        pg("pg_start", self.restored)
        deadline = time.monotonic() + 120
        while psql(self.restored, "SELECT pg_is_in_recovery()") != "f":
            if time.monotonic() > deadline:
                raise RuntimeError("the restored cluster was not promoted")
            time.sleep(0.1)

    def check(self, client, address, t, zombie):
        present = {r.workflow_id: r for r in client.list(definition="drill", page_size=1000)}
        acked_before = [w for w, at in self.acked.items() if at < self.t_local - 0.5]
        asked_after = [w for w, at in self.asked.items() if at > self.t_local + 0.5]
        self.before = len(acked_before)
        for w in acked_before:
            if w not in present:
                self.violations.append(f"{w} was acknowledged before T and is missing")
        for w in asked_after:
            if w in present:
                self.violations.append(f"{w} was started after T and survived the recovery to T")
        lost = len([w for w in self.acked if w not in present])
        # The zombie still holds epoch Z from after T; the restored task is queued again.
        stub = self.wk_grpc.WorkerServiceStub(__import__("grpc").insecure_channel(address))

        def zombie_completes():
            try:
                stub.CompleteTask(self.wk.CompleteTaskRequest(
                    task_id=zombie.task_id, lease_epoch=zombie.lease_epoch, result_json="{}",
                    identity="zombie-worker"), timeout=10)
                return True
            except __import__("grpc").RpcError as e:
                return e.code().name != "FAILED_PRECONDITION"
        if zombie_completes():
            self.violations.append("zombie: completed a task whose lease the restore rewound")
        # Every open run resumes; the zombie's task is leased again, with a higher token.
        w, thread = self.worker(address)
        request = self.wk.LeaseTasksRequest(task_queues=["zombie"], max_tasks=1, identity="drill-successor")
        request.wait.seconds = 10
        again = stub.LeaseTasks(request, timeout=20).tasks
        if not again or again[0].task_id != zombie.task_id:
            self.violations.append("zombie: its task was not queued again after the restore")
        else:
            if again[0].lease_epoch <= zombie.lease_epoch:
                self.violations.append(f"zombie: the new fencing token {again[0].lease_epoch} is not "
                                       f"above the lost one {zombie.lease_epoch}")
            if zombie_completes():
                self.violations.append("zombie: completed after its task was leased again")
            stub.CompleteTask(self.wk.CompleteTaskRequest(
                task_id=again[0].task_id, lease_epoch=again[0].lease_epoch, result_json="{}",
                identity="drill-successor"), timeout=10)
        deadline = time.monotonic() + 60
        while True:
            open_runs = [r.workflow_id for r in client.list(status="RUNNING", page_size=1000)]
            if not open_runs:
                break
            if time.monotonic() > deadline:
                self.violations.append(f"{len(open_runs)} runs did not resume: {open_runs[:5]}")
                break
            time.sleep(0.2)
        w.shutdown()
        thread.join(10)
        if client.get("drill-zombie").status != "COMPLETED":
            self.violations.append("zombie: its run did not complete after the restore")
        print(f"== {len(present)} drill runs after the recovery; {lost} acknowledged after T were "
              f"lost with T; open runs resumed", flush=True)
        return lost


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--load-seconds", type=float, default=4.0)
    return Drill(parser.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
