// The TypeScript SDK against real engines and PostgreSQL (run by tests/sdk/typescript_sdk_test.sh,
// which builds the package from the checkout first). Environment: GRIDFLOW_ENGINE (the
// gridflow-engine binary), GRIDFLOW_SDK_DATABASE_URL (a database of this test's own).
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import {
  Cancelled, Client, InvalidArgument, NotFound, RunFailed, StaleLease, TaskContext, TaskError, Unauthenticated,
  Unavailable, Worker,
} from "../src";
import { Caller, Invoke } from "../src/transport";
import { resolveReplicaTargets } from "../src/replicas";

const ENGINE = process.env.GRIDFLOW_ENGINE!;
const DATABASE_URL = process.env.GRIDFLOW_SDK_DATABASE_URL!;
const STATE = fs.mkdtempSync(path.join(os.tmpdir(), "gf-ts-sdk-"));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** A free port below the kernel's ephemeral range (32768 and up by default): while an engine on it
 * is down, nothing that binds port 0 or connects out can be given it. */
async function quietPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free port below 32000");
}

async function eventually(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await condition()) return;
    await sleep(50);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

/** A gridflow-engine process on a port of its own (kept across restarts). */
/** The value of the sample `name` with (at least) `labels` on an engine's /metrics; 0 if none. */
function engineSample(port: number, name: string, labels: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: "/metrics", agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => {
        for (const line of text.split("\n")) {
          if (!line.startsWith(name + "{")) continue;
          const given = line.slice(name.length + 1, line.indexOf("}")).split(",");
          if (Object.entries(labels).every(([k, v]) => given.includes(`${k}="${v}"`))) {
            resolve(Number(line.slice(line.lastIndexOf(" ") + 1)));
            return;
          }
        }
        resolve(0);
      });
    }).on("error", reject);
  });
}

class Engine {
  port = 0;
  process?: ChildProcess;
  constructor(readonly name: string, readonly flags: string[] = []) {}
  get address() {
    return `127.0.0.1:${this.port}`;
  }
  async start(wait = true): Promise<this> {
    if (!this.port) this.port = await freePort();
    const log = fs.openSync(path.join(STATE, `${this.name}.log`), "a");
    this.process = spawn(ENGINE, ["--listen", this.address, "--database-url", DATABASE_URL,
      "--member-id", `ts-sdk-${this.port}`, ...this.flags], { stdio: ["ignore", log, log] });
    if (wait) await eventually(() => this.serving(), `engine on ${this.address}`);
    return this;
  }
  serving(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect(this.port, "127.0.0.1", () => { socket.end(); resolve(true); });
      socket.on("error", () => resolve(false));
    });
  }
  async kill(): Promise<void> {
    const exited = new Promise((resolve) => this.process!.once("exit", resolve));
    this.process!.kill("SIGKILL");
    await exited;
  }
  async stop(): Promise<void> {
    if (!this.process || this.process.exitCode !== null) return;
    const exited = new Promise((resolve) => this.process!.once("exit", resolve));
    this.process.kill("SIGTERM");
    await exited;
  }
}

const task = (step: string, taskType: string, extra: object = {}) =>
  ({ name: step, kind: "task", task_type: taskType, task_queue: "ts", ...extra });

/** A handler that holds every task until release(), counting how many run at once. */
class HeldTasks {
  running = 0;
  most = 0;
  release!: () => void;
  private readonly released = new Promise<void>((resolve) => { this.release = resolve; });
  readonly handler = async () => {
    this.most = Math.max(this.most, ++this.running);
    await this.released;
    --this.running;
    return {};
  };
}

const main = new Engine("main");
const workers: Array<{ worker: Worker; done: Promise<void> }> = [];

function serve(handlers: Record<string, (ctx: TaskContext) => unknown>, concurrency = 4, address = main.address, extra = {}): Worker {
  const worker = new Worker({ address, queues: ["ts"], concurrency, pollWaitMs: 1000, shutdownGraceMs: 2000, handleSignals: false, ...extra });
  for (const [type, fn] of Object.entries(handlers)) worker.task(type, fn);
  workers.push({ worker, done: worker.run() });
  return worker;
}

async function stopWorkers(): Promise<void> {
  for (const { worker, done } of workers.splice(0)) {
    worker.shutdown();
    await done;
  }
}

