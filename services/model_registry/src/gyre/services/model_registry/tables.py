"""The model registry's own tables (its Alembic chain: ``migrations/``).

Besides its own resources (registered models, versions, aliases and their
history) the registry keeps what it learns from the events it consumes — runs,
dataset versions, validations and deployments — as lineage facts, since it may
not read other services' tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
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
    "AliasChangeRow",
    "AliasRow",
    "Base",
    "DatasetVersionRow",
    "DeploymentRouteRow",
    "MetricRow",
    "ModelRow",
    "ParamRow",
    "RunRow",
    "ValidationRow",
    "VersionLabelRow",
    "VersionRow",
]

_BigId = BigInteger().with_variant(Integer(), "sqlite")
_NAME = 255
_ID = 64


class Base(DeclarativeBase):
    """Base of the model registry's tables (own metadata, own migration chain)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ModelRow(Base):
    """A registered model, ``models/{model_id}``."""

    __tablename__ = "mr_models"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(String(_ID), unique=True)
    display_name: Mapped[str] = mapped_column(String(_NAME), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    owner: Mapped[str] = mapped_column(String(_NAME), default="")
    model_card: Mapped[str] = mapped_column(Text, default="")
    # Last version number handed out (versions are numbered 1, 2, ... and never reused).
    last_version: Mapped[int] = mapped_column(Integer, default=0)
    # Live (not deleted) versions.
    version_count: Mapped[int] = mapped_column(Integer, default=0)
    # Sequence of the last alias change recorded for this model.
    alias_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    etag: Mapped[str] = mapped_column(String(_ID))


class VersionRow(Base):
    """A model version, ``models/{model_id}/versions/{version}``."""

    __tablename__ = "mr_versions"
    __table_args__ = (
        UniqueConstraint("model_pk", "version"),
        UniqueConstraint("model_pk", "request_id"),
        Index("ix_mr_versions_create", "create_time", "id"),
        Index("ix_mr_versions_status_create", "status", "create_time", "id"),
        Index("ix_mr_versions_model_version", "model_id", "version"),
        Index("ix_mr_versions_model_status_version", "model_id", "status", "version"),
        Index("ix_mr_versions_source_run", "source_run"),
        Index("ix_mr_versions_dataset_version", "dataset_version"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    model_pk: Mapped[int] = mapped_column(ForeignKey("mr_models.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(_ID))
    version: Mapped[int] = mapped_column(Integer)
    # Idempotency key: the client's request id, or "run:<run name>" for run-sourced ones.
    request_id: Mapped[str | None] = mapped_column(String(_NAME), nullable=True)
    source_run: Mapped[str] = mapped_column(String(_NAME), default="")
    dataset_version: Mapped[str] = mapped_column(String(_NAME), default="")
    dataset_digest: Mapped[str] = mapped_column(String(80), default="")
    artifact_uri: Mapped[str] = mapped_column(String(1100))
    artifact_key: Mapped[str] = mapped_column(String(1100))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(_NAME), default="application/onnx")
    model_format: Mapped[int] = mapped_column(Integer, default=1)
    # Serialized gyre.models.v1.ModelVersion holding signature, params, metrics, cause.
    spec: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[int] = mapped_column(Integer)
    # Status before archiving (restored by RestoreModelVersion).
    previous_status: Mapped[int] = mapped_column(Integer, default=0)
    status_message: Mapped[str] = mapped_column(Text, default="")
    validation: Mapped[str] = mapped_column(String(_NAME), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    creator: Mapped[str] = mapped_column(String(_NAME), default="")
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    etag: Mapped[str] = mapped_column(String(_ID))
    # Set when deleted: the row stays as a lineage tombstone, invisible to reads.
    delete_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class VersionLabelRow(Base):
    """One label of a version (indexed for filters)."""

    __tablename__ = "mr_version_labels"
    __table_args__ = (Index("ix_mr_version_labels_kv", "key", "value", "version_pk"),)

    version_pk: Mapped[int] = mapped_column(
        ForeignKey("mr_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    value: Mapped[str] = mapped_column(String(_NAME))


class MetricRow(Base):
    """One final metric of a version (indexed for filters and ordering)."""

    __tablename__ = "mr_version_metrics"
    __table_args__ = (Index("ix_mr_version_metrics_nv", "name", "value", "version_pk"),)

    version_pk: Mapped[int] = mapped_column(
        ForeignKey("mr_versions.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class ParamRow(Base):
    """One training parameter of a version, as text and (when numeric) as a number."""

    __tablename__ = "mr_version_params"
    __table_args__ = (Index("ix_mr_version_params_nv", "name", "text_value", "version_pk"),)

    version_pk: Mapped[int] = mapped_column(
        ForeignKey("mr_versions.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    text_value: Mapped[str] = mapped_column(String(_NAME))
    number_value: Mapped[float | None] = mapped_column(Float, nullable=True)


class AliasRow(Base):
    """A current alias, ``models/{model_id}/aliases/{alias}``."""

    __tablename__ = "mr_aliases"
    __table_args__ = (
        UniqueConstraint("model_pk", "alias"),
        Index("ix_mr_aliases_alias_version", "alias", "version_pk"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    model_pk: Mapped[int] = mapped_column(ForeignKey("mr_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(_ID))
    version_pk: Mapped[int] = mapped_column(ForeignKey("mr_versions.id"))
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    etag: Mapped[str] = mapped_column(String(_ID))


class AliasChangeRow(Base):
    """One recorded alias change (creation, move or deletion)."""

    __tablename__ = "mr_alias_changes"
    __table_args__ = (
        UniqueConstraint("model_pk", "sequence"),
        Index("ix_mr_alias_changes_lookup", "model_pk", "alias", "change_time", "sequence"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    model_pk: Mapped[int] = mapped_column(ForeignKey("mr_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(_ID))
    sequence: Mapped[int] = mapped_column(BigInteger)
    from_version: Mapped[str] = mapped_column(String(_NAME), default="")
    to_version: Mapped[str] = mapped_column(String(_NAME), default="")
    actor: Mapped[str] = mapped_column(String(_NAME), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    override_protection: Mapped[bool] = mapped_column(Boolean, default=False)
    cause: Mapped[str] = mapped_column(String(_NAME), default="")
    # Protection of the alias after this change (for point-in-time lookups).
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    change_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RunRow(Base):
    """A training run, as learned from ``training.run.*`` events (lineage)."""

    __tablename__ = "mr_runs"
    __table_args__ = (Index("ix_mr_runs_dataset_version", "dataset_version"),)

    name: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    experiment: Mapped[str] = mapped_column(String(_NAME), default="")
    dataset_version: Mapped[str] = mapped_column(String(_NAME), default="")
    dataset_digest: Mapped[str] = mapped_column(String(80), default="")
    parent_run: Mapped[str] = mapped_column(String(_NAME), default="")
    registered_model: Mapped[str] = mapped_column(String(_NAME), default="")
    # Serialized gyre.common.v1.TriggerCause.
    cause: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    state: Mapped[str] = mapped_column(String(32), default="")
    event_id: Mapped[str] = mapped_column(String(_ID), default="")
    update_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DatasetVersionRow(Base):
    """A dataset version, as learned from ``data.version.committed`` (lineage)."""

    __tablename__ = "mr_dataset_versions"

    name: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    digest: Mapped[str] = mapped_column(String(80), default="")
    parent_versions: Mapped[list[str]] = mapped_column(JSON, default=list)
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    event_id: Mapped[str] = mapped_column(String(_ID), default="")


class ValidationRow(Base):
    """A completed validation, as learned from ``validation.completed`` (lineage)."""

    __tablename__ = "mr_validations"
    __table_args__ = (Index("ix_mr_validations_model_version", "model_version"),)

    name: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(_NAME))
    dataset_version: Mapped[str] = mapped_column(String(_NAME), default="")
    champion_version: Mapped[str] = mapped_column(String(_NAME), default="")
    verdict: Mapped[str] = mapped_column(String(32), default="")
    report_uri: Mapped[str] = mapped_column(String(1100), default="")
    complete_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DeploymentRouteRow(Base):
    """A version a deployment routes (or routed) traffic to, from ``inference.*`` events."""

    __tablename__ = "mr_deployment_routes"
    __table_args__ = (Index("ix_mr_deployment_routes_version", "model_version", "active"),)

    deployment: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(_NAME), primary_key=True)
    registered_model: Mapped[str] = mapped_column(String(_NAME), default="")
    # "champion", "canary", "shadow" or "" once no longer routed.
    role: Mapped[str] = mapped_column(String(32), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
