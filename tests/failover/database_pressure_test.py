#!/usr/bin/python3
"""Database pressure: an engine whose PostgreSQL is short of connections, of time and of disk.
A cluster of its own, its WAL on a small tmpfs; one engine with a pool of 3 connections. A writer
starts runs all along and remembers every start that was acknowledged. Three failures in turn:

  - pool exhaustion: every connection is stuck behind a lock (another session holds the tables);
  - a statement timeout: the database cancels every statement after 300 ms (and the lock stays);
  - a full WAL volume: another workload fills the tmpfs, PostgreSQL stops (PANIC: no space left on
    device); the operator frees space and starts it again.

Each must be answered with UNAVAILABLE or RESOURCE_EXHAUSTED within seconds (never INTERNAL, never
a hang), health must go NOT_SERVING, the same engine process must recover by itself once the
cause is gone, and no start that was acknowledged may be missing at the end.

Usage: database_pressure_test.py --build-dir build   (as root, for the tmpfs mount)
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

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from database_stall_test import health, report, stop  # noqa: E402

SERVING, NOT_SERVING = 1, 2


def pg(command, state):
    """Runs scripts/lib/pg.sh's `command`; returns its stdout."""
    done = subprocess.run(["bash", "-c", f"source {ROOT}/scripts/lib/pg.sh; {command}"], text=True,
                          capture_output=True, env={**os.environ, "STATE": state})
    if done.returncode != 0:
        raise RuntimeError(f"{command}: {done.stderr[-2000:]}")
    return done.stdout