async function leased(client: Client, workflowId: string): Promise<boolean> {
  return (await client.describe(workflowId)).open_tasks.some((t) => t.state === "LEASED");
}

async function types(client: Client, workflowId: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of client.history(workflowId)) out.push(e.type);
  return out;
}

before(async () => {
  await main.start();
  const admin = new Client({ address: main.address, identity: "ts-sdk-tests" });
  await admin.register({ name: "ts-two-steps", version: 1, steps: [
    task("forecast", "forecast"), task("optimise", "optimise", { input: { mw: "=$/forecast/mw" } })] });
  await admin.register({ name: "ts-long", version: 1, steps: [task("work", "long_work", { timeouts: { heartbeat: "1s" } })] });
  await admin.register({ name: "ts-fails", version: 1, steps: [task("submit", "submit", { retry: { max_attempts: 1 } })] });
  admin.close();
});

after(async () => {
  await stopWorkers();
  await main.stop();
});

describe("client and worker", () => {
  let client: Client;
  before(() => { client = new Client({ address: main.address, identity: "bidding-gateway" }); });
  after(() => client.close());

  test("start, wait and history", async () => {
    const seen: Record<string, unknown> = {};
    const worker = serve({
      forecast: (ctx) => {
        seen.key = ctx.idempotencyKey;
        seen.runId = ctx.runId;
        seen.token = ctx.fencingToken;
        ctx.progress({ done: 1 });
        return { mw: [1.5, 2.5] };
      },
      optimise: async (ctx) => ({ bids: (ctx.input as { mw: number[] }).mw.map((mw) => mw * 2) }),
    });
    const started = await client.start("ts-run-1", "ts-two-steps", { delivery_day: "2026-12-03" });
    assert.equal(started.created, true);
    assert.deepEqual(started.run.input, { delivery_day: "2026-12-03" });
    const again = await client.start("ts-run-1", "ts-two-steps", { delivery_day: "2026-12-03" });
    assert.equal(again.created, false);
    assert.equal(again.run.runId, started.run.runId);
    const result = (await client.waitForResult("ts-run-1", { timeoutMs: 20_000 })) as Record<string, unknown>;
    assert.deepEqual(result.optimise, { bids: [3, 5] });
    const run = await client.get("ts-run-1");
    assert.equal(run.status, "COMPLETED");
    assert.equal(run.closed, true);
    assert.equal(run.fieldsOmitted, false);
    const summary = await client.get("ts-run-1", { summary: true }); // without input, data, result
    assert.equal(summary.fieldsOmitted, true);
    assert.deepEqual([summary.status, summary.input, summary.result], ["COMPLETED", undefined, undefined]);
    assert.equal((await client.describe("ts-run-1", { summary: true })).run!.fields_omitted, true);
    assert.equal(seen.key, `${seen.runId}:forecast`);
    assert.ok(Number(seen.token) >= 1);
    const history = [];
    for await (const e of client.history("ts-run-1", 2)) history.push(e);
    assert.equal(history[0].type, "RunStarted");
    assert.equal(history[history.length - 1].type, "RunCompleted");
    assert.deepEqual(history.map((e) => e.sequence), history.map((_, i) => i + 1));
    const watched = [];
    for await (const e of client.watch("ts-run-1")) watched.push(e.type);
    assert.deepEqual(watched, history.map((e) => e.type));
    const listed = [];
    for await (const r of client.list({ definition: "ts-two-steps" })) listed.push(r.workflowId);
    assert.ok(listed.includes("ts-run-1"));
    const definitions = [];
    for await (const d of client.listDefinitions("ts-long")) definitions.push(`${d.name} v${d.version}`);
    assert.deepEqual(definitions, ["ts-long v1"]);
    assert.equal((await client.getDefinition("ts-two-steps")).version, 1);
    assert.equal(worker.metrics.value("gridflow_worker_tasks_total", { outcome: "completed" }), 2);
    await stopWorkers();
  });

  test("the run's next step comes with the completion", async () => {
    const logged: string[] = [];
    const record = (message: string) => { logged.push(message); };
    const worker = serve({
      forecast: () => ({ mw: [1] }),
      optimise: (ctx) => ({ bids: (ctx.input as { mw: number[] }).mw }),
    }, 1, main.address, { logger: { info: record, warn: record, error: record } });
    await client.start("ts-eager-1", "ts-two-steps", {});
    const result = (await client.waitForResult("ts-eager-1", { timeoutMs: 20_000 })) as Record<string, unknown>;
    assert.deepEqual(result.optimise, { bids: [1] });
    // One long-poll brought the first task; the second came with the first's completion.
    assert.equal(worker.metrics.value("gridflow_worker_polls_total", { result: "tasks" }), 1);
    assert.equal(worker.metrics.value("gridflow_worker_tasks_leased_total"), 2);
    assert.equal(worker.metrics.value("gridflow_worker_tasks_total", { outcome: "completed" }), 2);
    // The worker's messages went to the logger it was given.
    assert.ok(logged.some((m) => m.includes("long-polling 1 engine replica(s)")), logged.join("\n"));
    await stopWorkers();
  });

  test("reserved slots run an activation behind bulk work, and never bulk work", async () => {
    // Bulk settlement work on the queue the activations use: two ordinary slots, one reserved for
    // urgent tasks. The polls wait 30 s: a slot left idle until a poll ends shows.
    await client.register({ name: "ts-settle", version: 1, steps: [
      { name: "s", kind: "task", task_type: "settle", task_queue: "reserving", priority: "bulk" }] });
    await client.register({ name: "ts-activation", version: 1, steps: [
      { name: "s", kind: "task", task_type: "setpoint", task_queue: "reserving", priority: "urgent" }] });
    const settle = new HeldTasks();
    let activated = false;
    const ids = Array.from({ length: 6 }, (_, i) => `ts-settle-${i}`);
    for (const id of ids) await client.start(id, "ts-settle", {});
    serve({
      settle: settle.handler,
      setpoint: () => { activated = true; return { mw: 5 }; },
    }, 2, main.address, { queues: ["reserving"], reservedSlots: 1, reservedPriority: "urgent", pollWaitMs: 30_000 });
    await eventually(() => settle.running === 2, "two settlements running");
    await sleep(500); // room for the reserved slot to take bulk work, which it must not
    assert.equal(settle.most, 2);
    // The activation takes the reserved slot while both ordinary slots are busy.
    await client.start("ts-activation-1", "ts-activation", {});
    await eventually(() => activated, "the activation started behind the bulk work", 10_000);
    const result = (await client.waitForResult("ts-activation-1", { timeoutMs: 10_000 })) as Record<string, unknown>;
    assert.deepEqual(result.s, { mw: 5 });
    assert.equal(settle.most, 2);
    // Each ordinary slot that frees is polled for at once, not after the reserved poll ends.
    settle.release();
    for (const id of ids) await client.waitForResult(id, { timeoutMs: 10_000 });
    assert.equal(settle.most, 2);
    assert.throws(() => new Worker({ address: main.address, reservedSlots: 1, reservedPriority: "critical" as never }), /reservedPriority/);
    await stopWorkers();
  });

  test("a worker with more slots than one lease may take runs its queue", async () => {
    // The API hands out at most 100 tasks per LeaseTasks call; a worker of 150 slots polls for
    // 100 at most, never for all of them at once (refused as INVALID_ARGUMENT).
    await client.register({ name: "ts-wide", version: 1, steps: [
      { name: "s", kind: "task", task_type: "wide", task_queue: "wide" }] });
    const ids = Array.from({ length: 120 }, (_, i) => `ts-wide-${i}`);
    for (const id of ids) await client.start(id, "ts-wide", {});
    const worker = serve({ wide: () => ({}) }, 150, main.address, { queues: ["wide"] });
    for (const id of ids) await client.waitForResult(id, { timeoutMs: 20_000 });
    assert.equal(worker.metrics.value("gridflow_worker_polls_total", { result: "error" }), 0);
    await stopWorkers();
  });

  test("errors carry the code and the engine's message", async () => {
    await assert.rejects(client.get("no-such-run"), (e: unknown) => e instanceof NotFound && e.details.includes("no-such-run"));
    await assert.rejects(client.register({ name: "x", version: 0, steps: [] }),
      (e: unknown) => e instanceof InvalidArgument && e.details.includes("version"));
    serve({ submit: () => { throw new TaskError("BidRejected", "price cap exceeded", false, { cap: 4000 }); } });
    await client.start("ts-fail-1", "ts-fails", {});
    await assert.rejects(client.waitForResult("ts-fail-1", { timeoutMs: 20_000 }), (e: unknown) =>
      e instanceof RunFailed && (e.run as { failure?: { errorType: string } }).failure?.errorType === "BidRejected");
    await stopWorkers();
  });

  test("cancellation reaches a running handler through its AbortSignal", async () => {
    let reason = "";
    serve({ long_work: (ctx) => new Promise((resolve) => ctx.signal.addEventListener("abort", () => {
      reason = ctx.stopReason;
      resolve({ interrupted: true });
    })) });
    await client.start("ts-cancel-1", "ts-long", {});
    await eventually(() => leased(client, "ts-cancel-1"), "task leased");
    await client.cancel("ts-cancel-1", "gate closure moved");
    assert.equal((await client.wait("ts-cancel-1", { timeoutMs: 20_000 })).status, "CANCELLED");
    assert.equal(reason, "cancelled");
    await stopWorkers();
  });

  test("running tasks have their leases renewed together", async () => {
    const worker = serve({ long_work: async (ctx) => {
      ctx.progress({ stage: "computing" });
      await new Promise((resolve) => setTimeout(resolve, 2500)); // over two heartbeat timeouts
      return { attempt: ctx.attempt };
    } });
    let alone = 0;
    (worker as unknown as { heartbeat: () => Promise<boolean> }).heartbeat = async () => (++alone, false);
    for (let i = 0; i < 3; i++) await client.start(`ts-renew-${i}`, "ts-long", {});
    for (let i = 0; i < 3; i++) {
      const result = (await client.waitForResult(`ts-renew-${i}`, { timeoutMs: 20_000 })) as Record<string, unknown>;
      assert.deepEqual(result.work, { attempt: 1 });
    }
    assert.equal(alone, 0, "a lease was renewed alone");
    assert.equal(worker.metrics.value("gridflow_worker_heartbeat_failures_total", { reason: "error" }), 0);
    await stopWorkers();
  });

  test("progress the engine refuses costs no lease", async () => {
    const refused: string[] = [];
    const worker = serve({ long_work: async (ctx) => {
      if (ctx.workflowId.endsWith("-0")) {
        let deep: unknown[] = [];
        for (let i = 0; i < 100; i++) deep = [deep]; // deeper than the engine takes (64)
        ctx.progress(deep);
      } else {
        ctx.progress({ stage: "computing" });
      }
      const cycle: Record<string, unknown> = {};
      cycle.self = cycle;
      for (const bad of [cycle, 10n, () => 1]) { // JSON cannot carry them: refused at once
        try {
          ctx.progress(bad);
        } catch (e) {
          refused.push((e as Error).name);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 2500)); // over two heartbeat timeouts
      return { attempt: ctx.attempt };
    } });
    for (let i = 0; i < 3; i++) await client.start(`ts-refused-${i}`, "ts-long", {});
    for (let i = 0; i < 3; i++) {
      const result = (await client.waitForResult(`ts-refused-${i}`, { timeoutMs: 20_000 })) as Record<string, unknown>;
      assert.deepEqual(result.work, { attempt: 1 });
    }
    assert.equal(refused.length, 9);
    assert.deepEqual([...new Set(refused)], ["TypeError"]);
    assert.equal(worker.metrics.value("gridflow_worker_heartbeat_failures_total", { reason: "error" }), 0);
    await stopWorkers();
  });

  test("a stale completion after a lost lease is refused and surfaced", async () => {
    let zombieCtx: TaskContext | undefined;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const zombie = serve({ long_work: async (ctx) => {
      zombieCtx = ctx;
      await finished;
      return { by: "zombie" };
    } }, 1);
    const frozen = zombie as unknown as { renew: (part: TaskContext[]) => Promise<void> };
    frozen.renew = async () => {}; // its heartbeats stop, as a frozen process's would
    await client.start("ts-stale-1", "ts-long", {});
    await eventually(() => zombieCtx !== undefined, "zombie leased");
    await eventually(async () => (await types(client, "ts-stale-1")).includes("TaskLeaseExpired"), "lease expired");
    serve({ long_work: (ctx) => ({ by: "successor", attempt: ctx.attempt }) });
    const result = (await client.waitForResult("ts-stale-1", { timeoutMs: 20_000 })) as Record<string, unknown>;
    // Attempt 2, or later when the frozen worker itself took a retry first (its lease then expires
    // too): a slow machine decides which.
    const work = result.work as { by: string; attempt: number };
    assert.equal(work.by, "successor");
    assert.ok(work.attempt >= 2, `attempt ${work.attempt}`);
    finish();
    await eventually(() => zombie.metrics.value("gridflow_worker_tasks_total", { outcome: "rejected" }) >= 1, "rejected counted");
    assert.equal(zombieCtx!.leaseLost, true);
    await assert.rejects(zombieCtx!.heartbeat(), (e: unknown) => e instanceof StaleLease);
    await stopWorkers();
  });
});

