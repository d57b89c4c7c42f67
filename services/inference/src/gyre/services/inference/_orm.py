"""The gateway's tables: deployments, their history, and the model versions they serve.

A deployment is stored as its ``gyre.inference.v1.Deployment`` message (the wire
form is the record), with the columns lists and filters need beside it; a history
entry likewise. ``inference_model_versions`` caches the registry's ``ModelVersion``
of every routed version (signature, artifact digest), so the gateway restarts and
serves without calling the registry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gyre.runtime.db import NAMING_CONVENTION, UtcDateTime, utcnow

__all__ = ["Base", "DeploymentRecord", "HistoryRecord", "ModelVersionRecord"]


class Base(DeclarativeBase):
    """Base of the inference gateway's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DeploymentRecord(Base):
    """One deployment (``deployments/{deployment}``)."""

    __tablename__ = "inference_deployments"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    registered_model: Mapped[str] = mapped_column(String(200), index=True)
    state: Mapped[int] = mapped_column(Integer)
    etag: Mapped[str] = mapped_column(String(64))
    # Serialized gyre.inference.v1.Deployment.
    message: Mapped[bytes] = mapped_column(LargeBinary)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class HistoryRecord(Base):
    """One entry of a deployment's history."""

    __tablename__ = "inference_deployment_history"
    __table_args__ = (Index("ix_inference_history_deployment_id", "deployment", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    deployment: Mapped[str] = mapped_column(String(200))
    action: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Serialized gyre.inference.v1.DeploymentHistoryEntry.
    message: Mapped[bytes] = mapped_column(LargeBinary)


class ModelVersionRecord(Base):
    """The registry's ``ModelVersion`` of a version the gateway serves (a cache)."""

    __tablename__ = "inference_model_versions"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Serialized gyre.models.v1.ModelVersion.
    message: Mapped[bytes] = mapped_column(LargeBinary)
    fetch_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