class Locker:
    """Another session holding the runs and schema tables (ACCESS EXCLUSIVE) until release()."""

    def __init__(self, url):
        self.process = subprocess.Popen(["psql", url, "-qAt", "-v", "ON_ERROR_STOP=1"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.process.stdin.write("BEGIN; LOCK TABLE runs, gridflow_schema_migrations IN ACCESS "
                                 "EXCLUSIVE MODE; SELECT 'locked';\n")
        self.process.stdin.flush()
        if self.process.stdout.readline().strip() != "locked":
            raise RuntimeError("could not take the locks")

    def release(self):
        self.process.stdin.write("COMMIT;\n\\q\n")
        self.process.stdin.flush()
        self.process.wait(30)


class Writer(threading.Thread):
    """Starts runs one after another; keeps the ids of those acknowledged and the error types."""

    def __init__(self, gridflow, address):
        super().__init__(daemon=True)
        self.client = gridflow.Client(address, retry_timeout=0, timeout=10)
        self.gridflow = gridflow
        self.acknowledged = []
        self.errors = {}
        self.stopped = threading.Event()

    def run(self):
        n = 0
        while not self.stopped.is_set():
            n += 1
            try:
                self.client.start(f"pressure-{n}", "pressure", {"n": n})
                self.acknowledged.append(f"pressure-{n}")
            except self.gridflow.GridflowError as e:
                self.errors[type(e).__name__] = self.errors.get(type(e).__name__, 0) + 1
                time.sleep(0.2)
            time.sleep(0.02)


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def expect_refusal(gridflow, address, what, failures):
    """A start during the trouble: UNAVAILABLE or RESOURCE_EXHAUSTED, within 40 s; then health
    NOT_SERVING within 40 s."""
    impatient = gridflow.Client(address, retry_timeout=0, timeout=60)
    began = time.monotonic()
    try:
        impatient.start(f"refused-{what.replace(' ', '-')}", "pressure", {})
        failures.append(f"{what}: a start was acknowledged")
    except (gridflow.Unavailable, gridflow.ResourceExhausted) as e:
        print(f"   start: {type(e).__name__} after {time.monotonic() - began:.1f} s: "
              f"{e.message[:140]}", flush=True)
    except gridflow.GridflowError as e:
        failures.append(f"{what}: a start failed with {type(e).__name__}: {e}")
    if time.monotonic() - began > 40:
        failures.append(f"{what}: the start was answered only after {time.monotonic() - began:.0f} s")
    if wait_for(lambda: health(address) == NOT_SERVING, 40):
        print("   health: NOT_SERVING", flush=True)
    else:
        failures.append(f"{what}: health stayed {health(address)} (expected NOT_SERVING)")


def expect_recovery(client, address, what, failures):
    began = time.monotonic()
    n = [0]

    def started():
        n[0] += 1
        try:
            client.start(f"recovered-{what.replace(' ', '-')}-{n[0]}", "pressure", {})
            return True
        except Exception:  # noqa: BLE001 (any failure: not yet)
            return False
    if not wait_for(started, 90):
        failures.append(f"{what}: no start succeeded within 90 s of the recovery")
    if not wait_for(lambda: health(address) == SERVING, 60):
        failures.append(f"{what}: health did not return to SERVING")
    print(f"   recovered: serving again after {time.monotonic() - began:.1f} s", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    args = parser.parse_args()
    build = os.path.abspath(args.build_dir)
    sys.path.insert(0, os.path.join(build, "python"))
    import gridflow

    if os.geteuid() != 0:
        print("database pressure: needs root (a tmpfs for the WAL)")
        return 1
    state = tempfile.mkdtemp(prefix="gf-pressure-")
    os.chmod(state, 0o755)
    wal = os.path.join(state, "wal")
    os.makedirs(wal)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", wal], check=True)
    shutil.chown(wal, "postgres", "postgres")
    cluster = os.path.join(state, "pg")
    os.environ["GRIDFLOW_PG_INITDB_ARGS"] = f"--waldir={wal}/pg_wal"
    engine = None
    failures = []
    try:
        port = pg('pg_start "$STATE/pg" >/dev/null; echo $GRIDFLOW_PG_PORT', state).strip()
        url = f"postgresql://gridflow@127.0.0.1:{port}/gridflow"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            address = f"127.0.0.1:{s.getsockname()[1]}"
        log = open(os.path.join(state, "engine.log"), "w")
        engine = subprocess.Popen(
            [os.path.join(build, "engine", "gridflow-engine"), "--listen", address,
             "--database-url", url, "--database-pool-size", "3", "--database-stall-timeout", "3s"],
            stdout=log, stderr=log)
        client = gridflow.Client(address, retry_timeout=30)
        client.register({"name": "pressure", "version": 1, "steps": [
            {"name": "wait", "kind": "wait_signal", "signal": "go"}]})
        writer = Writer(gridflow, address)
        writer.start()
        time.sleep(2)

        print("== pool exhaustion: every connection stuck behind another session's locks",
              flush=True)
        locker = Locker(url)
        expect_refusal(gridflow, address, "pool exhaustion", failures)
        locker.release()
        expect_recovery(client, address, "pool exhaustion", failures)

        print("== a statement timeout of 300 ms, the locks held again", flush=True)
        subprocess.run(["psql", url, "-qc", "ALTER DATABASE gridflow SET statement_timeout = '300ms'"],
                       check=True)
        # The setting applies to new sessions: the engine's connections are replaced.
        subprocess.run(["psql", url, "-qAt", "-c",
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = 'gridflow' AND pid <> pg_backend_pid()"],
                       check=True, capture_output=True)
        locker = Locker(url)
        expect_refusal(gridflow, address, "statement timeout", failures)
        locker.release()
        subprocess.run(["psql", url, "-qc", "ALTER DATABASE gridflow RESET statement_timeout"],
                       check=True)
        expect_recovery(client, address, "statement timeout", failures)

        print("== the WAL volume fills up", flush=True)
        free = os.statvfs(wal).f_bavail * os.statvfs(wal).f_frsize
        filler = os.path.join(wal, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - 2 * 1024 * 1024))
        neighbour = subprocess.run(
            ["psql", url, "-qc", "CREATE TABLE neighbour AS "
             "SELECT repeat('x', 1000) AS pad FROM generate_series(1, 100000)"],
            capture_output=True, text=True)
        print(f"   another workload: {(neighbour.stderr or 'succeeded').strip()[:120]}", flush=True)
        expect_refusal(gridflow, address, "full WAL volume", failures)
        print("== the operator frees space and starts PostgreSQL again", flush=True)
        os.remove(filler)
        # PostgreSQL stopped itself (or is stuck trying): stop what is left of it, start it again.
        pg('pg_as_owner "$(pg_bindir)/pg_ctl" -D "$STATE/pg/data" -m immediate -w -t 30 stop '
           '>/dev/null 2>&1 || true; pg_start "$STATE/pg" >/dev/null', state)
        expect_recovery(client, address, "full WAL volume", failures)

        writer.stopped.set()
        writer.join(30)
        missing = []
        for workflow_id in writer.acknowledged:
            try:
                client.get(workflow_id)
            except gridflow.NotFound:
                missing.append(workflow_id)
        print(f"   writer: {len(writer.acknowledged)} starts acknowledged, errors {writer.errors}, "
              f"missing after the failures: {len(missing)}", flush=True)
        if missing:
            failures.append(f"acknowledged starts lost: {missing[:5]}")
        if "Internal" in writer.errors or "Unknown" in writer.errors:
            failures.append(f"the writer saw errors other than UNAVAILABLE/RESOURCE_EXHAUSTED: "
                            f"{writer.errors}")
        if engine.poll() is not None:
            failures.append(f"the engine exited ({engine.returncode})")
    finally:
        if engine is not None:
            stop(engine)
        try:
            pg('pg_stop "$STATE/pg"', state)
        finally:
            subprocess.run(["umount", wal])
            if failures:
                print(open(os.path.join(state, "engine.log")).read()[-3000:]
                      if os.path.exists(os.path.join(state, "engine.log")) else "")
            shutil.rmtree(state, ignore_errors=True)
    return report("database pressure", failures)


if __name__ == "__main__":
    sys.exit(main())
