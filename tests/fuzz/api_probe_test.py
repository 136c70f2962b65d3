#!/usr/bin/python3
"""The public API probed as an outside client would: requests for every method of every
gridflow.v1 service, filled at random from what a caller can send (real definition, run, task and
lease ids among random names, numbers at their limits, deep and oversized JSON, timestamps past
2038 and before year 1) and half of them mutated on the wire (bytes flipped, dropped or inserted,
a string field replaced by invalid UTF-8). Every call must be answered with a status the API
documents for bad input — never INTERNAL, UNKNOWN or UNAVAILABLE, never a unary call left
unanswered past its deadline, never an error without a message or with one that repeats a long
value — and the replica must still be serving at the end.

Usage: api_probe_test.py --build-dir build [--seconds 60] [--seed N]
       (GRIDFLOW_TEST_DATABASE_URL: the suite's server; a database of its own is made and dropped)
"""
import argparse
import os
import random
import socket
import subprocess
import sys
import time

import grpc
from google.protobuf import message_factory

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from engine_health import health  # noqa: E402

# Statuses that mean the replica failed the caller, not that the caller was wrong.
FAILURES = {"INTERNAL", "UNKNOWN", "UNAVAILABLE", "DATA_LOSS"}
UNARY_DEADLINE_S = 10
# An error's message names the field and quotes at most a short prefix of a bad value.
MAX_DETAILS = 600
# Calls that may rightly outlast a short deadline: a long-poll, and a backfill of up to 10,000
# starts (docs/schedules.md), which goes on (idempotently) after its caller gave up.
LONG_CALLS = ("/LeaseTasks", "/BackfillSchedule")
STREAM_DEADLINE_S = 2  # WatchHistory follows a run until it ends: its deadline is expected


def definition(version):
    return ('{"name": "probe", "version": %d, "steps": ['
            '{"name": "a", "kind": "task", "task_type": "t", "task_queue": "q"},'
            '{"name": "w", "kind": "timer", "duration": "1s"},'
            '{"name": "b", "kind": "task", "task_type": "t", "task_queue": "q"}]}' % version)


DEFINITION = definition(1)
SPEC = ('{"workflow": {"definition": "probe", "input": {"day": "=$/schedule/delivery_day"}},'
        ' "trigger": {"cron": "*/5 * * * *", "time_zone": "Europe/Berlin"}, "overlap": "skip"}')
# Gate closures of every kind of market product (per delivery day, per delivery period).
GATE_SPECS = [
    '{"workflow": {"definition": "probe"}, "trigger": {"event": "gate_closure",'
    ' "market": "EPEX-DE-LU", "offset": "-45m"}, "calendar": "cal-1",'
    ' "on_non_business_day": "next_business_day"}',
    '{"workflow": {"definition": "probe", "input": {"p": "=$/schedule/periods"}}, "trigger":'
    ' {"event": "gate_closure", "market": "DE", "product": "balancing_energy", "variant": "aFRR",'
    ' "period": "15m", "offset": "-5m"}, "overlap": "allow_all"}',
    '{"workflow": {"definition": "probe"}, "trigger": {"event": "gate_closure",'
    ' "market": "EPEX-DE-LU", "product": "intraday_auction", "variant": "IDA3"}}',
]
# Values a caller would send, by field name: most requests carry these, so that they reach past
# validation into the transitions, and one or two random fields make them wrong.
LIKELY = {
    "namespace": ["", "default"], "definition_name": ["probe"], "name": ["probe", "cal-1"],
    "identity": ["probe"], "task_queues": ["q"], "task_queue": ["q"], "task_types": ["t"],
    "task_type": ["t"], "definition_json": [DEFINITION], "input_json": ['{"x": 1}'],
    "result_json": ['{"ok": true}'], "details_json": ['{"why": "probe"}'], "payload_json": ["{}"],
    "signal_payload_json": ["{}"], "spec_json": [SPEC] + GATE_SPECS,
    "body_json": ['{"weekend": ["SAT", "SUN"]}', '{"weekend": [], "holidays": ["2026-12-25"]}'],
    "id": ["s-1", "b-1"], "signal_name": ["go"], "reason": ["probe"], "note": ["probe"],
    "error_type": ["probe.Failed"], "message": ["failed"], "query": ["status = 'RUNNING'"],
    "period": ["2026-11"], "step": ["a"], "from_step": ["a"], "order_by": ["create_time desc"],
    "percent": [10, 50], "rate_per_second": [10.0],
}
TEXTS = ["", "default", "probe", "q", "t", "a", "x" * 300, "z" * 2000, '{"a": 1}',
         "[" * 5000 + "]" * 5000, '{"a":' * 300 + "1" + "}" * 300, "1", "-1", "null", "é€",
         "a b", "../../etc", "*",
         "00000000-0000-0000-0000-000000000000", "2026-11-24", "2038-01-19T03:14:08Z",
         DEFINITION, DEFINITION[:-7], DEFINITION.replace("1s", "-1s"),
         DEFINITION.replace('"a"', '"' + "a" * 500 + '"'), "y" * (5 << 20)]


