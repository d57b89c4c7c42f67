"""The training scheduler's tables (its own metadata and Alembic chain).

Runs keep their spec and result as serialized protobuf (``RunSpec`` / ``RunResult``)
next to the columns the scheduler queries (state, priority, experiment, parent,
trigger and cause); params and final metrics are also copied into narrow tables so
``SearchRuns`` can filter and order on them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gyre.runtime.db import NAMING_CONVENTION, UtcDateTime, utcnow

__all__ = [
    "ExperimentRecord",
    "MetricRecord",
    "RunLogRecord",
    "RunRecord",
    "TrainingBase",
    "TriggerFiringRecord",
    "TriggerRecord",
]

_NAME = 200
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class TrainingBase(DeclarativeBase):
    """Base of the training scheduler's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ExperimentRecord(TrainingBase):
    """An experiment: a named group of runs."""

    __tablename__ = "training_experiments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(_NAME), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(_NAME), default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class RunRecord(TrainingBase):
    """A run (or sweep, or sweep trial)."""

    __tablename__ = "training_runs"
    __table_args__ = (
        Index("ix_training_runs_queue", "state", "priority", "seq"),
        # Exactly one run per (trigger, cause event): two replicas or a redelivered
        # event race on this constraint and the loser reads the winner's run.
        UniqueConstraint("trigger", "cause_event_id", name="uq_training_runs_trigger_cause"),
        UniqueConstraint("request_id", name="uq_training_runs_request_id"),
    )

    # FIFO order within a priority (and a stable primary key).
    seq: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    experiment: Mapped[str] = mapped_column(String(64), index=True)
    display_name: Mapped[str] = mapped_column(String(_NAME), default="")
    # RunState enum value.
    state: Mapped[int] = mapped_column(Integer, index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    spec: Mapped[bytes] = mapped_column(LargeBinary)
    # Digest of the (resolved) dataset version, "sha256:<hex>".
    dataset_digest: Mapped[str] = mapped_column(String(_NAME), default="")
    result: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    parent_run: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # Trial index within its sweep (children only).
    trial_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # TriggerCause, serialized; trigger and event id copied for the unique constraint.
    cause: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    trigger: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    cause_event_id: Mapped[str | None] = mapped_column(String(_NAME), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(_NAME), nullable=True)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    ray_job_id: Mapped[str] = mapped_column(String(_NAME), default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    creator: Mapped[str] = mapped_column(String(_NAME), default="")
    # Final validation metrics (name -> value) and params (name -> JSON scalar), for
    # SearchRuns filters and ordering.
    final_metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    start_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # When the current attempt was handed to Ray (timeouts are measured from here).
    attempt_start_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class MetricRecord(TrainingBase):
    """One value of a run's step-wise metric history."""

    __tablename__ = "training_metrics"
    __table_args__ = (
        UniqueConstraint("run_id", "name", "step", name="uq_training_metrics_run_name_step"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(_NAME))
    step: Mapped[int] = mapped_column(BigInteger, default=0)
    value: Mapped[float] = mapped_column(Float)
    time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RunLogRecord(TrainingBase):
    """A log line the scheduler itself wrote about a run, or a finished attempt's log."""

    __tablename__ = "training_run_logs"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # LogStream enum value.
    stream: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TriggerRecord(TrainingBase):
    """A continuous-training trigger (spec as a serialized ``Trigger``)."""

    __tablename__ = "training_triggers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[int] = mapped_column(Integer, index=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Watched resource: dataset for NEW_DATA, deployment or model for monitors.
    watch: Mapped[str] = mapped_column(String(_NAME), default="", index=True)
    spec: Mapped[bytes] = mapped_column(LargeBinary)
    last_fire_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_run: Mapped[str] = mapped_column(String(64), default="")
    fire_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # Next cron tick to fire (schedule triggers).
    next_tick: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Rows of the dataset version the last NEW_DATA run trained on.
    last_row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class TriggerFiringRecord(TrainingBase):
    """A cause a trigger has seen: fired (with its run) or skipped (with why)."""

    __tablename__ = "training_trigger_firings"
    __table_args__ = (
        UniqueConstraint("trigger", "cause_event_id", name="uq_training_trigger_firings_cause"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    trigger: Mapped[str] = mapped_column(String(64))
    cause_event_id: Mapped[str] = mapped_column(String(_NAME))
    run_id: Mapped[str] = mapped_column(String(64), default="")
    skipped_reason: Mapped[str] = mapped_column(Text, default="")
    time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
