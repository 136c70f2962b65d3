// The worker: leases tasks of its queues, runs their handlers, heartbeats while they run, and
// reports each outcome under the task's lease (docs/sdk-typescript.md).
//
//   const worker = new Worker({ address: "localhost:7233", queues: ["gateway"], concurrency: 8 });
//   worker.task("submit_order", async (ctx) => {
//     await venue.submit({ clientOrderId: ctx.idempotencyKey, fence: ctx.fencingToken }, { signal: ctx.signal });
//     return { accepted: true };
//   });
//   await worker.run();   // until SIGTERM/SIGINT or worker.shutdown()
//
// Execution is at-least-once: make handlers idempotent with ctx.idempotencyKey and pass
// ctx.fencingToken to venues that accept one. ctx.signal (an AbortSignal) aborts when the run was
// cancelled, the lease was lost, or the worker hands the task back at shutdown.
import { randomUUID } from "crypto";
import * as os from "os";
import * as grpc from "@grpc/grpc-js";
import { Cancelled, Code, DeadlineExceeded, GridflowError, InvalidArgument, ResourceExhausted, StaleLease, TaskError, Unavailable } from "./errors";
import { api, Caller, channelCredentials, channelOptions, ConnectionOptions, Invoke } from "./transport";
import { Metrics } from "./metrics";
import { resolveReplicaTargets } from "./replicas";
import type { WorkerServiceClient } from "./generated/gridflow/v1/WorkerService";
import type { LeasedTask__Output } from "./generated/gridflow/v1/LeasedTask";
import type { LeaseTasksResponse__Output } from "./generated/gridflow/v1/LeaseTasksResponse";
import type { ReleaseTaskResponse__Output } from "./generated/gridflow/v1/ReleaseTaskResponse";
import type { CompleteTaskResponse__Output } from "./generated/gridflow/v1/CompleteTaskResponse";
import type { FailTaskResponse__Output } from "./generated/gridflow/v1/FailTaskResponse";
import type { HeartbeatResponse__Output } from "./generated/gridflow/v1/HeartbeatResponse";
import type { HeartbeatTasksResponse__Output } from "./generated/gridflow/v1/HeartbeatTasksResponse";
import type { StopPollingResponse__Output } from "./generated/gridflow/v1/StopPollingResponse";

export type StopReason = "" | "cancelled" | "lease_lost" | "released";

export interface WorkerOptions extends ConnectionOptions {
  queues?: string[];
  concurrency?: number;
  /**
   * Slots beyond `concurrency` that only tasks of `reservedPriority` or a more urgent class take
   * (docs/dispatch.md, "Reserved capacity"): bulk work never holds the slot an activation needs.
   */
  reservedSlots?: number;
  /** The least urgent class a reserved slot takes: a name (urgent .. bulk) or 0 .. 4; default urgent. */
  reservedPriority?: DispatchClass | number;
  pollWaitMs?: number;
  shutdownGraceMs?: number;
  /** Serve /metrics on this port (127.0.0.1 unless metricsHost is given). */
  metricsPort?: number;
  metricsHost?: string;
  /** Install SIGTERM/SIGINT handlers that call shutdown() (default true). */
  handleSignals?: boolean;
  /** Where the worker's own messages go (replicas polled, outcomes refused); default: stderr. */
  logger?: Logger;
}

/** The log methods the worker uses; `console` and most logging libraries' loggers have them. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A library's messages stay off stdout, which belongs to the program (`console.info` writes there). */
const stderrLogger: Logger = {
  info: (message) => console.error(message),
  warn: (message) => console.error(message),
  error: (message) => console.error(message),
};

export type Handler = (ctx: TaskContext) => unknown | Promise<unknown>;

/** Dispatch classes by name (docs/dispatch.md), most urgent first. */
const CLASSES = ["urgent", "high", "normal", "low", "bulk"] as const;
export type DispatchClass = (typeof CLASSES)[number];

