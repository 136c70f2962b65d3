"""Gridflow's Python SDK: a client for trading applications and operators, and a worker for task
handlers (docs/sdk-python.md)."""
from .client import Client
from .errors import (AlreadyExists, Cancelled, DeadlineExceeded, FailedPrecondition,
                     GridflowError, InvalidArgument, NotFound, PermissionDenied,
                     ResourceExhausted, RunFailed, StaleLease, TaskError, Unauthenticated,
                     Unavailable)
from .types import Event, Run, StartResult
from .worker import TaskContext, Worker

__all__ = ["Client", "Worker", "TaskContext", "Run", "Event", "StartResult", "GridflowError",
           "InvalidArgument", "NotFound", "AlreadyExists", "FailedPrecondition", "PermissionDenied",
           "Unauthenticated", "ResourceExhausted", "Unavailable", "DeadlineExceeded", "Cancelled",
           "StaleLease",
           "RunFailed", "TaskError"]
__version__ = "0.1.0"
