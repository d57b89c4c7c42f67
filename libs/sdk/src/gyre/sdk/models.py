"""Client-side helpers for the model registry (``gyre.models.v1.ModelRegistryService``).

Every helper takes a :class:`~gyre.sdk.GyreClient` (and returns the result) or an
:class:`~gyre.sdk.AsyncGyreClient` (and returns an awaitable of it)::

    version = register_onnx(gyre, "fraud", "model.onnx", signature=sig)      # blocking
    version = await register_onnx(agyre, "fraud", onnx_bytes, signature=sig)  # asyncio
    path = download_artifact(gyre, "models/fraud/versions/3", "/tmp/models")  # sha256-checked
    champion = resolve_alias(gyre, "fraud", "champion")                       # or None

Artifacts never travel through gRPC: :func:`register_onnx` asks for a presigned PUT
URL (``CreateArtifactUploadUrl``), uploads straight to the object store, then calls
``CreateModelVersion`` (the registry re-computes the sha256 and refuses a mismatch
with ``DataLoss``). :func:`download_artifact` and :func:`read_artifact` fetch through a
presigned GET URL and verify size and sha256 again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar, overload

from google.protobuf.timestamp_pb2 import Timestamp

from gyre.common.v1 import metric_pb2, schema_pb2, value_pb2
from gyre.models.v1 import (
    alias_pb2,
    model_version_pb2,
    models_service_pb2,
    registered_model_pb2,
)
from gyre.sdk.client import AsyncGyreClient, GyreClient
from gyre.sdk.errors import AlreadyExists, DataLoss, InvalidArgument, NotFound, Unavailable

__all__ = [
    "ACTOR_METADATA_KEY",
    "ONNX_MEDIA_TYPE",
    "ModelVersion",
    "actor_metadata",
    "alias_at",
    "alias_history",
    "download_artifact",
    "get_lineage",
    "model_name",
    "read_artifact",
    "register_onnx",
    "resolve_alias",
    "search_versions",
    "set_alias",
    "version_name",
]

ModelVersion = model_version_pb2.ModelVersion
ONNX_MEDIA_TYPE: Final = "application/onnx"
# gRPC metadata key naming who makes a change (recorded in the alias history).
ACTOR_METADATA_KEY: Final = "gyre-actor"
# Seconds an upload or download over a presigned URL may take per socket operation.
HTTP_TIMEOUT_S: Final = 60.0
_CHUNK: Final = 1024 * 1024

MetricsArg = Mapping[str, float] | Iterable[metric_pb2.Metric] | None
ParamsArg = Mapping[str, Any] | None


def model_name(model: str) -> str:
    """``"fraud"`` or ``"models/fraud"`` → ``"models/fraud"``."""
    return model if model.startswith("models/") else f"models/{model}"


def version_name(model: str, version: int | str) -> str:
    """``models/{model}/versions/{version}`` ({version} may be an alias id)."""
    return f"{model_name(model)}/versions/{version}"


def actor_metadata(actor: str | None = None) -> tuple[tuple[str, str], ...]:
    """gRPC metadata naming ``actor`` (default ``$GYRE_ACTOR``, then ``$USER``)."""
    who = actor or os.environ.get("GYRE_ACTOR") or os.environ.get("USER") or ""
    return ((ACTOR_METADATA_KEY, who),) if who else ()


def _value(value: Any) -> value_pb2.Value:
    if isinstance(value, value_pb2.Value):
        return value
    if value is None:
        return value_pb2.Value(null_value="NULL_VALUE")
    if isinstance(value, bool):
        return value_pb2.Value(bool_value=value)
    if isinstance(value, int):
        return value_pb2.Value(int64_value=value)
    if isinstance(value, float):
        return value_pb2.Value(double_value=value)
    if isinstance(value, bytes):
        return value_pb2.Value(bytes_value=value)
    return value_pb2.Value(string_value=str(value))


def _load(onnx: str | os.PathLike[str] | bytes) -> bytes:
    if isinstance(onnx, bytes | bytearray | memoryview):
        return bytes(onnx)
    return Path(onnx).read_bytes()


def _version_message(
    artifact: Any,
    *,
    signature: schema_pb2.Signature,
    dataset_version: str | None,
    dataset_digest: str | None,
    metrics: MetricsArg,
    labels: Mapping[str, str] | None,
    params: ParamsArg,
    description: str,
) -> model_version_pb2.ModelVersion:
    mv = model_version_pb2.ModelVersion(
        artifact=artifact,
        model_format=model_version_pb2.MODEL_FORMAT_ONNX,
        signature=signature,
        dataset_version=dataset_version or "",
        dataset_digest=dataset_digest or "",
        description=description,
        labels=dict(labels or {}),
    )
    if isinstance(metrics, Mapping):
        mv.metrics.extend(metric_pb2.Metric(name=k, value=float(v)) for k, v in metrics.items())
    elif metrics is not None:
        mv.metrics.extend(metrics)
    for key, value in (params or {}).items():
        mv.params[key].CopyFrom(_value(value))
    return mv


def _put(url: str, data: bytes, headers: Mapping[str, str]) -> None:
    request = urllib.request.Request(url, data=data, method="PUT", headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise Unavailable(f"artifact upload failed: HTTP {exc.code}") from exc
    except OSError as exc:
        raise Unavailable(f"artifact upload failed: {exc}") from exc


def _get_to(url: str, sink: Any) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                sink(chunk)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFound("the artifact is missing from the object store") from exc
        raise Unavailable(f"artifact download failed: HTTP {exc.code}") from exc
    except OSError as exc:
        raise Unavailable(f"artifact download failed: {exc}") from exc
    return digest.hexdigest(), size


def _check(name: str, sha256: str, size: int, expected_sha: str, expected_size: int) -> None:
    if size != expected_size or sha256 != expected_sha:
        raise DataLoss(
            f"downloaded artifact of {name} does not match the registry: "
            f"sha256 {sha256} ({size} bytes), expected {expected_sha} ({expected_size} bytes)",
            reason="ARTIFACT_DIGEST_MISMATCH",
            metadata={"name": name, "expected": expected_sha, "actual": sha256},
        )


def _destination(dest: str | os.PathLike[str], name: str) -> Path:
    path = Path(dest)
    if path.is_dir():
        parts = name.split("/")
        return path / f"{parts[1]}-{parts[3]}.onnx"
    return path


def _download_to(url: str, path: Path) -> tuple[str, int, str]:
    """Stream ``url`` into a temporary file next to ``path``; (sha256, size, temp path)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            sha256, size = _get_to(url, out.write)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256, size, tmp


