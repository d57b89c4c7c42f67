"""The training scheduler's domain: experiments, runs, the queue, Ray attempts, metrics, logs.

State machine of a run (every transition is an outbox event in the same
transaction): ``QUEUED → RUNNING → SUCCEEDED | FAILED | CANCELLED``; a failed
attempt with retries left stays RUNNING and a new attempt (a new Ray job) starts.

The queue is the runs table: :meth:`Scheduler.tick` (run every
``poll_interval_s`` and whenever a run is submitted) reconciles every RUNNING run
with its Ray job, then hands QUEUED runs to Ray by priority (FIFO within one) while
fewer than ``max_concurrent_runs`` top-level runs are RUNNING. Claims are
conditional updates (``WHERE state = QUEUED``) and Ray submission ids are
deterministic (``gyre-<run>-a<attempt>``), so replicas sharing a database never
start an attempt twice, and a scheduler that restarts simply carries on from the
table: a RUNNING run whose job Ray does not know is submitted again, a finished
job's outcome is read from the object store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import shlex
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any, Final

from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.common.v1 import cause_pb2, metric_pb2
from gyre.events.v1 import training_events_pb2 as ev
from gyre.runtime.db import Database, utcnow
from gyre.runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    GyreError,
    InvalidArgument,
    NotFound,
    OutOfRange,
    Unavailable,
)
from gyre.runtime.events import Outbox
from gyre.runtime.objectstore import ObjectStore
from gyre.runtime.settings import ServiceSettings
from gyre.services.training import convert, filters, trainers
from gyre.services.training.models import (
    ExperimentRecord,
    MetricRecord,
    RunLogRecord,
    RunRecord,
)
from gyre.services.training.ray_jobs import RayJobs
from gyre.services.training.worker import JOB_ENV, JobSpec, Outcome
from gyre.training.v1 import experiment_pb2, run_pb2
from gyre.training.v1 import training_service_pb2 as ts

__all__ = [
    "ACTIVE_STATES",
    "TERMINAL_STATES",
    "Scheduler",
    "TrainingOptions",
    "TrainingSettings",
]

_log = logging.getLogger(__name__)

QUEUED: Final = run_pb2.RUN_STATE_QUEUED
RUNNING: Final = run_pb2.RUN_STATE_RUNNING
SUCCEEDED: Final = run_pb2.RUN_STATE_SUCCEEDED
FAILED: Final = run_pb2.RUN_STATE_FAILED
CANCELLED: Final = run_pb2.RUN_STATE_CANCELLED
ACTIVE_STATES: Final = (QUEUED, RUNNING)
TERMINAL_STATES: Final = (SUCCEEDED, FAILED, CANCELLED)

_ID: Final = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_DATASET_VERSION: Final = re.compile(r"^datasets/[^/]+/versions/[^/]+$")
_MODEL: Final = re.compile(r"^models/[^/]+$")
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
MAX_SWEEP_TRIALS: Final = 256
MAX_METRICS_PER_CALL: Final = 10_000
SOURCE: Final = "training"


class TrainingOptions(BaseModel, extra="forbid"):
    """Scheduler options (``GYRE_TRAINING__<FIELD>`` environment variables)."""

    # Top-level runs (a sweep counts once) RUNNING on Ray at the same time.
    max_concurrent_runs: int = Field(default=2, ge=1)
    # Seconds between reconciliations with Ray (submissions wake the loop at once).
    poll_interval_s: float = Field(default=0.5, gt=0)
    # File holding the Ray cluster's auth token; empty: $RAY_AUTH_TOKEN(_PATH), ~/.ray.
    ray_token_file: str = ""
    # Interpreter on the Ray cluster that runs the worker module.
    worker_python: str = "python"
    # host:port at which workers on the cluster reach this scheduler (live metrics);
    # empty: the gRPC server's own address (right when Ray runs on this host).
    advertise_address: str = ""
    # Object-store prefix of run artifacts (models, outcomes, code).
    artifact_prefix: str = "training"
    # CPUs an attempt asks for when its spec does not say.
    default_cpus: float = Field(default=1.0, ge=0)
    # Log lines of one finished attempt kept in the database.
    max_log_lines: int = Field(default=20_000, ge=100)
    # Largest custom-trainer code zip accepted (bytes).
    max_code_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    # Seconds between polls of a followed log.
    log_follow_interval_s: float = Field(default=0.5, gt=0)


class TrainingSettings(ServiceSettings):
    """Settings of the training service process (``GYRE_TRAINING__*`` for its options)."""

    service_name: str = "training"
    training: TrainingOptions = Field(default_factory=TrainingOptions)


def _now() -> datetime:
    return utcnow()


def _run_id(name: str) -> str:
    if not name.startswith("runs/") or not name[5:]:
        raise InvalidArgument(
            f"run name must be 'runs/{{run}}', got {name!r}",
            field_violations=[FieldViolation("name", "expected runs/{run}")],
        )
    return name[5:]


def _experiment_id(name: str) -> str:
    if not name.startswith("experiments/") or not _ID.match(name[12:]):
        raise InvalidArgument(
            f"experiment name must be 'experiments/{{experiment}}', got {name!r}",
            field_violations=[FieldViolation("experiment", "expected experiments/{experiment}")],
        )
    return name[12:]


def _page(token: str, size: int) -> tuple[int, int]:
    if size < 0:
        raise InvalidArgument("page_size must not be negative", reason="INVALID_PAGE_SIZE")
    size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if not token:
        return 0, size
    try:
        offset = int(token)
    except ValueError as exc:
        raise InvalidArgument("malformed page_token", reason="INVALID_PAGE_TOKEN") from exc
    if offset < 0:
        raise InvalidArgument("malformed page_token", reason="INVALID_PAGE_TOKEN")
    return offset, size


@dataclass
class DatasetInfo:
    """What the scheduler learned about a dataset version at submission."""

    name: str
    digest: str
    target_column: str
    columns: list[str]
    row_count: int


class Scheduler:
    """Experiments, runs and their execution on Ray.

    Args:
        db: the service database.
        outbox: where lifecycle events go (same transaction as the change).
        store: the object store holding models, outcomes and code.
        ray: the Ray Jobs adapter.
        settings: the service settings (S3 settings are handed to the workers).
        options: scheduler options.
        data_client: an ``AsyncGyreClient`` for the data registry (dataset versions).
    """

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        store: ObjectStore,
        ray: RayJobs,
        settings: ServiceSettings,
        options: TrainingOptions,
        data_client: Any,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.store = store
        self.ray = ray
        self.settings = settings
        self.options = options
        self.data_client = data_client
        self.target = ""  # the scheduler's own gRPC address (workers stream metrics to it)
        self.wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self.hooks: list[Any] = []  # extra coroutines run every tick (cron triggers)

    # -- lifecycle -------------------------------------------------------------------

    def start(self, target: str) -> None:
        self.target = target
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="gyre-training-scheduler")

    async def stop(self) -> None:
        self._stopping.set()
        self.wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:
                _log.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=self.options.poll_interval_s)
            self.wakeup.clear()

    async def tick(self) -> None:
        """Reconcile running runs with Ray, start queued ones, run the hooks."""
        await self.reconcile()
        await self.dispatch()
        for hook in self.hooks:
            try:
                await hook()
            except Exception:
                _log.exception("scheduler hook failed")

    # -- experiments -----------------------------------------------------------------

    async def create_experiment(
        self, experiment_id: str, experiment: experiment_pb2.Experiment
    ) -> experiment_pb2.Experiment:
        if not _ID.match(experiment_id):
            raise InvalidArgument(
                f"experiment_id {experiment_id!r} must match [a-z][a-z0-9-]{{0,62}}",
                field_violations=[FieldViolation("experiment_id", "lowercase letters, digits, -")],
            )
        record = ExperimentRecord(
            id=experiment_id,
            display_name=experiment.display_name,
            description=experiment.description,
            owner=experiment.owner,
            labels=dict(experiment.labels),
        )
        try:
            async with self.db.transaction() as session:
                session.add(record)
        except AlreadyExists as exc:
            raise AlreadyExists(f"experiments/{experiment_id} already exists") from exc
        return convert.experiment_to_proto(record, 0)

    async def _experiment(self, session: AsyncSession, experiment_id: str) -> ExperimentRecord:
        record = await session.get(ExperimentRecord, experiment_id)
        if record is None:
            raise NotFound(f"experiments/{experiment_id} does not exist")
        return record

    async def _run_count(self, session: AsyncSession, experiment_id: str) -> int:
        count = await session.scalar(
            select(func.count()).select_from(RunRecord).where(RunRecord.experiment == experiment_id)
        )
        return int(count or 0)

    async def get_experiment(self, name: str) -> experiment_pb2.Experiment:
        experiment_id = _experiment_id(name)
        async with self.db.transaction() as session:
            record = await self._experiment(session, experiment_id)
            return convert.experiment_to_proto(
                record, await self._run_count(session, experiment_id)
            )

    async def list_experiments(
        self, *, page_size: int, page_token: str, filter: str, order_by: str
    ) -> tuple[list[experiment_pb2.Experiment], str, int]:
        offset, size = _page(page_token, page_size)
        predicate = filters.parse_filter(filter)
        clauses = filters.parse_order_by(order_by, default="create_time desc")
        async with self.db.transaction() as session:
            records = list((await session.scalars(select(ExperimentRecord))).all())
            rows = []
            for record in records:
                proto = convert.experiment_to_proto(
                    record, await self._run_count(session, record.id)
                )
                row: dict[str, Any] = {
                    "name": proto.name,
                    "display_name": proto.display_name,
                    "owner": proto.owner,
                    "create_time": record.create_time,
                    "update_time": record.update_time,
                    "run_count": proto.run_count,
                }
                row.update({f"labels.{k}": v for k, v in proto.labels.items()})
                if predicate(row):
                    rows.append((row, proto))
        rows.sort(key=lambda item: filters.sort_key(clauses)(item[0]))
        page = [proto for _, proto in rows[offset : offset + size]]
        token = str(offset + size) if offset + size < len(rows) else ""
        return page, token, len(rows)

    async def update_experiment(
        self, experiment: experiment_pb2.Experiment, paths: Sequence[str]
    ) -> experiment_pb2.Experiment:
        experiment_id = _experiment_id(experiment.name)
        allowed = {"display_name", "description", "labels", "owner"}
        bad = [p for p in paths if p not in allowed]
        if bad or not paths:
            raise InvalidArgument(
                f"update_mask may name {', '.join(sorted(allowed))}; got {list(paths)}",
                field_violations=[FieldViolation("update_mask", "unknown or output-only field")],
            )
        async with self.db.transaction() as session:
            record = await self._experiment(session, experiment_id)
            current = convert.etag(record.revision, record.update_time)
            if experiment.etag and experiment.etag != current:
                from gyre.runtime.errors import Aborted

                raise Aborted("the experiment changed since it was read (etag mismatch)")
            for path in paths:
                if path == "labels":
                    record.labels = dict(experiment.labels)
                else:
                    setattr(record, path, getattr(experiment, path))
            record.revision += 1
            record.update_time = _now()
            return convert.experiment_to_proto(
                record, await self._run_count(session, experiment_id)
            )

    # -- submission ------------------------------------------------------------------

    async def resolve_dataset(self, name: str) -> DatasetInfo:
        """The dataset version ``name`` (``.../versions/latest`` resolved) from the registry.

        Raises:
            NotFound: the dataset or version does not exist.
            FailedPrecondition: the version is not READY.
            Unavailable: the data registry cannot be reached.
        """
        from gyre.data.v1 import data_service_pb2, dataset_pb2

        if not _DATASET_VERSION.match(name):
            raise InvalidArgument(
                "dataset_version must be 'datasets/{dataset}/versions/{version}', "
                f"got {name!r}",
                field_violations=[FieldViolation("run.spec.dataset_version", "malformed name")],
            )
        try:
            response = await self.data_client.data.GetDatasetVersion(
                data_service_pb2.GetDatasetVersionRequest(name=name)
            )
        except NotFound as exc:
            raise NotFound(f"dataset version {name} does not exist") from exc
        except GyreError:
            raise
        except Exception as exc:
            raise Unavailable(f"cannot reach the data registry: {exc}") from exc
        version = response.dataset_version
        if version.state not in (
            dataset_pb2.DATASET_VERSION_STATE_READY,
            dataset_pb2.DATASET_VERSION_STATE_UNSPECIFIED,
        ):
            raise FailedPrecondition(
                f"dataset version {version.name} is not ready "
                f"({dataset_pb2.DatasetVersionState.Name(version.state)})"
            )
        return DatasetInfo(
            name=version.name,
            digest=version.digest,
            target_column=version.target_column,
            columns=[c.name for c in version.schema.columns],
            row_count=version.row_count,
        )

    def validate_spec(self, spec: run_pb2.RunSpec, *, check_estimator: bool = True) -> None:
        """Structural checks of a run spec (no calls to other services).

        Raises:
            InvalidArgument: what is wrong, as field violations.
        """
        problems: list[FieldViolation] = []
        if not spec.dataset_version:
            problems.append(FieldViolation("run.spec.dataset_version", "required"))
        elif not _DATASET_VERSION.match(spec.dataset_version):
            problems.append(
                FieldViolation("run.spec.dataset_version", "expected datasets/{d}/versions/{v}")
            )
        if spec.task == run_pb2.TASK_UNSPECIFIED:
            problems.append(FieldViolation("run.spec.task", "required"))
        trainer = spec.trainer.WhichOneof("trainer")
        if trainer is None:
            problems.append(FieldViolation("run.spec.trainer", "required (builtin or custom)"))
        elif trainer == "builtin":
            path = spec.trainer.builtin.estimator
            if not path:
                problems.append(FieldViolation("run.spec.trainer.builtin.estimator", "required"))
            elif check_estimator:
                reason = _estimator_problem(path)
                if reason:
                    problems.append(FieldViolation("run.spec.trainer.builtin.estimator", reason))
        else:
            custom = spec.trainer.custom
            module, _, function = custom.entrypoint.partition(":")
            if not module or not function:
                problems.append(
                    FieldViolation("run.spec.trainer.custom.entrypoint", "expected module:function")
                )
        if spec.registered_model and not _MODEL.match(spec.registered_model):
            problems.append(FieldViolation("run.spec.registered_model", "expected models/{model}"))
        if spec.resources.cpus < 0 or spec.resources.gpus < 0 or spec.resources.memory_bytes < 0:
            problems.append(FieldViolation("run.spec.resources", "must not be negative"))
        if spec.max_retries < 0:
            problems.append(FieldViolation("run.spec.max_retries", "must not be negative"))
        if spec.HasField("sweep"):
            problems.extend(_sweep_problems(spec.sweep))
        if problems:
            raise InvalidArgument(
                "invalid run spec: " + "; ".join(f"{p.field}: {p.description}" for p in problems),
                reason="INVALID_RUN_SPEC",
                field_violations=problems,
            )

    async def prepare_spec(self, spec: run_pb2.RunSpec) -> tuple[run_pb2.RunSpec, str]:
        """Validate ``spec`` against the registry; return it with the version resolved and
        the target defaulted, plus the version's digest."""
        self.validate_spec(spec)
        await self.check_code(spec)
        dataset = await self.resolve_dataset(spec.dataset_version)
        resolved = run_pb2.RunSpec()
        resolved.CopyFrom(spec)
        resolved.dataset_version = dataset.name
        if not resolved.target_column:
            resolved.target_column = dataset.target_column
        if not resolved.target_column:
            raise InvalidArgument(
                f"{dataset.name} has no target column; set run.spec.target_column",
                field_violations=[FieldViolation("run.spec.target_column", "required")],
            )
        if dataset.columns:
            known = set(dataset.columns)
            missing = [
                c for c in [resolved.target_column, *resolved.feature_columns] if c not in known
            ]
            if missing:
                raise InvalidArgument(
                    f"{dataset.name} has no column(s) {', '.join(missing)} "
                    f"(columns: {', '.join(dataset.columns)})",
                    reason="UNKNOWN_COLUMN",
                    field_violations=[
                        FieldViolation("run.spec.target_column", f"unknown column {c!r}")
                        for c in missing
                    ],
                )
        return resolved, dataset.digest

    async def submit(
        self,
        run: run_pb2.Run,
        *,
        run_id: str = "",
        request_id: str = "",
        creator: str = "",
    ) -> run_pb2.Run:
        """Validate and queue a run (``SubmitRun``); idempotent on ``request_id``."""
        if request_id:
            async with self.db.transaction() as session:
                existing = await session.scalar(
                    select(RunRecord).where(RunRecord.request_id == request_id)
                )
                if existing is not None:
                    return convert.run_to_proto(existing)
        experiment_id = _experiment_id(run.experiment)
        if run_id and not _ID.match(run_id):
            raise InvalidArgument(
                f"run_id {run_id!r} must match [a-z][a-z0-9-]{{0,62}}",
                field_violations=[FieldViolation("run_id", "lowercase letters, digits, -")],
            )
        async with self.db.transaction() as session:
            await self._experiment(session, experiment_id)
        spec, digest = await self.prepare_spec(run.spec)
        try:
            async with self.db.transaction() as session:
                await self._experiment(session, experiment_id)
                record = await self.insert_run(
                    session,
                    run_id=run_id or _new_run_id(),
                    experiment=experiment_id,
                    display_name=run.display_name,
                    spec=spec,
                    dataset_digest=digest,
                    labels=dict(run.labels),
                    creator=creator,
                    request_id=request_id or None,
                )
        except AlreadyExists:
            if request_id:
                async with self.db.transaction() as session:
                    existing = await session.scalar(
                        select(RunRecord).where(RunRecord.request_id == request_id)
                    )
                    if existing is not None:
                        return convert.run_to_proto(existing)
            raise AlreadyExists(f"runs/{run_id} already exists") from None
        self.wakeup.set()
        return convert.run_to_proto(record)

    async def insert_run(
        self,
        session: AsyncSession,
        *,
        run_id: str,
        experiment: str,
        display_name: str,
        spec: run_pb2.RunSpec,
        dataset_digest: str,
        labels: Mapping[str, str],
        creator: str,
        request_id: str | None = None,
        cause: cause_pb2.TriggerCause | None = None,
        caused_by: Any = None,
    ) -> RunRecord:
        """Insert a QUEUED run (and its sweep trials) and emit ``training.run.queued``."""
        trigger_id = cause.trigger.removeprefix("triggers/") if cause and cause.trigger else None
        record = RunRecord(
            id=run_id,
            experiment=experiment,
            display_name=display_name,
            state=QUEUED,
            priority=spec.priority,
            spec=spec.SerializeToString(),
            dataset_digest=dataset_digest,
            labels=dict(labels),
            creator=creator,
            request_id=request_id,
            cause=cause.SerializeToString() if cause is not None else None,
            trigger=trigger_id,
            cause_event_id=cause.event_id if cause is not None and trigger_id else None,
            params=trainers.params_from_proto(spec.params),
            final_metrics={},
        )
        session.add(record)
        await session.flush()
        self._log_line(session, record.id, 0, "queued", stream=ts.LOG_STREAM_SYSTEM)
        await self._emit_queued(session, record, spec, cause, caused_by)
        if spec.HasField("sweep"):
            for index, params in enumerate(sample_trials(spec)):
                child_spec = run_pb2.RunSpec()
                child_spec.CopyFrom(spec)
                child_spec.ClearField("sweep")
                child_spec.registered_model = ""
                for key, value in trainers.params_to_proto(params).items():
                    child_spec.params[key].CopyFrom(value)
                child = RunRecord(
                    id=f"{run_id}-t{index}",
                    experiment=experiment,
                    display_name=f"{display_name or run_id} trial {index}",
                    state=QUEUED,
                    priority=spec.priority,
                    spec=child_spec.SerializeToString(),
                    dataset_digest=dataset_digest,
                    labels=dict(labels),
                    creator=creator,
                    parent_run=run_id,
                    trial_index=index,
                    cause=cause.SerializeToString() if cause is not None else None,
                    params=trainers.params_from_proto(child_spec.params),
                    final_metrics={},
                )
                session.add(child)
                await session.flush()
                await self._emit_queued(session, child, child_spec, cause, caused_by)
        return record

    async def _emit_queued(
        self,
        session: AsyncSession,
        record: RunRecord,
        spec: run_pb2.RunSpec,
        cause: cause_pb2.TriggerCause | None,
        caused_by: Any,
    ) -> None:
        payload = ev.TrainingRunQueued(
            run=f"runs/{record.id}",
            experiment=f"experiments/{record.experiment}",
            dataset_version=spec.dataset_version,
            priority=spec.priority,
            parent_run=f"runs/{record.parent_run}" if record.parent_run else "",
            registered_model=spec.registered_model,
        )
        if cause is not None:
            payload.cause.CopyFrom(cause)
        await self.outbox.emit(
            session,
            type="training.run.queued",
            subject_resource=f"runs/{record.id}",
            payload_message=payload,
            caused_by=caused_by,
        )

    # -- reads -----------------------------------------------------------------------

    async def _run(self, session: AsyncSession, run_id: str) -> RunRecord:
        record = await session.scalar(select(RunRecord).where(RunRecord.id == run_id))
        if record is None:
            raise NotFound(f"runs/{run_id} does not exist")
        return record

    async def get_run(self, name: str) -> run_pb2.Run:
        async with self.db.transaction() as session:
            return convert.run_to_proto(await self._run(session, _run_id(name)))

    async def search_runs(
        self,
        *,
        experiments: Sequence[str] = (),
        filter: str = "",
        order_by: str = "",
        page_size: int = 0,
        page_token: str = "",
    ) -> tuple[list[run_pb2.Run], str, int]:
        """Runs matching the filter language (see :mod:`.filters`), ordered, one page."""
        offset, size = _page(page_token, page_size)
        predicate = filters.parse_filter(filter)
        clauses = filters.parse_order_by(order_by, default="create_time desc")
        ids = [_experiment_id(e) for e in experiments]
        async with self.db.transaction() as session:
            query = select(RunRecord)
            if ids:
                query = query.where(RunRecord.experiment.in_(ids))
            records = list((await session.scalars(query)).all())
        rows = [(convert.filter_row(r), r) for r in records]
        matched = [(row, r) for row, r in rows if predicate(row)]
        matched.sort(key=lambda item: (filters.sort_key(clauses)(item[0]), -item[1].seq))
        page = [convert.run_to_proto(r) for _, r in matched[offset : offset + size]]
        token = str(offset + size) if offset + size < len(matched) else ""
        return page, token, len(matched)

    # -- cancel ----------------------------------------------------------------------

    async def cancel(self, name: str, *, reason: str = "", actor: str = "") -> run_pb2.Run:
        """Cancel a queued or running run and its trials; stop its Ray job."""
        run_id = _run_id(name)
        job_id = ""
        async with self.db.transaction() as session:
            record = await self._run(session, run_id)
            if record.state == CANCELLED:
                return convert.run_to_proto(record)
            if record.state in (SUCCEEDED, FAILED):
                raise FailedPrecondition(
                    f"runs/{run_id} already {run_pb2.RunState.Name(record.state)}",
                    reason="RUN_TERMINAL",
                )
            job_id = record.ray_job_id if record.state == RUNNING else ""
            why = reason or "cancelled by request"
            await self._finish(session, record, CANCELLED, reason=why, actor=actor or "user")
            for child in await self._children(session, run_id):
                if child.state in ACTIVE_STATES:
                    await self._finish(session, child, CANCELLED, reason=why, actor=actor or "user")
            proto = convert.run_to_proto(record)
        if job_id:
            try:
                await self.ray.stop(job_id)
            except GyreError as exc:
                _log.warning("stopping Ray job %s failed: %s", job_id, exc)
            task = asyncio.create_task(self._keep_logs_later(run_id, record.attempt_count, job_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self.wakeup.set()
        return proto

    async def _children(self, session: AsyncSession, run_id: str) -> list[RunRecord]:
        return list(
            (
                await session.scalars(
                    select(RunRecord)
                    .where(RunRecord.parent_run == run_id)
                    .order_by(RunRecord.trial_index)
                )
            ).all()
        )

    # -- terminal transitions --------------------------------------------------------

    async def _finish(
        self,
        session: AsyncSession,
        record: RunRecord,
        state: int,
        *,
        reason: str = "",
        actor: str = "",
        result: run_pb2.RunResult | None = None,
    ) -> None:
        now = _now()
        record.state = state
        record.end_time = now
        record.update_time = now
        if reason:
            record.failure_reason = reason
        if result is not None:
            record.result = result.SerializeToString()
            record.final_metrics = {m.name: m.value for m in result.final_metrics}
            if result.params:
                record.params = trainers.params_from_proto(result.params)
        cause = convert.run_cause(record)
        run_name = f"runs/{record.id}"
        experiment = f"experiments/{record.experiment}"
        parent = f"runs/{record.parent_run}" if record.parent_run else ""
        self._log_line(
            session,
            record.id,
            record.attempt_count,
            f"{run_pb2.RunState.Name(state).removeprefix('RUN_STATE_').lower()}"
            + (f": {reason}" if reason else ""),
            stream=ts.LOG_STREAM_SYSTEM,
        )
        if state == SUCCEEDED and result is not None:
            spec = convert.run_spec(record)
            payload = ev.TrainingRunSucceeded(
                run=run_name,
                experiment=experiment,
                registered_model=spec.registered_model,
                dataset_version=spec.dataset_version,
                dataset_digest=result.data_digest or record.dataset_digest,
                task=spec.task,
                target_column=spec.target_column,
                feature_columns=[i.name for i in result.signature.inputs]
                or list(spec.feature_columns),
                parent_run=parent,
            )
            payload.model_artifact.CopyFrom(result.model_artifact)
            payload.signature.CopyFrom(result.signature)
            for key, value in result.params.items():
                payload.params[key].CopyFrom(value)
            payload.metrics.extend(result.final_metrics)
            payload.cause.CopyFrom(cause)
            payload.code_version.CopyFrom(result.code_version)
            payload.resource_usage.CopyFrom(result.resource_usage)
            payload.end_time.FromDatetime(now)
            await self.outbox.emit(
                session,
                type="training.run.succeeded",
                subject_resource=run_name,
                payload_message=payload,
            )
        elif state == FAILED:
            await self.outbox.emit(
                session,
                type="training.run.failed",
                subject_resource=run_name,
                payload_message=ev.TrainingRunFailed(
                    run=run_name,
                    experiment=experiment,
                    reason=reason,
                    attempt_count=record.attempt_count,
                    cause=cause,
                    parent_run=parent,
                ),
            )
        elif state == CANCELLED:
            await self.outbox.emit(
                session,
                type="training.run.cancelled",
                subject_resource=run_name,
                payload_message=ev.TrainingRunCancelled(
                    run=run_name, experiment=experiment, reason=reason, actor=actor
                ),
            )

    # -- dispatch --------------------------------------------------------------------

    async def dispatch(self) -> None:
        """Start QUEUED top-level runs, highest priority first, within the limit."""
        while True:
            async with self.db.transaction() as session:
                running = await session.scalar(
                    select(func.count())
                    .select_from(RunRecord)
                    .where(RunRecord.state == RUNNING, RunRecord.parent_run.is_(None))
                )
                if int(running or 0) >= self.options.max_concurrent_runs:
                    return
                record = await session.scalar(
                    select(RunRecord)
                    .where(RunRecord.state == QUEUED, RunRecord.parent_run.is_(None))
                    .order_by(RunRecord.priority.desc(), RunRecord.seq)
                    .limit(1)
                )
                if record is None:
                    return
                claimed = await self._start_attempt(session, record, first=True)
            if claimed is not None:
                await self._submit(claimed)

    async def _start_attempt(
        self, session: AsyncSession, record: RunRecord, *, first: bool
    ) -> RunRecord | None:
        """Claim ``record`` for its next attempt (conditional update) and emit started."""
        attempt = record.attempt_count + 1
        job_id = f"gyre-{record.id}-a{attempt}"
        now = _now()
        expected_state = QUEUED if first else RUNNING
        values: dict[str, Any] = {
            "state": RUNNING,
            "attempt_count": attempt,
            "ray_job_id": job_id,
            "attempt_start_time": now,
            "update_time": now,
        }
        if first:
            values["start_time"] = now
        claimed = await session.execute(
            update(RunRecord)
            .where(
                RunRecord.id == record.id,
                RunRecord.state == expected_state,
                RunRecord.attempt_count == record.attempt_count,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        await session.refresh(record)
        self._log_line(
            session,
            record.id,
            attempt,
            f"attempt {attempt} submitted to Ray as {job_id}",
            stream=ts.LOG_STREAM_SYSTEM,
        )
        started = ev.TrainingRunStarted(
            run=f"runs/{record.id}",
            experiment=f"experiments/{record.experiment}",
            attempt=attempt,
            ray_job_id=job_id,
        )
        started.start_time.FromDatetime(now)
        await self.outbox.emit(
            session,
            type="training.run.started",
            subject_resource=f"runs/{record.id}",
            payload_message=started,
        )
        for child in await self._children(session, record.id):
            if child.state == QUEUED or (child.state == RUNNING and not first):
                child.state = RUNNING
                child.attempt_count = attempt
                child.ray_job_id = job_id
                child.start_time = child.start_time or now
                child.attempt_start_time = now
                child.update_time = now
                child_started = ev.TrainingRunStarted(
                    run=f"runs/{child.id}",
                    experiment=f"experiments/{child.experiment}",
                    attempt=attempt,
                    ray_job_id=job_id,
                )
                child_started.start_time.FromDatetime(now)
                await self.outbox.emit(
                    session,
                    type="training.run.started",
                    subject_resource=f"runs/{child.id}",
                    payload_message=child_started,
                )
        return record

    def _key(self, run_id: str, attempt: int, name: str) -> str:
        return f"{self.options.artifact_prefix}/runs/{run_id}/a{attempt}/{name}"

    async def job_spec(self, record: RunRecord) -> JobSpec:
        spec = convert.run_spec(record)
        attempt = record.attempt_count
        trials = []
        if spec.HasField("sweep"):
            async with self.db.transaction() as session:
                children = await self._children(session, record.id)
            for child in children:
                child_spec = convert.run_spec(child)
                trials.append(
                    {
                        "run": f"runs/{child.id}",
                        "params": trainers.params_from_proto(child_spec.params),
                        "outcome_key": self._key(child.id, attempt, "outcome.json"),
                        "artifact_prefix": self._key(child.id, attempt, ""),
                    }
                )
        code_key = ""
        if spec.trainer.WhichOneof("trainer") == "custom" and spec.trainer.custom.code.uri:
            code_key = _key_of(spec.trainer.custom.code.uri, self.store.bucket)
        return JobSpec(
            run=f"runs/{record.id}",
            attempt=attempt,
            spec=spec,
            params=trainers.params_from_proto(spec.params),
            dataset_digest=record.dataset_digest,
            outcome_key=self._key(record.id, attempt, "outcome.json"),
            artifact_prefix=self._key(record.id, attempt, ""),
            trials=trials,
            code_key=code_key,
        )

    def worker_env(self, job: JobSpec) -> dict[str, str]:
        """The environment of a worker: job, object store, peers (see :mod:`.worker`)."""
        from gyre.sdk.endpoints import DATA_REGISTRY, TRAINING

        s3 = self.settings.s3
        env = {
            JOB_ENV: job.to_json(),
            "GYRE_S3__ENDPOINT": s3.endpoint,
            "GYRE_S3__ACCESS_KEY": s3.access_key,
            "GYRE_S3__SECRET_KEY": s3.secret_key.get_secret_value(),
            "GYRE_S3__SECURE": "true" if s3.secure else "false",
            "GYRE_S3__REGION": s3.region,
            "GYRE_S3__BUCKET": s3.bucket,
            TRAINING.env_var: self.options.advertise_address or self.target,
            "PYTHONUNBUFFERED": "1",
        }
        data_address = self.data_client.address(DATA_REGISTRY)
        env[DATA_REGISTRY.env_var] = data_address
        return env

    async def _submit(self, record: RunRecord) -> None:
        """Submit the record's current attempt to Ray (idempotent: fixed submission id)."""
        spec = convert.run_spec(record)
        try:
            job = await self.job_spec(record)
            sweep = spec.HasField("sweep")
            await self.ray.submit(
                record.ray_job_id,
                entrypoint=f"{shlex.quote(self.options.worker_python)} -m "
                "gyre.services.training.worker",
                env_vars=self.worker_env(job),
                # A sweep's driver only coordinates; its trials ask for the resources.
                num_cpus=0.0 if sweep else (spec.resources.cpus or self.options.default_cpus),
                num_gpus=0.0 if sweep else spec.resources.gpus,
                memory_bytes=0 if sweep else spec.resources.memory_bytes,
                pip=list(spec.trainer.custom.pip_requirements) or None,
                metadata={"gyre_run": f"runs/{record.id}", "gyre_attempt": str(job.attempt)},
            )
        except Unavailable as exc:
            _log.warning("submitting %s to Ray failed, will retry: %s", record.ray_job_id, exc)
        except GyreError as exc:
            async with self.db.transaction() as session:
                current = await self._run(session, record.id)
                if current.state == RUNNING and current.ray_job_id == record.ray_job_id:
                    await self._fail_tree(session, current, f"Ray refused the run: {exc}")

    # -- reconciliation ----------------------------------------------------------------

    async def reconcile(self) -> None:
        """Bring every RUNNING top-level run in line with its Ray job."""
        async with self.db.transaction() as session:
            running = list(
                (
                    await session.scalars(
                        select(RunRecord).where(
                            RunRecord.state == RUNNING, RunRecord.parent_run.is_(None)
                        )
                    )
                ).all()
            )
        for record in running:
            try:
                await self._reconcile_one(record)
            except Unavailable as exc:
                _log.warning("reconciling runs/%s: %s", record.id, exc)
            except Exception:
                _log.exception("reconciling runs/%s failed", record.id)

    async def _reconcile_one(self, record: RunRecord) -> None:
        info = await self.ray.info(record.ray_job_id)
        if info is None:
            # Claimed but never submitted (a crash or an unreachable cluster in between).
            await self._submit(record)
            return
        if not info.terminal:
            spec = convert.run_spec(record)
            timeout = spec.timeout.ToTimedelta() if spec.HasField("timeout") else None
            started = record.attempt_start_time
            if timeout and timeout > timedelta(0) and started and _now() - started > timeout:
                await self.ray.stop(record.ray_job_id)
                await self._attempt_failed(
                    record,
                    f"attempt {record.attempt_count} timed out after {timeout}",
                    retryable=True,
                )
            return
        outcome = await self._read_outcome(record.id, record.attempt_count)
        await self._keep_logs(record.id, record.attempt_count, record.ray_job_id)
        if outcome is not None and outcome.status == "succeeded":
            await self._succeed_tree(record, outcome)
        elif outcome is not None:
            await self._attempt_failed(record, outcome.reason, retryable=outcome.retryable)
        else:
            await self._attempt_failed(
                record,
                f"Ray job {record.ray_job_id} ended {info.status}"
                + (f": {info.message}" if info.message else "")
                + " without reporting an outcome",
                retryable=True,
            )

    async def _read_outcome(self, run_id: str, attempt: int) -> Outcome | None:
        try:
            data = await self.store.get_bytes(self._key(run_id, attempt, "outcome.json"))
        except NotFound:
            return None
        try:
            return Outcome.from_json(data)
        except (ValueError, KeyError) as exc:
            return Outcome(status="failed", reason=f"unreadable outcome: {exc}", retryable=True)

    async def _succeed_tree(self, record: RunRecord, outcome: Outcome) -> None:
        children_outcomes: dict[str, Outcome | None] = {}
        async with self.db.transaction() as session:
            children = await self._children(session, record.id)
        for child in children:
            children_outcomes[child.id] = await self._read_outcome(child.id, record.attempt_count)
        async with self.db.transaction() as session:
            current = await self._run(session, record.id)
            if current.state != RUNNING or current.attempt_count != record.attempt_count:
                return
            await self._store_metrics(session, current.id, outcome.metrics)
            for child in await self._children(session, record.id):
                if child.state not in ACTIVE_STATES:
                    continue
                child_outcome = children_outcomes.get(child.id)
                if child_outcome is None:
                    await self._finish(session, child, FAILED, reason="the trial did not finish")
                elif child_outcome.status == "succeeded":
                    await self._store_metrics(session, child.id, child_outcome.metrics)
                    await self._finish(session, child, SUCCEEDED, result=child_outcome.result)
                else:
                    await self._store_metrics(session, child.id, child_outcome.metrics)
                    await self._finish(
                        session,
                        child,
                        FAILED,
                        reason=child_outcome.reason,
                        result=child_outcome.result,
                    )
            await self._finish(session, current, SUCCEEDED, result=outcome.result)
        self.wakeup.set()

    async def _attempt_failed(self, record: RunRecord, reason: str, *, retryable: bool) -> None:
        spec = convert.run_spec(record)
        resubmit: RunRecord | None = None
        async with self.db.transaction() as session:
            current = await self._run(session, record.id)
            if current.state != RUNNING or current.attempt_count != record.attempt_count:
                return
            outcome = await self._read_outcome(record.id, record.attempt_count)
            if outcome is not None:
                await self._store_metrics(session, current.id, outcome.metrics)
            if retryable and current.attempt_count <= spec.max_retries:
                self._log_line(
                    session,
                    current.id,
                    current.attempt_count,
                    f"attempt {current.attempt_count} failed, retrying: {reason}",
                    stream=ts.LOG_STREAM_SYSTEM,
                )
                resubmit = await self._start_attempt(session, current, first=False)
            else:
                partial = outcome.result if outcome is not None else None
                await self._fail_tree(session, current, reason, result=partial)
        if resubmit is not None:
            await self._submit(resubmit)
        self.wakeup.set()

    async def _fail_tree(
        self,
        session: AsyncSession,
        record: RunRecord,
        reason: str,
        *,
        result: run_pb2.RunResult | None = None,
    ) -> None:
        for child in await self._children(session, record.id):
            if child.state in ACTIVE_STATES:
                await self._finish(session, child, FAILED, reason=reason)
        await self._finish(session, record, FAILED, reason=reason, result=result)

    async def on_model_registered(self, event: Any, session: AsyncSession) -> None:
        """``models.version.registered``: record the model version a run's result became."""
        version = event.models_version_registered.model_version
        if not version.source_run.startswith("runs/"):
            return
        record = await session.scalar(
            select(RunRecord).where(RunRecord.id == version.source_run[5:])
        )
        if record is None or not record.result:
            return
        result = convert.run_result(record)
        if result.model_version == version.name:
            return
        result.model_version = version.name
        record.result = result.SerializeToString()
        record.update_time = _now()

    # -- metrics ---------------------------------------------------------------------

    async def _store_metrics(
        self, session: AsyncSession, run_id: str, metrics: Sequence[tuple[str, float, int, float]]
    ) -> None:
        """Backfill the metric history from an outcome (points streamed live are kept)."""
        if not metrics:
            return
        existing = {
            (name, step)
            for name, step in (
                await session.execute(
                    select(MetricRecord.name, MetricRecord.step).where(
                        MetricRecord.run_id == run_id
                    )
                )
            ).all()
        }
        for name, value, step, when in metrics:
            if (name, int(step)) in existing:
                continue
            existing.add((name, int(step)))
            session.add(
                MetricRecord(
                    run_id=run_id,
                    name=name,
                    step=int(step),
                    value=float(value),
                    time=datetime.fromtimestamp(float(when), UTC),
                )
            )

    async def log_metrics(self, name: str, metrics: Sequence[metric_pb2.Metric]) -> None:
        run_id = _run_id(name)
        if len(metrics) > MAX_METRICS_PER_CALL:
            raise InvalidArgument(f"at most {MAX_METRICS_PER_CALL} metrics per call")
        for metric in metrics:
            if not metric.name:
                raise InvalidArgument(
                    "metric name must not be empty",
                    field_violations=[FieldViolation("metrics.name", "required")],
                )
            if metric.value != metric.value or metric.value in (float("inf"), float("-inf")):
                raise InvalidArgument(
                    f"metric {metric.name} is not finite",
                    field_violations=[FieldViolation("metrics.value", "must be finite")],
                )
        async with self.db.transaction() as session:
            record = await self._run(session, run_id)
            if record.state in TERMINAL_STATES:
                raise FailedPrecondition(f"runs/{run_id} is finished", reason="RUN_TERMINAL")
            now = _now()
            for metric in metrics:
                when = metric.time.ToDatetime(UTC) if metric.HasField("time") else now
                existing = await session.scalar(
                    select(MetricRecord).where(
                        MetricRecord.run_id == run_id,
                        MetricRecord.name == metric.name,
                        MetricRecord.step == metric.step,
                    )
                )
                if existing is None:
                    session.add(
                        MetricRecord(
                            run_id=run_id,
                            name=metric.name,
                            step=metric.step,
                            value=metric.value,
                            time=when,
                        )
                    )
                    await session.flush()
                else:
                    existing.value = metric.value
                    existing.time = when

    async def metric_history(
        self, name: str, metric: str, *, page_size: int, page_token: str
    ) -> tuple[list[metric_pb2.Metric], str]:
        run_id = _run_id(name)
        if not metric:
            raise InvalidArgument(
                "metric is required", field_violations=[FieldViolation("metric", "required")]
            )
        offset, _ = _page(page_token, 0)
        size = min(page_size or 1000, 10_000)
        async with self.db.transaction() as session:
            await self._run(session, run_id)
            rows = list(
                (
                    await session.scalars(
                        select(MetricRecord)
                        .where(MetricRecord.run_id == run_id, MetricRecord.name == metric)
                        .order_by(MetricRecord.step, MetricRecord.time)
                        .offset(offset)
                        .limit(size + 1)
                    )
                ).all()
            )
        out = []
        for row in rows[:size]:
            item = metric_pb2.Metric(name=row.name, value=row.value, step=row.step)
            item.time.FromDatetime(row.time)
            out.append(item)
        return out, str(offset + size) if len(rows) > size else ""

    # -- logs ------------------------------------------------------------------------

    def _log_line(
        self, session: AsyncSession, run_id: str, attempt: int, text: str, *, stream: int
    ) -> None:
        session.add(RunLogRecord(run_id=run_id, attempt=attempt, stream=stream, text=text))

    async def _keep_logs(self, run_id: str, attempt: int, job_id: str) -> None:
        """Copy a finished attempt's Ray log into the database (once)."""
        try:
            text = await self.ray.logs(job_id)
        except GyreError:
            return
        async with self.db.transaction() as session:
            already = await session.scalar(
                select(func.count())
                .select_from(RunLogRecord)
                .where(
                    RunLogRecord.run_id == run_id,
                    RunLogRecord.attempt == attempt,
                    RunLogRecord.stream == ts.LOG_STREAM_STDOUT,
                )
            )
            if already:
                return
            lines = text.splitlines()[-self.options.max_log_lines :]
            for line in lines:
                session.add(
                    RunLogRecord(
                        run_id=run_id, attempt=attempt, stream=ts.LOG_STREAM_STDOUT, text=line
                    )
                )

    async def _keep_logs_later(self, run_id: str, attempt: int, job_id: str) -> None:
        for _ in range(20):
            info = await self.ray.info(job_id)
            if info is None or info.terminal:
                break
            await asyncio.sleep(0.5)
        with contextlib.suppress(Exception):
            await self._keep_logs(run_id, attempt, job_id)

    async def log_lines(self, name: str, *, attempt: int = 0) -> tuple[list[ts.LogLine], bool]:
        """Every log line of a run so far, in offset order, and whether it is terminal.

        Stored lines (scheduler lines and finished attempts' output) come first per
        attempt; a running attempt's live output is read from Ray.
        """
        run_id = _run_id(name)
        async with self.db.transaction() as session:
            record = await self._run(session, run_id)
            if record.parent_run:
                # Trials log inside their sweep's job.
                record = await self._run(session, record.parent_run)
            stored = list(
                (
                    await session.scalars(
                        select(RunLogRecord)
                        .where(RunLogRecord.run_id == record.id)
                        .order_by(RunLogRecord.attempt, RunLogRecord.id)
                    )
                ).all()
            )
            terminal = record.state in TERMINAL_STATES
            live_attempt = record.attempt_count if record.state == RUNNING else 0
            job_id = record.ray_job_id
        lines: list[ts.LogLine] = []
        by_attempt: dict[int, list[RunLogRecord]] = {}
        for row in stored:
            by_attempt.setdefault(row.attempt, []).append(row)
        live_text: list[str] = []
        if live_attempt and not any(
            r.stream == ts.LOG_STREAM_STDOUT for r in by_attempt.get(live_attempt, [])
        ):
            with contextlib.suppress(GyreError):
                live_text = (await self.ray.logs(job_id)).splitlines()
        attempts = sorted(set(by_attempt) | ({live_attempt} if live_attempt else set()))
        for number in attempts:
            for row in by_attempt.get(number, []):
                line = ts.LogLine(
                    offset=len(lines) + 1,
                    stream=row.stream,  # type: ignore[arg-type]
                    attempt=number,
                    text=row.text,
                )
                line.time.FromDatetime(row.time)
                lines.append(line)
            if number == live_attempt:
                for text in live_text:
                    lines.append(
                        ts.LogLine(
                            offset=len(lines) + 1,
                            stream=ts.LOG_STREAM_STDOUT,
                            attempt=number,
                            text=text,
                        )
                    )
        # Offsets (1-based) count every line, so that filtering by attempt keeps them
        # stable (the scheduler's queueing lines, attempt 0, go with every attempt).
        if attempt:
            lines = [line for line in lines if line.attempt in (0, attempt)]
        return lines, terminal

    async def stream_logs(
        self,
        name: str,
        *,
        follow: bool,
        start_offset: int,
        tail_lines: int,
        attempt: int,
    ) -> AsyncIterator[list[ts.LogLine]]:
        """Batches of log lines; with ``follow``, until the run is terminal.

        Offsets start at 1; ``start_offset`` resumes after that line (0: from the start).
        """
        lines, terminal = await self.log_lines(name, attempt=attempt)
        end = lines[-1].offset if lines else 0
        if start_offset and start_offset > end and terminal:
            raise OutOfRange(f"start_offset {start_offset} is beyond the log's {end} lines")
        if start_offset:
            position = start_offset
        elif tail_lines:
            position = lines[-tail_lines].offset - 1 if len(lines) >= tail_lines else 0
        else:
            position = 0
        while True:
            batch = [line for line in lines if line.offset > position]
            if batch:
                yield batch
                position = batch[-1].offset
            if terminal or not follow:
                return
            await asyncio.sleep(self.options.log_follow_interval_s)
            lines, terminal = await self.log_lines(name, attempt=attempt)

    # -- code upload -----------------------------------------------------------------

    async def code_upload_url(self, sha256: str, size_bytes: int) -> ts.CreateCodeUploadUrlResponse:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise InvalidArgument(
                "sha256 must be 64 lowercase hex characters",
                field_violations=[FieldViolation("sha256", "lowercase hex SHA-256")],
            )
        if size_bytes <= 0:
            raise InvalidArgument(
                "size_bytes must be positive",
                field_violations=[FieldViolation("size_bytes", "must be > 0")],
            )
        if size_bytes > self.options.max_code_bytes:
            from gyre.runtime.errors import ResourceExhausted

            raise ResourceExhausted(
                f"code archives are limited to {self.options.max_code_bytes} bytes"
            )
        key = f"{self.options.artifact_prefix}/code/{sha256}.zip"
        response = ts.CreateCodeUploadUrlResponse()
        response.code.uri = self.store.uri(key)
        response.code.sha256 = sha256
        response.code.size_bytes = size_bytes
        response.code.media_type = "application/zip"
        if await self.store.exists(key):
            response.already_exists = True
            return response
        response.upload_url.url = await self.store.presigned_put_url(key)
        response.upload_url.method = "PUT"
        response.upload_url.headers["Content-Length"] = str(size_bytes)
        return response

    async def check_code(self, spec: run_pb2.RunSpec) -> None:
        """A custom trainer's code must be uploaded and match its digest."""
        if spec.trainer.WhichOneof("trainer") != "custom" or not spec.trainer.custom.code.uri:
            return
        from gyre.runtime.errors import DataLoss

        code = spec.trainer.custom.code
        key = _key_of(code.uri, self.store.bucket)
        if not await self.store.exists(key):
            raise FailedPrecondition(
                f"the trainer code {code.uri} was not uploaded", reason="CODE_NOT_UPLOADED"
            )
        digest = await self.store.sha256_of(key)
        if code.sha256 and digest != code.sha256:
            raise DataLoss(f"the trainer code {code.uri} does not match its sha256")


def _key_of(uri: str, bucket: str) -> str:
    prefix = f"s3://{bucket}/"
    if not uri.startswith(prefix):
        raise InvalidArgument(
            f"code must live in this scheduler's bucket ({prefix}...), got {uri!r}",
            field_violations=[FieldViolation("run.spec.trainer.custom.code.uri", "foreign bucket")],
        )
    return uri[len(prefix) :]


def _new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def _estimator_problem(path: str) -> str:
    """Why ``path`` cannot be a built-in estimator here ("" when it can, or when its
    package is not installed on the scheduler: the cluster may have it)."""
    module_name = path.partition(":")[0] if ":" in path else path.rpartition(".")[0]
    if not module_name:
        return "expected an import path like sklearn.ensemble.RandomForestClassifier"
    top = module_name.split(".")[0]
    import importlib.util

    if importlib.util.find_spec(top) is None:
        return ""
    try:
        trainers.load_estimator_class(path)
    except trainers.TrainerError as exc:
        return str(exc)
    return ""


def _sweep_problems(sweep: run_pb2.SweepSpec) -> list[FieldViolation]:
    problems = []
    if not sweep.dimensions:
        problems.append(FieldViolation("run.spec.sweep.dimensions", "at least one dimension"))
    if sweep.num_trials < 0 or sweep.num_trials > MAX_SWEEP_TRIALS:
        problems.append(
            FieldViolation("run.spec.sweep.num_trials", f"between 1 and {MAX_SWEEP_TRIALS}")
        )
    if sweep.num_trials == 0 and sweep.algorithm != run_pb2.SEARCH_ALGORITHM_GRID:
        problems.append(FieldViolation("run.spec.sweep.num_trials", "required for random search"))
    if not sweep.metric:
        problems.append(FieldViolation("run.spec.sweep.metric", "required"))
    if sweep.mode == run_pb2.OPTIMIZATION_MODE_UNSPECIFIED:
        problems.append(FieldViolation("run.spec.sweep.mode", "MIN or MAX"))
    seen = set()
    for i, dim in enumerate(sweep.dimensions):
        where = f"run.spec.sweep.dimensions[{i}]"
        if not dim.param:
            problems.append(FieldViolation(f"{where}.param", "required"))
        if dim.param in seen:
            problems.append(FieldViolation(f"{where}.param", "swept twice"))
        seen.add(dim.param)
        domain = dim.WhichOneof("domain")
        if domain is None:
            problems.append(FieldViolation(where, "needs a domain"))
        elif domain == "choice" and not dim.choice.values:
            problems.append(FieldViolation(f"{where}.choice", "at least one value"))
        elif domain in ("uniform", "loguniform"):
            rng = getattr(dim, domain)
            if not rng.min < rng.max:
                problems.append(FieldViolation(f"{where}.{domain}", "min < max"))
            if domain == "loguniform" and rng.min <= 0:
                problems.append(FieldViolation(f"{where}.loguniform", "min > 0"))
        elif domain == "int_range" and (
            dim.int_range.min > dim.int_range.max or dim.int_range.step < 0
        ):
            problems.append(FieldViolation(f"{where}.int_range", "min <= max, step >= 0"))
        if sweep.algorithm == run_pb2.SEARCH_ALGORITHM_GRID and domain not in (
            "choice",
            "int_range",
        ):
            problems.append(FieldViolation(where, "grid search needs choice or int_range"))
    return problems


def sample_trials(spec: run_pb2.RunSpec) -> list[dict[str, Any]]:
    """The params of each trial of the spec's sweep, deterministic in the spec's seed.

    Random search draws ``num_trials`` points (uniform, log-uniform, integer steps,
    choices); grid search enumerates every combination (the first ``num_trials`` of
    them when set).
    """
    import math

    sweep = spec.sweep
    rng = random.Random(spec.seed)
    if sweep.algorithm == run_pb2.SEARCH_ALGORITHM_GRID:
        axes = []
        for dim in sweep.dimensions:
            if dim.WhichOneof("domain") == "choice":
                axes.append([trainers.params_from_proto({"v": v})["v"] for v in dim.choice.values])
            else:
                step = dim.int_range.step or 1
                axes.append(list(range(dim.int_range.min, dim.int_range.max + 1, step)))
        points = [
            {dim.param: value for dim, value in zip(sweep.dimensions, combo, strict=True)}
            for combo in product(*axes)
        ]
        return points[: sweep.num_trials] if sweep.num_trials else points
    trials = []
    for _ in range(sweep.num_trials):
        point: dict[str, Any] = {}
        for dim in sweep.dimensions:
            domain = dim.WhichOneof("domain")
            if domain == "choice":
                value = rng.choice(list(dim.choice.values))
                point[dim.param] = trainers.params_from_proto({"v": value})["v"]
            elif domain == "uniform":
                point[dim.param] = rng.uniform(dim.uniform.min, dim.uniform.max)
            elif domain == "loguniform":
                low, high = math.log(dim.loguniform.min), math.log(dim.loguniform.max)
                point[dim.param] = math.exp(rng.uniform(low, high))
            elif domain == "int_range":
                step = dim.int_range.step or 1
                count = (dim.int_range.max - dim.int_range.min) // step
                point[dim.param] = dim.int_range.min + step * rng.randint(0, count)
        trials.append(point)
    return trials


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
