"""Rows ⇄ protobuf messages of ``gyre.models.v1``."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from gyre.common.v1 import value_pb2
from gyre.models.v1 import alias_pb2, model_version_pb2, registered_model_pb2
from gyre.services.model_registry.names import alias_name, model_name, version_name
from gyre.services.model_registry.tables import AliasChangeRow, AliasRow, ModelRow, VersionRow

__all__ = [
    "alias_change_to_proto",
    "alias_to_proto",
    "model_to_proto",
    "new_etag",
    "param_text",
    "timestamp",
    "version_to_proto",
]


def new_etag() -> str:
    """A fresh opaque etag."""
    return uuid.uuid4().hex[:20]


def timestamp(value: datetime | None) -> Timestamp:
    ts = Timestamp()
    if value is not None:
        ts.FromDatetime(value)
    return ts


def model_to_proto(
    row: ModelRow, aliases: Mapping[str, str] | None = None
) -> registered_model_pb2.RegisteredModel:
    return registered_model_pb2.RegisteredModel(
        name=model_name(row.model_id),
        display_name=row.display_name,
        description=row.description,
        labels=dict(row.labels or {}),
        owner=row.owner,
        model_card=row.model_card,
        latest_version=version_name(row.model_id, row.last_version) if row.last_version else "",
        aliases=dict(aliases or {}),
        version_count=row.version_count,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        etag=row.etag,
    )


def version_to_proto(
    row: VersionRow, aliases: Iterable[str] = ()
) -> model_version_pb2.ModelVersion:
    mv = model_version_pb2.ModelVersion.FromString(row.spec)
    mv.name = version_name(row.model_id, row.version)
    mv.version = row.version
    mv.source_run = row.source_run
    mv.dataset_version = row.dataset_version
    mv.dataset_digest = row.dataset_digest
    mv.artifact.uri = row.artifact_uri
    mv.artifact.sha256 = row.sha256
    mv.artifact.size_bytes = row.size_bytes
    mv.artifact.media_type = row.media_type
    mv.model_format = row.model_format  # type: ignore[assignment]
    mv.status = row.status  # type: ignore[assignment]
    mv.status_message = row.status_message
    mv.validation = row.validation
    del mv.aliases[:]
    mv.aliases.extend(sorted(aliases))
    mv.description = row.description
    mv.labels.clear()
    mv.labels.update(row.labels or {})
    mv.creator = row.creator
    mv.create_time.CopyFrom(timestamp(row.create_time))
    mv.update_time.CopyFrom(timestamp(row.update_time))
    mv.etag = row.etag
    return mv


def spec_of(mv: model_version_pb2.ModelVersion) -> bytes:
    """The immutable parts of a version stored as one blob (signature, params, metrics,
    cause)."""
    spec = model_version_pb2.ModelVersion()
    spec.signature.CopyFrom(mv.signature)
    for key, value in mv.params.items():
        spec.params[key].CopyFrom(value)
    spec.metrics.extend(mv.metrics)
    if mv.HasField("cause"):
        spec.cause.CopyFrom(mv.cause)
    return spec.SerializeToString()


def alias_to_proto(row: AliasRow, model_id: str, version: int) -> alias_pb2.Alias:
    return alias_pb2.Alias(
        name=alias_name(model_id, row.alias),
        version=version_name(model_id, version),
        protected=row.protected,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        etag=row.etag,
    )


def alias_change_to_proto(row: AliasChangeRow, model_id: str) -> alias_pb2.AliasChange:
    return alias_pb2.AliasChange(
        alias=alias_name(model_id, row.alias),
        from_version=row.from_version,
        to_version=row.to_version,
        actor=row.actor,
        reason=row.reason,
        override_protection=row.override_protection,
        cause=row.cause,
        change_time=timestamp(row.change_time),
        sequence=row.sequence,
    )


def param_text(value: value_pb2.Value) -> tuple[str, float | None]:
    """A parameter as text, and as a number when it is one (for filters)."""
    kind = value.WhichOneof("kind")
    if kind == "bool_value":
        return ("true" if value.bool_value else "false"), float(value.bool_value)
    if kind == "int64_value":
        return str(value.int64_value), float(value.int64_value)
    if kind == "double_value":
        number = value.double_value
        return repr(number), (None if math.isnan(number) else number)
    if kind == "string_value":
        text = value.string_value
        return text[:255], None
    if kind == "bytes_value":
        return value.bytes_value.hex()[:255], None
    return "null", None
