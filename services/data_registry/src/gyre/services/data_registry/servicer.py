"""The gRPC servicer: proto requests to :class:`DataRegistry` calls and back."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2

from gyre.data.v1 import data_service_pb2 as ds
from gyre.data.v1 import data_service_pb2_grpc, manifest_pb2
from gyre.runtime.errors import DataLoss, FailedPrecondition, to_grpc_status, to_status
from gyre.services.data_registry.ingest import ChunkProblemsError
from gyre.services.data_registry.registry import DataRegistry

__all__ = ["DataRegistryServicer"]

# Offending chunks named in ErrorInfo metadata (the full list is in the ChunkProblems
# detail).
_MAX_CHUNKS_IN_METADATA = 5


class DataRegistryServicer(data_service_pb2_grpc.DataRegistryServiceServicer):  # type: ignore[misc,unused-ignore]
    """``gyre.data.v1.DataRegistryService`` over a :class:`DataRegistry`."""

    def __init__(self, registry: DataRegistry) -> None:
        self.registry = registry

    async def CreateDataset(
        self, request: ds.CreateDatasetRequest, context: Any
    ) -> ds.CreateDatasetResponse:
        dataset = await self.registry.create_dataset(request.dataset_id, request.dataset)
        return ds.CreateDatasetResponse(dataset=dataset)

    async def GetDataset(
        self, request: ds.GetDatasetRequest, context: Any
    ) -> ds.GetDatasetResponse:
        return ds.GetDatasetResponse(dataset=await self.registry.get_dataset(request.name))

    async def ListDatasets(
        self, request: ds.ListDatasetsRequest, context: Any
    ) -> ds.ListDatasetsResponse:
        datasets, token, total = await self.registry.list_datasets(
            page_size=request.page_size,
            page_token=request.page_token,
            filter=request.filter,
            order_by=request.order_by,
        )
        return ds.ListDatasetsResponse(datasets=datasets, next_page_token=token, total_size=total)

    async def UpdateDataset(
        self, request: ds.UpdateDatasetRequest, context: Any
    ) -> ds.UpdateDatasetResponse:
        dataset = await self.registry.update_dataset(
            request.dataset, list(request.update_mask.paths)
        )
        return ds.UpdateDatasetResponse(dataset=dataset)

    async def DeleteDataset(
        self, request: ds.DeleteDatasetRequest, context: Any
    ) -> ds.DeleteDatasetResponse:
        await self.registry.delete_dataset(request.name, etag=request.etag, force=request.force)
        return ds.DeleteDatasetResponse()

    async def FindMissingChunks(
        self, request: ds.FindMissingChunksRequest, context: Any
    ) -> ds.FindMissingChunksResponse:
        missing = await self.registry.find_missing_chunks(request.dataset, list(request.chunks))
        return ds.FindMissingChunksResponse(missing_chunks=missing)

    async def CreateUploadUrls(
        self, request: ds.CreateUploadUrlsRequest, context: Any
    ) -> ds.CreateUploadUrlsResponse:
        urls = await self.registry.create_upload_urls(request.dataset, list(request.chunks))
        return ds.CreateUploadUrlsResponse(urls=urls)

    async def CommitDatasetVersion(
        self, request: ds.CommitDatasetVersionRequest, context: Any
    ) -> ds.CommitDatasetVersionResponse:
        try:
            version, created = await self.registry.commit(request)
        except ChunkProblemsError as exc:
            await _abort_with_chunk_problems(context, exc)
        return ds.CommitDatasetVersionResponse(dataset_version=version, created=created)

    async def GetDatasetVersion(
        self, request: ds.GetDatasetVersionRequest, context: Any
    ) -> ds.GetDatasetVersionResponse:
        return ds.GetDatasetVersionResponse(
            dataset_version=await self.registry.get_version(request.name)
        )

    async def ListDatasetVersions(
        self, request: ds.ListDatasetVersionsRequest, context: Any
    ) -> ds.ListDatasetVersionsResponse:
        versions, token, total = await self.registry.list_versions(
            request.parent,
            page_size=request.page_size,
            page_token=request.page_token,
            filter=request.filter,
            order_by=request.order_by,
        )
        return ds.ListDatasetVersionsResponse(
            dataset_versions=versions, next_page_token=token, total_size=total
        )

    async def GetManifest(
        self, request: ds.GetManifestRequest, context: Any
    ) -> ds.GetManifestResponse:
        manifest, token = await self.registry.get_manifest(
            request.name, page_size=request.page_size, page_token=request.page_token
        )
        return ds.GetManifestResponse(manifest=manifest, next_page_token=token)

    async def CreateDownloadUrls(
        self, request: ds.CreateDownloadUrlsRequest, context: Any
    ) -> ds.CreateDownloadUrlsResponse:
        urls = await self.registry.create_download_urls(
            request.dataset_version, list(request.chunk_sha256s)
        )
        return ds.CreateDownloadUrlsResponse(urls=urls)

    async def DiffDatasetVersions(
        self, request: ds.DiffDatasetVersionsRequest, context: Any
    ) -> ds.DiffDatasetVersionsResponse:
        return await self.registry.diff(
            request.base_version,
            request.target_version,
            include_distribution=request.include_distribution,
        )

    async def GetSplit(self, request: ds.GetSplitRequest, context: Any) -> ds.GetSplitResponse:
        return await self.registry.get_split(
            request.dataset_version, request.split, include_urls=request.include_urls
        )


async def _abort_with_chunk_problems(context: Any, exc: ChunkProblemsError) -> None:
    """Abort with FAILED_PRECONDITION (missing) or DATA_LOSS (corrupt), carrying a
    ``ChunkProblems`` detail besides the usual ErrorInfo."""
    metadata = {"problem_count": str(len(exc.problems))}
    for index, problem in enumerate(exc.problems[:_MAX_CHUNKS_IN_METADATA]):
        kind = manifest_pb2.ChunkProblemKind.Name(problem.kind).removeprefix("CHUNK_PROBLEM_KIND_")
        metadata[f"chunk_{index}"] = f"{problem.sha256}:{kind}"
    error: DataLoss | FailedPrecondition
    if exc.data_loss:
        error = DataLoss(str(exc), reason="CHUNK_CORRUPT", metadata=metadata)
    else:
        error = FailedPrecondition(str(exc), reason="CHUNKS_MISSING", metadata=metadata)
    status = to_status(error)
    detail = manifest_pb2.ChunkProblems(
        problems=[
            manifest_pb2.ChunkProblem(
                chunk=manifest_pb2.ChunkDescriptor(sha256=p.sha256, size_bytes=p.size),
                kind=p.kind,  # type: ignore[arg-type]
                paths=list(p.paths),
            )
            for p in exc.problems[:100]
        ]
    )
    packed = any_pb2.Any()
    packed.Pack(detail)
    status.details.append(packed)
    plain = to_grpc_status(error)
    trailers = tuple(
        (key, status.SerializeToString() if key == "grpc-status-details-bin" else value)
        for key, value in plain.trailing_metadata
    )
    await context.abort_with_status(
        _Status(code=error.code, details=status.message, trailing_metadata=trailers)
    )


class _Status(grpc.Status):  # type: ignore[misc]
    def __init__(self, *, code: grpc.StatusCode, details: str, trailing_metadata: Any) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata
