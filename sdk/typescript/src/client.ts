// The client: definitions, runs, history, signals and operators' actions over gridflow.v1.
//
//   const client = new Client({ address: "localhost:7233", identity: "bidding-gateway" });
//   await client.start("dab-2026-12-03", "day-ahead-bid", { delivery_day: "2026-12-03" });
//   const result = await client.waitForResult("dab-2026-12-03", { timeoutMs: 300_000 });
//
// Calls that are safe to repeat are retried on UNAVAILABLE (docs/reliability.md); refusals reject
// with GridflowError subclasses carrying the code and the engine's message.
import { randomUUID } from "crypto";
import * as grpc from "@grpc/grpc-js";
import { DeadlineExceeded, fromServiceError, RunFailed, Unavailable } from "./errors";
import { api, Caller, channelCredentials, channelOptions, ConnectionOptions } from "./transport";
import { Event, Run, RunStatus, toEvent, toRun } from "./types";
import type { WorkflowServiceClient } from "./generated/gridflow/v1/WorkflowService";
import type { Definition__Output } from "./generated/gridflow/v1/Definition";
import type { DescribeRunResponse__Output } from "./generated/gridflow/v1/DescribeRunResponse";
import type { Event__Output } from "./generated/gridflow/v1/Event";
import type { Run__Output } from "./generated/gridflow/v1/Run";
import type { ListDefinitionsResponse__Output } from "./generated/gridflow/v1/ListDefinitionsResponse";
import type { RegisterDefinitionResponse__Output } from "./generated/gridflow/v1/RegisterDefinitionResponse";
import type { StartRunResponse__Output } from "./generated/gridflow/v1/StartRunResponse";
import type { ListRunsResponse__Output } from "./generated/gridflow/v1/ListRunsResponse";
import type { GetHistoryResponse__Output } from "./generated/gridflow/v1/GetHistoryResponse";
import type { SignalRunResponse__Output } from "./generated/gridflow/v1/SignalRunResponse";
import type { CancelRunResponse__Output } from "./generated/gridflow/v1/CancelRunResponse";
import type { TerminateRunResponse__Output } from "./generated/gridflow/v1/TerminateRunResponse";
import type { RetryRunResponse__Output } from "./generated/gridflow/v1/RetryRunResponse";

export interface StartOptions {
  version?: number;
  /** A settlement revision (docs/revisions.md): both, or neither. */
  period?: string;
  revision?: number;
}

export interface ListFilter {
  status?: RunStatus;
  definition?: string;
  /** A search query (docs/search.md): "market = 'DE-LU' AND status = 'FAILED'". */
  query?: string;
  search?: string;
  period?: string;
  latestRevisions?: boolean;
  orderBy?: string;
  pageSize?: number;
}

const dump = (value: unknown) => (value === undefined ? "" : JSON.stringify(value));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const runView = (summary?: boolean) => (summary ? "RUN_VIEW_SUMMARY" : "RUN_VIEW_FULL");

export class Client {
  readonly namespace: string;
  readonly identity: string;
  private readonly stub: WorkflowServiceClient;
  private readonly caller: Caller;

  constructor(options: ConnectionOptions) {
    this.namespace = options.namespace ?? "default";
    this.identity = options.identity ?? "";
    this.stub = new api.gridflow.v1.WorkflowService(
      options.address, channelCredentials(options), channelOptions(options));
    this.caller = new Caller(options.timeoutMs, options.retryTimeoutMs);
  }

  close(): void {
    this.stub.close();
  }

  // ---- definitions ----

  /** Registers a definition (an object or JSON text); the same content again is a no-op. */
  async register(definition: object | string, candidate = false): Promise<{ definition: Definition__Output; created: boolean }> {
    const r = await this.caller.call<RegisterDefinitionResponse__Output>((co, cb) => this.stub.RegisterDefinition({
      namespace: this.namespace, identity: this.identity, candidate,
      definition_json: typeof definition === "string" ? definition : JSON.stringify(definition),
    }, co, cb));
    return { definition: r.definition!, created: r.created };
  }

