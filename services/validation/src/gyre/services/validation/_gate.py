"""The validation gate's domain logic: policies, validations, the worker that
evaluates them, and the ``validation.completed`` event.

A validation is requested (``ValidateModelVersion`` or ``models.version.registered``)
as a PENDING row; a worker claims it (a lease renewed while it runs, so a crashed
worker's validation is taken over), evaluates it in a thread (ONNX Runtime and
scikit-learn are CPU-bound), stores the Markdown report in the object store, and
completes the row and writes the event in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from google.protobuf.message import Message
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.common.v1 import artifact_pb2, metric_pb2, split_pb2
from gyre.data.v1 import dataset_pb2
from gyre.events.v1 import validation_events_pb2
from gyre.models.v1 import model_version_pb2
from gyre.runtime.db import Database, utcnow
from gyre.runtime.errors import (
    Aborted,
    AlreadyExists,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    GyreError,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from gyre.runtime.events import Outbox
from gyre.runtime.objectstore import ObjectStore
from gyre.services.validation import _policy, _report, _store
from gyre.services.validation._evaluation import (
    EvaluationCancelled,
    EvaluationError,
    EvaluationInputs,
    EvaluationResult,
    LatencySettings,
    error_result,
    evaluate,
)
from gyre.services.validation._onnx import ArtifactError, LoadedModel, load_model
from gyre.services.validation._peers import Peers
from gyre.services.validation._tables import PolicyRecord, ValidationRecord
from gyre.validation.v1 import validation_pb2 as v_pb2
from gyre.validation.v1 import validation_policy_pb2 as policy_pb2
from gyre.validation.v1 import validation_service_pb2 as service_pb2

__all__ = ["CONSUMER_NAME", "GateSettings", "ValidationGate", "validation_name"]

_log = logging.getLogger(__name__)

# Prometheus metrics (the default registry, served on the server's metrics port).
VALIDATIONS_COMPLETED: Final = Counter(
    "gyre_validations_completed_total", "Validations completed, by verdict.", ("verdict",)
)
VALIDATION_SECONDS: Final = Histogram(
    "gyre_validation_duration_seconds",
    "Time from claim to verdict of a validation.",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)

# Durable consumer of models.version.registered.
CONSUMER_NAME: Final = "validation-gate"
REGISTERED_EVENT: Final = "models.version.registered"
COMPLETED_EVENT: Final = "validation.completed"
MANUAL_CAUSE: Final = "manual"
REPORT_MEDIA_TYPE: Final = "text/markdown"
# Seconds before a validation deferred by a transient failure is retried (times its
# attempts so far).
_RETRY_DELAY_S: Final = 5.0
# Seconds between looks at a dataset version that is still being profiled (a validation
# waits for it up to evaluation_timeout_s from its creation).
_NOT_READY_DELAY_S: Final = 2.0
_MODEL_VERSION_NAME: Final = r"^models/[a-z0-9][a-z0-9-]{0,62}/versions/[0-9]+$"


class GateSettings(BaseModel, extra="forbid"):
    """Tuning of the gate's worker (``GYRE_GATE__...``)."""

    # Validations evaluated at the same time by this process.
    workers: int = Field(default=1, ge=1)
    # Seconds between checks for validations other processes requested (in-process
    # requests wake the worker at once).
    poll_interval_s: float = Field(default=1.0, gt=0)
    # Seconds a worker's claim holds without renewal (it renews every third of it).
    lease_s: float = Field(default=60.0, gt=0)
    # Longest evaluation; past it the validation completes with verdict ERROR.
    evaluation_timeout_s: float = Field(default=900.0, gt=0)
    # Claims of one validation (crashes, lost leases) before it completes as ERROR.
    max_attempts: int = Field(default=3, ge=1)
    # Rows scored per ONNX Runtime call (bounds memory).
    batch_rows: int = Field(default=8192, ge=1)
    # ONNX Runtime intra-op threads for scoring and latency measurement.
    onnx_threads: int = Field(default=1, ge=1)
    # Latency measurement: timed single-row and batch calls.
    latency_single_row_runs: int = Field(default=200, ge=1)
    latency_batch_runs: int = Field(default=20, ge=1)


def validation_name(validation_id: str) -> str:
    return f"validations/{validation_id}"