/** The API's number of a class given by name or number. */
function dispatchClass(value: DispatchClass | number): number {
  const n = typeof value === "number" ? value : CLASSES.indexOf(value);
  if (!Number.isInteger(n) || n < 0 || n >= CLASSES.length) {
    throw new Error(`reservedPriority ${JSON.stringify(value)} is not a class (${CLASSES.join(", ")}) or 0 .. 4`);
  }
  return n;
}

/**
 * The kinds of slot a worker polls for, each with a long-poll of its own on every replica:
 * reserved slots waiting for urgent work must never hold back ordinary slots freed meanwhile.
 */
type SlotKind = "ordinary" | "reserved";

/** The most tasks one LeaseTasks call may ask for (the API's limit): more free slots than that are asked for by the next poll. */
const MAX_TASKS_PER_POLL = 100;
/** The engine's limit on leases per HeartbeatTasks call. */
const MAX_HEARTBEATS_PER_CALL = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How often the address is resolved again, so replicas that come and go get a long-poll. */
const RESOLVE_INTERVAL_MS = 30_000;

/**
 * An engine replica the worker holds a long-poll on: a run started there finds a poll waiting and
 * is handed over in the start's own transaction (no NOTIFY, no claim by another replica).
 */
interface Replica {
  target: string;
  stub: WorkerServiceClient;
  /** No longer resolved, or shutdown: its loop ends. */
  retired: boolean;
  /** Its last poll did not fail. */
  healthy: boolean;
  /** The long-polls in flight, by kind of slot. */
  polls: Partial<Record<SlotKind, grpc.ClientUnaryCall>>;
  /** Its poll loops (one per kind of slot the worker has). */
  loops: Array<Promise<void>>;
}

/** One leased task as its handler sees it. */
export class TaskContext {
  readonly taskId: string;
  /** The lease epoch: grows with every lease of the task; pass it to venues as a fence. */
  readonly fencingToken: string;
  readonly namespace: string;
  readonly workflowId: string;
  readonly runId: string;
  readonly step: string;
  readonly taskType: string;
  readonly queue: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  /** The same on every attempt of this step: the venue's client order id. */
  readonly idempotencyKey: string;
  readonly definitionName: string;
  readonly definitionVersion: number;
  readonly iteration: string;
  readonly input: unknown;
  readonly heartbeatTimeoutMs?: number;
  /** Aborted when the handler should stop; its reason is stopReason. */
  readonly signal: AbortSignal;
  stopReason: StopReason = "";
  /** @internal The progress as JSON text ("" for none). */ progressJson = "";
  /** @internal */ nextHeartbeat: number;
  /** @internal */ readonly intervalMs: number;
  /** @internal */ heartbeating = false;
  /** @internal The handler returned; its outcome is being reported. */ finished = false;
  /** @internal The replica that handed it over (undefined: unknown, or the worker has one channel). */
  origin?: Replica;
  /** @internal The replica that took its completion, when that was the origin. */
  answeredBy?: Replica;
  private readonly abort = new AbortController();

  /** `reserved`: it holds one of the worker's reserved slots. */
  constructor(private readonly worker: Worker, readonly task: LeasedTask__Output, readonly reserved = false) {
    this.taskId = task.task_id;
    this.fencingToken = String(task.lease_epoch);
    this.namespace = task.namespace;
    this.workflowId = task.workflow_id;
    this.runId = task.run_id;
    this.step = task.step;
    this.taskType = task.task_type;
    this.queue = task.task_queue;
    this.attempt = task.attempt;
    this.maxAttempts = task.max_attempts;
    this.idempotencyKey = task.idempotency_key;
    this.definitionName = task.definition_name;
    this.definitionVersion = task.definition_version;
    this.iteration = task.iteration;
    this.input = task.input_json ? JSON.parse(task.input_json) : undefined;
    const hb = task.heartbeat_timeout ? Number(task.heartbeat_timeout.seconds) * 1000 + task.heartbeat_timeout.nanos / 1e6 : 0;
    this.heartbeatTimeoutMs = hb || undefined;
    this.intervalMs = hb ? Math.max(200, hb / 3) : 10_000;
    this.nextHeartbeat = Date.now() + this.intervalMs;
    this.signal = this.abort.signal;
  }