describe("a killed worker", () => {
  test("its task completes on another worker", async () => {
    const client = new Client({ address: main.address });
    const marker = path.join(STATE, "killed-started");
    const victim = spawn(process.execPath, [path.join(__dirname, "fixtures", "long_worker.js"), main.address, marker], { stdio: "inherit" });
    try {
      await client.start("ts-kill-1", "ts-long", {});
      await eventually(() => fs.existsSync(marker), "the victim's handler started");
      const exited = new Promise((resolve) => victim.once("exit", resolve));
      victim.kill("SIGKILL");
      await exited;
      serve({ long_work: (ctx) => ({ attempt: ctx.attempt }) });
      const result = (await client.waitForResult("ts-kill-1", { timeoutMs: 30_000 })) as Record<string, unknown>;
      assert.deepEqual(result.work, { attempt: 2 });
      assert.ok((await types(client, "ts-kill-1")).includes("TaskLeaseExpired"));
    } finally {
      victim.kill("SIGKILL");
      await stopWorkers();
      client.close();
    }
  });

  test("SIGTERM releases its running task after the grace period", async () => {
    const client = new Client({ address: main.address });
    const marker = path.join(STATE, "shutdown-started");
    const worker = spawn(process.execPath, [path.join(__dirname, "fixtures", "long_worker.js"), main.address, marker, "500"], { stdio: "inherit" });
    try {
      await client.start("ts-shutdown-1", "ts-long", {});
      await eventually(() => fs.existsSync(marker), "handler started");
      const exited = new Promise<number | null>((resolve) => worker.once("exit", (code) => resolve(code)));
      worker.kill("SIGTERM");
      assert.equal(await exited, 0);
      await eventually(async () => (await types(client, "ts-shutdown-1")).includes("TaskReleased"), "task released");
      await client.cancel("ts-shutdown-1");
    } finally {
      worker.kill("SIGKILL");
      client.close();
    }
  });

  test("a stopping worker has its long-poll answered, not cancelled", async () => {
    // StopPolling, not a cancel: a task handed to a poll just as its worker cancelled it would
    // wait for its lease to expire.
    serve({ never: () => ({}) }, 1, main.address, { queues: ["ts-stopping"], identity: "ts-stopping-worker", pollWaitMs: 30_000 });
    await sleep(500); // its poll waits on the engine
    const started = Date.now();
    await stopWorkers();
    assert.ok(Date.now() - started < 10_000, "stopping waited for the poll's 30 s");
    const logged = () => fs.readFileSync(path.join(STATE, "main.log"), "utf8")
      .includes("worker ts-stopping-worker stopped polling: 1 waiting poll(s) answered");
    await eventually(logged, "StopPolling in the engine's log");
  });
});

