// Gridflow's TypeScript SDK: a client for trading front-ends and gateways, and a worker for task
// handlers (docs/sdk-typescript.md).
export { Client } from "./client";
export type { StartOptions, ListFilter } from "./client";
export { Worker, TaskContext } from "./worker";
export type { WorkerOptions, Handler, StopReason, Logger, DispatchClass } from "./worker";
export type { ConnectionOptions } from "./transport";
export type { Run, Event, RunStatus, Failure } from "./types";
export { Metrics } from "./metrics";
export * from "./errors";
