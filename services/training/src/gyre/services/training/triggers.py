"""Continuous-training triggers: new data, cron schedule, drift, performance drop, manual.

Exactly one run per cause: every cause a trigger sees is recorded in
``training_trigger_firings`` under a unique ``(trigger, cause event id)`` (the cause
event's id; for schedules ``schedule-<trigger>-<tick>``; for manual firings the
request id), and the run it creates carries the same pair under its own unique
constraint. A redelivered event, or the same event handled by two replicas, finds
the recorded firing (or loses the insert race on PostgreSQL, rolls its savepoint
back and reads the winner's) and creates nothing. A cause that was skipped
(cooldown, ``max_concurrent_runs``, too few new rows) is recorded too, with why.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.common.v1 import cause_pb2
from gyre.events.v1 import training_events_pb2 as ev
from gyre.runtime.db import utcnow
from gyre.runtime.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from gyre.services.training import convert, filters
from gyre.services.training.models import (
    ExperimentRecord,
    RunRecord,
    TriggerFiringRecord,
    TriggerRecord,
)
from gyre.services.training.scheduler import (
    ACTIVE_STATES,
    Scheduler,
    _experiment_id,
    _new_run_id,
    _page,
)
from gyre.training.v1 import run_pb2, trigger_pb2

__all__ = ["LAST_FIRING_LABELS", "Triggers", "next_tick"]

_log = logging.getLogger(__name__)

_ID: Final = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
#: Output-only labels on a returned Trigger describing its last firing (the contract has
#: no field for it): outcome ``fired`` or ``skipped``, the skip reason, when (ISO 8601
#: UTC), and the cause's event id. Never stored; ignored when a client sends them back.
LAST_FIRING_PREFIX: Final = "gyre.dev/last-firing-"
LAST_FIRING_LABELS: Final = tuple(
    LAST_FIRING_PREFIX + key for key in ("outcome", "reason", "time", "cause")
)
NEW_DATA: Final = cause_pb2.TRIGGER_KIND_NEW_DATA
SCHEDULE: Final = cause_pb2.TRIGGER_KIND_SCHEDULE
DRIFT: Final = cause_pb2.TRIGGER_KIND_DRIFT
PERFORMANCE_DROP: Final = cause_pb2.TRIGGER_KIND_PERFORMANCE_DROP
MANUAL: Final = cause_pb2.TRIGGER_KIND_MANUAL
_CONDITION_OF_KIND: Final = {
    NEW_DATA: "new_data",
    SCHEDULE: "schedule",
    DRIFT: "monitor",
    PERFORMANCE_DROP: "monitor",
    MANUAL: None,
}
_UPDATABLE: Final = frozenset(
    {
        "display_name",
        "description",
        "run_template",
        "cooldown",
        "max_concurrent_runs",
        "enabled",
        "labels",
        "experiment",
        "new_data",
        "schedule",
        "monitor",
    }
)


def _strip_output_labels(trigger: trigger_pb2.Trigger) -> None:
    for key in [k for k in trigger.labels if k.startswith(LAST_FIRING_PREFIX)]:
        del trigger.labels[key]


async def _with_last_firing(
    session: AsyncSession, records: Sequence[TriggerRecord]
) -> list[trigger_pb2.Trigger]:
    """The triggers as protos, each with its last firing (fired or skipped) as labels."""
    ids = [r.id for r in records]
    last: dict[str, TriggerFiringRecord] = {}
    if ids:
        newest = (
            select(func.max(TriggerFiringRecord.id))
            .where(TriggerFiringRecord.trigger.in_(ids))
            .group_by(TriggerFiringRecord.trigger)
        )
        for row in (
            await session.scalars(
                select(TriggerFiringRecord).where(TriggerFiringRecord.id.in_(newest))
            )
        ).all():
            last[row.trigger] = row
    out = []
    for record in records:
        trigger = convert.trigger_to_proto(record)
        firing = last.get(record.id)
        if firing is not None:
            outcome, reason, stamp, cause = LAST_FIRING_LABELS
            trigger.labels[outcome] = "skipped" if firing.skipped_reason else "fired"
            if firing.skipped_reason:
                trigger.labels[reason] = firing.skipped_reason
            trigger.labels[stamp] = firing.time.astimezone(UTC).isoformat(timespec="seconds")
            trigger.labels[cause] = firing.cause_event_id
        out.append(trigger)
    return out


def next_tick(cron: str, time_zone: str, after: datetime) -> datetime:
    """The first tick of ``cron`` (in ``time_zone``) strictly after ``after``, in UTC."""
    from croniter import croniter  # type: ignore[import-untyped]

    zone = ZoneInfo(time_zone or "UTC")
    tick = croniter(cron, after.astimezone(zone)).get_next(datetime)
    return tick.astimezone(UTC)  # type: ignore[no-any-return]


def _trigger_id(name: str) -> str:
    if not name.startswith("triggers/") or not name[9:]:
        raise InvalidArgument(
            f"trigger name must be 'triggers/{{trigger}}', got {name!r}",
            field_violations=[FieldViolation("name", "expected triggers/{trigger}")],
        )
    return name[9:]


def _watch_of(trigger: trigger_pb2.Trigger) -> str:
    condition = trigger.WhichOneof("condition")
    if condition == "new_data":
        return trigger.new_data.dataset
    if condition == "monitor":
        return trigger.monitor.deployment or trigger.monitor.registered_model
    return ""


class Triggers:
    """CT triggers over a :class:`Scheduler` (which creates and runs their runs)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.db = scheduler.db
        self.outbox = scheduler.outbox

    # -- validation ------------------------------------------------------------------

    def _validate(self, trigger: trigger_pb2.Trigger) -> None:
        problems: list[FieldViolation] = []
        kind = trigger.kind
        if kind not in _CONDITION_OF_KIND:
            problems.append(FieldViolation("trigger.kind", "required"))
        condition = trigger.WhichOneof("condition")
        expected = _CONDITION_OF_KIND.get(kind)
        if kind in _CONDITION_OF_KIND and condition != expected:
            problems.append(
                FieldViolation(
                    "trigger.condition",
                    f"{cause_pb2.TriggerKind.Name(kind)} needs "
                    + (f"the {expected} condition" if expected else "no condition"),
                )
            )
        if condition == "new_data" and not re.fullmatch(
            r"datasets/[^/]+", trigger.new_data.dataset
        ):
            problems.append(FieldViolation("trigger.new_data.dataset", "expected datasets/{d}"))
        if condition == "schedule":
            from croniter import croniter

            if (
                not croniter.is_valid(trigger.schedule.cron)
                or len(trigger.schedule.cron.split()) != 5
            ):
                problems.append(
                    FieldViolation("trigger.schedule.cron", "a five-field cron expression")
                )
            try:
                ZoneInfo(trigger.schedule.time_zone or "UTC")
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(FieldViolation("trigger.schedule.time_zone", "unknown time zone"))
        if condition == "monitor":
            target = trigger.monitor.WhichOneof("target")
            value = getattr(trigger.monitor, target) if target else ""
            pattern = r"deployments/[^/]+" if target == "deployment" else r"models/[^/]+"
            if not target or not re.fullmatch(pattern, value):
                problems.append(
                    FieldViolation("trigger.monitor", "a deployments/{d} or models/{m} target")
                )
        if trigger.max_concurrent_runs < 0:
            problems.append(FieldViolation("trigger.max_concurrent_runs", "must be >= 0"))
        if trigger.HasField("cooldown") and trigger.cooldown.ToTimedelta() < timedelta(0):
            problems.append(FieldViolation("trigger.cooldown", "must not be negative"))
        if not trigger.experiment:
            problems.append(FieldViolation("trigger.experiment", "required"))
        if problems:
            raise InvalidArgument(
                "invalid trigger: " + "; ".join(f"{p.field}: {p.description}" for p in problems),
                reason="INVALID_TRIGGER",
                field_violations=problems,
            )
        template = run_pb2.RunSpec()
        template.CopyFrom(trigger.run_template)
        if condition == "new_data" and not template.dataset_version:
            template.dataset_version = f"{trigger.new_data.dataset}/versions/latest"
        self.scheduler.validate_spec(template)

    # -- CRUD ------------------------------------------------------------------------

    async def create(self, trigger_id: str, trigger: trigger_pb2.Trigger) -> trigger_pb2.Trigger:
        if not _ID.match(trigger_id):
            raise InvalidArgument(
                f"trigger_id {trigger_id!r} must match [a-z][a-z0-9-]{{0,62}}",
                field_violations=[FieldViolation("trigger_id", "lowercase letters, digits, -")],
            )
        self._validate(trigger)
        await self.check_target(trigger)
        experiment_id = _experiment_id(trigger.experiment)
        spec = trigger_pb2.Trigger()
        spec.CopyFrom(trigger)
        _strip_output_labels(spec)
        for field in (
            "name",
            "last_fire_time",
            "last_run",
            "fire_count",
            "create_time",
            "update_time",
            "etag",
        ):
            spec.ClearField(field)
        now = utcnow()
        record = TriggerRecord(
            id=trigger_id,
            kind=trigger.kind,
            enabled=trigger.enabled,
            watch=_watch_of(trigger),
            spec=spec.SerializeToString(),
            next_tick=(
                next_tick(trigger.schedule.cron, trigger.schedule.time_zone, now)
                if trigger.kind == SCHEDULE
                else None
            ),
            create_time=now,
            update_time=now,
        )
        try:
            async with self.db.transaction() as session:
                if await session.get(ExperimentRecord, experiment_id) is None:
                    raise NotFound(f"experiments/{experiment_id} does not exist")
                session.add(record)
        except AlreadyExists as exc:
            raise AlreadyExists(f"triggers/{trigger_id} already exists") from exc
        return convert.trigger_to_proto(record)

    async def _get(self, session: AsyncSession, trigger_id: str) -> TriggerRecord:
        record = await session.get(TriggerRecord, trigger_id)
        if record is None:
            raise NotFound(f"triggers/{trigger_id} does not exist")
        return record

    async def get(self, name: str) -> trigger_pb2.Trigger:
        async with self.db.transaction() as session:
            record = await self._get(session, _trigger_id(name))
            (trigger,) = await _with_last_firing(session, [record])
            return trigger

    async def list(
        self, *, page_size: int, page_token: str, filter: str, order_by: str
    ) -> tuple[list[trigger_pb2.Trigger], str, int]:
        offset, size = _page(page_token, page_size)
        predicate = filters.parse_filter(filter)
        clauses = filters.parse_order_by(order_by, default="name")
        async with self.db.transaction() as session:
            records = list((await session.scalars(select(TriggerRecord))).all())
            rows = [(convert.trigger_filter_row(r), r) for r in records]
            matched = [(row, r) for row, r in rows if predicate(row)]
            matched.sort(key=lambda item: filters.sort_key(clauses)(item[0]))
            page = await _with_last_firing(session, [r for _, r in matched[offset : offset + size]])
        return page, str(offset + size) if offset + size < len(matched) else "", len(matched)

    async def update(
        self, trigger: trigger_pb2.Trigger, paths: Sequence[str]
    ) -> trigger_pb2.Trigger:
        trigger_id = _trigger_id(trigger.name)
        bad = [p for p in paths if p not in _UPDATABLE]
        if bad or not paths:
            raise InvalidArgument(
                f"update_mask may name {', '.join(sorted(_UPDATABLE))}; got {list(paths)}",
                field_violations=[FieldViolation("update_mask", "unknown or immutable field")],
            )
        async with self.db.transaction() as session:
            record = await self._get(session, trigger_id)
            if trigger.etag and trigger.etag != convert.etag(record.revision, record.update_time):
                raise Aborted("the trigger changed since it was read (etag mismatch)")
            current = trigger_pb2.Trigger()
            current.ParseFromString(record.spec)
            current.enabled = record.enabled
            for path in paths:
                if path == "labels":
                    current.labels.clear()
                    current.labels.update(trigger.labels)
                elif path in ("run_template", "cooldown", "new_data", "schedule", "monitor"):
                    if trigger.HasField(path):
                        getattr(current, path).CopyFrom(getattr(trigger, path))
                    else:
                        current.ClearField(path)
                else:
                    setattr(current, path, getattr(trigger, path))
            _strip_output_labels(current)
            self._validate(current)
            if {"run_template", "new_data"} & set(paths):
                await self.check_target(current)
            _experiment_id(current.experiment)
            now = utcnow()
            record.spec = current.SerializeToString()
            record.enabled = current.enabled
            record.watch = _watch_of(current)
            if current.kind == SCHEDULE and ("schedule" in paths or "enabled" in paths):
                record.next_tick = next_tick(current.schedule.cron, current.schedule.time_zone, now)
            record.revision += 1
            record.update_time = now
            return convert.trigger_to_proto(record)

    async def delete(self, name: str, etag: str = "") -> None:
        trigger_id = _trigger_id(name)
        async with self.db.transaction() as session:
            record = await self._get(session, trigger_id)
            if etag and etag != convert.etag(record.revision, record.update_time):
                raise Aborted("the trigger changed since it was read (etag mismatch)")
            await session.delete(record)

    # -- firing ----------------------------------------------------------------------

    async def _dataset_for(self, spec: run_pb2.RunSpec) -> tuple[str, str, str]:
        """The concrete dataset version, its digest and target column a firing trains on."""
        info = await self.scheduler.resolve_dataset(spec.dataset_version)
        return info.name, info.digest, info.target_column

    async def check_target(self, trigger: trigger_pb2.Trigger) -> None:
        """Refuse a trigger whose runs could have no target column.

        A run template without ``target_column`` trains on the dataset version's target
        (as ``SubmitRun`` does). When the template's dataset (the watched dataset's
        latest version for new-data triggers) exists and has no target, every firing
        would fail: refuse with ``INVALID_ARGUMENT`` now. A dataset that does not exist
        yet (a new-data trigger created before the first push) is checked per firing.
        """
        if trigger.run_template.target_column:
            return
        template = run_pb2.RunSpec()
        template.CopyFrom(trigger.run_template)
        if trigger.WhichOneof("condition") == "new_data" and not template.dataset_version:
            template.dataset_version = f"{trigger.new_data.dataset}/versions/latest"
        try:
            info = await self.scheduler.resolve_dataset(template.dataset_version)
        except (NotFound, FailedPrecondition):
            return
        if not info.target_column:
            raise InvalidArgument(
                f"{info.name} has no target column and the trigger's run template sets "
                "none; set run_template.target_column (--target)",
                reason="NO_TARGET_COLUMN",
                field_violations=[FieldViolation("trigger.run_template.target_column", "required")],
            )

    async def fire(
        self,
        session: AsyncSession,
        record: TriggerRecord,
        cause: cause_pb2.TriggerCause,
        *,
        dataset_version: str,
        dataset_digest: str,
        strict: bool,
        target_column: str = "",
        ignore_cooldown: bool = False,
        caused_by: Any = None,
        row_count: int = 0,
    ) -> RunRecord | None:
        """Create the run of one cause, at most once; ``None`` when skipped.

        A run template without ``target_column`` trains on ``target_column`` (the
        dataset version's); with neither the cause is skipped (``strict``: refused with
        ``INVALID_ARGUMENT``) instead of a run failing on Ray.

        ``strict`` (manual firings) raises ``FailedPrecondition`` instead of recording
        a skip. Runs in the caller's transaction.
        """
        existing = await session.scalar(
            select(TriggerFiringRecord).where(
                TriggerFiringRecord.trigger == record.id,
                TriggerFiringRecord.cause_event_id == cause.event_id,
            )
        )
        if existing is not None:
            if not existing.run_id:
                return None
            return await session.scalar(select(RunRecord).where(RunRecord.id == existing.run_id))
        trigger = convert.trigger_to_proto(record)
        now = utcnow()
        skip = ""
        target = trigger.run_template.target_column or target_column
        if not record.enabled:
            skip = "the trigger is disabled"
        elif not target:
            if strict:
                raise InvalidArgument(
                    f"{dataset_version} has no target column and the run template of "
                    f"triggers/{record.id} sets none; set run_template.target_column",
                    reason="NO_TARGET_COLUMN",
                    field_violations=[
                        FieldViolation("trigger.run_template.target_column", "required")
                    ],
                )
            skip = (
                f"{dataset_version} has no target column and the run template sets none "
                "(set run_template.target_column)"
            )
        elif (
            not ignore_cooldown
            and record.last_fire_time is not None
            and trigger.HasField("cooldown")
            and now < record.last_fire_time + trigger.cooldown.ToTimedelta()
        ):
            skip = (
                f"within the cooldown of {trigger.cooldown.ToTimedelta()} "
                f"since {record.last_fire_time.isoformat()}"
            )
        else:
            active = await session.scalar(
                select(func.count())
                .select_from(RunRecord)
                .where(
                    RunRecord.trigger == record.id,
                    RunRecord.parent_run.is_(None),
                    RunRecord.state.in_(ACTIVE_STATES),
                )
            )
            limit = max(1, trigger.max_concurrent_runs)
            if int(active or 0) >= limit:
                skip = f"{active} run(s) of this trigger are active (max_concurrent_runs {limit})"
            elif (
                trigger.WhichOneof("condition") == "new_data"
                and trigger.new_data.min_new_rows
                and record.last_row_count
                and row_count - record.last_row_count < trigger.new_data.min_new_rows
            ):
                skip = (
                    f"only {row_count - record.last_row_count} new rows "
                    f"(min_new_rows {trigger.new_data.min_new_rows})"
                )
        if skip:
            if strict:
                raise FailedPrecondition(
                    f"triggers/{record.id} cannot fire: {skip}", reason="TRIGGER_NOT_FIREABLE"
                )
            nested = await session.begin_nested()
            try:
                session.add(
                    TriggerFiringRecord(
                        trigger=record.id, cause_event_id=cause.event_id, skipped_reason=skip
                    )
                )
                await session.flush()
                await nested.commit()
            except Exception:
                await nested.rollback()
            _log.info("trigger %s skipped cause %s: %s", record.id, cause.event_id, skip)
            return None
        spec = run_pb2.RunSpec()
        spec.CopyFrom(trigger.run_template)
        spec.dataset_version = dataset_version
        spec.target_column = target
        cause.trigger = f"triggers/{record.id}"
        run_id = _new_run_id()
        kind_name = cause_pb2.TriggerKind.Name(cause.kind).removeprefix("TRIGGER_KIND_").lower()
        nested = await session.begin_nested()
        try:
            run = await self.scheduler.insert_run(
                session,
                run_id=run_id,
                experiment=_experiment_id(trigger.experiment),
                display_name=f"{record.id} ({kind_name})",
                spec=spec,
                dataset_digest=dataset_digest,
                labels={**dict(trigger.labels), "gyre.dev/trigger": record.id},
                creator=cause.actor or "training",
                cause=cause,
                caused_by=caused_by,
            )
            session.add(
                TriggerFiringRecord(trigger=record.id, cause_event_id=cause.event_id, run_id=run_id)
            )
            await session.flush()
            await nested.commit()
        except Exception as exc:
            await nested.rollback()
            from sqlalchemy.exc import IntegrityError

            if not isinstance(exc, IntegrityError | AlreadyExists):
                raise
            # Another replica fired this cause first: return its run.
            winner = await session.scalar(
                select(RunRecord).where(
                    RunRecord.trigger == record.id, RunRecord.cause_event_id == cause.event_id
                )
            )
            return winner
        record.last_fire_time = now
        record.last_run = run_id
        record.fire_count += 1
        if row_count:
            record.last_row_count = row_count
        record.update_time = now
        await self.outbox.emit(
            session,
            type="training.trigger.fired",
            subject_resource=f"triggers/{record.id}",
            payload_message=ev.TrainingTriggerFired(
                trigger=f"triggers/{record.id}", cause=cause, run=f"runs/{run_id}"
            ),
            caused_by=caused_by,
        )
        self.scheduler.wakeup.set()
        return run

    async def fire_manual(
        self,
        name: str,
        *,
        reason: str,
        ignore_cooldown: bool,
        request_id: str,
        actor: str = "",
    ) -> run_pb2.Run:
        trigger_id = _trigger_id(name)
        if not request_id:
            raise InvalidArgument(
                "request_id is required (it identifies the firing)",
                field_violations=[FieldViolation("request_id", "required")],
            )
        async with self.db.transaction() as session:
            record = await self._get(session, trigger_id)
            firing = await session.scalar(
                select(TriggerFiringRecord).where(
                    TriggerFiringRecord.trigger == trigger_id,
                    TriggerFiringRecord.cause_event_id == request_id,
                )
            )
            if firing is not None and firing.run_id:
                run = await session.scalar(select(RunRecord).where(RunRecord.id == firing.run_id))
                if run is not None:
                    return convert.run_to_proto(run)
            template = convert.trigger_to_proto(record).run_template
            if not record.enabled:
                raise FailedPrecondition(
                    f"triggers/{trigger_id} is disabled", reason="TRIGGER_DISABLED"
                )
        version, digest, target = await self._dataset_for(template)
        cause = cause_pb2.TriggerCause(
            kind=MANUAL,
            event_id=request_id,
            reason=reason,
            actor=actor or "user",
            subject=version,
        )
        cause.time.GetCurrentTime()
        async with self.db.transaction() as session:
            record = await self._get(session, trigger_id)
            run = await self.fire(
                session,
                record,
                cause,
                dataset_version=version,
                dataset_digest=digest,
                target_column=target,
                strict=True,
                ignore_cooldown=ignore_cooldown,
            )
            assert run is not None
            return convert.run_to_proto(run)

    # -- event handlers (EventConsumer) ----------------------------------------------

    async def on_data_committed(self, event: Any, session: AsyncSession) -> None:
        """``data.version.committed``: fire the NEW_DATA triggers watching the dataset."""
        from gyre.data.v1 import dataset_pb2

        payload = event.data_version_committed
        if payload.state not in (
            dataset_pb2.DATASET_VERSION_STATE_READY,
            dataset_pb2.DATASET_VERSION_STATE_UNSPECIFIED,
        ):
            return
        records = (
            await session.scalars(
                select(TriggerRecord).where(
                    TriggerRecord.kind == NEW_DATA, TriggerRecord.watch == payload.dataset
                )
            )
        ).all()
        for record in records:
            cause = self._event_cause(event, NEW_DATA, payload.dataset_version)
            cause.reason = f"new version {payload.dataset_version} ({payload.row_count} rows)"
            await self.fire(
                session,
                record,
                cause,
                dataset_version=payload.dataset_version,
                dataset_digest=payload.digest,
                target_column=payload.target_column,
                strict=False,
                caused_by=event,
                row_count=payload.row_count,
            )

    async def on_monitor_event(self, event: Any, session: AsyncSession) -> None:
        """``monitoring.drift.detected`` / ``monitoring.performance.degraded``."""
        drift = event.WhichOneof("payload") == "monitoring_drift_detected"
        payload = (
            event.monitoring_drift_detected if drift else event.monitoring_performance_degraded
        )
        kind = DRIFT if drift else PERFORMANCE_DROP
        model = payload.model_version.rsplit("/versions/", 1)[0] if payload.model_version else ""
        watched = [w for w in (payload.deployment, model) if w]
        if not watched:
            return
        records = (
            await session.scalars(
                select(TriggerRecord).where(
                    TriggerRecord.kind == kind, TriggerRecord.watch.in_(watched)
                )
            )
        ).all()
        for record in records:
            trigger = convert.trigger_to_proto(record)
            if not drift and trigger.monitor.metrics:
                degraded = {m.metric for m in payload.report.metrics if m.degraded}
                if not degraded & set(trigger.monitor.metrics):
                    continue
            if drift:
                reason = (
                    f"drift on {payload.deployment}: {payload.report.drifted_share:.0%} "
                    "of features drifted"
                )
            else:
                names = ", ".join(m.metric for m in payload.report.metrics if m.degraded)
                reason = f"performance dropped on {payload.deployment}: {names}"
            cause = self._event_cause(event, kind, payload.deployment or payload.model_version)
            cause.reason = reason
            version, digest, target = await self._dataset_for(trigger.run_template)
            await self.fire(
                session,
                record,
                cause,
                dataset_version=version,
                dataset_digest=digest,
                target_column=target,
                strict=False,
                caused_by=event,
            )

    @staticmethod
    def _event_cause(event: Any, kind: int, subject: str) -> cause_pb2.TriggerCause:
        cause = cause_pb2.TriggerCause(
            kind=kind,  # type: ignore[arg-type]
            event_id=event.id,
            event_type=event.type,
            subject=subject or event.subject,
            actor="training",
        )
        cause.time.CopyFrom(event.time)
        return cause

    # -- schedules -------------------------------------------------------------------

    async def tick_schedules(self) -> None:
        """Fire every enabled schedule trigger whose next tick has come (one run per tick)."""
        now = utcnow()
        async with self.db.transaction() as session:
            due = list(
                (
                    await session.scalars(
                        select(TriggerRecord).where(
                            TriggerRecord.kind == SCHEDULE,
                            TriggerRecord.enabled.is_(True),
                            TriggerRecord.next_tick <= now,
                        )
                    )
                ).all()
            )
        for record in due:
            trigger = convert.trigger_to_proto(record)
            tick = record.next_tick
            assert tick is not None
            try:
                version, digest, target = await self._dataset_for(trigger.run_template)
            except Exception as exc:
                _log.warning("schedule trigger %s: cannot resolve its dataset: %s", record.id, exc)
                version, digest, target = "", "", ""
            async with self.db.transaction() as session:
                current = await session.get(TriggerRecord, record.id)
                if current is None or current.next_tick != tick:
                    continue  # another replica handled this tick
                cause = cause_pb2.TriggerCause(
                    kind=SCHEDULE,
                    event_id=f"schedule-{record.id}-{tick.strftime('%Y%m%dT%H%M%SZ')}",
                    subject=version,
                    reason=f"cron {trigger.schedule.cron} ({trigger.schedule.time_zone or 'UTC'})",
                    actor="training",
                )
                cause.time.FromDatetime(tick)
                current.next_tick = next_tick(
                    trigger.schedule.cron, trigger.schedule.time_zone, max(now, tick)
                )
                if version:
                    await self.fire(
                        session,
                        current,
                        cause,
                        dataset_version=version,
                        dataset_digest=digest,
                        target_column=target,
                        strict=False,
                    )
