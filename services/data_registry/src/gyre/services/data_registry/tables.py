"""The data registry's tables: datasets, versions (with their manifests) and known chunks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gyre.runtime.db import NAMING_CONVENTION, UtcDateTime

__all__ = ["ChunkRecord", "DataBase", "DatasetRecord", "VersionRecord"]

_BIGINT = BigInteger().with_variant(Integer(), "sqlite")


class DataBase(DeclarativeBase):
    """Declarative base of the data registry's own tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DatasetRecord(DataBase):
    """One dataset (``datasets/{dataset_id}``)."""

    __tablename__ = "data_datasets"

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    owner: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    source: Mapped[str] = mapped_column(Text, nullable=False, default="")
    preprocessing_notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    version_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    latest_version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    etag: Mapped[str] = mapped_column(String(64), nullable=False)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class VersionRecord(DataBase):
    """One immutable dataset version; ``body`` is the serialized ``DatasetVersion``."""

    __tablename__ = "data_versions"
    __table_args__ = (
        UniqueConstraint("dataset_pk", "version"),
        UniqueConstraint("dataset_pk", "request_id"),
    )

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    dataset_pk: Mapped[int] = mapped_column(
        _BIGINT, ForeignKey("data_datasets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    digest: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    request_id: Mapped[str] = mapped_column(String(128), nullable=False)
    state: Mapped[int] = mapped_column(Integer, nullable=False)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # gyre.data.v1.DatasetVersion, serialized.
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # gyre.data.v1.Manifest (files sorted by path), serialized.
    manifest: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # Derived objects in the store: {"train": {"keys": {...}, "rows": [{...}]}, ...} with
    # {"key", "sha256", "size"} per object.
    derived: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class ChunkRecord(DataBase):
    """A chunk some committed version references, verified when it was committed."""

    __tablename__ = "data_chunks"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    create_time: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