def _validation_id(name: str) -> str:
    prefix = "validations/"
    ident = name[len(prefix) :] if name.startswith(prefix) else ""
    if not ident or "/" in ident or len(ident) > 64:
        raise InvalidArgument(
            f"validation name {name!r} must be 'validations/{{validation}}'",
            reason="INVALID_VALIDATION_NAME",
            field_violations=[FieldViolation("name", "malformed")],
        )
    return ident


def _model_of(version: str) -> str:
    return "/".join(version.split("/")[:2])


def _resource(record: ValidationRecord) -> v_pb2.Validation:
    validation = v_pb2.Validation()
    validation.ParseFromString(record.resource)
    # The state column is the truth (claims are taken and released in bulk).
    validation.state = record.state  # type: ignore[assignment]
    return validation


@dataclass
class _Outcome:
    result: EvaluationResult
    champion_version: str = ""
    dataset_version: str = ""
    split: int = int(split_pb2.SPLIT_TEST)
    extras: dict[str, Any] = field(default_factory=dict)


class ValidationGate:
    """Policies and validations over the service database, the outbox, the object
    store and the registries."""

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        store: ObjectStore,
        peers: Peers,
        settings: GateSettings | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.store = store
        self.peers = peers
        self.settings = settings or GateSettings()
        self.owner = uuid.uuid4().hex
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ policies

    async def get_policy(self, name: str) -> tuple[policy_pb2.ValidationPolicy, bool]:
        """The policy in force under ``name`` and whether it is the default one.

        Raises:
            InvalidArgument: malformed name. NotFound: the model does not exist.
        """
        model = _policy.parse_policy_name(name)
        if model is not None:
            await asyncio.to_thread(self.peers.check_registered_model, model)
        async with self.db.transaction() as session:
            policy, is_default = await self._policy_in_force(session, name)
        policy.name = name
        return policy, is_default

    async def _policy_in_force(
        self, session: AsyncSession, name: str
    ) -> tuple[policy_pb2.ValidationPolicy, bool]:
        record = await _store.get_policy(session, name)
        if record is not None:
            return _policy_of(record), name == _policy.DEFAULT_POLICY_NAME
        default = await _store.get_policy(session, _policy.DEFAULT_POLICY_NAME)
        policy = _policy_of(default) if default is not None else _builtin_default()
        return policy, True

    async def update_policy(
        self,
        update: policy_pb2.ValidationPolicy,
        paths: Sequence[str],
        *,
        allow_missing: bool,
    ) -> policy_pb2.ValidationPolicy:
        """Update (or create) a model's policy or the default policy.

        Raises:
            InvalidArgument: malformed name, mask or rule. NotFound: the model does not
            exist, or its policy does not and ``allow_missing`` is false. Aborted: etag
            mismatch.
        """
        name = update.name
        if not name:
            raise InvalidArgument(
                "validation_policy.name is required",
                reason="MISSING_POLICY_NAME",
                field_violations=[FieldViolation("validation_policy.name", "required")],
            )
        model = _policy.parse_policy_name(name)
        if model is not None:
            await asyncio.to_thread(self.peers.check_registered_model, model)

        async def work(session: AsyncSession) -> policy_pb2.ValidationPolicy:
            record = await _store.get_policy(session, name, for_update=True)
            if record is None:
                if model is not None and not allow_missing:
                    raise NotFound(
                        f"{model} has no policy of its own; set allow_missing to create it",
                        reason="POLICY_NOT_FOUND",
                        metadata={"name": name},
                    )
                current, _ = await self._policy_in_force(session, name)
            else:
                current = _policy_of(record)
            if update.etag and update.etag != current.etag:
                raise Aborted(
                    f"the policy changed since it was read (etag {update.etag} != {current.etag})",
                    reason="ETAG_MISMATCH",
                    metadata={"name": name},
                )
            merged = _policy.check_policy(_policy.apply_update(current, update, paths))
            now = utcnow()
            merged.name = name
            merged.ClearField("etag")
            merged.ClearField("update_time")
            etag = uuid.uuid4().hex
            body = merged.SerializeToString(deterministic=True)
            if record is None:
                session.add(
                    PolicyRecord(
                        name=name, policy=body, etag=etag, update_time=now, create_time=now
                    )
                )
            else:
                record.policy = body
                record.etag = etag
                record.update_time = now
            merged.etag = etag
            merged.update_time.FromDatetime(now)
            return merged

        try:
            return await self.db.run(work)
        except AlreadyExists as exc:  # two requests created the same policy at once
            raise Aborted(
                f"{name} was created concurrently; read it and retry",
                reason="CONCURRENT_UPDATE",
                metadata={"name": name},
            ) from exc

    async def resolve_policy(self, model: str) -> policy_pb2.ValidationPolicy:
        """The policy a validation of a version of ``model`` applies (a snapshot)."""
        name = _policy.policy_name_of_model(model)
        async with self.db.transaction() as session:
            policy, is_default = await self._policy_in_force(session, name)
        policy.name = _policy.DEFAULT_POLICY_NAME if is_default else name
        return policy

    # ------------------------------------------------------------------ requests

    async def request_validation(
        self,
        model_version: str,
        *,
        dataset_version: str = "",
        request_id: str = "",
        creator: str = "",
    ) -> v_pb2.Validation:
        """Start a validation (PENDING); idempotent on ``request_id``.

        Raises:
            InvalidArgument: malformed names. NotFound: the version or the dataset
            version does not exist. FailedPrecondition: the version is ARCHIVED or the
            dataset version has no rows in the split to evaluate on.
        """
        if not re.match(_MODEL_VERSION_NAME, model_version):
            raise InvalidArgument(
                f"model_version {model_version!r} must be 'models/{{model}}/versions/{{version}}'",
                reason="INVALID_MODEL_VERSION_NAME",
                field_violations=[FieldViolation("model_version", "malformed")],
            )
        if len(request_id) > 64:
            raise InvalidArgument(
                "request_id is longer than 64 characters",
                reason="INVALID_REQUEST_ID",
                field_violations=[FieldViolation("request_id", "too long")],
            )
        if request_id:
            async with self.db.transaction() as session:
                existing = await _store.find_by(session, request_id=request_id)
            if existing is not None:
                return self._checked_replay(existing, model_version)
        version = await asyncio.to_thread(self.peers.get_model_version, model_version)
        if version.status == model_version_pb2.MODEL_VERSION_STATUS_ARCHIVED:
            raise FailedPrecondition(
                f"{model_version} is archived; restore it to validate it",
                reason="MODEL_VERSION_ARCHIVED",
                metadata={"model_version": model_version},
            )
        policy = await self.resolve_policy(_model_of(model_version))
        target = dataset_version or policy.holdout_dataset_version or version.dataset_version
        if target:
            dv = await asyncio.to_thread(self.peers.get_dataset_version, target)
            split = policy.split or split_pb2.SPLIT_TEST
            if dv.state == dataset_pb2.DATASET_VERSION_STATE_READY and not _split_rows(dv, split):
                raise FailedPrecondition(
                    f"{dv.name} has no {_split_label(split)} split rows to evaluate on",
                    reason="NO_USABLE_SPLIT",
                    metadata={"dataset_version": dv.name, "split": _split_label(split)},
                )
        try:
            return await self._create(
                version,
                cause=MANUAL_CAUSE,
                creator=creator,
                request_id=request_id or None,
                requested_dataset_version=dataset_version,
            )
        except AlreadyExists:
            # A concurrent request with the same request_id won the race.
            async with self.db.transaction() as session:
                existing = await _store.find_by(session, request_id=request_id)
            if existing is None:
                raise
            return self._checked_replay(existing, model_version)

    @staticmethod
    def _checked_replay(existing: ValidationRecord, model_version: str) -> v_pb2.Validation:
        if existing.model_version != model_version:
            raise AlreadyExists(
                f"request_id was already used for {existing.model_version}",
                reason="REQUEST_ID_REUSED",
                metadata={"validation": validation_name(existing.id)},
            )
        return _resource(existing)

    async def _create(
        self,
        version: model_version_pb2.ModelVersion,
        *,
        cause: str,
        creator: str,
        request_id: str | None = None,
        requested_dataset_version: str = "",
        session: AsyncSession | None = None,
        trigger_event_id: str | None = None,
        correlation_id: str = "",
    ) -> v_pb2.Validation:
        ident = uuid.uuid4().hex
        now = utcnow()
        validation = v_pb2.Validation(
            name=validation_name(ident),
            model_version=version.name,
            state=v_pb2.VALIDATION_STATE_PENDING,
            cause=cause,
            creator=creator,
        )
        validation.create_time.FromDatetime(now)
        record = ValidationRecord(
            id=ident,
            model_version=version.name,
            registered_model=_model_of(version.name),
            champion_version="",
            dataset_version="",
            state=int(v_pb2.VALIDATION_STATE_PENDING),
            verdict=0,
            cause=cause,
            creator=creator,
            trigger_event_id=trigger_event_id,
            auto_model_version=version.name if trigger_event_id else None,
            correlation_id=correlation_id,
            request_id=request_id,
            requested_dataset_version=requested_dataset_version,
            create_time=now,
            attempts=0,
            resource=validation.SerializeToString(),
            model_version_snapshot=version.SerializeToString(),
            extras={},
        )
        if session is not None:
            session.add(record)
            await session.flush()
        else:
            async with self.db.transaction() as own:
                own.add(record)
        self.wake()
        return validation

    async def on_version_registered(self, event: Message, session: AsyncSession) -> None:
        """Consumer handler of ``models.version.registered``: request one automatic
        validation per version (a redelivered event, or a second event about the
        same version, adds nothing)."""
        payload = getattr(event, "models_version_registered")  # noqa: B009
        version: model_version_pb2.ModelVersion = payload.model_version
        event_id = str(getattr(event, "id"))  # noqa: B009
        if not version.name:
            _log.warning("models.version.registered %s without a version name; ignored", event_id)
            return
        if await _store.find_by(session, trigger_event_id=event_id) is not None:
            return
        if await _store.find_by(session, auto_model_version=version.name) is not None:
            _log.info(
                "%s already has an automatic validation; event %s ignored", version.name, event_id
            )
            return
        await self._create(
            version,
            cause=event_id,
            creator="validation-gate",
            session=session,
            trigger_event_id=event_id,
            correlation_id=str(getattr(event, "correlation_id", "") or event_id),
        )

    # ------------------------------------------------------------------ queries

    async def get_validation(self, name: str) -> v_pb2.Validation:
        ident = _validation_id(name)
        async with self.db.transaction() as session:
            record = await _store.get_validation(session, ident)
        if record is None:
            raise NotFound(
                f"{name} does not exist", reason="VALIDATION_NOT_FOUND", metadata={"name": name}
            )
        return _resource(record)

    async def list_validations(
        self, request: service_pb2.ListValidationsRequest
    ) -> tuple[list[v_pb2.Validation], str]:
        query = _store.parse_list_query(
            filter=request.filter,
            order_by=request.order_by,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        async with self.db.transaction() as session:
            rows, token = await _store.list_validations(session, query)
        return [_resource(row) for row in rows], token

    async def get_report(
        self, name: str, report_format: int
    ) -> tuple[str, str, artifact_pb2.ArtifactRef]:
        """(content, media type, stored report ref) of a completed validation."""
        ident = _validation_id(name)
        async with self.db.transaction() as session:
            record = await _store.get_validation(session, ident)
        if record is None:
            raise NotFound(
                f"{name} does not exist", reason="VALIDATION_NOT_FOUND", metadata={"name": name}
            )
        validation = _resource(record)
        if validation.state != v_pb2.VALIDATION_STATE_COMPLETED:
            raise FailedPrecondition(
                f"{name} is not completed yet",
                reason="VALIDATION_NOT_COMPLETED",
                metadata={"name": name, "state": v_pb2.ValidationState.Name(validation.state)},
            )
        extras = record.extras or {}
        if report_format == service_pb2.REPORT_FORMAT_HTML:
            return _report.render_html(validation, extras), "text/html", validation.report
        if report_format == service_pb2.REPORT_FORMAT_JSON:
            return _report.render_json(validation), "application/json", validation.report
        if report_format not in (
            service_pb2.REPORT_FORMAT_UNSPECIFIED,
            service_pb2.REPORT_FORMAT_MARKDOWN,
        ):
            raise InvalidArgument(
                f"unknown report format {report_format}",
                reason="INVALID_REPORT_FORMAT",
                field_violations=[FieldViolation("format", "unknown")],
            )
        content = (
            await self._stored_report(validation)
            or record.report_markdown
            or _report.render_markdown(validation, extras)
        )
        return content, REPORT_MEDIA_TYPE, validation.report

    async def _stored_report(self, validation: v_pb2.Validation) -> str | None:
        if not validation.report.uri:
            return None
        key = validation.report.uri.split("/", 3)[-1]
        try:
            data = await self.store.get_bytes(key)
        except GyreError as exc:
            _log.warning("report %s unreadable (%s); serving the database copy", key, exc)
            return None
        if hashlib.sha256(data).hexdigest() != validation.report.sha256:
            _log.warning("report %s does not match its sha256; serving the database copy", key)
            return None
        return data.decode()

    # ------------------------------------------------------------------ worker

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        """Start the worker tasks."""
        self._stopping.clear()
        for i in range(self.settings.workers):
            self._tasks.append(
                asyncio.create_task(self._worker_loop(), name=f"validation-worker-{i}")
            )

    async def stop(self) -> None:
        """Stop the workers; a validation in progress goes back to PENDING (its claim is
        released) for the next worker, here or in another process."""
        self._stopping.set()
        self._wakeup.set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # Hand back what this process was evaluating, so that a restart (or another
        # replica) resumes it at once instead of waiting for the lease to expire.
        try:
            released = await self.db.run(self._release_claims)
        except Exception:
            _log.exception("could not release the claims of this worker")
        else:
            if released:
                _log.info("released %d validation(s) in progress for another worker", released)

    async def _release_claims(self, session: AsyncSession) -> int:
        return await _store.release_claims(session, owner=self.owner)

    async def _worker_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = await self.run_next()
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("validation worker failed; retrying")
                worked = False
            if worked:
                continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.settings.poll_interval_s)

    async def run_next(self) -> bool:
        """Claim and evaluate one validation; False when there was none to claim."""
        lease = timedelta(seconds=self.settings.lease_s)

        async def claim(session: AsyncSession) -> ValidationRecord | None:
            return await _store.claim_next(session, owner=self.owner, lease=lease)

        record = await self.db.run(claim)
        if record is None:
            return False
        await self._run(record)
        return True

    async def _run(self, record: ValidationRecord) -> None:
        started = time.monotonic()
        start_time = utcnow()
        validation = _resource(record)
        if record.attempts > self.settings.max_attempts:
            outcome = _Outcome(
                error_result(
                    EvaluationError(
                        f"the evaluation was started {record.attempts - 1} times without "
                        "finishing (worker crashes or lost leases); giving up",
                        name="evaluation",
                    )
                )
            )
            await self._complete(
                record.id, validation, outcome, start_time, time.monotonic() - started
            )
            return
        await self._mark_running(record.id, validation, start_time)
        heartbeat = asyncio.create_task(self._heartbeat(record.id))
        cancel = _CancelFlag()
        try:
            version = model_version_pb2.ModelVersion()
            if record.model_version_snapshot:
                version.ParseFromString(record.model_version_snapshot)
            else:
                version = await asyncio.to_thread(
                    self.peers.get_model_version, record.model_version
                )
            policy = await self.resolve_policy(record.registered_model)
            validation.policy.CopyFrom(policy)
            try:
                outcome = await asyncio.wait_for(
                    asyncio.to_thread(
                        self._evaluate, version, policy, record.requested_dataset_version, cancel
                    ),
                    timeout=self.settings.evaluation_timeout_s,
                )
            except TimeoutError:
                cancel.set()
                outcome = _Outcome(
                    error_result(
                        EvaluationError(
                            "the evaluation did not finish within "
                            f"{self.settings.evaluation_timeout_s:g} s",
                            name="evaluation",
                        )
                    )
                )
        except asyncio.CancelledError:
            cancel.set()
            raise
        except _DataNotReady as exc:
            waited = (utcnow() - record.create_time).total_seconds()
            if waited < self.settings.evaluation_timeout_s:
                heartbeat.cancel()
                await self._defer(
                    record.id,
                    str(exc),
                    delay=timedelta(seconds=_NOT_READY_DELAY_S),
                    count_attempt=False,
                )
                return
            outcome = _Outcome(
                error_result(EvaluationError(f"{exc} after {waited:.0f} s", name="data"))
            )
        except (Unavailable, DeadlineExceeded) as exc:
            if record.attempts < self.settings.max_attempts:
                heartbeat.cancel()
                await self._defer(
                    record.id,
                    exc.message,
                    delay=timedelta(seconds=_RETRY_DELAY_S * record.attempts),
                    count_attempt=True,
                )
                return
            outcome = _Outcome(
                error_result(
                    EvaluationError(
                        f"a registry stayed unreachable over {record.attempts} attempts: "
                        f"{exc.message}",
                        name="evaluation",
                    )
                )
            )
        except GyreError as exc:
            outcome = _Outcome(error_result(EvaluationError(f"{exc.message}", name="evaluation")))
        except Exception as exc:
            _log.exception("validation %s failed unexpectedly", record.id)
            outcome = _Outcome(
                error_result(
                    EvaluationError(
                        f"internal error: {type(exc).__name__}: {exc}", name="evaluation"
                    )
                )
            )
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await heartbeat
        await self._complete(record.id, validation, outcome, start_time, time.monotonic() - started)

    async def _defer(
        self, ident: str, reason: str, *, delay: timedelta, count_attempt: bool
    ) -> None:
        """Put a validation back to PENDING, to be claimed again after ``delay``
        (a transient failure counts as an attempt; data still being profiled does not)."""

        async def work(session: AsyncSession) -> None:
            record = await _store.get_validation(session, ident)
            if record is None or record.lease_owner != self.owner:
                return
            record.state = _store.PENDING
            record.lease_owner = None
            record.lease_until = utcnow() + delay
            if not count_attempt:
                record.attempts -= 1
            validation = _resource(record)
            record.resource = validation.SerializeToString()

        _log.warning("validation %s deferred by %s: %s", ident, delay, reason)
        await self.db.run(work)

    async def _mark_running(
        self, ident: str, validation: v_pb2.Validation, start_time: Any
    ) -> None:
        validation.state = v_pb2.VALIDATION_STATE_RUNNING
        validation.start_time.FromDatetime(start_time)

        async def work(session: AsyncSession) -> None:
            record = await _store.get_validation(session, ident)
            if record is not None and record.lease_owner == self.owner:
                record.start_time = start_time
                record.resource = validation.SerializeToString()

        await self.db.run(work)

    async def _heartbeat(self, ident: str) -> None:
        lease = timedelta(seconds=self.settings.lease_s)
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)

            async def renew(session: AsyncSession) -> bool:
                return await _store.renew_lease(session, ident, owner=self.owner, lease=lease)

            try:
                if not await self.db.run(renew):
                    _log.warning("lost the claim on validation %s", ident)
                    return
            except Exception:
                _log.exception("could not renew the claim on validation %s", ident)

    # The evaluation proper, in a worker thread (blocking calls only).
    def _evaluate(
        self,
        version: model_version_pb2.ModelVersion,
        policy: policy_pb2.ValidationPolicy,
        requested_dataset_version: str,
        cancel: _CancelFlag,
    ) -> _Outcome:
        peers = self.peers
        model = _model_of(version.name)
        split = int(policy.split or split_pb2.SPLIT_TEST)
        outcome = _Outcome(EvaluationResult(checks=[]), split=split)
        # Champion.
        champion_version: model_version_pb2.ModelVersion | None = None
        no_champion_reason = ""
        alias = policy.champion_alias or _policy.DEFAULT_CHAMPION_ALIAS
        champion_version = peers.resolve_alias(model, alias)
        if champion_version is None:
            no_champion_reason = f"no champion yet: {model} has no '{alias}' alias"
        elif champion_version.name == version.name:
            no_champion_reason = f"the candidate is the current '{alias}'"
            champion_version = None
        outcome.champion_version = champion_version.name if champion_version else ""
        try:
            # Data.
            target = (
                requested_dataset_version
                or policy.holdout_dataset_version
                or version.dataset_version
            )
            if not target:
                raise EvaluationError(
                    "the model version names no dataset version and the policy no hold-out "
                    "dataset version: nothing to evaluate on",
                    name="data",
                )
            try:
                dv = peers.get_dataset_version(target)
            except NotFound as exc:
                raise EvaluationError(
                    f"dataset version {target} does not exist", name="data"
                ) from exc
            outcome.dataset_version = dv.name
            if dv.state == dataset_pb2.DATASET_VERSION_STATE_PROFILING:
                raise _DataNotReady(f"dataset version {dv.name} is still being profiled and split")
            if dv.state != dataset_pb2.DATASET_VERSION_STATE_READY:
                state = dataset_pb2.DatasetVersionState.Name(dv.state).removeprefix(
                    "DATASET_VERSION_STATE_"
                )
                raise EvaluationError(
                    f"dataset version {dv.name} is {state}, not READY: its splits are not available"
                    + (f" ({dv.state_message})" if dv.state_message else ""),
                    name="data",
                )
            if not _split_rows(dv, split):
                raise EvaluationError(
                    f"dataset version {dv.name} has no {_split_label(split)} split", name="data"
                )
            if not dv.target_column:
                raise EvaluationError(
                    f"dataset version {dv.name} has no target column to evaluate against",
                    name="data",
                )
            columns = [c.name for c in dv.schema.columns]
            # Candidate.
            try:
                data = peers.download_artifact(version)
            except DataLoss as exc:
                raise EvaluationError(f"the artifact is corrupt: {exc.message}") from exc
            try:
                candidate = load_model(
                    data, signature=version.signature, threads=self.settings.onnx_threads
                )
            except ArtifactError as exc:
                raise EvaluationError(str(exc)) from exc
            missing = [name for name in candidate.input_names if name not in columns]
            if missing:
                raise EvaluationError(
                    "the signature does not match the data's columns: input(s) "
                    f"{', '.join(repr(m) for m in missing)} are not columns of {dv.name} "
                    f"(columns: {', '.join(columns)})"
                )
            if dv.target_column in candidate.input_names:
                raise EvaluationError(
                    f"the target column {dv.target_column!r} is an input of the model"
                )
            # Champion model.
            champion: LoadedModel | None = None
            champion_error = ""
            if champion_version is not None:
                try:
                    champion = load_model(
                        peers.download_artifact(champion_version),
                        signature=champion_version.signature,
                        threads=self.settings.onnx_threads,
                    )
                    missing = [n for n in champion.input_names if n not in columns]
                    if missing:
                        champion_error = (
                            f"the champion {champion_version.name} cannot be scored on "
                            f"{dv.name}: input(s) {', '.join(missing)} are not columns of it"
                        )
                        champion = None
                except (Unavailable, DeadlineExceeded):
                    raise
                except (ArtifactError, GyreError) as exc:
                    champion_error = f"the champion {champion_version.name} cannot be loaded: {exc}"
            # Training rows (leakage check).
            training_keys = None
            leakage_skip = ""
            source = ""
            if policy.leakage_check_enabled:
                if not version.dataset_version:
                    leakage_skip = "the model version names no training dataset version"
                else:
                    source = f"the train split of {version.dataset_version}"
                    try:
                        training_keys = peers.split_keys(
                            version.dataset_version, int(split_pb2.SPLIT_TRAIN)
                        )
                    except (Unavailable, DeadlineExceeded):
                        raise
                    except GyreError as exc:
                        raise EvaluationError(
                            "cannot read the training rows' keys of "
                            f"{version.dataset_version}: {exc.message}",
                            kind=v_pb2.CHECK_KIND_LEAKAGE,
                            name="leakage",
                        ) from exc
            needed = list(candidate.input_names)
            if champion is not None:
                needed += champion.input_names
            needed.append(dv.target_column)
            needed += [rule.column for rule in policy.slice_rules if rule.column in columns]
            needed = list(dict.fromkeys(needed))
            inputs = EvaluationInputs(
                policy=policy,
                target_column=dv.target_column,
                candidate_signature=version.signature,
                champion_version=champion_version.name if champion_version else "",
                champion_signature=champion_version.signature if champion_version else None,
                no_champion_reason=no_champion_reason,
                champion_error=champion_error,
                training_keys=training_keys,
                training_rows_source=source,
                leakage_skip_reason=leakage_skip,
                latency=LatencySettings(
                    single_row_runs=self.settings.latency_single_row_runs,
                    batch_runs=self.settings.latency_batch_runs,
                ),
            )
            batches = peers.iter_split(
                dv.name,
                split,
                columns=needed,
                with_row_keys=training_keys is not None,
                batch_rows=self.settings.batch_rows,
            )
            try:
                outcome.result = evaluate(
                    candidate, champion, batches, inputs, cancelled=cancel.is_set
                )
            except (Unavailable, DeadlineExceeded):
                raise
            except GyreError as exc:
                raise EvaluationError(
                    f"reading {dv.name} failed: {exc.message}", name="data"
                ) from exc
            finally:
                close = getattr(batches, "close", None)
                if close is not None:
                    close()
        except EvaluationError as exc:
            outcome.result = error_result(exc)
        except EvaluationCancelled:
            outcome.result = error_result(
                EvaluationError("the evaluation was cancelled", name="evaluation")
            )
        return outcome

    async def _complete(
        self,
        ident: str,
        validation: v_pb2.Validation,
        outcome: _Outcome,
        start_time: Any,
        seconds: float,
    ) -> None:
        result = outcome.result
        end_time = utcnow()
        validation.state = v_pb2.VALIDATION_STATE_COMPLETED
        validation.verdict = result.verdict  # type: ignore[assignment]
        validation.champion_version = outcome.champion_version
        validation.dataset_version = outcome.dataset_version
        validation.split = outcome.split  # type: ignore[assignment]
        del validation.checks[:]
        validation.checks.extend(result.checks)
        del validation.candidate_metrics[:]
        del validation.champion_metrics[:]
        for name, value in sorted(result.candidate_metrics.items()):
            metric = validation.candidate_metrics.add(name=name, value=value)
            metric.time.FromDatetime(end_time)
        for name, value in sorted(result.champion_metrics.items()):
            metric = validation.champion_metrics.add(name=name, value=value)
            metric.time.FromDatetime(end_time)
        validation.test_row_count = result.test_row_count
        validation.error_message = result.error_message
        if not validation.HasField("start_time"):
            validation.start_time.FromDatetime(start_time)
        validation.end_time.FromDatetime(end_time)
        validation.duration.FromTimedelta(timedelta(seconds=seconds))
        extras = dict(result.extras)
        markdown = _report.render_markdown(validation, extras)
        key = f"validations/{ident}/report.md"
        data = markdown.encode()
        try:
            await self.store.put_bytes(key, data, content_type=REPORT_MEDIA_TYPE)
            validation.report.CopyFrom(
                artifact_pb2.ArtifactRef(
                    uri=self.store.uri(key),
                    sha256=hashlib.sha256(data).hexdigest(),
                    size_bytes=len(data),
                    media_type=REPORT_MEDIA_TYPE,
                )
            )
        except GyreError as exc:
            # The report stays retrievable from the database copy.
            _log.warning("could not store the report of %s: %s", ident, exc)
        event_payload = validation_events_pb2.ValidationCompleted(
            validation=validation.name,
            model_version=validation.model_version,
            registered_model=_model_of(validation.model_version),
            champion_version=validation.champion_version,
            dataset_version=validation.dataset_version,
            verdict=validation.verdict,
            failed_checks=result.failed_checks(),
            candidate_metrics=[
                metric_pb2.Metric(name=m.name, value=m.value, time=m.time)
                for m in validation.candidate_metrics
            ],
            report_uri=validation.report.uri,
            error_message=validation.error_message,
        )

        async def work(session: AsyncSession) -> bool:
            record = await _store.get_validation(session, ident)
            if record is None or record.state != _store.RUNNING or record.lease_owner != self.owner:
                return False
            record.state = int(v_pb2.VALIDATION_STATE_COMPLETED)
            record.verdict = int(validation.verdict)
            record.champion_version = validation.champion_version
            record.dataset_version = validation.dataset_version
            record.start_time = record.start_time or start_time
            record.end_time = end_time
            record.lease_owner = None
            record.lease_until = None
            record.resource = validation.SerializeToString()
            record.extras = extras
            record.report_markdown = markdown
            await self.outbox.emit(
                session,
                type=COMPLETED_EVENT,
                subject_resource=validation.name,
                payload_message=event_payload,
                correlation_id=record.correlation_id or None,
                causation_id=record.trigger_event_id or None,
            )
            return True

        if await self.db.run(work):
            verdict = v_pb2.ValidationVerdict.Name(validation.verdict)
            VALIDATIONS_COMPLETED.labels(verdict.removeprefix("VALIDATION_VERDICT_")).inc()
            VALIDATION_SECONDS.observe(seconds)
            _log.info(
                "validation %s of %s: %s",
                ident,
                validation.model_version,
                v_pb2.ValidationVerdict.Name(validation.verdict),
            )
        else:
            _log.warning("validation %s was taken over by another worker; result dropped", ident)


class _DataNotReady(Exception):
    """The dataset version is still PROFILING: its splits will exist soon."""


class _CancelFlag:
    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


def _builtin_default() -> policy_pb2.ValidationPolicy:
    policy = _policy.builtin_default_policy()
    policy.etag = _policy.policy_etag(policy)
    return policy


def _policy_of(record: PolicyRecord) -> policy_pb2.ValidationPolicy:
    policy = policy_pb2.ValidationPolicy()
    policy.ParseFromString(record.policy)
    policy.etag = record.etag
    policy.update_time.FromDatetime(record.update_time)
    return policy


def _split_rows(dv: dataset_pb2.DatasetVersion, split: int) -> int:
    for stats in dv.split_stats:
        if stats.split == split:
            return int(stats.row_count)
    return 0


def _split_label(split: int) -> str:
    return split_pb2.Split.Name(split).removeprefix("SPLIT_").lower()
