"""Model artifacts in the object store: where they go, and their sha256 checks."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from gyre.runtime.errors import DataLoss, FieldViolation, InvalidArgument, NotFound
from gyre.runtime.objectstore import ObjectStore
from gyre.runtime.settings import S3Settings

__all__ = [
    "ARTIFACT_PREFIX",
    "ONNX_MEDIA_TYPE",
    "ArtifactStores",
    "artifact_key",
    "check_sha256",
    "parse_s3_uri",
]

# Where uploaded artifacts live, by content: "<prefix>/<sha256>.onnx".
ARTIFACT_PREFIX: Final = "model-artifacts/sha256"
ONNX_MEDIA_TYPE: Final = "application/onnx"
# Lifetime of presigned upload and download URLs.
URL_EXPIRY: Final = timedelta(hours=1)
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")


def check_sha256(value: str, field: str) -> str:
    if not _SHA256.match(value):
        raise InvalidArgument(
            f"{field} must be 64 lowercase hex characters, got {value[:80]!r}",
            reason="INVALID_DIGEST",
            field_violations=[FieldViolation(field, "not a lowercase hex SHA-256")],
        )
    return value


def artifact_key(sha256: str) -> str:
    """Object key of an uploaded artifact."""
    return f"{ARTIFACT_PREFIX}/{sha256}.onnx"


def parse_s3_uri(uri: str, field: str = "model_version.artifact.uri") -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key``."""
    if not uri.startswith("s3://"):
        raise InvalidArgument(
            f"{field} must be an s3:// URI, got {uri[:200]!r}",
            reason="INVALID_ARTIFACT_URI",
            field_violations=[FieldViolation(field, "not an s3:// URI")],
        )
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise InvalidArgument(
            f"{field} must be s3://<bucket>/<key>, got {uri[:200]!r}",
            reason="INVALID_ARTIFACT_URI",
            field_violations=[FieldViolation(field, "no bucket or key")],
        )
    return bucket, key


class ArtifactStores:
    """One :class:`ObjectStore` per bucket on the configured S3 endpoint."""

    def __init__(self, settings: S3Settings) -> None:
        self._settings = settings
        self._stores: dict[str, ObjectStore] = {}

    @property
    def default(self) -> ObjectStore:
        return self.bucket(self._settings.bucket)

    def bucket(self, name: str) -> ObjectStore:
        store = self._stores.get(name)
        if store is None:
            store = ObjectStore.from_settings(self._settings, bucket=name)
            self._stores[name] = store
        return store

    async def verify(self, uri: str, *, sha256: str, size_bytes: int) -> None:
        """Re-compute the stored artifact's size and sha256 and compare.

        Raises:
            NotFound: no object at ``uri``.
            DataLoss: the stored bytes differ in size or digest.
            Unavailable: the store cannot be reached.
        """
        bucket, key = parse_s3_uri(uri)
        store = self.bucket(bucket)
        try:
            info = await store.stat(key)
        except NotFound as exc:
            raise NotFound(
                f"no artifact at {uri}; upload it first (CreateArtifactUploadUrl)",
                reason="ARTIFACT_NOT_FOUND",
                metadata={"uri": uri},
            ) from exc
        if info.size != size_bytes:
            raise DataLoss(
                f"artifact {uri} is {info.size} bytes, expected {size_bytes}",
                reason="ARTIFACT_SIZE_MISMATCH",
                metadata={"uri": uri, "expected": str(size_bytes), "actual": str(info.size)},
            )
        actual = await store.sha256_of(key)
        if actual != sha256:
            raise DataLoss(
                f"artifact {uri} has sha256 {actual}, expected {sha256}",
                reason="ARTIFACT_DIGEST_MISMATCH",
                metadata={"uri": uri, "expected": sha256, "actual": actual},
            )
