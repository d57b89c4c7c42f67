"""The model registry as the gateway sees it: model versions and their artifacts.

:class:`RegistryModelSource` calls the registry over gRPC (``GetModelVersion``,
``GetModelVersionDownloadUrl``) and downloads the artifact from the presigned URL,
checking its sha256 against the version's ``artifact.sha256`` while streaming. Tests
substitute any object with the same two methods (:class:`ModelSource`).
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Protocol

import httpx

from gyre.models.v1 import model_version_pb2, models_service_pb2
from gyre.runtime.errors import DataLoss, Unavailable
from gyre.sdk.client import AsyncGyreClient

__all__ = ["ModelSource", "RegistryModelSource"]


class ModelSource(Protocol):
    """Where model versions and their artifacts come from."""

    async def get_version(self, name: str) -> model_version_pb2.ModelVersion:
        """The version ``models/{model}/versions/{version}`` (NotFound if absent)."""
        ...

    async def download(self, version: model_version_pb2.ModelVersion, dest: Path) -> None:
        """Write the version's artifact to ``dest``, sha256-verified (DataLoss if not)."""
        ...


class RegistryModelSource:
    """:class:`ModelSource` backed by the model registry service."""

    def __init__(self, client: AsyncGyreClient, *, timeout_s: float = 60.0) -> None:
        self._client = client
        self._timeout_s = timeout_s

    async def get_version(self, name: str) -> model_version_pb2.ModelVersion:
        response = await self._client.models.GetModelVersion(
            models_service_pb2.GetModelVersionRequest(name=name)
        )
        version: model_version_pb2.ModelVersion = response.model_version
        return version

    async def download(self, version: model_version_pb2.ModelVersion, dest: Path) -> None:
        response = await self._client.models.GetModelVersionDownloadUrl(
            models_service_pb2.GetModelVersionDownloadUrlRequest(name=version.name)
        )
        expected = version.artifact.sha256 or response.sha256
        digest = hashlib.sha256()
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            async with (
                httpx.AsyncClient(timeout=self._timeout_s) as http,
                http.stream("GET", response.url) as stream,
            ):
                stream.raise_for_status()
                with dest.open("wb") as handle:
                    async for block in stream.aiter_bytes(1 << 20):
                        digest.update(block)
                        handle.write(block)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"cannot download the artifact of {version.name}: {exc}",
                reason="ARTIFACT_DOWNLOAD_FAILED",
            ) from exc
        if digest.hexdigest() != expected:
            await asyncio.to_thread(dest.unlink, missing_ok=True)
            raise DataLoss(
                f"artifact of {version.name} has sha256 {digest.hexdigest()}, "
                f"the registry records {expected}",
                reason="ARTIFACT_DIGEST_MISMATCH",
                metadata={"model_version": version.name},
            )