describe("several replicas", () => {
  test("replica targets", async () => {
    assert.deepEqual(await resolveReplicaTargets("ipv4:10.0.0.1:7233,10.0.0.2:7233"),
      { targets: ["ipv4:10.0.0.1:7233", "ipv4:10.0.0.2:7233"], host: "" });
    assert.deepEqual(await resolveReplicaTargets("localhost:7233"), { targets: ["localhost:7233"], host: "" });
    assert.deepEqual(await resolveReplicaTargets("dns:///localhost:7233"), { targets: ["dns:///localhost:7233"], host: "" });
    assert.deepEqual(await resolveReplicaTargets("unix:/run/gf.sock"), { targets: ["unix:/run/gf.sock"], host: "" });
    assert.deepEqual(await resolveReplicaTargets("no-such-host.invalid:7233"), { targets: ["no-such-host.invalid:7233"], host: "" });
  });

  test("a worker stops within one timeout when several replicas do not answer", async () => {
    // Servers that accept connections and never speak HTTP/2: the polls and StopPolling there
    // wait. Every replica is asked at once, so the stop takes one StopPolling timeout (2 s).
    const silent: net.Server[] = [];
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const server = net.createServer((socket) => { sockets.push(socket); });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      silent.push(server);
    }
    const ports = silent.map((s) => (s.address() as net.AddressInfo).port);
    const worker = new Worker({ address: `ipv4:${[main.address, ...ports.map((p) => `127.0.0.1:${p}`)].join(",")}`,
      queues: ["ts-silent"], concurrency: 4, pollWaitMs: 30_000, shutdownGraceMs: 2000, handleSignals: false });
    worker.task("never", () => ({}));
    const done = worker.run();
    try {
      await eventually(() => sockets.length === 3, "a connection to each silent replica");
      await sleep(300); // the polls are sent
      const begun = Date.now();
      worker.shutdown();
      await done;
      assert.ok(Date.now() - begun < 4000, `stopped in ${Date.now() - begun} ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      for (const server of silent) server.close();
    }
  });

  test("a worker holds a long-poll on every replica within its slots", async () => {
    const a = await new Engine("replica-a").start();
    const b = await new Engine("replica-b").start();
    const clientA = new Client({ address: a.address });
    const clientB = new Client({ address: b.address });
    const definitions = protoLoader.loadSync(["gridflow/v1/cluster_service.proto"], {
      includeDirs: [path.resolve(__dirname, "..", "..", "proto")], keepCase: true, longs: String, defaults: true });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const cluster = (grpc.loadPackageDefinition(definitions) as any).gridflow.v1.ClusterService;
    const queues = new cluster(a.address, grpc.credentials.createInsecure());
    const hold = new HeldTasks();
    try {
      await clientA.register({ name: "ts-spread", version: 1, steps: [
        { name: "s", kind: "task", task_type: "hold", task_queue: "spread" }] });
      // Work queued on both replicas before the worker starts: its first polls claim at once.
      const ids = Array.from({ length: 8 }, (_, i) => `ts-spread-${i}`);
      for (const [i, id] of ids.entries()) await (i % 2 === 0 ? clientA : clientB).start(id, "ts-spread", {});
      serve({ hold: hold.handler }, 3, `ipv4:${a.address},${b.address}`, { queues: ["spread"], pollWaitMs: 2000 });
      await eventually(() => hold.running === 3, "three handlers running");
      await sleep(300); // room for a poll to overreach
      assert.equal(hold.most, 3);
      // Leased, not only running: no task was leased beyond the slots.
      let leasedTasks = 0;
      for (const id of ids) leasedTasks += (await clientA.describe(id)).open_tasks.filter((t) => t.state === "LEASED").length;
      assert.equal(leasedTasks, 3);
      hold.release();
      for (const id of ids) await clientA.waitForResult(id, { timeoutMs: 30_000 });
      // Nothing left to do: a poll waits on each replica (the engines report their waiting polls
      // with their membership heartbeat, every 5 s).
      const waitingPolls = () => new Promise<number>((resolve, reject) =>
        queues.ListQueues({}, { deadline: new Date(Date.now() + 5000) },
          (error: grpc.ServiceError | null, r: { queues: Array<{ name: string; waiting_polls: number }> }) =>
            error ? reject(error) : resolve(r.queues.find((q) => q.name === "spread")?.waiting_polls ?? 0)));
      await eventually(async () => (await waitingPolls()) === 2, "a poll on each replica", 15_000);
    } finally {
      hold.release();
      await stopWorkers();
      queues.close();
      clientA.close();
      clientB.close();
      await a.stop();
      await b.stop();
    }
  });

  test("a completion goes to the replica that handed the task over", async () => {
    // Each replica completes exactly the tasks it leased (its polls', and the next steps its
    // completions handed over): completions do not go round-robin (docs/worker.md).
    const ports = [await freePort(), await freePort()];
    const a = await new Engine("affine-a", ["--metrics-listen", `127.0.0.1:${ports[0]}`]).start();
    const b = await new Engine("affine-b", ["--metrics-listen", `127.0.0.1:${ports[1]}`]).start();
    const clientA = new Client({ address: a.address });
    const clientB = new Client({ address: b.address });
    try {
      await clientA.register({ name: "ts-affine", version: 1, steps: [0, 1, 2].map((i) => (
        { name: `s${i}`, kind: "task", task_type: "noop", task_queue: "affine" })) });
      serve({ noop: async () => ({}) }, 4, `ipv4:${a.address},${b.address}`, { queues: ["affine"], pollWaitMs: 2000 });
      const ids = Array.from({ length: 20 }, (_, i) => `ts-affine-${i}`);
      for (const [i, id] of ids.entries()) await (i % 2 === 0 ? clientA : clientB).start(id, "ts-affine", {});
      for (const id of ids) await clientA.waitForResult(id, { timeoutMs: 30_000 });
      const counts = async (port: number) => [
        await engineSample(port, "gridflow_tasks_leased_total", { queue: "affine" }),
        await engineSample(port, "gridflow_rpcs_total", { method: "/gridflow.v1.WorkerService/CompleteTask", code: "0" }),
      ];
      let total = 0;
      for (const port of ports) { // the last answer is counted just after it was sent
        await eventually(async () => {
          const [leased, completed] = await counts(port);
          return leased > 0 && leased === completed;
        }, `completions matching leases on the replica of metrics port ${port}`);
        total += (await counts(port))[0];
      }
      assert.equal(total, 60);
    } finally {
      await stopWorkers();
      clientA.close();
      clientB.close();
      await a.stop();
      await b.stop();
    }
  });
});

describe("TLS and tokens", () => {
  test("a token over TLS is accepted, a call without one refused", async () => {
    const d = path.join(STATE, "tls");
    fs.mkdirSync(d, { recursive: true });
    const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ts-sdk-ca",
      "-keyout", `${d}/ca.key`, "-out", `${d}/ca.pem`);
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", `${d}/server.key`, "-out", `${d}/server.csr`);
    fs.writeFileSync(`${d}/san.ext`, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    openssl("x509", "-req", "-in", `${d}/server.csr`, "-CA", `${d}/ca.pem`, "-CAkey", `${d}/ca.key`, "-CAcreateserial",
      "-days", "2", "-extfile", `${d}/san.ext`, "-out", `${d}/server.pem`);
    fs.writeFileSync(`${d}/tokens`, "ts-s3cret ts-sdk-tests\n");
    const engine = await new Engine("tls", ["--tls-cert", `${d}/server.pem`, "--tls-key", `${d}/server.key`,
      "--auth-tokens-file", `${d}/tokens`]).start();
    try {
      const secure = { address: engine.address, tlsCa: `${d}/ca.pem`, token: "ts-s3cret" };
      const client = new Client(secure);
      serve({ forecast: () => ({ mw: [1] }), optimise: () => ({ secure: true }) }, 4, engine.address, secure);
      await client.start("ts-tls-1", "ts-two-steps", {});
      const result = (await client.waitForResult("ts-tls-1", { timeoutMs: 20_000 })) as Record<string, unknown>;
      assert.deepEqual(result.optimise, { secure: true });
      assert.equal((await client.get("ts-tls-1")).startedBy, "token:ts-sdk-tests");
      await stopWorkers();
      client.close();
      const anonymous = new Client({ address: engine.address, tlsCa: `${d}/ca.pem`, retryTimeoutMs: 1000 });
      await assert.rejects(anonymous.get("ts-tls-1"), (e: unknown) => e instanceof Unauthenticated);
      anonymous.close();
      assert.throws(() => new Client({ address: engine.address, token: "ts-s3cret" }), /only sent over TLS/);
    } finally {
      await engine.stop();
    }
  });
});

describe("the client retry policy", () => {
  test("calls made while the engine restarts succeed", async () => {
    const engine = await new Engine("restarting").start();
    try {
      const client = new Client({ address: engine.address, retryTimeoutMs: 30_000 });
      await client.start("ts-restart-1", "ts-two-steps", {});
      await engine.kill();
      setTimeout(() => void engine.start(false), 2000);
      const begun = Date.now();
      assert.equal((await client.get("ts-restart-1")).workflowId, "ts-restart-1");
      const started = await client.start("ts-restart-2", "ts-two-steps", {});
      assert.ok(Date.now() - begun > 1500);
      assert.equal(started.created, true);
      const impatient = new Client({ address: `127.0.0.1:${await freePort()}`, retryTimeoutMs: 500 });
      await assert.rejects(impatient.get("ts-restart-1"), (e: unknown) => e instanceof Unavailable);
      impatient.close();
      await client.cancel("ts-restart-1");
      await client.cancel("ts-restart-2");
      client.close();
    } finally {
      await engine.stop();
    }
  });

  test("a worker takes work again within seconds of its engine's return", async () => {
    // A failed poll is retried at most 2 s apart and reconnects are as frequent: the task is taken
    // about 2 s after the engine's return (up to 6 s when polls were retried 5 s apart).
    const engine = new Engine("worker-restart");
    engine.port = await quietPort();
    await engine.start();
    let ranAt = 0;
    const worker = new Worker({ address: engine.address, queues: ["ts-restart"], concurrency: 2, pollWaitMs: 2000,
      shutdownGraceMs: 2000, handleSignals: false });
    worker.task("restart_step", () => { ranAt = Date.now(); return {}; });
    const done = worker.run();
    const client = new Client({ address: engine.address, retryTimeoutMs: 30_000 });
    try {
      await client.register({ name: "ts-worker-restart", version: 1, steps: [
        { name: "a", kind: "task", task_type: "restart_step", task_queue: "ts-restart" }] });
      await sleep(1000);  // the worker's long-poll waits on the engine
      await engine.stop();
      await sleep(35_000);
      await engine.start();
      const back = Date.now();
      await client.start("ts-worker-restart-1", "ts-worker-restart", {});
      await eventually(() => ranAt > 0, "the restarted engine's task taken", 30_000);
      assert.ok(ranAt - back < 4000, `taken ${ranAt - back} ms after the engine's return`);
    } finally {
      client.close();
      worker.shutdown();
      await done;
      await engine.stop();
    }
  });

  test("a cancellation the caller did not cause is retried, one it could have caused is not", async () => {
    // What gRPC answers for a call that reached a replica as its server closed (a restart).
    const refusal = (code: grpc.status) => Object.assign(new Error("refused"), { code, details: "refused", metadata: new grpc.Metadata() });
    const script = (answers: Array<grpc.status | string>): Invoke<string> => (_options, callback) => {
      const answer = answers.shift()!;
      if (typeof answer === "string") callback(null, answer);
      else callback(refusal(answer));
      return {} as grpc.ClientUnaryCall;
    };
    const answers = [grpc.status.CANCELLED, grpc.status.UNAVAILABLE, "ok"];
    assert.equal(await new Caller(5000, 5000).call(script(answers)), "ok");
    assert.equal(answers.length, 0);
    await assert.rejects(new Caller(5000, 5000).call(script([grpc.status.CANCELLED, "ok"]), { onCall: () => {} }),
      (e: unknown) => e instanceof Cancelled);
    await assert.rejects(new Caller(5000, 5000).call(script([grpc.status.INVALID_ARGUMENT, "ok"])),
      (e: unknown) => e instanceof InvalidArgument);
  });
});