# --- register_onnx ----------------------------------------------------------------------


@overload
def register_onnx(
    client: GyreClient,
    model: str,
    onnx: str | os.PathLike[str] | bytes,
    *,
    signature: schema_pb2.Signature,
    dataset_version: str | None = None,
    dataset_digest: str | None = None,
    metrics: MetricsArg = None,
    labels: Mapping[str, str] | None = None,
    params: ParamsArg = None,
    description: str = "",
    request_id: str | None = None,
    create_model: bool = True,
    actor: str | None = None,
) -> model_version_pb2.ModelVersion: ...
@overload
def register_onnx(
    client: AsyncGyreClient,
    model: str,
    onnx: str | os.PathLike[str] | bytes,
    *,
    signature: schema_pb2.Signature,
    dataset_version: str | None = None,
    dataset_digest: str | None = None,
    metrics: MetricsArg = None,
    labels: Mapping[str, str] | None = None,
    params: ParamsArg = None,
    description: str = "",
    request_id: str | None = None,
    create_model: bool = True,
    actor: str | None = None,
) -> Awaitable[model_version_pb2.ModelVersion]: ...
def register_onnx(
    client: GyreClient | AsyncGyreClient,
    model: str,
    onnx: str | os.PathLike[str] | bytes,
    *,
    signature: schema_pb2.Signature,
    dataset_version: str | None = None,
    dataset_digest: str | None = None,
    metrics: MetricsArg = None,
    labels: Mapping[str, str] | None = None,
    params: ParamsArg = None,
    description: str = "",
    request_id: str | None = None,
    create_model: bool = True,
    actor: str | None = None,
) -> model_version_pb2.ModelVersion | Awaitable[model_version_pb2.ModelVersion]:
    """Upload an ONNX model (a path or its bytes) and register it as a new version.

    Args:
        client: a blocking or asyncio Gyre client.
        model: ``"fraud"`` or ``"models/fraud"``; created if missing and
            ``create_model`` (the default).
        onnx: the ``.onnx`` file's path or bytes.
        signature: its inputs and outputs (``gyre.common.v1.Signature``).
        dataset_version, dataset_digest: what it was trained on (for lineage).
        metrics: ``{"accuracy": 0.93}`` or ``Metric`` messages.
        labels: user labels; params: training parameters (scalars).
        request_id: idempotency key (default: a new UUID, i.e. not idempotent).
        actor: who registers it (default ``$GYRE_ACTOR`` / ``$USER``).

    Returns:
        The registered ``ModelVersion`` (status PENDING_VALIDATION).

    Raises:
        InvalidArgument: malformed signature or labels; DataLoss: the stored bytes do
        not match (corrupted upload); NotFound: the model is missing and
        ``create_model`` is false; Unavailable: the object store is unreachable.
    """
    data = _load(onnx)
    sha256 = hashlib.sha256(data).hexdigest()
    parent = model_name(model)
    rid = request_id or str(uuid.uuid4())
    metadata = actor_metadata(actor)
    upload_request = models_service_pb2.CreateArtifactUploadUrlRequest(
        parent=parent, sha256=sha256, size_bytes=len(data), media_type=ONNX_MEDIA_TYPE
    )
    create_model_request = models_service_pb2.CreateRegisteredModelRequest(
        registered_model_id=parent.removeprefix("models/"),
        registered_model=registered_model_pb2.RegisteredModel(),
    )

    def version_request(artifact: Any) -> models_service_pb2.CreateModelVersionRequest:
        return models_service_pb2.CreateModelVersionRequest(
            parent=parent,
            request_id=rid,
            model_version=_version_message(
                artifact,
                signature=signature,
                dataset_version=dataset_version,
                dataset_digest=dataset_digest,
                metrics=metrics,
                labels=labels,
                params=params,
                description=description,
            ),
        )

    if isinstance(client, AsyncGyreClient):
        aclient = client

        async def run_async() -> model_version_pb2.ModelVersion:
            try:
                upload = await aclient.models.CreateArtifactUploadUrl(upload_request)
            except NotFound:
                if not create_model:
                    raise
                with contextlib.suppress(AlreadyExists):
                    await aclient.models.CreateRegisteredModel(
                        create_model_request, metadata=metadata
                    )
                upload = await aclient.models.CreateArtifactUploadUrl(upload_request)
            if not upload.already_exists:
                await asyncio.to_thread(
                    _put, upload.upload_url.url, data, upload.upload_url.headers
                )
            response = await aclient.models.CreateModelVersion(
                version_request(upload.artifact), metadata=metadata
            )
            registered: model_version_pb2.ModelVersion = response.model_version
            return registered

        return run_async()

    try:
        upload = client.models.CreateArtifactUploadUrl(upload_request)
    except NotFound:
        if not create_model:
            raise
        with contextlib.suppress(AlreadyExists):
            client.models.CreateRegisteredModel(create_model_request, metadata=metadata)
        upload = client.models.CreateArtifactUploadUrl(upload_request)
    if not upload.already_exists:
        _put(upload.upload_url.url, data, upload.upload_url.headers)
    response = client.models.CreateModelVersion(version_request(upload.artifact), metadata=metadata)
    version: model_version_pb2.ModelVersion = response.model_version
    return version


