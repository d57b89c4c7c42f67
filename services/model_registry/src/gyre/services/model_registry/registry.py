"""Domain logic of the model registry: models, versions, aliases, archive and delete.

Every method runs its own short transaction (``Database.run``, retried on
serialization failures and busy SQLite files) unless given the caller's session
(event handlers run inside the consumer's transaction). Every change others may
react to is written to the outbox in that same transaction.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.common.v1 import artifact_pb2
from gyre.events.v1 import models_events_pb2
from gyre.models.v1 import alias_pb2, model_version_pb2, registered_model_pb2
from gyre.runtime.db import Database, utcnow
from gyre.runtime.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from gyre.runtime.events import Outbox
from gyre.services.model_registry import filters
from gyre.services.model_registry.artifacts import (
    ONNX_MEDIA_TYPE,
    URL_EXPIRY,
    ArtifactStores,
    artifact_key,
    check_sha256,
    parse_s3_uri,
)
from gyre.services.model_registry.convert import (
    alias_change_to_proto,
    alias_to_proto,
    model_to_proto,
    new_etag,
    param_text,
    spec_of,
    timestamp,
    version_to_proto,
)
from gyre.services.model_registry.names import (
    VersionName,
    check_alias_id,
    check_model_id,
    model_name,
    parse_alias,
    parse_model,
    parse_version,
    version_name,
)
from gyre.services.model_registry.tables import (
    AliasChangeRow,
    AliasRow,
    DeploymentRouteRow,
    MetricRow,
    ModelRow,
    ParamRow,
    VersionLabelRow,
    VersionRow,
)

__all__ = ["PROTECTED_BY_DEFAULT", "Registry", "SetAliasResult"]

_log = logging.getLogger(__name__)
T = TypeVar("T")

Status = model_version_pb2.ModelVersionStatus
PENDING: Final = model_version_pb2.MODEL_VERSION_STATUS_PENDING_VALIDATION
VALIDATED: Final = model_version_pb2.MODEL_VERSION_STATUS_VALIDATED
REJECTED: Final = model_version_pb2.MODEL_VERSION_STATUS_REJECTED
ARCHIVED: Final = model_version_pb2.MODEL_VERSION_STATUS_ARCHIVED
# Aliases protected when first created.
PROTECTED_BY_DEFAULT: Final = frozenset({"champion"})
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
DEFAULT_ALIAS_PAGE_SIZE: Final = 100
_MAX_TEXT: Final = 64 * 1024
_MAX_LABELS: Final = 64
_MODEL_MUTABLE: Final = frozenset({"display_name", "description", "labels", "owner", "model_card"})
_VERSION_MUTABLE: Final = frozenset({"description", "labels"})


def _status_name(status: int) -> str:
    return Status.Name(status).removeprefix("MODEL_VERSION_STATUS_")


def _page_size(value: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    if value < 0:
        raise InvalidArgument(
            "page_size must not be negative",
            field_violations=[FieldViolation("page_size", "negative")],
        )
    return min(value or default, MAX_PAGE_SIZE)


def _check_labels(labels: dict[str, str], field: str) -> None:
    if len(labels) > _MAX_LABELS:
        raise InvalidArgument(
            f"{field}: at most {_MAX_LABELS} labels",
            field_violations=[FieldViolation(field, "too many labels")],
        )
    for key, value in labels.items():
        if not key or len(key) > 63 or len(value) > 255:
            raise InvalidArgument(
                f"{field}: label keys are 1-63 characters and values at most 255",
                field_violations=[FieldViolation(f"{field}.{key[:63]}", "bad label")],
            )


def _check_etag(given: str, current: str, what: str) -> None:
    if given and given != current:
        raise Aborted(
            f"{what} changed since it was read (etag {given!r} is stale); read it again",
            reason="ETAG_MISMATCH",
            metadata={"resource": what, "etag": current},
        )


@dataclass(frozen=True)
class SetAliasResult:
    alias: alias_pb2.Alias
    change: alias_pb2.AliasChange | None


class Registry:
    """The model registry's domain operations over its database and the object store."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        stores: ArtifactStores,
        *,
        actor: str = "model-registry",
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.stores = stores
        self.actor = actor

    async def _in(
        self, session: AsyncSession | None, work: Callable[[AsyncSession], Awaitable[T]]
    ) -> T:
        if session is not None:
            return await work(session)
        return await self.db.run(work)

    # --- lookups -------------------------------------------------------------------

    async def _model(
        self, session: AsyncSession, model_id: str, *, for_update: bool = False
    ) -> ModelRow:
        if for_update:
            # A no-op write first: it takes SQLite's write lock at the start of the
            # transaction (pysqlite begins transactions lazily, at the first write, so
            # reads before it would not be isolated) and the row lock on PostgreSQL.
            # Every read-modify-write of one model's versions and aliases is serialized.
            await session.execute(
                update(ModelRow)
                .where(ModelRow.model_id == model_id)
                .values(alias_sequence=ModelRow.alias_sequence)
            )
        statement = select(ModelRow).where(ModelRow.model_id == model_id)
        row = (await session.execute(statement)).scalar_one_or_none()
        if row is None:
            raise NotFound(
                f"registered model {model_name(model_id)} does not exist",
                reason="REGISTERED_MODEL_NOT_FOUND",
                metadata={"name": model_name(model_id)},
            )
        return row

    async def _version(
        self,
        session: AsyncSession,
        ref: VersionName,
        *,
        for_update: bool = False,
    ) -> VersionRow:
        if ref.alias:
            model = await self._model(session, ref.model)
            alias = (
                await session.execute(
                    select(AliasRow).where(
                        AliasRow.model_pk == model.id, AliasRow.alias == ref.alias
                    )
                )
            ).scalar_one_or_none()
            if alias is None:
                raise NotFound(
                    f"alias {ref.alias!r} of {model_name(ref.model)} does not exist",
                    reason="ALIAS_NOT_FOUND",
                    metadata={"name": f"models/{ref.model}/aliases/{ref.alias}"},
                )
            statement = select(VersionRow).where(VersionRow.id == alias.version_pk)
        else:
            statement = select(VersionRow).where(
                VersionRow.model_id == ref.model, VersionRow.version == ref.version
            )
        if for_update:
            statement = statement.with_for_update()
        row = (await session.execute(statement)).scalar_one_or_none()
        if row is None or row.delete_time is not None:
            name = version_name(ref.model, ref.version) if ref.version else str(ref.alias)
            raise NotFound(
                f"model version {name} does not exist",
                reason="MODEL_VERSION_NOT_FOUND",
                metadata={"name": name},
            )
        return row

    async def _aliases_of(
        self, session: AsyncSession, version_pks: Sequence[int]
    ) -> dict[int, list[str]]:
        result: dict[int, list[str]] = defaultdict(list)
        if not version_pks:
            return result
        rows = await session.execute(
            select(AliasRow.version_pk, AliasRow.alias).where(AliasRow.version_pk.in_(version_pks))
        )
        for pk, alias in rows:
            result[pk].append(alias)
        return result

    async def _version_proto(
        self, session: AsyncSession, row: VersionRow
    ) -> model_version_pb2.ModelVersion:
        aliases = await self._aliases_of(session, [row.id])
        return version_to_proto(row, aliases.get(row.id, ()))

    async def _model_aliases(self, session: AsyncSession, model: ModelRow) -> dict[str, str]:
        rows = await session.execute(
            select(AliasRow.alias, VersionRow.version)
            .join(VersionRow, VersionRow.id == AliasRow.version_pk)
            .where(AliasRow.model_pk == model.id)
        )
        return {alias: version_name(model.model_id, number) for alias, number in rows}

    # --- registered models -----------------------------------------------------------

    async def create_model(
        self, model_id: str, model: registered_model_pb2.RegisteredModel
    ) -> registered_model_pb2.RegisteredModel:
        check_model_id(model_id)
        _check_labels(dict(model.labels), "registered_model.labels")

        async def work(session: AsyncSession) -> registered_model_pb2.RegisteredModel:
            now = utcnow()
            row = ModelRow(
                model_id=model_id,
                display_name=model.display_name or model_id,
                description=model.description[:_MAX_TEXT],
                labels=dict(model.labels),
                owner=model.owner,
                model_card=model.model_card,
                last_version=0,
                version_count=0,
                alias_sequence=0,
                create_time=now,
                update_time=now,
                etag=new_etag(),
            )
            session.add(row)
            await session.flush()
            return model_to_proto(row)

        try:
            return await self.db.run(work)
        except AlreadyExists as exc:
            raise AlreadyExists(
                f"registered model {model_name(model_id)} already exists",
                reason="REGISTERED_MODEL_EXISTS",
                metadata={"name": model_name(model_id)},
            ) from exc

    async def _ensure_model(self, session: AsyncSession, model_id: str, owner: str) -> ModelRow:
        row = (
            await session.execute(select(ModelRow).where(ModelRow.model_id == model_id))
        ).scalar_one_or_none()
        if row is not None:
            return row
        now = utcnow()
        row = ModelRow(
            model_id=model_id,
            display_name=model_id,
            description="",
            labels={},
            owner=owner,
            model_card="",
            last_version=0,
            version_count=0,
            alias_sequence=0,
            create_time=now,
            update_time=now,
            etag=new_etag(),
        )
        session.add(row)
        await session.flush()
        return row

    async def get_model(self, name: str) -> registered_model_pb2.RegisteredModel:
        model_id = parse_model(name)

        async def work(session: AsyncSession) -> registered_model_pb2.RegisteredModel:
            row = await self._model(session, model_id)
            return model_to_proto(row, await self._model_aliases(session, row))

        return await self.db.run(work)

    async def list_models(
        self, *, page_size: int, page_token: str, filter_text: str, order_by: str
    ) -> tuple[list[registered_model_pb2.RegisteredModel], str]:
        size = _page_size(page_size)
        if order_by.strip() not in {"", "name", "name asc"}:
            raise InvalidArgument(
                "registered models are ordered by name only",
                field_violations=[FieldViolation("order_by", "only 'name'")],
            )
        predicate = _model_filter(filter_text)

        async def work(
            session: AsyncSession,
        ) -> tuple[list[registered_model_pb2.RegisteredModel], str]:
            statement = select(ModelRow).order_by(ModelRow.model_id)
            if page_token:
                statement = statement.where(ModelRow.model_id > _model_token(page_token))
            models: list[registered_model_pb2.RegisteredModel] = []
            last = ""
            more = False
            for row in (await session.execute(statement)).scalars():
                proto = model_to_proto(row)
                if not predicate(proto):
                    continue
                if len(models) == size:
                    more = True
                    break
                proto.aliases.update(await self._model_aliases(session, row))
                models.append(proto)
                last = row.model_id
            return models, (last if more else "")

        return await self.db.run(work)

    async def update_model(
        self, model: registered_model_pb2.RegisteredModel, mask: FieldMask
    ) -> registered_model_pb2.RegisteredModel:
        model_id = parse_model(model.name, field="registered_model.name")
        paths = list(mask.paths)
        if not paths:
            raise InvalidArgument(
                "update_mask is empty",
                field_violations=[FieldViolation("update_mask", "name the fields to update")],
            )
        bad = [p for p in paths if p not in _MODEL_MUTABLE]
        if bad:
            raise InvalidArgument(
                f"update_mask names fields that cannot be updated: {', '.join(bad)}",
                field_violations=[
                    FieldViolation("update_mask", f"not updatable: {p}") for p in bad
                ],
            )
        _check_labels(dict(model.labels), "registered_model.labels")

        async def work(session: AsyncSession) -> registered_model_pb2.RegisteredModel:
            row = await self._model(session, model_id, for_update=True)
            _check_etag(model.etag, row.etag, model_name(model_id))
            for path in paths:
                value: Any = dict(model.labels) if path == "labels" else getattr(model, path)
                setattr(row, path, value)
            row.update_time = utcnow()
            row.etag = new_etag()
            await session.flush()
            return model_to_proto(row, await self._model_aliases(session, row))

        return await self.db.run(work)

    async def delete_model(self, name: str, *, etag: str, force: bool) -> None:
        model_id = parse_model(name)

        async def work(session: AsyncSession) -> None:
            row = await self._model(session, model_id, for_update=True)
            _check_etag(etag, row.etag, name)
            if row.version_count and not force:
                raise FailedPrecondition(
                    f"{name} has {row.version_count} versions; pass force to delete them too",
                    reason="REGISTERED_MODEL_HAS_VERSIONS",
                    metadata={"name": name},
                )
            deployed = (
                await session.execute(
                    select(DeploymentRouteRow.deployment, DeploymentRouteRow.model_version)
                    .where(
                        DeploymentRouteRow.registered_model == name,
                        DeploymentRouteRow.active.is_(True),
                    )
                    .limit(1)
                )
            ).first()
            if deployed is not None:
                raise FailedPrecondition(
                    f"{deployed[1]} is deployed to {deployed[0]}; remove it from the "
                    "deployment first",
                    reason="MODEL_VERSION_DEPLOYED",
                    metadata={"name": deployed[1], "deployment": deployed[0]},
                )
            await session.execute(delete(AliasRow).where(AliasRow.model_pk == row.id))
            await session.execute(delete(AliasChangeRow).where(AliasChangeRow.model_pk == row.id))
            pks = select(VersionRow.id).where(VersionRow.model_pk == row.id)
            for table in (VersionLabelRow, MetricRow, ParamRow):
                await session.execute(delete(table).where(table.version_pk.in_(pks)))
            await session.execute(delete(VersionRow).where(VersionRow.model_pk == row.id))
            await session.delete(row)

        await self.db.run(work)

    # --- artifacts -------------------------------------------------------------------

    async def create_upload_url(
        self, parent: str, *, sha256: str, size_bytes: int, media_type: str
    ) -> tuple[artifact_pb2.ArtifactRef, artifact_pb2.PresignedUrl | None]:
        model_id = parse_model(parent, field="parent")
        check_sha256(sha256, "sha256")
        if size_bytes <= 0:
            raise InvalidArgument(
                "size_bytes must be positive",
                field_violations=[FieldViolation("size_bytes", "not positive")],
            )
        media_type = media_type or ONNX_MEDIA_TYPE
        if media_type != ONNX_MEDIA_TYPE:
            raise InvalidArgument(
                f"media_type must be {ONNX_MEDIA_TYPE!r}, got {media_type!r}",
                field_violations=[FieldViolation("media_type", "only application/onnx")],
            )

        async def check(session: AsyncSession) -> None:
            await self._model(session, model_id)

        await self.db.run(check)
        store = self.stores.default
        key = artifact_key(sha256)
        ref = artifact_pb2.ArtifactRef(
            uri=store.uri(key), sha256=sha256, size_bytes=size_bytes, media_type=media_type
        )
        if await store.exists(key):
            info = await store.stat(key)
            if info.size == size_bytes:
                return ref, None
        url = await store.presigned_put_url(key, expires=URL_EXPIRY)
        presigned = artifact_pb2.PresignedUrl(
            url=url,
            method="PUT",
            headers={"Content-Length": str(size_bytes), "Content-Type": media_type},
            expire_time=timestamp(utcnow() + URL_EXPIRY),
        )
        return ref, presigned

    async def download_url(self, name: str) -> tuple[str, str, int, datetime]:
        ref = parse_version(name, allow_alias=True)

        async def work(session: AsyncSession) -> VersionRow:
            if not ref.alias:
                tombstone = (
                    await session.execute(
                        select(VersionRow.delete_time).where(
                            VersionRow.model_id == ref.model, VersionRow.version == ref.version
                        )
                    )
                ).scalar_one_or_none()
                if tombstone is not None:
                    raise FailedPrecondition(
                        f"{name} was deleted; its artifact is gone",
                        reason="MODEL_VERSION_DELETED",
                        metadata={"name": name},
                    )
            return await self._version(session, ref)

        row = await self.db.run(work)
        bucket, key = parse_s3_uri(row.artifact_uri)
        url = await self.stores.bucket(bucket).presigned_get_url(key, expires=URL_EXPIRY)
        return url, row.sha256, row.size_bytes, utcnow() + URL_EXPIRY

    # --- versions --------------------------------------------------------------------

    @staticmethod
    def _check_new_version(mv: model_version_pb2.ModelVersion) -> None:
        violations: list[FieldViolation] = []
        artifact = mv.artifact
        if not artifact.uri:
            violations.append(FieldViolation("model_version.artifact.uri", "required"))
        if artifact.size_bytes <= 0:
            violations.append(FieldViolation("model_version.artifact.size_bytes", "not positive"))
        if not mv.signature.inputs or not mv.signature.outputs:
            violations.append(FieldViolation("model_version.signature", "needs inputs and outputs"))
        for i, spec in enumerate([*mv.signature.inputs, *mv.signature.outputs]):
            if not spec.name:
                violations.append(FieldViolation(f"model_version.signature[{i}].name", "empty"))
        if mv.artifact.media_type not in {"", ONNX_MEDIA_TYPE}:
            violations.append(
                FieldViolation("model_version.artifact.media_type", "only application/onnx")
            )
        if mv.model_format not in {
            model_version_pb2.MODEL_FORMAT_UNSPECIFIED,
            model_version_pb2.MODEL_FORMAT_ONNX,
        }:
            violations.append(FieldViolation("model_version.model_format", "only ONNX"))
        if violations:
            raise InvalidArgument(
                "invalid model version: "
                + "; ".join(f"{v.field}: {v.description}" for v in violations),
                reason="INVALID_MODEL_VERSION",
                field_violations=violations,
            )
        check_sha256(artifact.sha256, "model_version.artifact.sha256")
        parse_s3_uri(artifact.uri)
        _check_labels(dict(mv.labels), "model_version.labels")
        for metric in mv.metrics:
            if not metric.name:
                raise InvalidArgument(
                    "metric names must not be empty",
                    field_violations=[FieldViolation("model_version.metrics", "empty name")],
                )

    async def _by_request_id(
        self, session: AsyncSession, model_id: str, request_id: str
    ) -> VersionRow | None:
        return (
            await session.execute(
                select(VersionRow).where(
                    VersionRow.model_id == model_id, VersionRow.request_id == request_id
                )
            )
        ).scalar_one_or_none()

    async def create_version(
        self,
        parent: str,
        mv: model_version_pb2.ModelVersion,
        *,
        request_id: str = "",
        creator: str = "",
        session: AsyncSession | None = None,
        caused_by: Message | None = None,
        create_model: bool = False,
    ) -> model_version_pb2.ModelVersion:
        """Register a version: verify the artifact, number it, emit ``registered``.

        Idempotent on ``request_id`` (returns the version registered first).

        Raises:
            InvalidArgument, NotFound (model or artifact), DataLoss (digest or size).
        """
        model_id = parse_model(parent, field="parent")
        self._check_new_version(mv)
        if len(request_id) > 255:
            raise InvalidArgument(
                "request_id is at most 255 characters",
                field_violations=[FieldViolation("request_id", "too long")],
            )

        async def existing(s: AsyncSession) -> model_version_pb2.ModelVersion | None:
            if not create_model:
                await self._model(s, model_id)
            if not request_id:
                return None
            row = await self._by_request_id(s, model_id, request_id)
            return None if row is None else await self._version_proto(s, row)

        found = await self._in(session, existing)
        if found is not None:
            return found
        await self.stores.verify(
            mv.artifact.uri, sha256=mv.artifact.sha256, size_bytes=mv.artifact.size_bytes
        )

        async def insert(s: AsyncSession) -> model_version_pb2.ModelVersion:
            if create_model:
                await self._ensure_model(s, model_id, owner=creator)
            model = await self._model(s, model_id)
            if request_id:
                row = await self._by_request_id(s, model_id, request_id)
                if row is not None:
                    return await self._version_proto(s, row)
            number = (
                await s.execute(
                    update(ModelRow)
                    .where(ModelRow.id == model.id)
                    .values(
                        last_version=ModelRow.last_version + 1,
                        version_count=ModelRow.version_count + 1,
                        update_time=utcnow(),
                    )
                    .returning(ModelRow.last_version)
                )
            ).scalar_one()
            now = utcnow()
            row = VersionRow(
                model_pk=model.id,
                model_id=model_id,
                version=number,
                request_id=request_id or None,
                source_run=mv.source_run,
                dataset_version=mv.dataset_version,
                dataset_digest=mv.dataset_digest,
                artifact_uri=mv.artifact.uri,
                artifact_key=parse_s3_uri(mv.artifact.uri)[1],
                sha256=mv.artifact.sha256,
                size_bytes=mv.artifact.size_bytes,
                media_type=mv.artifact.media_type or ONNX_MEDIA_TYPE,
                model_format=model_version_pb2.MODEL_FORMAT_ONNX,
                spec=spec_of(mv),
                status=PENDING,
                previous_status=0,
                status_message="",
                validation="",
                description=mv.description[:_MAX_TEXT],
                labels=dict(mv.labels),
                creator=creator,
                create_time=now,
                update_time=now,
                etag=new_etag(),
            )
            s.add(row)
            await s.flush()
            for key, value in mv.labels.items():
                s.add(VersionLabelRow(version_pk=row.id, key=key, value=value))
            metrics: dict[str, float] = {}
            for metric in mv.metrics:  # the last value of each name wins
                metrics[metric.name] = metric.value
            for metric_name, metric_value in metrics.items():
                s.add(MetricRow(version_pk=row.id, name=metric_name[:255], value=metric_value))
            for name, param in mv.params.items():
                text, number_value = param_text(param)
                s.add(
                    ParamRow(
                        version_pk=row.id,
                        name=name[:255],
                        text_value=text,
                        number_value=number_value,
                    )
                )
            proto = version_to_proto(row)
            await self.outbox.emit(
                s,
                type="models.version.registered",
                subject_resource=proto.name,
                payload_message=models_events_pb2.ModelsVersionRegistered(model_version=proto),
                caused_by=caused_by,
            )
            return proto

        try:
            return await self._in(session, insert)
        except AlreadyExists:
            if session is not None or not request_id:
                raise

            async def again(s: AsyncSession) -> model_version_pb2.ModelVersion:
                row = await self._by_request_id(s, model_id, request_id)
                if row is None:
                    raise
                return await self._version_proto(s, row)

            return await self.db.run(again)

    async def get_version(self, name: str) -> model_version_pb2.ModelVersion:
        ref = parse_version(name, allow_alias=True)

        async def work(session: AsyncSession) -> model_version_pb2.ModelVersion:
            return await self._version_proto(session, await self._version(session, ref))

        return await self.db.run(work)

    async def search_versions(
        self,
        *,
        models: Sequence[str],
        filter_text: str,
        order_by: str,
        page_size: int,
        page_token: str,
        default_order: str = "create_time desc",
        require_models: bool = False,
    ) -> tuple[list[model_version_pb2.ModelVersion], str]:
        """One keyset page of versions matching ``filter_text`` (see :mod:`.filters`)."""
        size = _page_size(page_size)
        model_ids = [parse_model(m, field="registered_models") for m in models]
        plan = filters.plan_filter(filter_text)
        ordering = filters.parse_order_by(order_by, default=default_order)
        query = filters.query_fingerprint(
            ",".join(sorted(model_ids)), filter_text.strip(), ordering.text
        )
        last = filters.decode_page_token(ordering, page_token, query) if page_token else None

        async def work(
            session: AsyncSession,
        ) -> tuple[list[model_version_pb2.ModelVersion], str]:
            if require_models:
                for model_id in model_ids:
                    await self._model(session, model_id)
            counts = [int(await session.scalar(probe) or 0) for probe in plan.probes]
            condition = plan.build(counts)
            columns, joins = filters.order_columns(ordering)
            statement = select(VersionRow, *columns)
            for target, onclause in joins:
                statement = statement.join(target, onclause)
            statement = statement.where(VersionRow.delete_time.is_(None), condition)
            if model_ids:
                statement = statement.where(VersionRow.model_id.in_(model_ids))
            if last is not None:
                statement = statement.where(filters.keyset_condition(ordering, columns, last))
            statement = statement.order_by(*filters.order_clauses(ordering, columns)).limit(
                size + 1
            )
            rows = list(await session.execute(statement))
            more = len(rows) > size
            rows = rows[:size]
            aliases = await self._aliases_of(session, [r[0].id for r in rows])
            versions = [version_to_proto(r[0], aliases.get(r[0].id, ())) for r in rows]
            token = ""
            if more and rows:
                token = filters.encode_page_token(ordering, list(rows[-1][1:]), query)
            return versions, token

        return await self.db.run(work)

    async def update_version(
        self, mv: model_version_pb2.ModelVersion, mask: FieldMask
    ) -> model_version_pb2.ModelVersion:
        ref = parse_version(mv.name, field="model_version.name")
        paths = list(mask.paths)
        if not paths:
            raise InvalidArgument(
                "update_mask is empty",
                field_violations=[FieldViolation("update_mask", "name the fields to update")],
            )
        bad = [p for p in paths if p not in _VERSION_MUTABLE]
        if bad:
            raise InvalidArgument(
                f"update_mask names immutable or output-only fields: {', '.join(bad)}",
                field_violations=[
                    FieldViolation("update_mask", f"not updatable: {p}") for p in bad
                ],
            )
        _check_labels(dict(mv.labels), "model_version.labels")

        async def work(session: AsyncSession) -> model_version_pb2.ModelVersion:
            await self._model(session, ref.model, for_update=True)
            row = await self._version(session, ref, for_update=True)
            _check_etag(mv.etag, row.etag, mv.name)
            if "description" in paths:
                row.description = mv.description[:_MAX_TEXT]
            if "labels" in paths:
                row.labels = dict(mv.labels)
                await session.execute(
                    delete(VersionLabelRow).where(VersionLabelRow.version_pk == row.id)
                )
                for key, value in mv.labels.items():
                    session.add(VersionLabelRow(version_pk=row.id, key=key, value=value))
            row.update_time = utcnow()
            row.etag = new_etag()
            await session.flush()
            return await self._version_proto(session, row)

        return await self.db.run(work)

    async def _set_status(
        self,
        session: AsyncSession,
        row: VersionRow,
        status: int,
        *,
        reason: str,
        validation: str = "",
        caused_by: Message | None = None,
    ) -> None:
        before = row.status
        row.status = status
        row.status_message = reason[:_MAX_TEXT]
        if validation:
            row.validation = validation
        row.update_time = utcnow()
        row.etag = new_etag()
        if before == status:
            return
        await self.outbox.emit(
            session,
            type="models.version.status_changed",
            subject_resource=version_name(row.model_id, row.version),
            payload_message=models_events_pb2.ModelsVersionStatusChanged(
                model_version=version_name(row.model_id, row.version),
                registered_model=model_name(row.model_id),
                from_status=before,  # type: ignore[arg-type]
                to_status=status,  # type: ignore[arg-type]
                reason=reason,
                validation=validation,
            ),
            caused_by=caused_by,
        )

    async def _refuse_if_held(self, session: AsyncSession, row: VersionRow, verb: str) -> None:
        name = version_name(row.model_id, row.version)
        aliases = (await self._aliases_of(session, [row.id])).get(row.id, [])
        if aliases:
            raise FailedPrecondition(
                f"cannot {verb} {name}: alias(es) {', '.join(sorted(aliases))} point at it; "
                "move or delete them first",
                reason="MODEL_VERSION_HAS_ALIASES",
                metadata={"name": name, "aliases": ",".join(sorted(aliases))},
            )
        deployment = (
            await session.execute(
                select(DeploymentRouteRow.deployment)
                .where(
                    DeploymentRouteRow.model_version == name,
                    DeploymentRouteRow.active.is_(True),
                )
                .limit(1)
            )
        ).scalar_one_or_none()
        if deployment is not None:
            raise FailedPrecondition(
                f"cannot {verb} {name}: deployment {deployment} routes traffic to it",
                reason="MODEL_VERSION_DEPLOYED",
                metadata={"name": name, "deployment": deployment},
            )

    async def archive_version(
        self, name: str, *, etag: str, reason: str, actor: str
    ) -> model_version_pb2.ModelVersion:
        ref = parse_version(name)

        async def work(session: AsyncSession) -> model_version_pb2.ModelVersion:
            await self._model(session, ref.model, for_update=True)
            row = await self._version(session, ref, for_update=True)
            _check_etag(etag, row.etag, name)
            if row.status == ARCHIVED:
                return await self._version_proto(session, row)
            await self._refuse_if_held(session, row, "archive")
            row.previous_status = row.status
            row.status = ARCHIVED
            row.status_message = reason[:_MAX_TEXT] or "archived"
            row.update_time = utcnow()
            row.etag = new_etag()
            await self.outbox.emit(
                session,
                type="models.version.archived",
                subject_resource=name,
                payload_message=models_events_pb2.ModelsVersionArchived(
                    model_version=name,
                    registered_model=model_name(ref.model),
                    reason=reason,
                    actor=actor,
                ),
            )
            return await self._version_proto(session, row)

        return await self.db.run(work)

    async def restore_version(self, name: str, *, etag: str) -> model_version_pb2.ModelVersion:
        ref = parse_version(name)

        async def work(session: AsyncSession) -> model_version_pb2.ModelVersion:
            await self._model(session, ref.model, for_update=True)
            row = await self._version(session, ref, for_update=True)
            _check_etag(etag, row.etag, name)
            if row.status != ARCHIVED:
                raise FailedPrecondition(
                    f"{name} is not archived (status {_status_name(row.status)})",
                    reason="MODEL_VERSION_NOT_ARCHIVED",
                    metadata={"name": name},
                )
            target = row.previous_status or PENDING
            await self._set_status(session, row, target, reason="restored", validation="")
            return await self._version_proto(session, row)

        return await self.db.run(work)

    async def delete_version(self, name: str, *, etag: str) -> None:
        ref = parse_version(name)

        async def work(session: AsyncSession) -> tuple[str, str, str]:
            await self._model(session, ref.model, for_update=True)
            row = await self._version(session, ref, for_update=True)
            _check_etag(etag, row.etag, name)
            await self._refuse_if_held(session, row, "delete")
            row.delete_time = utcnow()
            row.request_id = None
            row.etag = new_etag()
            await session.execute(
                update(ModelRow)
                .where(ModelRow.id == row.model_pk)
                .values(version_count=ModelRow.version_count - 1, update_time=utcnow())
            )
            others = (
                await session.execute(
                    select(func.count())
                    .select_from(VersionRow)
                    .where(
                        VersionRow.sha256 == row.sha256,
                        VersionRow.delete_time.is_(None),
                        VersionRow.id != row.id,
                    )
                )
            ).scalar_one()
            bucket, key = parse_s3_uri(row.artifact_uri)
            return (bucket, key, "" if others else row.artifact_uri)

        bucket, key, owned = await self.db.run(work)
        # Only artifacts the registry stored itself (uploads) are deleted, and only when
        # no other live version shares them; run artifacts belong to the training service.
        if owned and key.startswith("model-artifacts/"):
            try:
                await self.stores.bucket(bucket).delete(key)
            except Exception:  # the record is gone; a stray blob is harmless
                _log.warning("could not delete artifact %s", owned, exc_info=True)

    # --- aliases ---------------------------------------------------------------------

    async def set_alias(
        self,
        name: str,
        version: str,
        *,
        etag: str = "",
        override_protection: bool = False,
        reason: str = "",
        protected: bool | None = None,
        cause: str = "",
        actor: str = "",
        session: AsyncSession | None = None,
        caused_by: Message | None = None,
    ) -> SetAliasResult:
        """Create or move an alias (compare-and-set on ``etag``), recording the change.

        Raises:
            InvalidArgument, NotFound, FailedPrecondition, Aborted: see the RPC.
        """
        ref = parse_alias(name)
        target = parse_version(version, field="version")
        if target.model != ref.model:
            raise InvalidArgument(
                f"version {version} belongs to another model than alias {name}",
                reason="VERSION_OF_ANOTHER_MODEL",
                field_violations=[FieldViolation("version", "of another model")],
            )
        if override_protection and not reason.strip():
            raise InvalidArgument(
                "override_protection needs a reason",
                reason="OVERRIDE_WITHOUT_REASON",
                field_violations=[FieldViolation("reason", "required with override_protection")],
            )

        async def work(s: AsyncSession) -> SetAliasResult:
            model = await self._model(s, ref.model, for_update=True)
            row = await self._version(s, target)
            alias = (
                await s.execute(
                    select(AliasRow)
                    .where(AliasRow.model_pk == model.id, AliasRow.alias == ref.alias)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if etag and (alias is None or alias.etag != etag):
                raise Aborted(
                    f"alias {name} changed since it was read (etag {etag!r} is stale)"
                    if alias is not None
                    else f"alias {name} does not exist any more (etag {etag!r} is stale)",
                    reason="ETAG_MISMATCH",
                    metadata={"name": name, "etag": alias.etag if alias else ""},
                )
            is_protected = (
                protected
                if protected is not None
                else (alias.protected if alias is not None else ref.alias in PROTECTED_BY_DEFAULT)
            )
            status = _status_name(row.status)
            if row.status == ARCHIVED:
                raise FailedPrecondition(
                    f"{version} is ARCHIVED; restore it before pointing an alias at it",
                    reason="MODEL_VERSION_ARCHIVED",
                    metadata={"name": version},
                )
            unchanged = protected is None or (alias is not None and protected == alias.protected)
            if alias is not None and alias.version_pk == row.id and unchanged:
                return SetAliasResult(alias_to_proto(alias, ref.model, row.version), None)
            if not override_protection:
                if row.status == REJECTED:
                    raise FailedPrecondition(
                        f"{version} is REJECTED; pass override_protection with a reason to "
                        f"point {ref.alias!r} at it",
                        reason="MODEL_VERSION_REJECTED",
                        metadata={"name": version, "alias": name},
                    )
                if is_protected and row.status != VALIDATED:
                    raise FailedPrecondition(
                        f"alias {ref.alias!r} is protected and {version} is {status}, not "
                        "VALIDATED; pass override_protection with a reason to move it anyway",
                        reason="PROTECTED_ALIAS",
                        metadata={"name": version, "alias": name, "status": status},
                    )
            now = utcnow()
            from_version = ""
            if alias is None:
                alias = AliasRow(
                    model_pk=model.id,
                    alias=ref.alias,
                    version_pk=row.id,
                    protected=is_protected,
                    create_time=now,
                    update_time=now,
                    etag=new_etag(),
                )
                s.add(alias)
            else:
                from_number = (
                    await s.execute(
                        select(VersionRow.version).where(VersionRow.id == alias.version_pk)
                    )
                ).scalar_one()
                from_version = version_name(ref.model, from_number)
                alias.version_pk = row.id
                alias.protected = is_protected
                alias.update_time = now
                alias.etag = new_etag()
            change = await self._record_change(
                s,
                model,
                ref.alias,
                from_version=from_version,
                to_version=version_name(ref.model, row.version),
                actor=actor,
                reason=reason,
                override=override_protection,
                cause=cause,
                protected=is_protected,
                now=now,
                caused_by=caused_by,
            )
            await s.flush()
            return SetAliasResult(alias_to_proto(alias, ref.model, row.version), change)

        if session is not None:
            return await work(session)
        try:
            return await self.db.run(work)
        except AlreadyExists as exc:  # two creators of a new alias raced
            if etag:
                raise
            raise Aborted(
                f"alias {name} was created concurrently; read it and retry",
                reason="CONCURRENT_ALIAS_CREATION",
            ) from exc

    async def _record_change(
        self,
        s: AsyncSession,
        model: ModelRow,
        alias: str,
        *,
        from_version: str,
        to_version: str,
        actor: str,
        reason: str,
        override: bool,
        cause: str,
        protected: bool,
        now: datetime,
        caused_by: Message | None,
    ) -> alias_pb2.AliasChange:
        model.alias_sequence = (model.alias_sequence or 0) + 1
        record = AliasChangeRow(
            model_pk=model.id,
            alias=alias,
            sequence=model.alias_sequence,
            from_version=from_version,
            to_version=to_version,
            actor=actor,
            reason=reason[:_MAX_TEXT],
            override_protection=override,
            cause=cause[:255],
            protected=protected,
            change_time=now,
        )
        s.add(record)
        change = alias_change_to_proto(record, model.model_id)
        await self.outbox.emit(
            s,
            type="models.alias.changed",
            subject_resource=f"models/{model.model_id}/aliases/{alias}",
            payload_message=models_events_pb2.ModelsAliasChanged(
                registered_model=model_name(model.model_id), change=change
            ),
            caused_by=caused_by,
        )
        return change

    async def get_alias(self, name: str, *, at_time: datetime | None) -> alias_pb2.Alias:
        ref = parse_alias(name)

        async def work(s: AsyncSession) -> alias_pb2.Alias:
            model = await self._model(s, ref.model)
            if at_time is None:
                row = (
                    await s.execute(
                        select(AliasRow, VersionRow.version)
                        .join(VersionRow, VersionRow.id == AliasRow.version_pk)
                        .where(AliasRow.model_pk == model.id, AliasRow.alias == ref.alias)
                    )
                ).first()
                if row is None:
                    raise NotFound(
                        f"alias {name} does not exist",
                        reason="ALIAS_NOT_FOUND",
                        metadata={"name": name},
                    )
                return alias_to_proto(row[0], ref.model, row[1])
            changes = (
                (
                    await s.execute(
                        select(AliasChangeRow)
                        .where(
                            AliasChangeRow.model_pk == model.id,
                            AliasChangeRow.alias == ref.alias,
                            AliasChangeRow.change_time <= at_time,
                        )
                        .order_by(AliasChangeRow.sequence.desc())
                        .limit(1)
                    )
                )
                .scalars()
                .all()
            )
            if not changes or not changes[0].to_version:
                raise NotFound(
                    f"alias {name} did not exist at {at_time.isoformat()}",
                    reason="ALIAS_NOT_FOUND",
                    metadata={"name": name, "at_time": at_time.isoformat()},
                )
            latest = changes[0]
            created = (
                await s.execute(
                    select(func.max(AliasChangeRow.change_time)).where(
                        AliasChangeRow.model_pk == model.id,
                        AliasChangeRow.alias == ref.alias,
                        AliasChangeRow.from_version == "",
                        AliasChangeRow.change_time <= at_time,
                    )
                )
            ).scalar_one_or_none()
            return alias_pb2.Alias(
                name=name,
                version=latest.to_version,
                protected=latest.protected,
                create_time=timestamp(created or latest.change_time),
                update_time=timestamp(latest.change_time),
            )

        return await self.db.run(work)

    async def list_aliases(
        self, parent: str, *, page_size: int, page_token: str
    ) -> tuple[list[alias_pb2.Alias], str]:
        model_id = parse_model(parent, field="parent")
        size = _page_size(page_size, DEFAULT_ALIAS_PAGE_SIZE)
        if page_token:
            check_alias_id(page_token, field="page_token")

        async def work(s: AsyncSession) -> tuple[list[alias_pb2.Alias], str]:
            model = await self._model(s, model_id)
            statement = (
                select(AliasRow, VersionRow.version)
                .join(VersionRow, VersionRow.id == AliasRow.version_pk)
                .where(AliasRow.model_pk == model.id)
                .order_by(AliasRow.alias)
                .limit(size + 1)
            )
            if page_token:
                statement = statement.where(AliasRow.alias > page_token)
            rows = list(await s.execute(statement))
            more = len(rows) > size
            rows = rows[:size]
            aliases = [alias_to_proto(r[0], model_id, r[1]) for r in rows]
            return aliases, (rows[-1][0].alias if more else "")

        return await self.db.run(work)

    async def delete_alias(
        self,
        name: str,
        *,
        etag: str,
        override_protection: bool,
        reason: str,
        actor: str,
        cause: str = "",
    ) -> None:
        ref = parse_alias(name)
        if override_protection and not reason.strip():
            raise InvalidArgument(
                "override_protection needs a reason",
                reason="OVERRIDE_WITHOUT_REASON",
                field_violations=[FieldViolation("reason", "required with override_protection")],
            )

        async def work(s: AsyncSession) -> None:
            model = await self._model(s, ref.model, for_update=True)
            alias = (
                await s.execute(
                    select(AliasRow)
                    .where(AliasRow.model_pk == model.id, AliasRow.alias == ref.alias)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if alias is None:
                raise NotFound(
                    f"alias {name} does not exist",
                    reason="ALIAS_NOT_FOUND",
                    metadata={"name": name},
                )
            _check_etag(etag, alias.etag, name)
            if alias.protected and not override_protection:
                raise FailedPrecondition(
                    f"alias {ref.alias!r} is protected; pass override_protection with a reason",
                    reason="PROTECTED_ALIAS",
                    metadata={"alias": name},
                )
            number = (
                await s.execute(select(VersionRow.version).where(VersionRow.id == alias.version_pk))
            ).scalar_one()
            await s.delete(alias)
            await self._record_change(
                s,
                model,
                ref.alias,
                from_version=version_name(ref.model, number),
                to_version="",
                actor=actor,
                reason=reason,
                override=override_protection,
                cause=cause,
                protected=False,
                now=utcnow(),
                caused_by=None,
            )

        await self.db.run(work)

    async def list_alias_history(
        self, parent: str, *, page_size: int, page_token: str, filter_text: str
    ) -> tuple[list[alias_pb2.AliasChange], str]:
        model_id = parse_model(parent, field="parent")
        size = _page_size(page_size, DEFAULT_ALIAS_PAGE_SIZE)
        alias_filter, before, after = _history_filter(filter_text, model_id)
        start: int | None = None
        if page_token:
            try:
                start = int(page_token)
            except ValueError as exc:
                raise InvalidArgument(
                    "page_token is malformed",
                    reason="INVALID_PAGE_TOKEN",
                    field_violations=[FieldViolation("page_token", "malformed")],
                ) from exc

        async def work(s: AsyncSession) -> tuple[list[alias_pb2.AliasChange], str]:
            model = await self._model(s, model_id)
            statement = (
                select(AliasChangeRow)
                .where(AliasChangeRow.model_pk == model.id)
                .order_by(AliasChangeRow.sequence.desc())
                .limit(size + 1)
            )
            if alias_filter:
                statement = statement.where(AliasChangeRow.alias == alias_filter)
            for op, value in before:
                statement = statement.where(
                    AliasChangeRow.change_time < value
                    if op == "<"
                    else AliasChangeRow.change_time <= value
                )
            for op, value in after:
                statement = statement.where(
                    AliasChangeRow.change_time > value
                    if op == ">"
                    else AliasChangeRow.change_time >= value
                )
            if start is not None:
                statement = statement.where(AliasChangeRow.sequence < start)
            rows = list((await s.execute(statement)).scalars())
            more = len(rows) > size
            rows = rows[:size]
            token = str(rows[-1].sequence) if more and rows else ""
            return [alias_change_to_proto(r, model_id) for r in rows], token

        return await self.db.run(work)


def _history_filter(
    text: str, model_id: str
) -> tuple[str, list[tuple[str, datetime]], list[tuple[str, datetime]]]:
    """``alias = "..."`` and ``change_time`` bounds of a history filter, ANDed."""
    alias = ""
    before: list[tuple[str, datetime]] = []
    after: list[tuple[str, datetime]] = []
    if not text.strip():
        return alias, before, after
    term = re.compile(r'^\s*(alias|change_time)\s*(<=|>=|=|<|>)\s*"([^"]*)"\s*$')
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = term.match(part)
        if match is None:
            raise InvalidArgument(
                f'unsupported history filter term {part!r}; use alias = "..." and '
                'change_time < "RFC 3339"',
                reason="INVALID_FILTER",
                field_violations=[FieldViolation("filter", "unsupported term")],
            )
        field, op, value = match.groups()
        if field == "alias":
            if op != "=":
                raise InvalidArgument(
                    "alias supports only =",
                    reason="INVALID_FILTER",
                    field_violations=[FieldViolation("filter", "alias supports only =")],
                )
            if value.startswith("models/"):
                ref = parse_alias(value, field="filter")
                if ref.model != model_id:
                    raise InvalidArgument(
                        "filter names an alias of another model",
                        reason="INVALID_FILTER",
                        field_violations=[FieldViolation("filter", "alias of another model")],
                    )
                alias = ref.alias
            else:
                alias = check_alias_id(value, field="filter")
        else:
            when = filters.parse_time(value)
            if op in {"<", "<="}:
                before.append((op, when))
            elif op in {">", ">="}:
                after.append((op, when))
            else:
                before.append(("<=", when))
                after.append((">=", when))
    return alias, before, after


def _model_token(token: str) -> str:
    try:
        return check_model_id(token, field="page_token")
    except InvalidArgument as exc:
        raise InvalidArgument(
            "page_token is malformed",
            reason="INVALID_PAGE_TOKEN",
            field_violations=[FieldViolation("page_token", "malformed")],
        ) from exc


def _model_filter(text: str) -> Callable[[registered_model_pb2.RegisteredModel], bool]:
    """A predicate for ``ListRegisteredModels``' filter: ANDed ``field = "value"`` terms
    over ``name``, ``owner``, ``display_name`` and ``labels.<key>``."""
    if not text.strip():
        return lambda _model: True
    term = re.compile(
        r'^\s*(name|owner|display_name|labels\.[A-Za-z0-9_.-]+)\s*(=|!=)\s*"([^"]*)"\s*$'
    )
    checks: list[tuple[str, str, str]] = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = term.match(part)
        if match is None:
            raise InvalidArgument(
                f"unsupported filter term {part!r}; use name, owner, display_name or "
                "labels.<key> with = or != and a quoted value",
                reason="INVALID_FILTER",
                field_violations=[FieldViolation("filter", "unsupported term")],
            )
        field, op, value = match.groups()
        checks.append((field, op, value))

    def predicate(model: registered_model_pb2.RegisteredModel) -> bool:
        for field, op, value in checks:
            if field.startswith("labels."):
                actual: str | None = model.labels.get(field.removeprefix("labels."))
            elif field == "name":
                actual = model.name if value.startswith("models/") else model.name[7:]
            else:
                actual = str(getattr(model, field))
            if (actual == value) != (op == "="):
                return False
        return True

    return predicate
