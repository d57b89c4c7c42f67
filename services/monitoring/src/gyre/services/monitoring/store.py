"""The monitor's SQL store: deployments, policies, reports, alerts, baselines.

Functions take the caller's ``AsyncSession`` (from ``Database.transaction``) and never
commit on their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from google.protobuf import timestamp_pb2
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.monitoring.v1 import alert_pb2, monitoring_policy_pb2, report_pb2
from gyre.runtime.db import utcnow
from gyre.runtime.errors import NotFound
from gyre.services.monitoring.listing import FilterField, apply_listing, next_token, parse_timestamp
from gyre.services.monitoring.models import (
    AlertRecord,
    BaselineRecord,
    DeploymentRecord,
    DriftReportRecord,
    OpenWindowRecord,
    PerformanceReportRecord,
    PolicyRecord,
)

__all__ = [
    "OPEN_STATES",
    "alert_to_proto",
    "find_open_alert",
    "get_alert",
    "get_drift_report",
    "get_performance_report",
    "insert_alert",
    "insert_drift_report",
    "insert_performance_report",
    "last_alert_time",
    "list_alerts",
    "list_drift_reports",
    "list_performance_reports",
    "load_baselines",
    "load_deployments",
    "load_policies",
    "new_id",
    "resolve_alerts",
    "upsert_baseline",
    "upsert_deployment",
    "upsert_policy",
]

#: Alert states of an ongoing episode.
OPEN_STATES: Final = (alert_pb2.ALERT_STATE_OPEN, alert_pb2.ALERT_STATE_ACKNOWLEDGED)
LATEST: Final = "latest"


def new_id() -> str:
    """A new resource id (UUID4, lowercase hex with hyphens)."""
    return str(uuid.uuid4())


def _ts(value: datetime | None) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    if value is not None:
        stamp.FromDatetime(value)
    return stamp


# -- deployments and policies ---------------------------------------------------------


async def upsert_deployment(
    session: AsyncSession,
    name: str,
    *,
    registered_model: str = "",
    champion_version: str = "",
    deleted: bool = False,
) -> None:
    """Record that the monitor knows ``name`` (or that it was deleted).

    Safe against a concurrent insert of the same deployment (the event consumer and a
    policy update): the row is created with ``ON CONFLICT DO NOTHING`` and then updated.
    """
    now = utcnow()
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(DeploymentRecord)
        .values(
            name=name,
            registered_model=registered_model,
            champion_version=champion_version,
            deleted=deleted,
            create_time=now,
            update_time=now,
        )
        .on_conflict_do_nothing()
    )
    values: dict[str, Any] = {"deleted": deleted, "update_time": now}
    if registered_model:
        values["registered_model"] = registered_model
    if champion_version:
        values["champion_version"] = champion_version
    await session.execute(
        update(DeploymentRecord).where(DeploymentRecord.name == name).values(**values)
    )


async def load_deployments(session: AsyncSession) -> set[str]:
    """Names of known, not deleted deployments."""
    rows = await session.scalars(
        select(DeploymentRecord.name).where(DeploymentRecord.deleted.is_(False))
    )
    return set(rows)


async def upsert_policy(
    session: AsyncSession, deployment: str, policy: monitoring_policy_pb2.MonitoringPolicy
) -> None:
    """Store ``policy`` (with its etag and update time already set)."""
    row = await session.get(PolicyRecord, deployment)
    data = policy.SerializeToString()
    when = policy.update_time.ToDatetime().replace(tzinfo=utcnow().tzinfo)
    if row is None:
        session.add(
            PolicyRecord(deployment=deployment, policy=data, etag=policy.etag, update_time=when)
        )
    else:
        row.policy = data
        row.etag = policy.etag
        row.update_time = when


async def get_policy(
    session: AsyncSession, deployment: str
) -> monitoring_policy_pb2.MonitoringPolicy | None:
    """The stored policy of ``deployment``, if any."""
    row = await session.get(PolicyRecord, deployment)
    if row is None:
        return None
    return monitoring_policy_pb2.MonitoringPolicy.FromString(row.policy)


async def load_policies(
    session: AsyncSession,
) -> dict[str, monitoring_policy_pb2.MonitoringPolicy]:
    """Every stored policy by deployment."""
    rows = await session.scalars(select(PolicyRecord))
    return {r.deployment: monitoring_policy_pb2.MonitoringPolicy.FromString(r.policy) for r in rows}


# -- open windows -------------------------------------------------------------------------


async def save_open_windows(
    session: AsyncSession, windows: Sequence[tuple[str, str, str, dict[str, Any]]], now: datetime
) -> None:
    """Replace the checkpoints with ``(deployment, model_version, kind, state)`` rows."""
    await session.execute(delete(OpenWindowRecord))
    for deployment, model_version, kind, state in windows:
        session.add(
            OpenWindowRecord(
                deployment=deployment,
                model_version=model_version,
                kind=kind,
                state=state,
                update_time=now,
            )
        )


async def load_open_windows(session: AsyncSession) -> list[OpenWindowRecord]:
    """Every checkpointed open window."""
    return list(await session.scalars(select(OpenWindowRecord)))


# -- baselines ----------------------------------------------------------------------------


async def upsert_baseline(
    session: AsyncSession, model_version: str, metrics: dict[str, float], *, validation: str
) -> None:
    """Store the validated metrics of ``model_version`` (the latest validation wins)."""
    row = await session.get(BaselineRecord, model_version)
    if row is None:
        session.add(
            BaselineRecord(
                model_version=model_version,
                metrics=metrics,
                validation=validation,
                update_time=utcnow(),
            )
        )
    else:
        row.metrics = metrics
        row.validation = validation
        row.update_time = utcnow()


async def load_baselines(session: AsyncSession) -> dict[str, dict[str, float]]:
    """Every stored baseline by model version."""
    rows = await session.scalars(select(BaselineRecord))
    return {r.model_version: {k: float(v) for k, v in r.metrics.items()} for r in rows}


# -- reports ------------------------------------------------------------------------------


async def insert_drift_report(
    session: AsyncSession, deployment: str, report: report_pb2.DriftReport
) -> None:
    """Store a drift report (its ``name`` and ``create_time`` set)."""
    session.add(
        DriftReportRecord(
            id=report.name.rsplit("/", 1)[-1],
            deployment=deployment,
            model_version=report.model_version,
            drifted=report.drifted,
            drifted_share=report.drifted_share,
            row_count=report.row_count,
            create_time=report.create_time.ToDatetime().replace(tzinfo=utcnow().tzinfo),
            report=report.SerializeToString(),
        )
    )


async def insert_performance_report(
    session: AsyncSession, deployment: str, report: report_pb2.PerformanceReport
) -> None:
    """Store a performance report (its ``name`` and ``create_time`` set)."""
    session.add(
        PerformanceReportRecord(
            id=report.name.rsplit("/", 1)[-1],
            deployment=deployment,
            model_version=report.model_version,
            degraded=report.degraded,
            sample_count=report.sample_count,
            create_time=report.create_time.ToDatetime().replace(tzinfo=utcnow().tzinfo),
            report=report.SerializeToString(),
        )
    )


def _split_report_name(name: str, collection: str) -> tuple[str, str]:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "deployments" or parts[2] != collection or not all(parts):
        from gyre.runtime.errors import FieldViolation, InvalidArgument

        raise InvalidArgument(
            f"name must be 'deployments/{{deployment}}/{collection}/{{id}}', got {name!r}",
            reason="INVALID_NAME",
            field_violations=[FieldViolation("name", "malformed")],
        )
    return f"deployments/{parts[1]}", parts[3]


async def get_drift_report(session: AsyncSession, name: str) -> report_pb2.DriftReport:
    """A drift report by name (``.../driftReports/latest`` for the newest).

    Raises:
        InvalidArgument: malformed name.
        NotFound: no such report.
    """
    deployment, rid = _split_report_name(name, "driftReports")
    query = select(DriftReportRecord).where(DriftReportRecord.deployment == deployment)
    if rid == LATEST:
        query = query.order_by(DriftReportRecord.seq.desc()).limit(1)
    else:
        query = query.where(DriftReportRecord.id == rid)
    row = (await session.scalars(query)).first()
    if row is None:
        raise NotFound(f"drift report {name!r} not found", metadata={"resource": name})
    return report_pb2.DriftReport.FromString(row.report)


async def get_performance_report(session: AsyncSession, name: str) -> report_pb2.PerformanceReport:
    """A performance report by name (``.../performanceReports/latest`` for the newest).

    Raises:
        InvalidArgument: malformed name.
        NotFound: no such report.
    """
    deployment, rid = _split_report_name(name, "performanceReports")
    query = select(PerformanceReportRecord).where(PerformanceReportRecord.deployment == deployment)
    if rid == LATEST:
        query = query.order_by(PerformanceReportRecord.seq.desc()).limit(1)
    else:
        query = query.where(PerformanceReportRecord.id == rid)
    row = (await session.scalars(query)).first()
    if row is None:
        raise NotFound(f"performance report {name!r} not found", metadata={"resource": name})
    return report_pb2.PerformanceReport.FromString(row.report)


def _bool(value: str | bool | float) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _text(value: str | bool | float) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a quoted string")
    return value


def _enum(enum: Any, prefix: str) -> Any:
    def convert(value: str | bool | float) -> int:
        if not isinstance(value, str):
            raise ValueError(f"expected one of {', '.join(n.removeprefix(prefix) for n in enum)}")
        key = value if value.startswith(prefix) else prefix + value
        try:
            return int(enum.Value(key))
        except ValueError as exc:
            raise ValueError(f"unknown value {value!r}") from exc

    return convert


def _parent_filter(parent: str) -> str | None:
    from gyre.runtime.errors import FieldViolation, InvalidArgument

    parts = parent.split("/")
    if len(parts) != 2 or parts[0] != "deployments" or not parts[1]:
        raise InvalidArgument(
            f"parent must be 'deployments/{{deployment}}' or 'deployments/-', got {parent!r}",
            reason="INVALID_PARENT",
            field_violations=[FieldViolation("parent", "malformed")],
        )
    return None if parts[1] == "-" else parent


async def list_drift_reports(
    session: AsyncSession,
    *,
    parent: str,
    filter: str,
    order_by: str,
    page_size: int,
    page_token: str,
) -> tuple[list[report_pb2.DriftReport], str]:
    """One page of drift reports. Filterable: ``drifted``, ``model_version``,
    ``create_time``, ``drifted_share``, ``row_count``.

    Raises:
        InvalidArgument: malformed parent, filter, order_by or page token.
    """
    deployment = _parent_filter(parent)
    fields = {
        "drifted": FilterField(DriftReportRecord.drifted, _bool),
        "model_version": FilterField(DriftReportRecord.model_version, _text),
        "create_time": FilterField(DriftReportRecord.create_time, parse_timestamp),
        "drifted_share": FilterField(DriftReportRecord.drifted_share, float),
        "row_count": FilterField(DriftReportRecord.row_count, int),
    }
    query = select(DriftReportRecord)
    if deployment:
        query = query.where(DriftReportRecord.deployment == deployment)
    query, page = apply_listing(
        query,
        filter=filter,
        order_by=order_by,
        page_size=page_size,
        page_token=page_token,
        fields=fields,
        default_order=(DriftReportRecord.create_time, DriftReportRecord.seq),
        scope=parent,
    )
    rows = list((await session.scalars(query)).all())
    token = next_token(page, len(rows), scope=parent, filter=filter, order_by=order_by)
    return [report_pb2.DriftReport.FromString(r.report) for r in rows[: page.size]], token


async def list_performance_reports(
    session: AsyncSession,
    *,
    parent: str,
    filter: str,
    order_by: str,
    page_size: int,
    page_token: str,
) -> tuple[list[report_pb2.PerformanceReport], str]:
    """One page of performance reports. Filterable: ``degraded``, ``model_version``,
    ``create_time``, ``sample_count``.

    Raises:
        InvalidArgument: malformed parent, filter, order_by or page token.
    """
    deployment = _parent_filter(parent)
    fields = {
        "degraded": FilterField(PerformanceReportRecord.degraded, _bool),
        "model_version": FilterField(PerformanceReportRecord.model_version, _text),
        "create_time": FilterField(PerformanceReportRecord.create_time, parse_timestamp),
        "sample_count": FilterField(PerformanceReportRecord.sample_count, int),
    }
    query = select(PerformanceReportRecord)
    if deployment:
        query = query.where(PerformanceReportRecord.deployment == deployment)
    query, page = apply_listing(
        query,
        filter=filter,
        order_by=order_by,
        page_size=page_size,
        page_token=page_token,
        fields=fields,
        default_order=(PerformanceReportRecord.create_time, PerformanceReportRecord.seq),
        scope=parent,
    )
    rows = list((await session.scalars(query)).all())
    token = next_token(page, len(rows), scope=parent, filter=filter, order_by=order_by)
    return [report_pb2.PerformanceReport.FromString(r.report) for r in rows[: page.size]], token


# -- alerts -------------------------------------------------------------------------------


def alert_to_proto(row: AlertRecord) -> alert_pb2.Alert:
    """The ``Alert`` of a stored row."""
    alert = alert_pb2.Alert(
        name=f"alerts/{row.id}",
        kind=row.kind,  # type: ignore[arg-type]
        deployment=row.deployment,
        model_version=row.model_version,
        report=row.report,
        summary=row.summary,
        state=row.state,  # type: ignore[arg-type]
        webhook_delivery=alert_pb2.WebhookDelivery(
            state=row.webhook_state,  # type: ignore[arg-type]
            attempts=row.webhook_attempts,
            last_http_status=row.webhook_last_http_status,
            last_error=row.webhook_last_error,
        ),
        create_time=_ts(row.create_time),
        update_time=_ts(row.update_time),
    )
    if row.webhook_last_attempt_time is not None:
        alert.webhook_delivery.last_attempt_time.CopyFrom(_ts(row.webhook_last_attempt_time))
    return alert


async def insert_alert(
    session: AsyncSession,
    *,
    kind: int,
    deployment: str,
    model_version: str,
    report: str,
    summary: str,
    webhook_url: str,
    now: datetime,
) -> AlertRecord:
    """Record a new OPEN alert."""
    row = AlertRecord(
        id=new_id(),
        kind=kind,
        deployment=deployment,
        model_version=model_version,
        report=report,
        summary=summary,
        state=alert_pb2.ALERT_STATE_OPEN,
        note="",
        webhook_url=webhook_url,
        webhook_state=(
            alert_pb2.WEBHOOK_DELIVERY_STATE_PENDING
            if webhook_url
            else alert_pb2.WEBHOOK_DELIVERY_STATE_NOT_CONFIGURED
        ),
        webhook_attempts=0,
        webhook_last_http_status=0,
        webhook_last_error="",
        create_time=now,
        update_time=now,
    )
    session.add(row)
    await session.flush()
    return row


async def find_open_alert(
    session: AsyncSession, *, kind: int, deployment: str, model_version: str
) -> AlertRecord | None:
    """The open (or acknowledged) alert of an ongoing episode, if any."""
    query = (
        select(AlertRecord)
        .where(
            AlertRecord.kind == kind,
            AlertRecord.deployment == deployment,
            AlertRecord.model_version == model_version,
            AlertRecord.state.in_(OPEN_STATES),
        )
        .order_by(AlertRecord.seq.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def last_alert_time(session: AsyncSession, *, kind: int, deployment: str) -> datetime | None:
    """When the deployment's last alert of ``kind`` was raised."""
    value = await session.scalar(
        select(func.max(AlertRecord.create_time)).where(
            AlertRecord.kind == kind, AlertRecord.deployment == deployment
        )
    )
    if value is None:
        return None
    stamp: datetime = value
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=utcnow().tzinfo)


