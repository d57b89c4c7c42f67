"""What the gate needs from the model registry and the data registry.

:class:`Peers` is the interface (blocking: the evaluation runs in a worker thread);
:class:`RegistryPeers` implements it over gRPC with the SDK client, downloading
artifacts, split row files and key lists through the registries' presigned URLs
and verifying every byte against the SHA-256 they announce. Unit tests use an
in-memory implementation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol

import httpx
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
from numpy.typing import NDArray

from gyre.data.v1 import data_service_pb2, dataset_pb2
from gyre.models.v1 import model_version_pb2, models_service_pb2
from gyre.runtime.errors import DataLoss, NotFound, Unavailable
from gyre.sdk import data as data_sdk
from gyre.sdk.client import GyreClient
from gyre.sdk.models import read_artifact, resolve_alias

__all__ = ["DOWNLOAD_TIMEOUT_S", "Peers", "RegistryPeers"]

# Seconds a download may stall (per read) before it fails.
DOWNLOAD_TIMEOUT_S: Final = 60.0
_DOWNLOAD_CHUNK: Final = 1 << 20


class Peers(Protocol):
    """The registries, as the gate uses them (blocking calls)."""

    def get_model_version(self, name: str) -> model_version_pb2.ModelVersion:
        """The version (``{version}`` may be an alias). Raises NotFound."""

    def check_registered_model(self, name: str) -> None:
        """Raise NotFound unless ``models/{model}`` exists."""

    def resolve_alias(self, model: str, alias: str) -> model_version_pb2.ModelVersion | None:
        """The version ``alias`` points at, or None when the alias does not exist."""

    def download_artifact(self, version: model_version_pb2.ModelVersion) -> bytes:
        """The artifact's bytes, verified. Raises DataLoss on a digest mismatch."""

    def get_dataset_version(self, name: str) -> dataset_pb2.DatasetVersion:
        """The dataset version. Raises NotFound."""

    def iter_split(
        self,
        dataset_version: str,
        split: int,
        *,
        columns: Sequence[str],
        with_row_keys: bool,
        batch_rows: int,
    ) -> Iterator[pa.RecordBatch]:
        """The split's rows, ``batch_rows`` at a time (only ``columns``, plus the key
        hash column when ``with_row_keys``)."""

    def split_keys(self, dataset_version: str, split: int) -> NDArray[np.uint64]:
        """Sorted distinct key hashes of a split."""

    def close(self) -> None:
        """Release connections."""


class RegistryPeers:
    """:class:`Peers` over the real registries (gRPC + presigned downloads).

    Args:
        addresses: ``settings.peers`` (service key -> "host:port").
        home: the Gyre home (its ``stack.json`` resolves addresses not given).
        workdir: where downloads are spooled (a temporary directory by default).
    """

    def __init__(
        self,
        *,
        addresses: Mapping[str, str],
        home: Path | None = None,
        workdir: Path | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._client = GyreClient(addresses=addresses, home=home, timeout=timeout_s)
        self._http = httpx.Client(timeout=httpx.Timeout(DOWNLOAD_TIMEOUT_S, connect=10.0))
        self._workdir = workdir

    def close(self) -> None:
        self._client.close()
        self._http.close()

    # -------------------------------------------------------------- model registry

    def get_model_version(self, name: str) -> model_version_pb2.ModelVersion:
        response = self._client.models.GetModelVersion(
            models_service_pb2.GetModelVersionRequest(name=name)
        )
        version: model_version_pb2.ModelVersion = response.model_version
        return version

    def check_registered_model(self, name: str) -> None:
        self._client.models.GetRegisteredModel(
            models_service_pb2.GetRegisteredModelRequest(name=name)
        )

    def resolve_alias(self, model: str, alias: str) -> model_version_pb2.ModelVersion | None:
        return resolve_alias(self._client, model, alias)

    def download_artifact(self, version: model_version_pb2.ModelVersion) -> bytes:
        # Presigned GET; size and sha256 checked against the registry's (DataLoss).
        return read_artifact(self._client, version.name)

    # -------------------------------------------------------------- data registry

    def get_dataset_version(self, name: str) -> dataset_pb2.DatasetVersion:
        response = self._client.data.GetDatasetVersion(
            data_service_pb2.GetDatasetVersionRequest(name=name)
        )
        dataset_version: dataset_pb2.DatasetVersion = response.dataset_version
        return dataset_version

    def _get_split(self, dataset_version: str, split: int) -> data_service_pb2.GetSplitResponse:
        response: data_service_pb2.GetSplitResponse = self._client.data.GetSplit(
            data_service_pb2.GetSplitRequest(
                dataset_version=dataset_version,
                split=split,  # type: ignore[arg-type]
                include_urls=True,
            )
        )
        return response

    def iter_split(
        self,
        dataset_version: str,
        split: int,
        *,
        columns: Sequence[str],
        with_row_keys: bool,
        batch_rows: int,
    ) -> Iterator[pa.RecordBatch]:
        # The split's Parquet row files, one at a time on local disk, sha256-checked.
        return data_sdk.iter_batches(
            self._client,
            dataset_version,
            split=split,
            columns=list(dict.fromkeys(columns)),
            batch_rows=batch_rows,
            with_row_keys=with_row_keys,
        )

    def split_keys(self, dataset_version: str, split: int) -> NDArray[np.uint64]:
        response = self._get_split(dataset_version, split)
        if not response.key_hashes.url:
            return np.zeros(0, dtype=np.uint64)
        data = self._download_bytes(
            response.key_hashes.url, response.key_hashes.sha256, what=f"{dataset_version} keys"
        )
        return np.frombuffer(data, dtype="<u8").astype(np.uint64)

    # -------------------------------------------------------------- downloads

    def _download_bytes(self, url: str, sha256: str, *, what: str) -> bytes:
        digest = hashlib.sha256()
        parts: list[bytes] = []
        for chunk in self._stream(url, what=what):
            digest.update(chunk)
            parts.append(chunk)
        _verify(digest.hexdigest(), sha256, what)
        return b"".join(parts)

    def _download_file(self, url: str, sha256: str, path: Path, *, what: str) -> None:
        digest = hashlib.sha256()
        with path.open("wb") as out:
            for chunk in self._stream(url, what=what):
                digest.update(chunk)
                out.write(chunk)
        _verify(digest.hexdigest(), sha256, what)

    def _stream(self, url: str, *, what: str) -> Iterator[bytes]:
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code == 404:
                    raise NotFound(
                        f"the {what} is gone from the object store", reason="OBJECT_NOT_FOUND"
                    )
                if response.status_code >= 400:
                    raise Unavailable(
                        f"downloading the {what} failed: HTTP {response.status_code}",
                        reason="DOWNLOAD_FAILED",
                    )
                yield from response.iter_bytes(_DOWNLOAD_CHUNK)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"downloading the {what} failed: {exc}", reason="DOWNLOAD_FAILED"
            ) from exc


def _verify(actual: str, expected: str, what: str) -> None:
    if expected and actual != expected.lower():
        raise DataLoss(
            f"the {what} does not match its sha256 (expected {expected}, got {actual})",
            reason="DIGEST_MISMATCH",
        )