  /** A definition version (0: the latest). */
  async getDefinition(name: string, version = 0): Promise<Definition__Output> {
    return this.caller.call<Definition__Output>((co, cb) => this.stub.GetDefinition({ namespace: this.namespace, name, version }, co, cb));
  }

  /** Registered definitions (every version; only `name`'s when given), paged as iterated. */
  async *listDefinitions(name = "", pageSize = 100): AsyncGenerator<Definition__Output> {
    let token = "";
    do {
      const r = await this.caller.call<ListDefinitionsResponse__Output>((co, cb) => this.stub.ListDefinitions({
        namespace: this.namespace, name, page_size: pageSize, page_token: token }, co, cb));
      yield* r.definitions;
      token = r.next_page_token;
    } while (token);
  }

  // ---- runs ----

  /** Starts a run; the same start again returns the same run with created false. */
  async start(workflowId: string, definition: string, input?: unknown, o: StartOptions = {}): Promise<{ run: Run; created: boolean }> {
    const r = await this.caller.call<StartRunResponse__Output>((co, cb) => this.stub.StartRun({
      namespace: this.namespace, workflow_id: workflowId, definition_name: definition,
      definition_version: o.version ?? 0, input_json: dump(input), identity: this.identity,
      period: o.period ?? "", revision: o.revision ?? 0,
    }, co, cb));
    return { run: toRun(r.run!), created: r.created };
  }

  /** The run. `summary`: without its input, data and result (`fieldsOmitted`), for a run whose
   * data is too large to fetch. */
  async get(workflowId: string, o: { summary?: boolean } = {}): Promise<Run> {
    return toRun(await this.caller.call<Run__Output>((co, cb) => this.stub.GetRun({
      namespace: this.namespace, workflow_id: workflowId, view: runView(o.summary) }, co, cb)));
  }

  /** The run now: active steps, open tasks with their lease holders, pending timers;
   * `summary` as for get. */
  async describe(workflowId: string, o: { summary?: boolean } = {}):
      Promise<DescribeRunResponse__Output> {
    return this.caller.call<DescribeRunResponse__Output>((co, cb) => this.stub.DescribeRun({
      namespace: this.namespace, workflow_id: workflowId, view: runView(o.summary) }, co, cb));
  }

  /** Runs matching the filter, newest first, fetched page by page as iterated. */
  async *list(f: ListFilter = {}): AsyncGenerator<Run> {
    let token = "";
    do {
      const r = await this.caller.call<ListRunsResponse__Output>((co, cb) => this.stub.ListRuns({
        namespace: this.namespace, status: f.status ? `RUN_STATUS_${f.status}` : "RUN_STATUS_UNSPECIFIED",
        definition_name: f.definition ?? "", query: f.query ?? "", workflow_id_contains: f.search ?? "",
        period: f.period ?? "", latest_revisions_only: f.latestRevisions ?? false,
        order_by: f.orderBy ?? "", page_size: f.pageSize ?? 100, page_token: token,
      }, co, cb));
      for (const run of r.runs) yield toRun(run);
      token = r.next_page_token;
    } while (token);
  }

  /** The run's history so far, in sequence order, fetched page by page as iterated. */
  async *history(workflowId: string, pageSize = 500): AsyncGenerator<Event> {
    let token = "";
    do {
      const r = await this.caller.call<GetHistoryResponse__Output>((co, cb) => this.stub.GetHistory({
        namespace: this.namespace, workflow_id: workflowId, page_size: pageSize, page_token: token }, co, cb));
      for (const e of r.events) yield toEvent(e);
      token = r.next_page_token;
    } while (token);
  }

