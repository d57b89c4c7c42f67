"""The validation gate's own tables (its Alembic chain creates them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gyre.runtime.db import NAMING_CONVENTION, UtcDateTime, utcnow

__all__ = [
    "POLICIES_TABLE",
    "VALIDATIONS_TABLE",
    "PolicyRecord",
    "ValidationBase",
    "ValidationRecord",
]

POLICIES_TABLE = "validation_policies"
VALIDATIONS_TABLE = "validations"

_NAME_LEN = 300
_ID_LEN = 64


class ValidationBase(DeclarativeBase):
    """Base of the validation gate's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PolicyRecord(ValidationBase):
    """A stored policy: a model's own, or the edited default."""

    __tablename__ = POLICIES_TABLE

    # "models/{model}/validationPolicy" or "validationPolicies/default".
    name: Mapped[str] = mapped_column(String(_NAME_LEN), primary_key=True)
    # The serialized gyre.validation.v1.ValidationPolicy (rules only).
    policy: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(String(_ID_LEN))
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ValidationRecord(ValidationBase):
    """One validation: the resource (as a serialized message) plus the columns that
    list filters, the worker's claim and the de-duplication constraints need."""

    __tablename__ = VALIDATIONS_TABLE
    __table_args__ = (
        Index("ix_validations_create_time_id", "create_time", "id"),
        Index("ix_validations_state_create_time", "state", "create_time"),
    )

    # The {validation} of "validations/{validation}".
    id: Mapped[str] = mapped_column(String(_ID_LEN), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(_NAME_LEN), index=True)
    registered_model: Mapped[str] = mapped_column(String(_NAME_LEN), index=True)
    champion_version: Mapped[str] = mapped_column(String(_NAME_LEN), default="")
    dataset_version: Mapped[str] = mapped_column(String(_NAME_LEN), default="")
    # gyre.validation.v1.ValidationState / ValidationVerdict numbers.
    state: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[int] = mapped_column(Integer, default=0)
    # An event id (models.version.registered) or "manual".
    cause: Mapped[str] = mapped_column(String(_NAME_LEN))
    creator: Mapped[str] = mapped_column(String(_NAME_LEN), default="")
    # Set for event-caused validations: the event id (unique: a redelivered event
    # creates nothing) and the version (unique: one automatic validation per version).
    trigger_event_id: Mapped[str | None] = mapped_column(
        String(_ID_LEN), unique=True, nullable=True
    )
    auto_model_version: Mapped[str | None] = mapped_column(
        String(_NAME_LEN), unique=True, nullable=True
    )
    # Correlation id of the causing event, carried into validation.completed.
    correlation_id: Mapped[str] = mapped_column(String(_ID_LEN), default="")
    # ValidateModelVersion's idempotency key (unique when set).
    request_id: Mapped[str | None] = mapped_column(String(_ID_LEN), unique=True, nullable=True)
    # Dataset version requested explicitly (overrides the policy's choice).
    requested_dataset_version: Mapped[str] = mapped_column(String(_NAME_LEN), default="")
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    start_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Worker claim: who evaluates it and until when the claim holds without renewal.
    lease_owner: Mapped[str | None] = mapped_column(String(_ID_LEN), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The serialized gyre.validation.v1.Validation.
    resource: Mapped[bytes] = mapped_column(LargeBinary)
    # The candidate as the registry described it when the validation was requested
    # (serialized gyre.models.v1.ModelVersion).
    model_version_snapshot: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Report material not in the resource (confusion matrices, residuals, slices).
    extras: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The rendered Markdown report (also stored in the object store).
    report_markdown: Mapped[str | None] = mapped_column(Text, nullable=True)