describe("the docs", () => {
  test("the quick start type-checks and runs as written", async () => {
    // docs/sdk-typescript.md's quick start is a whole program a new user copies: compile it with
    // tsc --strict in a project of its own that imports the package by name, and run it against
    // this suite's engine instead of localhost:7233.
    const root = path.resolve(__dirname, "..", "..");  // sdk/typescript
    const doc = fs.readFileSync(path.join(root, "..", "..", "docs", "sdk-typescript.md"), "utf8");
    const section = doc.slice(doc.indexOf("## Quick start"));
    const program = section.slice(section.indexOf("```ts\n") + 6, section.indexOf("\n```\n"));
    assert.ok(program.includes('"localhost:7233"'));
    const dir = fs.mkdtempSync(path.join(root, "dist", "quickstart-"));
    const link = path.join(dir, "node_modules", "@gridflow", "sdk");
    try {
      fs.mkdirSync(path.dirname(link), { recursive: true });
      fs.symlinkSync(root, link, "dir");
      fs.writeFileSync(path.join(dir, "quickstart.mts"),
        program.replaceAll('"localhost:7233"', JSON.stringify(main.address)));
      try {
        execFileSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "--strict",
          "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", "--types", "node",
          "--skipLibCheck", "quickstart.mts"], { cwd: dir, encoding: "utf8" });
      } catch (e) {
        assert.fail(`tsc refused the quick start:\n${(e as { stdout?: string }).stdout ?? e}`);
      }
      const out = execFileSync(process.execPath, ["quickstart.mjs"], { cwd: dir, timeout: 90_000, encoding: "utf8" });
      assert.equal(out.trim(), "accepted 25 MW");
    } finally {
      fs.unlinkSync(link);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