  /**
   * The history's events after `afterSequence`, then each new one as it is recorded, until the run
   * closes. A replica that goes away mid-stream is left for another (resumed after the last event).
   */
  async *watch(workflowId: string, o: { afterSequence?: number; timeoutMs?: number } = {}): AsyncGenerator<Event> {
    const until = o.timeoutMs === undefined ? undefined : Date.now() + o.timeoutMs;
    let last = o.afterSequence ?? 0;
    let backoff = 100;
    let downSince: number | undefined;
    for (;;) {
      const options: grpc.CallOptions = until === undefined ? {} : { deadline: new Date(until) };
      const stream = this.stub.WatchHistory(
        { namespace: this.namespace, workflow_id: workflowId, after_sequence: String(last) }, options);
      try {
        for await (const e of stream as AsyncIterable<Event__Output>) {
          downSince = undefined;
          backoff = 100;
          last = Number(e.sequence);
          yield toEvent(e);
        }
        return;
      } catch (raw) {
        const error = fromServiceError(raw as grpc.ServiceError);
        if (error instanceof DeadlineExceeded) throw new Error(`run ${workflowId} still open after ${o.timeoutMs} ms`);
        if (!(error instanceof Unavailable)) throw error;
        downSince ??= Date.now();
        if (Date.now() - downSince > this.caller.retryTimeoutMs) throw error;
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 2000);
      } finally {
        stream.cancel();
      }
    }
  }

  /** Waits until the run is closed (COMPLETED, FAILED, CANCELLED or TERMINATED); returns it. */
  async wait(workflowId: string, o: { timeoutMs?: number } = {}): Promise<Run> {
    const run = await this.get(workflowId);
    if (run.closed) return run;
    for await (const _ of this.watch(workflowId, { afterSequence: run.historyLength, timeoutMs: o.timeoutMs })) {
      // each event is only a step towards the end
    }
    return this.get(workflowId);
  }

  /** The result of a run that completed; rejects with RunFailed (carrying the run) otherwise. */
  async waitForResult(workflowId: string, o: { timeoutMs?: number } = {}): Promise<unknown> {
    const run = await this.wait(workflowId, o);
    if (run.status !== "COMPLETED") throw new RunFailed(run);
    return run.result;
  }

  // ---- signals and operators' actions ----

  /** Delivers a signal; without a dedup id one is made, so a retry cannot deliver it twice. */
  async signal(workflowId: string, name: string, payload?: unknown, dedupId?: string): Promise<boolean> {
    const r = await this.caller.call<SignalRunResponse__Output>((co, cb) => this.stub.SignalRun({
      namespace: this.namespace, workflow_id: workflowId, signal_name: name,
      payload_json: dump(payload), dedup_id: dedupId ?? randomUUID(), identity: this.identity }, co, cb));
    return r.accepted;
  }

  async cancel(workflowId: string, reason = ""): Promise<Run> {
    const r = await this.caller.call<CancelRunResponse__Output>((co, cb) => this.stub.CancelRun({
      namespace: this.namespace, workflow_id: workflowId, reason, identity: this.identity }, co, cb));
    return toRun(r.run!);
  }

  /** Ends the run at once (no compensation). Not retried: an operator decides again. */
  async terminate(workflowId: string, reason: string): Promise<Run> {
    const r = await this.caller.call<TerminateRunResponse__Output>((co, cb) => this.stub.TerminateRun({
      namespace: this.namespace, workflow_id: workflowId, reason, identity: this.identity }, co, cb), { retry: false });
    return toRun(r.run!);
  }

  /** Continues a FAILED, CANCELLED or TERMINATED run from its failed step (or `fromStep`). */
  async retry(workflowId: string, reason: string, fromStep = ""): Promise<{ run: Run; fromStep: string }> {
    const r = await this.caller.call<RetryRunResponse__Output>((co, cb) => this.stub.RetryRun({
      namespace: this.namespace, workflow_id: workflowId, from_step: fromStep, reason,
      identity: this.identity }, co, cb), { retry: false });
    return { run: toRun(r.run!), fromStep: r.from_step };
  }
}