# --- downloads --------------------------------------------------------------------------


@overload
def download_artifact(client: GyreClient, version: str, dest: str | os.PathLike[str]) -> Path: ...
@overload
def download_artifact(
    client: AsyncGyreClient, version: str, dest: str | os.PathLike[str]
) -> Awaitable[Path]: ...
def download_artifact(
    client: GyreClient | AsyncGyreClient, version: str, dest: str | os.PathLike[str]
) -> Path | Awaitable[Path]:
    """Download a version's ONNX artifact to ``dest`` and verify its size and sha256.

    ``version`` is ``models/{model}/versions/{version}`` ({version} may be an alias id
    such as ``champion``). ``dest`` is a file path, or a directory that receives
    ``{model}-{version}.onnx``. The file appears (atomically) only when verified.

    Raises:
        NotFound: no such version (or alias); DataLoss: the bytes do not match the
        registered sha256 (nothing is left at ``dest``); Unavailable: store unreachable.
    """
    request = models_service_pb2.GetModelVersionDownloadUrlRequest(name=version)

    def fetch(response: Any) -> Path:
        path = _destination(dest, version)
        sha256, size, tmp = _download_to(response.url, path)
        try:
            _check(version, sha256, size, response.sha256, response.size_bytes)
        except DataLoss:
            Path(tmp).unlink(missing_ok=True)
            raise
        os.replace(tmp, path)
        return path

    if isinstance(client, AsyncGyreClient):
        aclient = client

        async def run_async() -> Path:
            response = await aclient.models.GetModelVersionDownloadUrl(request)
            return await asyncio.to_thread(fetch, response)

        return run_async()
    return fetch(client.models.GetModelVersionDownloadUrl(request))


