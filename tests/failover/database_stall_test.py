#!/usr/bin/python3
"""A network stall between an engine and PostgreSQL: the engine reaches its database through a
TCP proxy this test controls, which stops forwarding (connections stay open, nothing arrives, as
when a network path or a firewall silently drops traffic). Then:

  - calls that need the database are answered UNAVAILABLE within seconds (the stalled connection
    is cut after --database-stall-timeout, new connections give up after PGCONNECT_TIMEOUT), not
    held forever;
  - health goes NOT_SERVING;
  - when the network recovers, the same engine process serves again (SERVING, starts succeed)
    without a restart, and the run acknowledged before the stall is there.

Usage: database_stall_test.py --build-dir build   (GRIDFLOW_TEST_DATABASE_URL: the suite's server)
"""
import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from engine_health import health  # noqa: E402
from tcp_proxy import TcpProxy  # noqa: E402


def stop(engine):
    """SIGTERM, and SIGKILL if the drain takes more than 20 s."""
    engine.terminate()
    try:
        engine.wait(20)
    except subprocess.TimeoutExpired:
        engine.kill()


def report(test, failures):
    """Prints the failures and the verdict; the exit status."""
    for f in failures:
        print("FAILED: " + f)
    print(f"{test}: {'OK' if not failures else 'FAILED'} ({len(failures)} failures)")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    args = parser.parse_args()
    build = os.path.abspath(args.build_dir)
    sys.path.insert(0, os.path.join(build, "python"))
    import gridflow

    base_url = os.environ["GRIDFLOW_TEST_DATABASE_URL"]
    db = f"gf_stall_{os.getpid()}"
    subprocess.run(["psql", base_url, "-qc", f"CREATE DATABASE {db}"], check=True)
    parsed = urllib.parse.urlparse(base_url)
    proxy = TcpProxy(parsed.hostname, parsed.port)
    url = f"postgresql://{parsed.username}@127.0.0.1:{proxy.port}/{db}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"gf-stall-{os.getpid()}.log"), "w")
    engine = subprocess.Popen([os.path.join(build, "engine", "gridflow-engine"), "--listen", address,
                               "--database-url", url, "--database-stall-timeout", "2s"],
                              stdout=log, stderr=log)
    failures = []
    try:
        client = gridflow.Client(address, retry_timeout=30)
        client.register({"name": "stall", "version": 1, "steps": [
            {"name": "wait", "kind": "wait_signal", "signal": "go"}]})
        client.start("stall-before", "stall", {})
        if health(address) != 1:
            failures.append(f"health before the stall: {health(address)}")

        print("== the network to PostgreSQL stalls", flush=True)
        proxy.stall()
        impatient = gridflow.Client(address, retry_timeout=0, timeout=60)
        began = time.monotonic()
        try:
            impatient.start("stall-during", "stall", {})
            failures.append("a start during the stall was acknowledged")
        except gridflow.Unavailable as e:
            print(f"   start during the stall: UNAVAILABLE after {time.monotonic() - began:.1f} s: "
                  f"{e.message[:120]}", flush=True)
        except gridflow.GridflowError as e:
            failures.append(f"a start during the stall: {e} (expected UNAVAILABLE)")
        if time.monotonic() - began > 40:
            failures.append(f"the start was answered only after {time.monotonic() - began:.0f} s")
        deadline = time.monotonic() + 40
        while health(address) != 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        state = health(address)
        print(f"   health during the stall: {'NOT_SERVING' if state == 2 else state}", flush=True)
        if state != 2:
            failures.append(f"health during the stall: {state} (expected NOT_SERVING)")

        print("== the network recovers", flush=True)
        proxy.resume()
        began = time.monotonic()
        started = None
        while time.monotonic() - began < 60:
            try:
                started = client.start("stall-after", "stall", {})
                break
            except gridflow.GridflowError:
                time.sleep(0.5)
        if started is None:
            failures.append("no start succeeded within 60 s of the recovery")
        while health(address) != 1 and time.monotonic() - began < 60:
            time.sleep(0.5)
        print(f"   serving again after {time.monotonic() - began:.1f} s", flush=True)
        if health(address) != 1:
            failures.append("health did not return to SERVING")
        if client.get("stall-before").status != "RUNNING":
            failures.append("the run acknowledged before the stall is not there as it was")
        if engine.poll() is not None:
            failures.append(f"the engine exited ({engine.returncode})")
    finally:
        stop(engine)
        subprocess.run(["psql", base_url, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"])
    return report("database stall", failures)


if __name__ == "__main__":
    sys.exit(main())
