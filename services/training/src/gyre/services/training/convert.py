"""Records ⇄ protobuf resources, and the flat rows the filter language reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from gyre.common.v1 import cause_pb2
from gyre.services.training.models import ExperimentRecord, RunRecord, TriggerRecord
from gyre.services.training.trainers import params_from_proto
from gyre.training.v1 import experiment_pb2, run_pb2, trigger_pb2

__all__ = [
    "experiment_to_proto",
    "filter_row",
    "run_to_proto",
    "timestamp",
    "trigger_filter_row",
    "trigger_to_proto",
]


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _set_time(message: Any, field: str, value: datetime | None) -> None:
    stamp = timestamp(value)
    if stamp is not None:
        getattr(message, field).CopyFrom(stamp)


def etag(revision: int, update_time: datetime) -> str:
    return f'W/"{revision}-{int(update_time.timestamp() * 1000)}"'


def experiment_to_proto(record: ExperimentRecord, run_count: int) -> experiment_pb2.Experiment:
    experiment = experiment_pb2.Experiment(
        name=f"experiments/{record.id}",
        display_name=record.display_name,
        description=record.description,
        owner=record.owner,
        run_count=run_count,
        etag=etag(record.revision, record.update_time),
    )
    experiment.labels.update(record.labels or {})
    _set_time(experiment, "create_time", record.create_time)
    _set_time(experiment, "update_time", record.update_time)
    return experiment


def run_spec(record: RunRecord) -> run_pb2.RunSpec:
    spec = run_pb2.RunSpec()
    spec.ParseFromString(record.spec)
    return spec


def run_result(record: RunRecord) -> run_pb2.RunResult:
    result = run_pb2.RunResult()
    if record.result:
        result.ParseFromString(record.result)
    return result


def run_cause(record: RunRecord) -> cause_pb2.TriggerCause:
    cause = cause_pb2.TriggerCause()
    if record.cause:
        cause.ParseFromString(record.cause)
    return cause


def run_to_proto(record: RunRecord) -> run_pb2.Run:
    run = run_pb2.Run(
        name=f"runs/{record.id}",
        experiment=f"experiments/{record.experiment}",
        display_name=record.display_name,
        state=record.state,  # type: ignore[arg-type]
        parent_run=f"runs/{record.parent_run}" if record.parent_run else "",
        attempt_count=record.attempt_count,
        failure_reason=record.failure_reason,
        ray_job_id=record.ray_job_id,
        creator=record.creator,
    )
    run.spec.CopyFrom(run_spec(record))
    if record.result:
        run.result.CopyFrom(run_result(record))
    if record.cause:
        run.cause.CopyFrom(run_cause(record))
    run.labels.update(record.labels or {})
    _set_time(run, "create_time", record.create_time)
    _set_time(run, "start_time", record.start_time)
    _set_time(run, "end_time", record.end_time)
    _set_time(run, "update_time", record.update_time)
    return run


def filter_row(record: RunRecord) -> dict[str, Any]:
    """The flat field mapping the run filter language and ordering read."""
    spec = run_spec(record)
    cause = run_cause(record)
    row: dict[str, Any] = {
        "name": f"runs/{record.id}",
        "id": record.id,
        "experiment": f"experiments/{record.experiment}",
        "display_name": record.display_name,
        "state": run_pb2.RunState.Name(record.state).removeprefix("RUN_STATE_"),
        "priority": record.priority,
        "parent_run": f"runs/{record.parent_run}" if record.parent_run else "",
        "dataset_version": spec.dataset_version,
        "registered_model": spec.registered_model,
        "trigger": f"triggers/{record.trigger}" if record.trigger else "",
        "cause.trigger": cause.trigger,
        "cause.kind": cause_pb2.TriggerKind.Name(cause.kind).removeprefix("TRIGGER_KIND_"),
        "creator": record.creator,
        "attempt_count": record.attempt_count,
        "create_time": record.create_time,
        "start_time": record.start_time,
        "end_time": record.end_time,
        "update_time": record.update_time,
        "trainer": spec.trainer.builtin.estimator or spec.trainer.custom.entrypoint,
        "task": run_pb2.Task.Name(spec.task).removeprefix("TASK_"),
    }
    params = params_from_proto(spec.params)
    params.update(record.params or {})
    for key, value in params.items():
        row[f"params.{key}"] = value
    for key, value in (record.final_metrics or {}).items():
        row[f"metrics.{key}"] = value
    if record.result:
        for metric in run_result(record).train_metrics:
            row[f"train_metrics.{metric.name}"] = metric.value
    for key, value in (record.labels or {}).items():
        row[f"labels.{key}"] = value
    return row


def trigger_to_proto(record: TriggerRecord) -> trigger_pb2.Trigger:
    trigger = trigger_pb2.Trigger()
    trigger.ParseFromString(record.spec)
    trigger.name = f"triggers/{record.id}"
    trigger.enabled = record.enabled
    trigger.last_run = f"runs/{record.last_run}" if record.last_run else ""
    trigger.fire_count = record.fire_count
    trigger.etag = etag(record.revision, record.update_time)
    trigger.ClearField("last_fire_time")
    _set_time(trigger, "last_fire_time", record.last_fire_time)
    _set_time(trigger, "create_time", record.create_time)
    _set_time(trigger, "update_time", record.update_time)
    return trigger


def trigger_filter_row(record: TriggerRecord) -> dict[str, Any]:
    trigger = trigger_to_proto(record)
    row: dict[str, Any] = {
        "name": trigger.name,
        "kind": cause_pb2.TriggerKind.Name(trigger.kind).removeprefix("TRIGGER_KIND_"),
        "enabled": trigger.enabled,
        "experiment": trigger.experiment,
        "display_name": trigger.display_name,
        "fire_count": trigger.fire_count,
        "create_time": record.create_time,
        "last_fire_time": record.last_fire_time,
    }
    for key, value in trigger.labels.items():
        row[f"labels.{key}"] = value
    return row
