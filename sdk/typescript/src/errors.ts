// Errors: every refusal by the engine is a GridflowError carrying the gRPC status code and the
// engine's message (which names the offending field); the common codes have their own class.
import { status as Code, ServiceError } from "@grpc/grpc-js";

export { Code };

export class GridflowError extends Error {
  constructor(readonly code: Code, readonly details: string) {
    super(`${Code[code]}: ${details}`);
    this.name = new.target.name;
  }
}
export class InvalidArgument extends GridflowError {}
export class NotFound extends GridflowError {}
export class AlreadyExists extends GridflowError {}
export class FailedPrecondition extends GridflowError {}
export class PermissionDenied extends GridflowError {}
export class Unauthenticated extends GridflowError {}
export class ResourceExhausted extends GridflowError {}
export class Unavailable extends GridflowError {}
export class DeadlineExceeded extends GridflowError {}
export class Cancelled extends GridflowError {}
/** The worker no longer holds the task's lease: the engine refused its heartbeat or outcome. */
export class StaleLease extends FailedPrecondition {}

const byCode: Partial<Record<Code, new (code: Code, details: string) => GridflowError>> = {
  [Code.INVALID_ARGUMENT]: InvalidArgument,
  [Code.NOT_FOUND]: NotFound,
  [Code.ALREADY_EXISTS]: AlreadyExists,
  [Code.FAILED_PRECONDITION]: FailedPrecondition,
  [Code.PERMISSION_DENIED]: PermissionDenied,
  [Code.UNAUTHENTICATED]: Unauthenticated,
  [Code.RESOURCE_EXHAUSTED]: ResourceExhausted,
  [Code.UNAVAILABLE]: Unavailable,
  [Code.DEADLINE_EXCEEDED]: DeadlineExceeded,
  [Code.CANCELLED]: Cancelled,
};

/** The GridflowError for a failed call; `staleLease`: FAILED_PRECONDITION is a StaleLease. */
export function fromServiceError(e: ServiceError, staleLease = false): GridflowError {
  if (staleLease && e.code === Code.FAILED_PRECONDITION) return new StaleLease(e.code, e.details);
  const Kind = byCode[e.code as Code] ?? GridflowError;
  return new Kind(e.code, e.details ?? e.message);
}

/** Thrown by a handler to fail its task with a chosen error type; retryable false ends the step. */
export class TaskError extends Error {
  constructor(
    readonly errorType: string,
    message = "",
    readonly retryable = true,
    readonly details?: unknown,
  ) {
    super(message || errorType);
    this.name = "TaskError";
  }
}

/** waitForResult(): the run ended FAILED, CANCELLED or TERMINATED. */
export class RunFailed extends Error {
  constructor(readonly run: { workflowId: string; status: string; failure?: unknown }) {
    super(`run ${run.workflowId} ended ${run.status}`);
    this.name = "RunFailed";
  }
}