@overload
def read_artifact(client: GyreClient, version: str) -> bytes: ...
@overload
def read_artifact(client: AsyncGyreClient, version: str) -> Awaitable[bytes]: ...
def read_artifact(client: GyreClient | AsyncGyreClient, version: str) -> bytes | Awaitable[bytes]:
    """A version's ONNX bytes, verified against the registered size and sha256
    (e.g. for ``onnxruntime.InferenceSession(read_artifact(gyre, name))``).

    Raises:
        NotFound, DataLoss, Unavailable: as :func:`download_artifact`.
    """
    request = models_service_pb2.GetModelVersionDownloadUrlRequest(name=version)

    def fetch(response: Any) -> bytes:
        chunks: list[bytes] = []
        sha256, size = _get_to(response.url, chunks.append)
        _check(version, sha256, size, response.sha256, response.size_bytes)
        return b"".join(chunks)

    if isinstance(client, AsyncGyreClient):
        aclient = client

        async def run_async() -> bytes:
            response = await aclient.models.GetModelVersionDownloadUrl(request)
            return await asyncio.to_thread(fetch, response)

        return run_async()
    return fetch(client.models.GetModelVersionDownloadUrl(request))


# --- aliases ----------------------------------------------------------------------------


@overload
def resolve_alias(
    client: GyreClient, model: str, alias: str
) -> model_version_pb2.ModelVersion | None: ...
@overload
def resolve_alias(
    client: AsyncGyreClient, model: str, alias: str
) -> Awaitable[model_version_pb2.ModelVersion | None]: ...
def resolve_alias(
    client: GyreClient | AsyncGyreClient, model: str, alias: str
) -> model_version_pb2.ModelVersion | Awaitable[model_version_pb2.ModelVersion | None] | None:
    """The version ``alias`` (e.g. ``"champion"``) of ``model`` points at, or ``None``
    when the model or the alias does not exist."""
    request = models_service_pb2.GetModelVersionRequest(name=version_name(model, alias))
    if isinstance(client, AsyncGyreClient):
        aclient = client

        async def run_async() -> model_version_pb2.ModelVersion | None:
            try:
                return (await aclient.models.GetModelVersion(request)).model_version  # type: ignore[no-any-return]
            except NotFound:
                return None

        return run_async()
    try:
        return client.models.GetModelVersion(request).model_version  # type: ignore[no-any-return]
    except NotFound:
        return None


