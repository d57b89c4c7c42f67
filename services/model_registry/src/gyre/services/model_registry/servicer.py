"""The gRPC servicer: ``gyre.models.v1.ModelRegistryService`` ⇄ :class:`Registry`."""

from __future__ import annotations

from datetime import UTC as _UTC
from typing import Any, Final

from gyre.models.v1 import models_service_pb2 as pb
from gyre.models.v1.models_service_pb2_grpc import ModelRegistryServiceServicer
from gyre.runtime.errors import FieldViolation, InvalidArgument
from gyre.services.model_registry.convert import timestamp
from gyre.services.model_registry.lineage import Lineage
from gyre.services.model_registry.registry import Registry

__all__ = ["ACTOR_METADATA_KEY", "ModelRegistryServicer"]

# gRPC metadata naming who makes a change (recorded in alias history, archive events).
ACTOR_METADATA_KEY: Final = "gyre-actor"
_ANONYMOUS: Final = "anonymous"
_MAX_LINEAGE_DEPTH: Final = 10
_DEFAULT_LINEAGE_DEPTH: Final = 3


def _actor(context: Any) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == ACTOR_METADATA_KEY and value:
            return str(value)[:255]
    return _ANONYMOUS


class ModelRegistryServicer(ModelRegistryServiceServicer):
    """Thin translation of requests into :class:`Registry` calls."""

    def __init__(self, registry: Registry, lineage: Lineage) -> None:
        self._registry = registry
        self._lineage = lineage

    async def CreateRegisteredModel(
        self, request: pb.CreateRegisteredModelRequest, context: Any
    ) -> pb.CreateRegisteredModelResponse:
        model = await self._registry.create_model(
            request.registered_model_id, request.registered_model
        )
        return pb.CreateRegisteredModelResponse(registered_model=model)

    async def GetRegisteredModel(
        self, request: pb.GetRegisteredModelRequest, context: Any
    ) -> pb.GetRegisteredModelResponse:
        return pb.GetRegisteredModelResponse(
            registered_model=await self._registry.get_model(request.name)
        )

    async def ListRegisteredModels(
        self, request: pb.ListRegisteredModelsRequest, context: Any
    ) -> pb.ListRegisteredModelsResponse:
        models, token = await self._registry.list_models(
            page_size=request.page_size,
            page_token=request.page_token,
            filter_text=request.filter,
            order_by=request.order_by,
        )
        return pb.ListRegisteredModelsResponse(registered_models=models, next_page_token=token)

    async def UpdateRegisteredModel(
        self, request: pb.UpdateRegisteredModelRequest, context: Any
    ) -> pb.UpdateRegisteredModelResponse:
        model = await self._registry.update_model(request.registered_model, request.update_mask)
        return pb.UpdateRegisteredModelResponse(registered_model=model)

    async def DeleteRegisteredModel(
        self, request: pb.DeleteRegisteredModelRequest, context: Any
    ) -> pb.DeleteRegisteredModelResponse:
        await self._registry.delete_model(request.name, etag=request.etag, force=request.force)
        return pb.DeleteRegisteredModelResponse()

    async def CreateModelVersion(
        self, request: pb.CreateModelVersionRequest, context: Any
    ) -> pb.CreateModelVersionResponse:
        version = await self._registry.create_version(
            request.parent,
            request.model_version,
            request_id=request.request_id,
            creator=_actor(context),
        )
        return pb.CreateModelVersionResponse(model_version=version)

    async def CreateArtifactUploadUrl(
        self, request: pb.CreateArtifactUploadUrlRequest, context: Any
    ) -> pb.CreateArtifactUploadUrlResponse:
        ref, upload = await self._registry.create_upload_url(
            request.parent,
            sha256=request.sha256,
            size_bytes=request.size_bytes,
            media_type=request.media_type,
        )
        response = pb.CreateArtifactUploadUrlResponse(artifact=ref, already_exists=upload is None)
        if upload is not None:
            response.upload_url.CopyFrom(upload)
        return response

    async def GetModelVersion(
        self, request: pb.GetModelVersionRequest, context: Any
    ) -> pb.GetModelVersionResponse:
        return pb.GetModelVersionResponse(
            model_version=await self._registry.get_version(request.name)
        )

    async def ListModelVersions(
        self, request: pb.ListModelVersionsRequest, context: Any
    ) -> pb.ListModelVersionsResponse:
        versions, token = await self._registry.search_versions(
            models=[request.parent],
            filter_text=request.filter,
            order_by=request.order_by,
            page_size=request.page_size,
            page_token=request.page_token,
            default_order="version desc",
            require_models=True,
        )
        return pb.ListModelVersionsResponse(model_versions=versions, next_page_token=token)

    async def UpdateModelVersion(
        self, request: pb.UpdateModelVersionRequest, context: Any
    ) -> pb.UpdateModelVersionResponse:
        version = await self._registry.update_version(request.model_version, request.update_mask)
        return pb.UpdateModelVersionResponse(model_version=version)

    async def SearchModelVersions(
        self, request: pb.SearchModelVersionsRequest, context: Any
    ) -> pb.SearchModelVersionsResponse:
        versions, token = await self._registry.search_versions(
            models=list(request.registered_models),
            filter_text=request.filter,
            order_by=request.order_by,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.SearchModelVersionsResponse(model_versions=versions, next_page_token=token)

    async def ArchiveModelVersion(
        self, request: pb.ArchiveModelVersionRequest, context: Any
    ) -> pb.ArchiveModelVersionResponse:
        version = await self._registry.archive_version(
            request.name, etag=request.etag, reason=request.reason, actor=_actor(context)
        )
        return pb.ArchiveModelVersionResponse(model_version=version)

    async def RestoreModelVersion(
        self, request: pb.RestoreModelVersionRequest, context: Any
    ) -> pb.RestoreModelVersionResponse:
        version = await self._registry.restore_version(request.name, etag=request.etag)
        return pb.RestoreModelVersionResponse(model_version=version)

    async def DeleteModelVersion(
        self, request: pb.DeleteModelVersionRequest, context: Any
    ) -> pb.DeleteModelVersionResponse:
        await self._registry.delete_version(request.name, etag=request.etag)
        return pb.DeleteModelVersionResponse()

    async def SetAlias(self, request: pb.SetAliasRequest, context: Any) -> pb.SetAliasResponse:
        result = await self._registry.set_alias(
            request.name,
            request.version,
            etag=request.etag,
            override_protection=request.override_protection,
            reason=request.reason,
            protected=request.protected if request.HasField("protected") else None,
            cause=request.cause,
            actor=_actor(context),
        )
        response = pb.SetAliasResponse(alias=result.alias)
        if result.change is not None:
            response.change.CopyFrom(result.change)
        return response

    async def GetAlias(self, request: pb.GetAliasRequest, context: Any) -> pb.GetAliasResponse:
        at_time = request.at_time.ToDatetime(tzinfo=_UTC) if request.HasField("at_time") else None
        return pb.GetAliasResponse(
            alias=await self._registry.get_alias(request.name, at_time=at_time)
        )

    async def ListAliases(
        self, request: pb.ListAliasesRequest, context: Any
    ) -> pb.ListAliasesResponse:
        aliases, token = await self._registry.list_aliases(
            request.parent, page_size=request.page_size, page_token=request.page_token
        )
        return pb.ListAliasesResponse(aliases=aliases, next_page_token=token)

    async def DeleteAlias(
        self, request: pb.DeleteAliasRequest, context: Any
    ) -> pb.DeleteAliasResponse:
        await self._registry.delete_alias(
            request.name,
            etag=request.etag,
            override_protection=request.override_protection,
            reason=request.reason,
            actor=_actor(context),
        )
        return pb.DeleteAliasResponse()

    async def ListAliasHistory(
        self, request: pb.ListAliasHistoryRequest, context: Any
    ) -> pb.ListAliasHistoryResponse:
        changes, token = await self._registry.list_alias_history(
            request.parent,
            page_size=request.page_size,
            page_token=request.page_token,
            filter_text=request.filter,
        )
        return pb.ListAliasHistoryResponse(changes=changes, next_page_token=token)

    async def GetLineage(
        self, request: pb.GetLineageRequest, context: Any
    ) -> pb.GetLineageResponse:
        if request.depth < 0 or request.depth > _MAX_LINEAGE_DEPTH:
            raise InvalidArgument(
                f"depth must be 0-{_MAX_LINEAGE_DEPTH}",
                field_violations=[FieldViolation("depth", "out of range")],
            )
        nodes, edges, truncated = await self._lineage.graph(
            request.name,
            direction=request.direction,
            depth=request.depth or _DEFAULT_LINEAGE_DEPTH,
        )
        return pb.GetLineageResponse(nodes=nodes, edges=edges, truncated=truncated)

    async def GetModelVersionDownloadUrl(
        self, request: pb.GetModelVersionDownloadUrlRequest, context: Any
    ) -> pb.GetModelVersionDownloadUrlResponse:
        url, sha256, size, expires = await self._registry.download_url(request.name)
        return pb.GetModelVersionDownloadUrlResponse(
            url=url, sha256=sha256, size_bytes=size, expire_time=timestamp(expires)
        )