async def resolve_alerts(
    session: AsyncSession, *, kind: int, deployment: str, model_version: str, now: datetime
) -> int:
    """Mark the episode's open alerts RESOLVED; returns how many."""
    result = await session.execute(
        update(AlertRecord)
        .where(
            AlertRecord.kind == kind,
            AlertRecord.deployment == deployment,
            AlertRecord.model_version == model_version,
            AlertRecord.state.in_(OPEN_STATES),
        )
        .values(state=alert_pb2.ALERT_STATE_RESOLVED, update_time=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _alert_id(name: str) -> str:
    from gyre.runtime.errors import FieldViolation, InvalidArgument

    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "alerts" or not parts[1]:
        raise InvalidArgument(
            f"name must be 'alerts/{{alert}}', got {name!r}",
            reason="INVALID_NAME",
            field_violations=[FieldViolation("name", "malformed")],
        )
    return parts[1]


async def get_alert(session: AsyncSession, name: str) -> AlertRecord:
    """An alert row by name.

    Raises:
        InvalidArgument: malformed name.
        NotFound: no such alert.
    """
    row = (
        await session.scalars(select(AlertRecord).where(AlertRecord.id == _alert_id(name)))
    ).first()
    if row is None:
        raise NotFound(f"alert {name!r} not found", metadata={"resource": name})
    return row


async def pending_webhooks(session: AsyncSession) -> Sequence[AlertRecord]:
    """Alerts whose webhook delivery has not finished (to resume after a restart)."""
    rows = await session.scalars(
        select(AlertRecord).where(
            AlertRecord.webhook_state == alert_pb2.WEBHOOK_DELIVERY_STATE_PENDING
        )
    )
    return list(rows)


async def list_alerts(
    session: AsyncSession, *, filter: str, order_by: str, page_size: int, page_token: str
) -> tuple[list[alert_pb2.Alert], str]:
    """One page of alerts. Filterable: ``deployment``, ``model_version``, ``kind``
    (``DRIFT``/``PERFORMANCE``), ``state`` (``OPEN``/``ACKNOWLEDGED``/``RESOLVED``),
    ``create_time``.

    Raises:
        InvalidArgument: malformed filter, order_by or page token.
    """
    fields = {
        "deployment": FilterField(AlertRecord.deployment, _text),
        "model_version": FilterField(AlertRecord.model_version, _text),
        "kind": FilterField(AlertRecord.kind, _enum(alert_pb2.AlertKind, "ALERT_KIND_")),
        "state": FilterField(AlertRecord.state, _enum(alert_pb2.AlertState, "ALERT_STATE_")),
        "create_time": FilterField(AlertRecord.create_time, parse_timestamp),
    }
    query, page = apply_listing(
        select(AlertRecord),
        filter=filter,
        order_by=order_by,
        page_size=page_size,
        page_token=page_token,
        fields=fields,
        default_order=(AlertRecord.create_time, AlertRecord.seq),
        scope="alerts",
    )
    rows = list((await session.scalars(query)).all())
    token = next_token(page, len(rows), scope="alerts", filter=filter, order_by=order_by)
    return [alert_to_proto(r) for r in rows[: page.size]], token


__all__ += ["get_policy", "load_open_windows", "pending_webhooks", "save_open_windows"]