  get cancelled(): boolean {
    return this.signal.aborted;
  }

  get leaseLost(): boolean {
    return this.stopReason === "lease_lost";
  }

  /**
   * Progress (JSON-serialisable) sent with the heartbeats from now on; operators see it. Throws a
   * TypeError at once for a value JSON cannot carry (a cycle, a BigInt, a function).
   */
  progress(details: unknown): void {
    if (details === undefined) {
      this.progressJson = "";
      return;
    }
    const text: string | undefined = JSON.stringify(details);
    if (text === undefined) throw new TypeError(`progress of type ${typeof details} is not JSON`);
    this.progressJson = text;
  }

  /** Heartbeats now; rejects with StaleLease when the lease is gone; resolves to cancel_requested. */
  heartbeat(details?: unknown): Promise<boolean> {
    if (details !== undefined) this.progress(details);
    return this.worker.heartbeat(this, true);
  }

  /** @internal */
  halt(reason: StopReason): void {
    if (this.signal.aborted) return;
    this.stopReason = reason;
    this.abort.abort(new Error(`task ${this.taskId} stopped: ${reason}`));
  }
}

export class Worker {
  readonly namespace: string;
  readonly identity: string;
  readonly queues: string[];
  readonly concurrency: number;
  readonly reservedSlots: number;
  readonly reservedPriority: number;
  readonly metrics = new Metrics();
  private readonly stub: WorkerServiceClient;
  private readonly log: Logger;
  private readonly caller = new Caller(30_000, 60_000);
  /** On every long-poll, so StopPolling ends this worker's polls and no one else's. */
  private readonly instanceKey = randomUUID();
  private readonly handlers = new Map<string, Handler>();
  private readonly running = new Map<string, TaskContext>();
  /** Until an engine answers HeartbeatTasks with UNIMPLEMENTED. */
  private renewTogether = true;
  private stopping = false;
  private readonly replicas = new Map<string, Replica>();
  /** Slots the long-polls in flight asked for, by kind: together they never ask for more than is free. */
  private promised: Record<SlotKind, number> = { ordinary: 0, reserved: 0 };
  /** Woken when a slot frees, a poll returns, the replicas change or the worker stops. */
  private waiters: Array<() => void> = [];

  constructor(private readonly options: WorkerOptions) {
    this.namespace = options.namespace ?? "default";
    this.identity = options.identity ?? `${os.hostname()}-${process.pid}`;
    this.queues = options.queues ?? ["default"];
    this.concurrency = options.concurrency ?? 4;
    this.reservedSlots = options.reservedSlots ?? 0;
    if (!Number.isInteger(this.reservedSlots) || this.reservedSlots < 0 || this.reservedSlots > 1000) {
      throw new Error(`reservedSlots ${this.reservedSlots} is not 0 .. 1000`);
    }
    this.reservedPriority = dispatchClass(options.reservedPriority ?? "urgent");
    this.log = options.logger ?? stderrLogger;
    this.stub = new api.gridflow.v1.WorkerService(options.address, channelCredentials(options), channelOptions(options));
    this.metrics.set("gridflow_worker_slots", this.concurrency);
    this.metrics.set("gridflow_worker_tasks_running", 0);
  }

  /** Registers the handler of `taskType`: an (async) function of the context returning the result. */
  task(taskType: string, handler: Handler): this {
    this.handlers.set(taskType, handler);
    return this;
  }

  /** The task types this worker has handlers for, in the order every call names them. */
  private servedTypes(): string[] {
    return [...this.handlers.keys()].sort();
  }

