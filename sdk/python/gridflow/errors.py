"""Errors: every refusal by the engine is a GridflowError carrying the gRPC status code and the
engine's message (which names the offending field); the common codes have their own class."""
import grpc


class GridflowError(Exception):
    """A call the engine refused (or could not be reached for)."""

    def __init__(self, code, message):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


class InvalidArgument(GridflowError):
    pass


class NotFound(GridflowError):
    pass


class AlreadyExists(GridflowError):
    pass


class FailedPrecondition(GridflowError):
    pass


class PermissionDenied(GridflowError):
    pass


class Unauthenticated(GridflowError):
    pass


class ResourceExhausted(GridflowError):
    pass


class Unavailable(GridflowError):
    pass


class DeadlineExceeded(GridflowError):
    pass


class Cancelled(GridflowError):
    """The call was cancelled without the caller asking: gRPC answers it for a call that reached
    a replica just as the replica closed (a restart), which never ran. Retried like Unavailable."""


class StaleLease(FailedPrecondition):
    """The worker no longer holds the task's lease (it expired and another worker may have taken
    the task): the engine refused the heartbeat or outcome. Stop working on the task; anything it
    still does must be safe under the task's idempotency key and fencing token."""


class RunFailed(Exception):
    """wait_for_result(): the run ended FAILED, CANCELLED or TERMINATED. `run` is the closed run."""

    def __init__(self, run):
        failure = run.failure or {}
        detail = f": {failure.get('error_type', '')} {failure.get('message', '')}".rstrip() if failure else ""
        super().__init__(f"run {run.workflow_id} ended {run.status}{detail}")
        self.run = run


class TaskError(Exception):
    """Raised by a handler to fail its task with a chosen error type. `retryable=False` ends the
    step at once (the run then handles the failure); otherwise the step's retry policy decides."""

    def __init__(self, error_type, message="", retryable=True, details=None):
        super().__init__(message or error_type)
        self.error_type = error_type
        self.message = message
        self.retryable = retryable
        self.details = details


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
}


def from_rpc_error(error, stale_lease=False):
    """The GridflowError for a grpc.RpcError; `stale_lease`: a FAILED_PRECONDITION is a StaleLease."""
    code = error.code()
    if stale_lease and code == grpc.StatusCode.FAILED_PRECONDITION:
        return StaleLease(code, error.details() or "")
    return _BY_CODE.get(code, GridflowError)(code, error.details() or "")