@overload
def set_alias(
    client: GyreClient,
    model: str,
    alias: str,
    version: int | str,
    *,
    etag: str = "",
    reason: str = "",
    override_protection: bool = False,
    cause: str = "",
    actor: str | None = None,
) -> models_service_pb2.SetAliasResponse: ...
@overload
def set_alias(
    client: AsyncGyreClient,
    model: str,
    alias: str,
    version: int | str,
    *,
    etag: str = "",
    reason: str = "",
    override_protection: bool = False,
    cause: str = "",
    actor: str | None = None,
) -> Awaitable[models_service_pb2.SetAliasResponse]: ...
def set_alias(
    client: GyreClient | AsyncGyreClient,
    model: str,
    alias: str,
    version: int | str,
    *,
    etag: str = "",
    reason: str = "",
    override_protection: bool = False,
    cause: str = "",
    actor: str | None = None,
) -> models_service_pb2.SetAliasResponse | Awaitable[models_service_pb2.SetAliasResponse]:
    """Point ``alias`` of ``model`` at ``version`` (a number or a full version name).

    Raises:
        Aborted: ``etag`` is stale; FailedPrecondition: protected alias and the version
        is not VALIDATED (pass ``override_protection`` and a ``reason``), or archived.
    """
    target = (
        version if isinstance(version, str) and "/" in version else version_name(model, version)
    )
    if override_protection and not reason:
        raise InvalidArgument("override_protection needs a reason")
    request = models_service_pb2.SetAliasRequest(
        name=f"{model_name(model)}/aliases/{alias}",
        version=target,
        etag=etag,
        reason=reason,
        override_protection=override_protection,
        cause=cause,
    )
    metadata = actor_metadata(actor)
    if isinstance(client, AsyncGyreClient):
        return client.models.SetAlias(request, metadata=metadata)  # type: ignore[no-any-return]
    return client.models.SetAlias(request, metadata=metadata)  # type: ignore[no-any-return]


# --- search, history, lineage -----------------------------------------------------------

_T = TypeVar("_T")
_DIRECTIONS: Final = {"up": 1, "upstream": 1, "down": 2, "downstream": 2, "both": 3}


def _call(
    client: GyreClient | AsyncGyreClient, method: str, request: Any, pick: Callable[[Any], _T]
) -> _T | Awaitable[_T]:
    if isinstance(client, AsyncGyreClient):
        aclient = client

        async def run_async() -> _T:
            return pick(await getattr(aclient.models, method)(request))

        return run_async()
    return pick(getattr(client.models, method)(request))


@overload
def search_versions(
    client: GyreClient,
    *,
    models: Iterable[str] = (),
    filter: str = "",
    order_by: str = "",
    page_size: int = 50,
    page_token: str = "",
) -> tuple[list[model_version_pb2.ModelVersion], str]: ...
@overload
def search_versions(
    client: AsyncGyreClient,
    *,
    models: Iterable[str] = (),
    filter: str = "",
    order_by: str = "",
    page_size: int = 50,
    page_token: str = "",
) -> Awaitable[tuple[list[model_version_pb2.ModelVersion], str]]: ...
def search_versions(
    client: GyreClient | AsyncGyreClient,
    *,
    models: Iterable[str] = (),
    filter: str = "",
    order_by: str = "",
    page_size: int = 50,
    page_token: str = "",
) -> (
    tuple[list[model_version_pb2.ModelVersion], str]
    | Awaitable[tuple[list[model_version_pb2.ModelVersion], str]]
):
    """One page of versions matching an AIP-160 ``filter`` (e.g. ``'status = VALIDATED
    AND metrics.auc > 0.9'``), and the next page's token ("" on the last page)."""
    request = models_service_pb2.SearchModelVersionsRequest(
        registered_models=[model_name(m) for m in models],
        filter=filter,
        order_by=order_by,
        page_size=page_size,
        page_token=page_token,
    )
    return _call(
        client,
        "SearchModelVersions",
        request,
        lambda r: (list(r.model_versions), str(r.next_page_token)),
    )


