"""The monitor's tables (its own Alembic chain: ``gyre_monitoring_alembic_version``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gyre.runtime.db import NAMING_CONVENTION, MigrationChain, UtcDateTime

__all__ = [
    "MONITORING_MIGRATIONS",
    "AlertRecord",
    "BaselineRecord",
    "DeploymentRecord",
    "DriftReportRecord",
    "MonitoringBase",
    "OpenWindowRecord",
    "PerformanceReportRecord",
    "PolicyRecord",
]

_NAME = 255


class MonitoringBase(DeclarativeBase):
    """Base of the monitor's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DeploymentRecord(MonitoringBase):
    """A deployment the monitor knows (from the gateway's events or a policy)."""

    __tablename__ = "monitoring_deployments"

    name: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    registered_model: Mapped[str] = mapped_column(String(_NAME), default="")
    # The champion the gateway last announced (informational).
    champion_version: Mapped[str] = mapped_column(String(_NAME), default="")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime)


class PolicyRecord(MonitoringBase):
    """A deployment's monitoring policy (serialized ``MonitoringPolicy``)."""

    __tablename__ = "monitoring_policies"

    deployment: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    policy: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(String(64))
    update_time: Mapped[datetime] = mapped_column(UtcDateTime)


class DriftReportRecord(MonitoringBase):
    """One closed window's ``DriftReport`` (serialized), with its filterable fields."""

    __tablename__ = "monitoring_drift_reports"
    __table_args__ = (Index("ix_monitoring_drift_reports_deployment_time", "deployment", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(64), unique=True)
    deployment: Mapped[str] = mapped_column(String(_NAME))
    model_version: Mapped[str] = mapped_column(String(_NAME))
    drifted: Mapped[bool] = mapped_column(Boolean)
    drifted_share: Mapped[float]
    row_count: Mapped[int] = mapped_column(BigInteger)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime)
    report: Mapped[bytes] = mapped_column(LargeBinary)


class PerformanceReportRecord(MonitoringBase):
    """One window's ``PerformanceReport`` (serialized), with its filterable fields."""

    __tablename__ = "monitoring_performance_reports"
    __table_args__ = (
        Index("ix_monitoring_performance_reports_deployment_time", "deployment", "seq"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(64), unique=True)
    deployment: Mapped[str] = mapped_column(String(_NAME))
    model_version: Mapped[str] = mapped_column(String(_NAME))
    degraded: Mapped[bool] = mapped_column(Boolean)
    sample_count: Mapped[int] = mapped_column(BigInteger)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime)
    report: Mapped[bytes] = mapped_column(LargeBinary)


class AlertRecord(MonitoringBase):
    """An alert and its webhook delivery."""

    __tablename__ = "monitoring_alerts"
    __table_args__ = (Index("ix_monitoring_alerts_deployment_kind", "deployment", "kind"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[int] = mapped_column(Integer)
    deployment: Mapped[str] = mapped_column(String(_NAME))
    model_version: Mapped[str] = mapped_column(String(_NAME))
    report: Mapped[str] = mapped_column(String(512))
    summary: Mapped[str] = mapped_column(Text)
    state: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    webhook_url: Mapped[str] = mapped_column(Text, default="")
    webhook_state: Mapped[int] = mapped_column(Integer)
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    webhook_last_http_status: Mapped[int] = mapped_column(Integer, default=0)
    webhook_last_error: Mapped[str] = mapped_column(Text, default="")
    webhook_last_attempt_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime)


class BaselineRecord(MonitoringBase):
    """The validated metrics of a model version (from ``validation.completed``)."""

    __tablename__ = "monitoring_baselines"

    model_version: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    validation: Mapped[str] = mapped_column(String(_NAME), default="")
    update_time: Mapped[datetime] = mapped_column(UtcDateTime)


class OpenWindowRecord(MonitoringBase):
    """A checkpoint of an open window (drift or performance), restored after a restart."""

    __tablename__ = "monitoring_open_windows"

    deployment: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    # "drift" or "performance".
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime)


#: The monitor's Alembic chain; run after ``RUNTIME_MIGRATIONS``.
MONITORING_MIGRATIONS: Final = MigrationChain(
    name="monitoring",
    script_location=str(Path(__file__).parent / "migrations"),
    version_table="gyre_monitoring_alembic_version",
    metadata=MonitoringBase.metadata,
)