  /**
   * Serves until shutdown() (or SIGTERM/SIGINT): stops polling, lets running handlers finish for
   * shutdownGraceMs, then releases the tasks still running so another worker takes them at once.
   */
  async run(): Promise<void> {
    if (this.handlers.size === 0) throw new Error("no handlers: register some with worker.task(...)");
    const onSignal = () => this.shutdown();
    if (this.options.handleSignals ?? true) {
      process.once("SIGTERM", onSignal);
      process.once("SIGINT", onSignal);
    }
    const server = this.options.metricsPort === undefined ? undefined
      : this.metrics.serve(this.options.metricsHost ?? "127.0.0.1", this.options.metricsPort);
    const beats = setInterval(() => this.heartbeatDue(), 100);
    try {
      await this.pollReplicas();
      await this.drain();
    } finally {
      clearInterval(beats);
      server?.close();
      process.removeListener("SIGTERM", onSignal);
      process.removeListener("SIGINT", onSignal);
      this.stub.close();
      for (const replica of this.replicas.values()) if (replica.stub !== this.stub) replica.stub.close();
    }
  }

  /** Asks run() to stop. */
  shutdown(): void {
    this.stopping = true;
    for (const replica of this.replicas.values()) void this.stopPolling(replica);
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves at the next wakeAll(), or after `ms`. */
  private wakeup(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
      this.waiters.push(() => { clearTimeout(timer); resolve(); });
    });
  }

  /** A replica no longer resolved: its polls are cancelled (it is most likely going away). */
  private retire(replica: Replica): void {
    replica.retired = true;
    for (const poll of Object.values(replica.polls)) poll?.cancel();
  }

  /**
   * At shutdown: ends the long-polls in flight on `replica` by asking it (StopPolling) — a poll
   * cancelled instead could be handed a task just as it goes, and the task would wait for its
   * lease to expire. A poll answered with tasks runs them, within the shutdown grace. Only a
   * replica that cannot be asked (down, or too old to know the call) has its polls cancelled.
   */
  private async stopPolling(replica: Replica): Promise<void> {
    replica.retired = true;
    if (!Object.values(replica.polls).some((poll) => poll)) return;
    try {
      await this.caller.call<StopPollingResponse__Output>((co, cb) => replica.stub.StopPolling({
        namespace: this.namespace, worker_instance_key: this.instanceKey, identity: this.identity,
      }, co, cb), { retry: false, timeoutMs: 2000 });
    } catch {
      for (const poll of Object.values(replica.polls)) poll?.cancel();
    }
  }

  /** Keeps one long-poll loop per replica the address resolves to (again every 30 s) until shutdown. */
  private async pollReplicas(): Promise<void> {
    while (!this.stopping) {
      const { targets, host } = await resolveReplicaTargets(this.options.address);
      this.updateReplicas(targets, host);
      const until = Date.now() + RESOLVE_INTERVAL_MS;
      while (!this.stopping && Date.now() < until) await this.wakeup(until - Date.now());
    }
    await Promise.all([...this.replicas.values()].flatMap((replica) => replica.loops));
  }

  private updateReplicas(targets: string[], host: string): void {
    if (this.stopping) return;
    let changed = false;
    const added: Replica[] = [];
    for (const [target, replica] of this.replicas) {
      if (targets.includes(target)) continue;
      this.retire(replica);
      this.replicas.delete(target);
      void Promise.all(replica.loops).then(() => { if (replica.stub !== this.stub) replica.stub.close(); });
      changed = true;
    }
    for (const target of targets) {
      if (this.replicas.has(target)) continue;
      let stub = this.stub;
      if (targets.length > 1) {
        // A channel to this replica alone; TLS still checks the name the address was given as.
        const options = { ...this.options, address: target, tlsServerName: this.options.tlsServerName || host || undefined };
        stub = new api.gridflow.v1.WorkerService(target, channelCredentials(options), channelOptions(options));
      }
      const replica: Replica = { target, stub, retired: false, healthy: true, polls: {}, loops: [] };
      this.replicas.set(target, replica);
      added.push(replica);
    }
    // Loops start once every replica is known: a loop's first poll leaves a slot for each other
    // replica without a poll, and one started earlier would not see those added after it (it
    // asked for every slot, and the others waited until its poll returned).
    for (const replica of added) {
      replica.loops.push(this.pollLoop(replica, "ordinary"));
      if (this.reservedSlots > 0) replica.loops.push(this.pollLoop(replica, "reserved"));
      changed = true;
    }
    this.wakeAll(); // the others' share of the slots changed
    if (changed) this.log.info(`gridflow worker ${this.identity}: long-polling ${targets.length} engine replica(s)`);
  }

  /** Free slots of `kind` no long-poll in flight has asked for yet. */
  private unpromised(kind: SlotKind): number {
    let inReserved = 0;
    for (const ctx of this.running.values()) if (ctx.reserved) ++inReserved;
    if (kind === "reserved") return this.reservedSlots - inReserved - this.promised.reserved;
    return this.concurrency - (this.running.size - inReserved) - this.promised.ordinary;
  }

  /**
   * Long-polls `replica` for free slots of `kind`: ordinary ones take any class, reserved ones
   * (max_tasks 0, reserved_slots N) only tasks of reservedPriority or more urgent.
   */
  private async pollLoop(replica: Replica, kind: SlotKind): Promise<void> {
    let backoff = 100;
    for (;;) {
      while (this.unpromised(kind) <= 0 && !replica.retired && !this.stopping) await this.wakeup();
      if (replica.retired || this.stopping) return;
      // Most slots go to the poll asking now (polls return where work arrives, and ask again
      // there), but one stays for each other replica without a poll, so one waits on every replica.
      let others = 0;
      for (const r of this.replicas.values()) if (r !== replica && r.healthy && !r.polls[kind]) ++others;
      const ask = Math.min(this.unpromised(kind), Math.max(1, this.unpromised(kind) - others), MAX_TASKS_PER_POLL);
      this.promised[kind] += ask;
      const waitMs = this.options.pollWaitMs ?? 10_000;
      const slots = kind === "reserved"
        ? { reserved_slots: ask, reserved_priority: this.reservedPriority }
        : { max_tasks: ask };
      let tasks: LeasedTask__Output[] = [];
      let failed = false;
      try {
        const r = await this.caller.call<LeaseTasksResponse__Output>((co, cb) => replica.stub.LeaseTasks({
          namespace: this.namespace, task_queues: this.queues, task_types: this.servedTypes(),
          ...slots, identity: this.identity, worker_instance_key: this.instanceKey,
          wait: { seconds: String(Math.floor(waitMs / 1000)), nanos: (waitMs % 1000) * 1e6 },
        }, co, cb), { retry: false, timeoutMs: waitMs + 10_000, onCall: (call) => (replica.polls[kind] = call) });
        tasks = r.tasks;
        backoff = 100;
      } catch (e) {
        failed = !(replica.retired || this.stopping);
        if (failed && !(e instanceof Unavailable || e instanceof DeadlineExceeded || e instanceof ResourceExhausted)) {
          this.log.error(`gridflow worker: leasing tasks on ${replica.target} failed: ${(e as Error).message}`);
        }
      }
      replica.polls[kind] = undefined;
      replica.healthy = !failed;
      this.promised[kind] -= ask;
      for (const task of tasks) {
        const ctx = new TaskContext(this, task, kind === "reserved");
        if (replica.stub !== this.stub) ctx.origin = replica;
        this.running.set(ctx.taskId, ctx);
        this.metrics.inc("gridflow_worker_tasks_leased_total");
        void this.execute(ctx);
      }
      this.metrics.set("gridflow_worker_tasks_running", this.running.size);
      this.wakeAll(); // slots this poll asked for and did not fill: another replica's poll may ask
      if (failed) {
        this.metrics.inc("gridflow_worker_polls_total", { result: "error" });
        await this.wakeupOrRetired(replica, backoff);
        backoff = Math.min(backoff * 2, 2000); // a replica back is polled within 2 s
        continue;
      }
      if (replica.retired || this.stopping) continue;
      this.metrics.inc("gridflow_worker_polls_total", { result: tasks.length ? "tasks" : "empty" });
    }
  }

  /** Waits `ms`, ending early when the replica is retired or the worker stops. */
  private async wakeupOrRetired(replica: Replica, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!replica.retired && !this.stopping && Date.now() < until) await this.wakeup(until - Date.now());
  }

  private async drain(): Promise<void> {
    const until = Date.now() + (this.options.shutdownGraceMs ?? 30_000);
    while (this.running.size > 0 && Date.now() < until) await sleep(50);
    for (const ctx of [...this.running.values()]) {
      ctx.halt("released");
      try {
        await this.caller.call<ReleaseTaskResponse__Output>((co, cb) => this.stub.ReleaseTask({
          namespace: this.namespace, task_id: ctx.taskId, lease_epoch: ctx.fencingToken,
          reason: "worker shutting down", identity: this.identity }, co, cb), { staleLease: true });
        this.count(ctx, "released");
      } catch (e) {
        this.log.error(`gridflow worker: run=${ctx.runId} task=${ctx.taskId} release failed: ${(e as Error).message}`);
      }
    }
  }

  private async execute(ctx: TaskContext): Promise<void> {
    const started = Date.now();
    let outcome: { result: unknown } | { error: TaskError };
    try {
      const handler = this.handlers.get(ctx.taskType);
      if (!handler) throw new TaskError("gridflow.UnknownTaskType", `no handler for ${ctx.taskType}`, false);
      outcome = { result: await handler(ctx) };
    } catch (e) {
      if (e instanceof TaskError) outcome = { error: e };
      else if (ctx.cancelled) outcome = { error: new TaskError("gridflow.Cancelled", `the handler stopped: ${ctx.stopReason}`, false) };
      else outcome = { error: new TaskError((e as Error)?.name ?? "Error", String((e as Error)?.message ?? e), true) };
    }
    this.metrics.observe("gridflow_worker_handler_seconds", { queue: ctx.queue, task_type: ctx.taskType },
      (Date.now() - started) / 1000);
    let next: LeasedTask__Output[] = [];
    ctx.finished = true; // heartbeat answers no longer matter: the report decides
    try {
      next = await this.report(ctx, outcome);
    } finally {
      // The freed slot passes to the run's next step, if its completion brought one: a poll
      // never sees the slot free.
      this.running.delete(ctx.taskId);
      for (const task of next) {
        const leased = new TaskContext(this, task);
        leased.origin = ctx.answeredBy;
        this.running.set(leased.taskId, leased);
        this.metrics.inc("gridflow_worker_tasks_leased_total");
        void this.execute(leased);
      }
      this.metrics.set("gridflow_worker_tasks_running", this.running.size);
      this.wakeAll();
    }
  }

  /** Sends an outcome to the replica that handed the task over, while its polls succeed: the run's
   *  next transition joins the group commit of the replica already serving the run (docs/worker.md,
   *  "Several replicas"). After a transient error there, and for a task of no known origin,
   *  round-robin with retries. */
  private async reportAtOrigin<Res>(ctx: TaskContext, invoke: (stub: WorkerServiceClient) => Invoke<Res>): Promise<Res> {
    const origin = ctx.origin;
    if (origin && origin.healthy && !origin.retired) {
      try {
        const r = await this.caller.call<Res>(invoke(origin.stub), { retry: false, staleLease: true });
        ctx.answeredBy = origin;
        return r;
      } catch (e) {
        const transient = e instanceof Unavailable || e instanceof Cancelled || e instanceof DeadlineExceeded
          || e instanceof ResourceExhausted;
        if (!(transient || origin.retired)) throw e; // retired: its channel may be closed meanwhile
      }
    }
    return this.caller.call<Res>(invoke(this.stub), { staleLease: true });
  }

  /** Reports the outcome under the task's lease; returns the tasks the completion handed this
   *  worker (eager dispatch). */
  private async report(ctx: TaskContext, outcome: { result: unknown } | { error: TaskError }): Promise<LeasedTask__Output[]> {
    if (ctx.stopReason === "released") return []; // handed back at shutdown: another worker runs it
    const lease = { namespace: this.namespace, task_id: ctx.taskId, lease_epoch: ctx.fencingToken, identity: this.identity };
    try {
      if ("result" in outcome) {
        // The slot this completion frees: the run's next step comes in the answer, leased to this
        // worker — no long-poll and no claim in between. (Not for a reserved slot: it stays free
        // for the next urgent task.)
        const eager = this.stopping || ctx.reserved ? {} : {
          max_next_tasks: 1, task_queues: this.queues, task_types: this.servedTypes(),
        };
        const r = await this.reportAtOrigin<CompleteTaskResponse__Output>(ctx, (stub) => (co, cb) => stub.CompleteTask({
          ...lease, result_json: JSON.stringify(outcome.result ?? null), ...eager }, co, cb));
        this.count(ctx, "completed");
        return r.next_tasks;
      } else {
        const e = outcome.error;
        await this.reportAtOrigin<FailTaskResponse__Output>(ctx, (stub) => (co, cb) => stub.FailTask({
          ...lease, error_type: e.errorType, message: e.message,
          details_json: e.details === undefined ? "" : JSON.stringify(e.details), non_retryable: !e.retryable,
        }, co, cb));
        this.count(ctx, "failed");
      }
    } catch (e) {
      if (e instanceof StaleLease) {
        // The lease expired and the task is (or will be) run again elsewhere: the outcome is dropped.
        ctx.halt("lease_lost");
        this.count(ctx, "rejected");
        this.log.warn(`gridflow worker: run=${ctx.runId} task=${ctx.taskId} step=${ctx.step} outcome refused, the lease was lost: ${e.details}`);
      } else {
        this.log.error(`gridflow worker: run=${ctx.runId} task=${ctx.taskId} outcome not recorded: ${(e as Error).message}`);
      }
    }
    return [];
  }

  private count(ctx: TaskContext, outcome: string): void {
    this.metrics.inc("gridflow_worker_tasks_total", { queue: ctx.queue, task_type: ctx.taskType, outcome });
  }

  private heartbeatDue(): void {
    const now = Date.now();
    const due = [...this.running.values()].filter((ctx) => !ctx.cancelled && !ctx.finished && !ctx.heartbeating && ctx.nextHeartbeat <= now);
    if (!this.renewTogether) {
      for (const ctx of due) void this.heartbeat(ctx, false).catch(() => {});
      return;
    }
    for (let i = 0; i < due.length; i += MAX_HEARTBEATS_PER_CALL) void this.renew(due.slice(i, i + MAX_HEARTBEATS_PER_CALL));
  }

  /**
   * Renews the leases of `part` with HeartbeatTasks: one call, one transaction on the engine, each
   * lease answered on its own. An engine that predates the call gets single heartbeats from then on;
   * a lease whose progress the engine refuses is renewed at once alone (the single heartbeat drops
   * that progress with a warning).
   */
  private async renew(part: TaskContext[]): Promise<void> {
    const now = Date.now();
    for (const ctx of part) {
      ctx.nextHeartbeat = now + ctx.intervalMs;
      ctx.heartbeating = true;
    }
    const heartbeats = part.map((ctx) => ({ task_id: ctx.taskId, lease_epoch: ctx.fencingToken, details_json: ctx.progressJson }));
    let results: HeartbeatTasksResponse__Output["results"] = [];
    let failure: unknown;
    try {
      const r = await this.caller.call<HeartbeatTasksResponse__Output>((co, cb) => this.stub.HeartbeatTasks({
        namespace: this.namespace, identity: this.identity, heartbeats,
      }, co, cb), { retry: false, timeoutMs: Math.max(1000, Math.min(...part.map((ctx) => ctx.intervalMs))) });
      results = r.results;
    } catch (e) {
      failure = e;
    } finally {
      for (const ctx of part) ctx.heartbeating = false;
    }
    if (failure instanceof GridflowError && failure.code === Code.UNIMPLEMENTED) {
      this.renewTogether = false;
      for (const ctx of part) void this.heartbeat(ctx, false).catch(() => {});
      return;
    }
    if (failure !== undefined) {
      this.log.warn(`gridflow worker: heartbeat of ${part.length} lease(s) failed: ${(failure as Error).message}`);
      const code = failure instanceof GridflowError ? failure.code : Code.UNKNOWN;
      for (const ctx of part) this.noteHeartbeat(ctx, code, "", false, false);
      return;
    }
    part.forEach((ctx, i) => {
      const result = results[i];
      if (result === undefined) this.noteHeartbeat(ctx, Code.INTERNAL, "no answer for it", false);
      else if (result.code === Code.INVALID_ARGUMENT && heartbeats[i].details_json !== "") {
        void this.heartbeat(ctx, false).catch(() => {}); // its progress refused: must not cost it its lease
      } else this.noteHeartbeat(ctx, result.code, result.message, result.cancel_requested);
    });
  }

  /** @internal A heartbeat for `ctx`; in the background (explicit false) it is not retried. */
  async heartbeat(ctx: TaskContext, explicit: boolean): Promise<boolean> {
    ctx.nextHeartbeat = Date.now() + ctx.intervalMs;
    ctx.heartbeating = true;
    const send = (details: string) => this.caller.call<HeartbeatResponse__Output>((co, cb) => this.stub.Heartbeat({
      namespace: this.namespace, task_id: ctx.taskId, lease_epoch: ctx.fencingToken, identity: this.identity, details_json: details,
    }, co, cb), { retry: explicit, timeoutMs: Math.max(1000, ctx.intervalMs), staleLease: true });
    try {
      const details = ctx.progressJson;
      let r: HeartbeatResponse__Output;
      try {
        r = await send(details);
      } catch (e) {
        if (!(e instanceof InvalidArgument) || details === "") throw e;
        // Progress the engine refuses must not cost the task its lease.
        this.log.warn(`gridflow worker: run=${ctx.runId} task=${ctx.taskId} progress dropped, the engine refused it: ${e.details}`);
        if (ctx.progressJson === details) ctx.progressJson = "";
        r = await send("");
      }
      this.noteHeartbeat(ctx, Code.OK, "", r.cancel_requested);
      return r.cancel_requested;
    } catch (e) {
      if (e instanceof StaleLease) {
        this.noteHeartbeat(ctx, Code.FAILED_PRECONDITION, e.details, false);
        if (explicit) throw e;
        return true;
      }
      this.noteHeartbeat(ctx, e instanceof GridflowError ? e.code : Code.UNKNOWN, (e as Error).message, false);
      if (explicit) throw e;
      return ctx.cancelled;
    } finally {
      ctx.heartbeating = false;
    }
  }

  /**
   * Acts on one lease's heartbeat answer: a cancelled run stops the handler; a lease no longer held
   * (FAILED_PRECONDITION) is lost; any other failure is counted (and, with `warn`, logged). An
   * answer for a task whose handler already returned is ignored: one saying the task is no longer
   * leased is the outcome's own doing.
   */
  private noteHeartbeat(ctx: TaskContext, code: number, message: string, cancelRequested: boolean, warn = true): void {
    if (ctx.finished) return;
    if (code === Code.OK) {
      if (cancelRequested) ctx.halt("cancelled");
    } else if (code === Code.FAILED_PRECONDITION) {
      this.metrics.inc("gridflow_worker_heartbeat_failures_total", { reason: "lease_lost" });
      ctx.halt("lease_lost");
    } else {
      this.metrics.inc("gridflow_worker_heartbeat_failures_total", { reason: "error" });
      if (warn) this.log.warn(`gridflow worker: run=${ctx.runId} task=${ctx.taskId} heartbeat failed: ${message}`);
    }
  }
}