@overload
def alias_history(
    client: GyreClient, model: str, *, alias: str = "", page_size: int = 100
) -> list[alias_pb2.AliasChange]: ...
@overload
def alias_history(
    client: AsyncGyreClient, model: str, *, alias: str = "", page_size: int = 100
) -> Awaitable[list[alias_pb2.AliasChange]]: ...
def alias_history(
    client: GyreClient | AsyncGyreClient, model: str, *, alias: str = "", page_size: int = 100
) -> list[alias_pb2.AliasChange] | Awaitable[list[alias_pb2.AliasChange]]:
    """The newest ``page_size`` alias changes of ``model`` (of ``alias`` only, if given)."""
    request = models_service_pb2.ListAliasHistoryRequest(
        parent=model_name(model),
        filter=f'alias = "{alias}"' if alias else "",
        page_size=page_size,
    )
    return _call(client, "ListAliasHistory", request, lambda r: list(r.changes))


@overload
def alias_at(
    client: GyreClient, model: str, alias: str, when: datetime
) -> alias_pb2.Alias | None: ...
@overload
def alias_at(
    client: AsyncGyreClient, model: str, alias: str, when: datetime
) -> Awaitable[alias_pb2.Alias | None]: ...
def alias_at(
    client: GyreClient | AsyncGyreClient, model: str, alias: str, when: datetime
) -> alias_pb2.Alias | Awaitable[alias_pb2.Alias | None] | None:
    """The alias as it was at ``when`` (``.version`` = the version it pointed at), or
    ``None`` when it did not exist then."""
    at = Timestamp()
    at.FromDatetime(when)
    request = models_service_pb2.GetAliasRequest(
        name=f"{model_name(model)}/aliases/{alias}", at_time=at
    )
    if isinstance(client, AsyncGyreClient):
        aclient = client

        async def run_async() -> alias_pb2.Alias | None:
            try:
                found: alias_pb2.Alias = (await aclient.models.GetAlias(request)).alias
                return found
            except NotFound:
                return None

        return run_async()
    try:
        found: alias_pb2.Alias = client.models.GetAlias(request).alias
        return found
    except NotFound:
        return None


@overload
def get_lineage(
    client: GyreClient, name: str, *, direction: str = "both", depth: int = 3
) -> models_service_pb2.GetLineageResponse: ...
@overload
def get_lineage(
    client: AsyncGyreClient, name: str, *, direction: str = "both", depth: int = 3
) -> Awaitable[models_service_pb2.GetLineageResponse]: ...
def get_lineage(
    client: GyreClient | AsyncGyreClient, name: str, *, direction: str = "both", depth: int = 3
) -> models_service_pb2.GetLineageResponse | Awaitable[models_service_pb2.GetLineageResponse]:
    """The lineage graph (nodes, edges) around ``name`` (a version, run, dataset version,
    validation or deployment); ``direction`` is ``up``, ``down`` or ``both``."""
    if direction not in _DIRECTIONS:
        raise InvalidArgument(f"direction must be up, down or both, got {direction!r}")
    request = models_service_pb2.GetLineageRequest(
        name=name,
        direction=_DIRECTIONS[direction],  # type: ignore[arg-type]
        depth=depth,
    )
    return _call(client, "GetLineage", request, lambda r: r)