class Probe:
    def __init__(self, channel, rng, services):
        self.channel = channel
        self.rng = rng
        self.factory = message_factory.MessageFactory()
        self.methods = [(f"/{service.full_name}/{method.name}", method)
                        for module in services
                        for service in module.DESCRIPTOR.services_by_name.values()
                        for method in service.methods]
        self.ids = []     # real names and ids, so that requests reach past validation
        self.epochs = []  # real lease epochs
        self.leases = {}  # task id -> its lease epoch, to pair them in one request
        self.fresh = 0
        self.candidate = 1  # the newest version of "probe", registered as a rollout's candidate

    def seed_state(self, pb):
        call = self.unary("/gridflow.v1.WorkflowService/RegisterDefinition",
                          pb.RegisterDefinitionRequest(definition_json=DEFINITION))
        assert call[0] == "OK", f"registering the probe's definition: {call}"
        for i in range(30):
            request = pb.StartRunRequest(definition_name="probe", workflow_id=f"probe-{i}",
                                         input_json='{"x": 1}')
            code, reply = self.unary("/gridflow.v1.WorkflowService/StartRun", request,
                                     pb.StartRunResponse)
            assert code == "OK", f"starting probe-{i}: {code}"
            self.ids += [reply.run.run_id, f"probe-{i}"]
        self.register_candidate(pb)

    def register_candidate(self, pb):
        """A newer version of the probe's definition, withheld for a rollout: the rollout
        methods reach past their preconditions (again, once one was promoted or rolled back)."""
        code, _ = self.unary("/gridflow.v1.WorkflowService/RegisterDefinition",
                             pb.RegisterDefinitionRequest(definition_json=definition(
                                 self.candidate + 1), candidate=True))
        if code == "OK":
            self.candidate += 1

    def seed_leases(self, wk):
        code, reply = self.unary("/gridflow.v1.WorkerService/LeaseTasks",
                                 wk.LeaseTasksRequest(task_queues=["q"], max_tasks=20,
                                                      identity="probe"), wk.LeaseTasksResponse)
        assert code == "OK", f"leasing the probe's tasks: {code}"
        for task in reply.tasks:
            self.ids.append(task.task_id)
            self.epochs.append(task.lease_epoch)
            self.leases[task.task_id] = task.lease_epoch
        return len(reply.tasks)

    def unary(self, path, request, response_type=None):
        call = self.channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=response_type.FromString
                                        if response_type else None)
        try:
            return "OK", call(request, timeout=UNARY_DEADLINE_S)
        except grpc.RpcError as e:
            return e.code().name, e.details()

    # ---- random requests ----

    def scalar(self, field):
        f, rng = field, self.rng
        if f.name == "candidate_version" and rng.random() < 0.7:
            return self.candidate
        if f.name in LIKELY and rng.random() < 0.7:
            return rng.choice(LIKELY[f.name])
        if f.name in ("workflow_id", "id") and rng.random() < 0.3:
            self.fresh += 1
            return f"fresh-{self.fresh}"  # a start, a schedule or an operation of its own
        if f.name in ("run_id", "workflow_id", "task_id") and self.ids and rng.random() < 0.8:
            return rng.choice(self.ids)
        if f.name == "lease_epoch" and self.epochs and rng.random() < 0.8:
            return rng.choice(self.epochs)
        if f.type == f.TYPE_STRING:
            return rng.choice(self.ids) if self.ids and rng.random() < 0.5 else rng.choice(TEXTS)
        if f.type == f.TYPE_BYTES:
            return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 20)))
        if f.type in (f.TYPE_INT32, f.TYPE_SINT32, f.TYPE_SFIXED32):
            return rng.choice([0, 1, -1, 100, 101, 2**31 - 1, -2**31, rng.randint(-1000, 1000)])
        if f.type in (f.TYPE_INT64, f.TYPE_SINT64, f.TYPE_SFIXED64):
            if self.epochs and rng.random() < 0.3:
                return rng.choice(self.epochs)
            return rng.choice([0, 1, -1, 2**63 - 1, -2**63, rng.randint(-1000, 1000)])
        if f.type in (f.TYPE_UINT32, f.TYPE_FIXED32, f.TYPE_UINT64, f.TYPE_FIXED64):
            return rng.choice([0, 1, 2**32 - 1])
        if f.type == f.TYPE_BOOL:
            return rng.random() < 0.5
        if f.type in (f.TYPE_DOUBLE, f.TYPE_FLOAT):
            return rng.choice([0.0, -1.0, 1e308, float("nan"), float("inf")])
        if f.type == f.TYPE_ENUM:
            return rng.choice([v.number for v in f.enum_type.values] + [999, -5])
        return None

    def fill(self, message, depth=0):
        rng = self.rng
        for field in message.DESCRIPTOR.fields:
            if rng.random() < 0.2:
                continue
            repeated = field.label == field.LABEL_REPEATED
            if field.type == field.TYPE_MESSAGE:
                name = field.message_type.full_name
                if depth > 3 or field.message_type.GetOptions().map_entry:
                    continue
                if name == "google.protobuf.Timestamp" and not repeated:
                    stamp = getattr(message, field.name)
                    # Year 1 and just before it, 9999-12-31, 2038-01-19 (2^31 s), 2100, 36812.
                    stamp.seconds = rng.choice([0, -62135596800, -62135596801, 253402300799,
                                                2147483648, 4102444800, -1, 2**40])
                    stamp.nanos = rng.choice([0, 999999999])
                elif name == "google.protobuf.Duration" and not repeated:
                    duration = getattr(message, field.name)
                    duration.seconds = rng.choice([0, 1, -1, 315576000000, 86400 * 36500])
                elif repeated:
                    for _ in range(rng.randint(0, 3)):
                        self.fill(getattr(message, field.name).add(), depth + 1)
                else:
                    self.fill(getattr(message, field.name), depth + 1)
                    getattr(message, field.name).SetInParent()
                continue
            for _ in range(rng.randint(0, 3) if repeated else 1):
                value = self.scalar(field)
                if value is None:
                    continue
                try:
                    if repeated:
                        getattr(message, field.name).append(value)
                    else:
                        setattr(message, field.name, value)
                except (TypeError, ValueError):
                    pass

    def mutate(self, data, descriptor):
        rng = self.rng
        if rng.random() < 0.3:
            # A string field replaced by invalid UTF-8 (the last occurrence of a field wins).
            strings = [f for f in descriptor.fields if f.type == f.TYPE_STRING]
            if strings:
                field = rng.choice(strings)
                bad = rng.choice([b"\xff\xfe", b"\xc3\x28", b"ok\xed\xa0\x80", b"\xf4\x90\x80\x80"])
                return data + varint(field.number << 3 | 2) + varint(len(bad)) + bad
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            if not b:
                break
            i = rng.randrange(len(b))
            op = rng.random()
            if op < 0.5:
                b[i] = rng.getrandbits(8)
            elif op < 0.75:
                del b[i]
            else:
                b.insert(i, rng.getrandbits(8))
        return bytes(b)

    def call_once(self):
        path, method = self.rng.choice(self.methods)
        request = self.factory.GetPrototype(method.input_type)()
        self.fill(request)
        # A task id with its own lease epoch: completions, failures, heartbeats and releases
        # that hold a real lease, carrying whatever else the request got.
        names = request.DESCRIPTOR.fields_by_name
        if "task_id" in names and "lease_epoch" in names and self.leases and \
                self.rng.random() < 0.6:
            request.task_id = self.rng.choice(list(self.leases))
            request.lease_epoch = self.leases[request.task_id]
        data = request.SerializeToString()
        if self.rng.random() < 0.5:
            data = self.mutate(data, method.input_type)
        began = time.monotonic()
        try:
            if method.server_streaming:
                for _ in self.channel.unary_stream(path)(data, timeout=STREAM_DEADLINE_S):
                    pass
            else:
                self.channel.unary_unary(path)(data, timeout=UNARY_DEADLINE_S)
            return path, "OK", "", data, time.monotonic() - began
        except grpc.RpcError as e:
            return path, e.code().name, e.details() or "", data, time.monotonic() - began


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=20261204)
    args = parser.parse_args()
    build = os.path.abspath(args.build_dir)
    sys.path.insert(0, os.path.join(build, "python"))
    from gridflow.v1 import (batch_service_pb2, cluster_service_pb2, namespace_service_pb2,
                             rollout_service_pb2, schedule_service_pb2, worker_service_pb2,
                             workflow_service_pb2)
    services = [workflow_service_pb2, worker_service_pb2, cluster_service_pb2,
                namespace_service_pb2, schedule_service_pb2, batch_service_pb2, rollout_service_pb2]

    base_url = os.environ["GRIDFLOW_TEST_DATABASE_URL"]
    db = f"gf_probe_{os.getpid()}"
    subprocess.run(["psql", base_url, "-qc", f"CREATE DATABASE {db}"], check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    log_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"gf-probe-{os.getpid()}.log")
    log = open(log_path, "w")
    engine = subprocess.Popen([os.path.join(build, "engine", "gridflow-engine"), "--listen", address,
                               "--database-url", base_url.rsplit("/", 1)[0] + "/" + db,
                               "--log-level", "warn"], stdout=log, stderr=log)
    failures = []
    try:
        deadline = time.monotonic() + 30
        while health(address) != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        channel = grpc.insecure_channel(address, options=[
            ("grpc.max_send_message_length", 64 << 20)])
        probe = Probe(channel, random.Random(args.seed), services)
        probe.seed_state(workflow_service_pb2)
        assert probe.seed_leases(worker_service_pb2) > 0, "no task of the probe's runs to lease"
        print(f"== probing {len(probe.methods)} methods for {args.seconds:.0f} s, seed {args.seed}",
              flush=True)
        counts = {}
        reached = set()  # methods answered OK at least once
        end = time.monotonic() + args.seconds
        while time.monotonic() < end and len(failures) < 20:
            if sum(counts.values()) % 500 == 499:
                probe.seed_leases(worker_service_pb2)  # the runs' later steps, and retries
                probe.register_candidate(workflow_service_pb2)
            path, code, details, data, took = probe.call_once()
            counts[code] = counts.get(code, 0) + 1
            if code == "OK":
                reached.add(path)
            unanswered = code == "DEADLINE_EXCEEDED" and took >= UNARY_DEADLINE_S - 0.5
            if code in FAILURES or (unanswered and not path.endswith(LONG_CALLS)):
                failures.append(f"{path}: {code} after {took:.1f} s: {details[:200]} "
                                f"(request {data[:60]!r}, {len(data)} bytes)")
            elif code not in ("OK", "DEADLINE_EXCEEDED") and not 0 < len(details) <= MAX_DETAILS:
                failures.append(f"{path}: {code} with a message of {len(details)} "
                                f"characters, not a short one: {details[:200]} "
                                f"(request {data[:60]!r})")
        print(f"   {sum(counts.values())} calls: {counts}", flush=True)
        print(f"   {len(reached)} of {len(probe.methods)} methods answered OK at least once; never: "
              + ", ".join(sorted(p.rsplit("/", 1)[1] for p, _ in probe.methods if p not in reached)),
              flush=True)
        # The probe must reach past validation, or it proves nothing.
        if len(reached) < len(probe.methods) // 2:
            failures.append(f"only {len(reached)} methods ever answered OK: the probe is too shallow")
        if engine.poll() is not None:
            failures.append(f"the engine exited ({engine.returncode}); log: {log_path}")
        elif health(address) != 1:
            failures.append(f"the engine is not SERVING after the probe ({health(address)})")
    finally:
        engine.terminate()
        try:
            engine.wait(timeout=15)
        except subprocess.TimeoutExpired:
            engine.kill()
            failures.append("the engine did not stop within 15 s of SIGTERM")
        subprocess.run(["psql", base_url, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"])
    for f in failures:
        print("FAILED: " + f)
    print(f"API probe: {'OK' if not failures else 'FAILED'} ({len(failures)} failures)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
