"""Typed views of the API's resources: JSON fields parsed, timestamps as aware datetimes,
statuses as short names ("COMPLETED")."""
import dataclasses
import datetime
import json
from typing import Any, Optional

CLOSED = ("COMPLETED", "FAILED", "CANCELLED", "TERMINATED")


def _json(text):
    return json.loads(text) if text else None


def _time(ts):
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return datetime.datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=datetime.timezone.utc)


def _status(enum_name):
    return enum_name.replace("RUN_STATUS_", "")


@dataclasses.dataclass
class Run:
    namespace: str
    workflow_id: str
    run_id: str
    definition_name: str
    definition_version: int
    status: str  # RUNNING, CANCELLING, COMPENSATING, COMPLETED, FAILED, CANCELLED, TERMINATED
    input: Any
    data: Any  # None in listings
    current_step: str
    result: Any
    failure: Optional[dict]
    started_by: str
    create_time: Optional[datetime.datetime]
    update_time: Optional[datetime.datetime]
    close_time: Optional[datetime.datetime]
    history_length: int
    search_attributes: dict
    period: str = ""  # settlement revisions (docs/revisions.md)
    revision: int = 0
    supersedes_workflow_id: str = ""
    superseded_by_workflow_id: str = ""
    # In listings only: input, result and failure details left out, as they alone would pass a
    # page's 3 MiB; Client.get returns them.
    fields_omitted: bool = False
    proto: Any = dataclasses.field(default=None, repr=False)

    @property
    def closed(self):
        return self.status in CLOSED

    @classmethod
    def from_proto(cls, p, status_name):
        failure = None
        if p.HasField("failure"):
            failure = {"step": p.failure.step, "error_type": p.failure.error_type,
                       "message": p.failure.message, "details": _json(p.failure.details_json),
                       "attempt": p.failure.attempt}
        return cls(namespace=p.namespace, workflow_id=p.workflow_id, run_id=p.run_id,
                   definition_name=p.definition_name, definition_version=p.definition_version,
                   status=_status(status_name(p.status)), input=_json(p.input_json),
                   data=_json(p.data_json), current_step=p.current_step, result=_json(p.result_json),
                   failure=failure, started_by=p.started_by, create_time=_time(p.create_time),
                   update_time=_time(p.update_time),
                   close_time=_time(p.close_time) if p.HasField("close_time") else None,
                   history_length=p.history_length,
                   search_attributes=_json(p.search_attributes_json) or {}, period=p.period,
                   revision=p.revision, supersedes_workflow_id=p.supersedes_workflow_id,
                   superseded_by_workflow_id=p.superseded_by_workflow_id,
                   fields_omitted=p.fields_omitted, proto=p)


@dataclasses.dataclass
class Event:
    sequence: int
    type: str
    step: str
    task_id: str
    attempt: int
    actor: str
    payload: Any
    time: Optional[datetime.datetime]
    iteration: str
    hash: str

    @classmethod
    def from_proto(cls, p):
        return cls(sequence=p.sequence, type=p.type, step=p.step, task_id=p.task_id,
                   attempt=p.attempt, actor=p.actor, payload=_json(p.payload_json),
                   time=_time(p.time), iteration=p.iteration, hash=p.hash)


@dataclasses.dataclass
class StartResult:
    run: Run
    created: bool  # False: the same start was made before; this is that run
