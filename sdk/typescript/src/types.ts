// Typed views of the API's resources: JSON fields parsed, timestamps as Dates, statuses as short
// names ("COMPLETED"), camelCase fields.
import type { Run__Output } from "./generated/gridflow/v1/Run";
import type { Event__Output } from "./generated/gridflow/v1/Event";
import type { Timestamp__Output } from "./generated/google/protobuf/Timestamp";

export type RunStatus =
  | "RUNNING" | "CANCELLING" | "COMPENSATING" | "COMPLETED" | "FAILED" | "CANCELLED" | "TERMINATED";
export const CLOSED: readonly RunStatus[] = ["COMPLETED", "FAILED", "CANCELLED", "TERMINATED"];

export interface Failure {
  step: string;
  errorType: string;
  message: string;
  details: unknown;
  attempt: number;
}

export interface Run {
  namespace: string;
  workflowId: string;
  runId: string;
  definitionName: string;
  definitionVersion: number;
  status: RunStatus;
  closed: boolean;
  input: unknown;
  /** Run data; undefined in listings. */
  data: unknown;
  currentStep: string;
  result: unknown;
  failure?: Failure;
  startedBy: string;
  createTime?: Date;
  updateTime?: Date;
  closeTime?: Date;
  historyLength: number;
  searchAttributes: Record<string, unknown>;
  /** Settlement revisions (docs/revisions.md); "" and 0 for other runs. */
  period: string;
  revision: number;
  supersedesWorkflowId: string;
  supersededByWorkflowId: string;
  /** In listings only: input, result and failure details left out, as they alone would pass a
   * page's 3 MiB; Client.get returns them. */
  fieldsOmitted: boolean;
}

export interface Event {
  sequence: number;
  type: string;
  step: string;
  taskId: string;
  attempt: number;
  actor: string;
  payload: unknown;
  time?: Date;
  iteration: string;
  hash: string;
}

const parse = (text: string): unknown => (text ? JSON.parse(text) : undefined);

export function toDate(t?: Timestamp__Output | null): Date | undefined {
  if (!t) return undefined;
  const ms = Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6);
  return ms === 0 ? undefined : new Date(ms);
}

export function toRun(p: Run__Output): Run {
  const status = String(p.status).replace("RUN_STATUS_", "") as RunStatus;
  return {
    namespace: p.namespace,
    workflowId: p.workflow_id,
    runId: p.run_id,
    definitionName: p.definition_name,
    definitionVersion: p.definition_version,
    status,
    closed: CLOSED.includes(status),
    input: parse(p.input_json),
    data: parse(p.data_json),
    currentStep: p.current_step,
    result: parse(p.result_json),
    failure: p.failure
      ? { step: p.failure.step, errorType: p.failure.error_type, message: p.failure.message,
          details: parse(p.failure.details_json), attempt: p.failure.attempt }
      : undefined,
    startedBy: p.started_by,
    createTime: toDate(p.create_time),
    updateTime: toDate(p.update_time),
    closeTime: toDate(p.close_time),
    historyLength: Number(p.history_length),
    searchAttributes: (parse(p.search_attributes_json) as Record<string, unknown>) ?? {},
    period: p.period,
    revision: p.revision,
    supersedesWorkflowId: p.supersedes_workflow_id,
    supersededByWorkflowId: p.superseded_by_workflow_id,
    fieldsOmitted: p.fields_omitted,
  };
}

export function toEvent(p: Event__Output): Event {
  return {
    sequence: Number(p.sequence), type: p.type, step: p.step, taskId: p.task_id, attempt: p.attempt,
    actor: p.actor, payload: parse(p.payload_json), time: toDate(p.time), iteration: p.iteration,
    hash: p.hash,
  };
}
