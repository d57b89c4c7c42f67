"""The S3 object store adapter (MinIO in production, SeaweedFS locally).

Two faces over the ``minio`` SDK:

* :class:`SyncObjectStore` — blocking calls, for threads and worker processes.
* :class:`ObjectStore` — the same operations as coroutines for asyncio services;
  each runs the blocking call in a worker thread (``asyncio.to_thread``), so the
  event loop never waits on the network. Streams move one chunk per thread hop.

Memory stays bounded for any object size: uploads of unknown length are multipart
uploads of ``part_size`` parts (at most about ``(parallel_uploads + 3) *
part_size`` bytes in memory), downloads are iterated in ``chunk_size`` pieces.

Every ``minio`` / ``urllib3`` exception is translated at this boundary
(``raise ... from exc``): a missing key or bucket → :class:`NotFound`; a refused
connection, timeout, 5xx or throttling → :class:`Unavailable`; access denied or
bad credentials → :class:`PermissionDenied`; an argument minio (its
``ValueError``) or the store (e.g. ``KeyTooLongError``) rejects →
:class:`InvalidArgument`; anything else → :class:`Internal`.

Object keys are checked before any request (:class:`InvalidArgument`, reason
``INVALID_OBJECT_KEY``): non-empty, at most 1024 bytes of UTF-8, no leading or
trailing ``/``, no empty, ``.`` or ``..`` segment, no control character, no
backslash. S3 servers normalize such keys differently (SeaweedFS stores ``"f/"`` as a
directory, losing the bytes, ``"d//e"`` as ``"d/e"``, and turns ``\\`` into ``/``, so
``"m\\n"`` and ``"m/n"`` collide), so they would lose data silently; AWS's key naming
guidance lists ``\\`` among the characters to avoid.

A call fails within seconds when the store hangs: the connect timeout (3 s) and
the read timeout (20 s, per socket read, so long transfers are fine) bound each
attempt, and only attempts that never reached the server (connection errors) or
got a 5xx are retried, without honouring ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import io
import socket
import unicodedata
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, NoReturn, ParamSpec, TypeVar

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError

from gyre.runtime.errors import (
    GyreError,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from gyre.runtime.settings import S3Settings

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_PARALLEL_UPLOADS",
    "DEFAULT_PART_SIZE",
    "DEFAULT_PRESIGN_EXPIRY",
    "DEFAULT_READ_TIMEOUT_S",
    "MAX_KEY_BYTES",
    "MAX_PRESIGN_EXPIRY",
    "MIN_PART_SIZE",
    "AsyncUploadSource",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStream",
    "PutResult",
    "SyncObjectStore",
    "SyncObjectStream",
    "UploadSource",
]

# S3's minimum multipart part size (every part but the last).
MIN_PART_SIZE: Final = 5 * 1024 * 1024
# Part size of uploads of unknown length (memory per in-flight part).
DEFAULT_PART_SIZE: Final = 8 * 1024 * 1024
# Parts uploaded concurrently by one multipart upload.
DEFAULT_PARALLEL_UPLOADS: Final = 2
# Size of the pieces downloads are read in.
DEFAULT_CHUNK_SIZE: Final = 1024 * 1024
# HTTP client: seconds to open a connection, seconds to wait for each socket read
# (not the whole transfer), and how many times a request that failed to connect or
# got 500/502/503/504 is retried. A read timeout is not retried: a hung store
# fails the call after one read timeout instead of several.
DEFAULT_CONNECT_TIMEOUT_S: Final[float] = S3Settings.model_fields["connect_timeout_s"].default
DEFAULT_READ_TIMEOUT_S: Final[float] = S3Settings.model_fields["read_timeout_s"].default
DEFAULT_MAX_RETRIES: Final[int] = S3Settings.model_fields["max_retries"].default
# Exponential backoff factor between retries, in seconds (urllib3's backoff_factor).
DEFAULT_RETRY_BACKOFF_S: Final = 0.2
# Connections kept per host in the pool (parallel parts + concurrent calls).
DEFAULT_MAX_POOL_CONNECTIONS: Final = 16
# Presigned URLs: default lifetime, and the longest S3 (SigV4) allows.
DEFAULT_PRESIGN_EXPIRY: Final = timedelta(hours=1)
MAX_PRESIGN_EXPIRY: Final = timedelta(days=7)
_RETRY_STATUSES: Final = (500, 502, 503, 504)
# S3's limit on a key's length, in UTF-8 bytes.
MAX_KEY_BYTES: Final = 1024
_META_PREFIX: Final = "x-amz-meta-"
_NOT_FOUND_CODES: Final = frozenset(
    {"NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NoSuchVersion", "ResourceNotFound"}
)
_DENIED_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
    }
)
# The store refused the request's arguments (e.g. SeaweedFS limits each key
# segment to 255 bytes, below S3's 1024 for the whole key).
_INVALID_ARGUMENT_CODES: Final = frozenset(
    {"KeyTooLongError", "InvalidArgument", "InvalidBucketName", "XMinioInvalidObjectName"}
)
_UNAVAILABLE_CODES: Final = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "XMinioServerNotInitialized",
    }
)

# A source for uploads: a binary file-like object (anything with ``read(n)``) or
# an iterable of byte chunks (e.g. a generator).
UploadSource = IO[bytes] | Iterable[bytes]
# What ObjectStore.put_stream accepts besides: an async iterable of byte chunks.
AsyncUploadSource = IO[bytes] | Iterable[bytes] | AsyncIterable[bytes]

_P = ParamSpec("_P")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What the store knows about one object.

    ``size`` is in bytes; ``etag`` has no quotes (a multipart upload's ETag is not
    an MD5 of the content); ``metadata`` holds the user metadata given at upload
    (keys lower-cased, without the ``x-amz-meta-`` prefix; empty in listings).
    """

    key: str
    size: int
    etag: str
    last_modified: datetime | None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PutResult:
    """An upload's outcome: the key, its ETag (no quotes) and the bytes written
    (``-1`` when a file-like source's length was not counted)."""

    key: str
    etag: str
    size: int


class SyncObjectStream:
    """The body of one object, as an iterator of byte chunks.

    Use it as a context manager, or iterate to the end; either way the HTTP
    connection goes back to the pool. Errors while reading are translated
    like every other call.
    """

    def __init__(self, response: Any, *, key: str, bucket: str, chunk_size: int) -> None:
        self._response = response
        self._chunks: Iterator[bytes] = response.stream(chunk_size)
        self._key = key
        self._bucket = bucket
        self._closed = False

    def __iter__(self) -> SyncObjectStream:
        return self

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise
        except Exception as exc:
            self.close()
            _raise_translated(exc, "read", bucket=self._bucket, key=self._key)

    def close(self) -> None:
        """Release the connection; idempotent."""
        if not self._closed:
            self._closed = True
            self._response.close()
            self._response.release_conn()

    def __enter__(self) -> SyncObjectStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ObjectStream:
    """The body of one object, as an async iterator of byte chunks.

    ``async with store.get_stream(key) as stream: async for chunk in stream``.
    Each chunk is read in a worker thread. Reaching the end, an error, or leaving
    the ``async with`` block releases the connection.
    """

    def __init__(self, opener: Callable[[], SyncObjectStream]) -> None:
        self._opener = opener
        self._stream: SyncObjectStream | None = None
        self._done = False

    def __aiter__(self) -> ObjectStream:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        if self._stream is None:
            self._stream = await asyncio.to_thread(self._opener)
        chunk = await asyncio.to_thread(next, self._stream, None)
        if chunk is None:
            self._done = True
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Release the connection; idempotent."""
        self._done = True
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await asyncio.to_thread(stream.close)

    async def __aenter__(self) -> ObjectStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class SyncObjectStore:
    """Blocking S3 operations on one bucket. Thread-safe (the minio client is).

    Keys are object names inside the bucket, e.g. ``"chunks/ab/abcdef..."``.
    """

    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    @classmethod
    def from_settings(
        cls,
        settings: S3Settings,
        *,
        bucket: str | None = None,
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
        max_retries: int | None = None,
        max_pool_connections: int = DEFAULT_MAX_POOL_CONNECTIONS,
    ) -> SyncObjectStore:
        """A store on ``settings.endpoint`` for ``bucket`` (default ``settings.bucket``).

        Nothing is contacted until the first call. ``connect_timeout_s`` and
        ``read_timeout_s`` bound each attempt (the read timeout applies to each
        socket read); ``max_retries`` counts retries after connection errors and
        5xx answers (read timeouts are not retried). Each defaults to the same-named
        field of ``settings`` (``GYRE_S3__CONNECT_TIMEOUT_S``, ...).
        """
        if connect_timeout_s is None:
            connect_timeout_s = settings.connect_timeout_s
        if read_timeout_s is None:
            read_timeout_s = settings.read_timeout_s
        if max_retries is None:
            max_retries = settings.max_retries
        http_client = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
            maxsize=max_pool_connections,
            retries=urllib3.Retry(
                total=max_retries,
                connect=max_retries,
                status=max_retries,
                # Sent but unanswered (a hung store): fail now, not after N timeouts.
                read=0,
                other=0,
                backoff_factor=DEFAULT_RETRY_BACKOFF_S,
                status_forcelist=_RETRY_STATUSES,
                # A server's Retry-After could stall the call for minutes.
                respect_retry_after_header=False,
            ),
        )
        client = Minio(
            settings.endpoint,
            access_key=settings.access_key,
            secret_key=settings.secret_key.get_secret_value(),
            secure=settings.secure,
            region=settings.region,
            http_client=http_client,
        )
        return cls(client, settings.bucket if bucket is None else bucket)

    def uri(self, key: str) -> str:
        """``s3://<bucket>/<key>``."""
        return f"s3://{self.bucket}/{key}"

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (concurrent creators are fine).

        Raises:
            Unavailable, PermissionDenied, Internal: See the module doc.
        """
        try:
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                return
            _raise_translated(exc, "create bucket", bucket=self.bucket)
        except Exception as exc:
            _raise_translated(exc, "create bucket", bucket=self.bucket)

    def put_stream(
        self,
        key: str,
        stream: UploadSource,
        *,
        length: int = -1,
        part_size: int = DEFAULT_PART_SIZE,
        parallel_uploads: int = DEFAULT_PARALLEL_UPLOADS,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> PutResult:
        """Upload from a file-like object or an iterable of byte chunks.

        ``length=-1`` (unknown) uploads ``part_size`` parts as a multipart upload,
        so memory is bounded by about ``(parallel_uploads + 3) * part_size``
        whatever the object's size. A known ``length`` must match the data.

        Raises:
            InvalidArgument: If the key is invalid (see the module doc) or
                ``part_size`` is below 5 MiB.
            Unavailable, PermissionDenied, NotFound (no bucket), Internal: See the module doc.
        """
        _check_key(key)
        if part_size < MIN_PART_SIZE:
            raise InvalidArgument(
                f"part_size must be at least {MIN_PART_SIZE} bytes",
                reason="PART_SIZE_TOO_SMALL",
                metadata={"part_size": str(part_size)},
            )
        reader = _reader_of(stream)
        try:
            result = self._client.put_object(
                self.bucket,
                key,
                reader,
                length,
                content_type=content_type,
                metadata=dict(metadata) if metadata else None,
                part_size=part_size,
                num_parallel_uploads=parallel_uploads,
            )
        except GyreError:
            raise
        except Exception as exc:
            _raise_translated(exc, "put", bucket=self.bucket, key=key)
        size = reader.count if isinstance(reader, _ChunkReader) else length
        return PutResult(key=key, etag=_unquote(result.etag), size=size)

    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> PutResult:
        """Upload ``data`` in one request (multipart above the part size).

        Raises:
            InvalidArgument, Unavailable, PermissionDenied, NotFound, Internal: As ``put_stream``.
        """
        _check_key(key)
        try:
            result = self._client.put_object(
                self.bucket,
                key,
                io.BytesIO(data),
                len(data),
                content_type=content_type,
                metadata=dict(metadata) if metadata else None,
            )
        except Exception as exc:
            _raise_translated(exc, "put", bucket=self.bucket, key=key)
        return PutResult(key=key, etag=_unquote(result.etag), size=len(data))

    def put_file(
        self,
        key: str,
        path: str | Path,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        parallel_uploads: int = DEFAULT_PARALLEL_UPLOADS,
    ) -> PutResult:
        """Upload a local file (multipart above ``part_size``).

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            InvalidArgument, Unavailable, PermissionDenied, NotFound, Internal: As ``put_stream``.
        """
        _check_key(key)
        size = Path(path).stat().st_size
        try:
            result = self._client.fput_object(
                self.bucket,
                key,
                str(path),
                content_type=content_type,
                metadata=dict(metadata) if metadata else None,
                part_size=max(part_size, MIN_PART_SIZE),
                num_parallel_uploads=parallel_uploads,
            )
        except Exception as exc:
            _raise_translated(exc, "put", bucket=self.bucket, key=key)
        return PutResult(key=key, etag=_unquote(result.etag), size=size)

    def get_stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> SyncObjectStream:
        """Open an object for reading in ``chunk_size`` pieces.

        Raises:
            NotFound: If the key or the bucket does not exist.
            Unavailable, PermissionDenied, Internal: See the module doc.
        """
        _check_key(key)
        try:
            response = self._client.get_object(self.bucket, key)
        except Exception as exc:
            _raise_translated(exc, "get", bucket=self.bucket, key=key)
        return SyncObjectStream(response, key=key, bucket=self.bucket, chunk_size=chunk_size)

    def get_bytes(self, key: str) -> bytes:
        """The whole object in memory (small objects only).

        Raises:
            NotFound, Unavailable, PermissionDenied, Internal: As ``get_stream``.
        """
        with self.get_stream(key) as stream:
            return b"".join(stream)

    def get_file(self, key: str, path: str | Path) -> ObjectInfo:
        """Download an object to ``path`` (written to a temporary file, then renamed).

        Raises:
            NotFound, Unavailable, PermissionDenied, Internal: As ``get_stream``.
        """
        _check_key(key)
        try:
            obj = self._client.fget_object(self.bucket, key, str(path))
        except Exception as exc:
            _raise_translated(exc, "get", bucket=self.bucket, key=key)
        return _info_of(obj, key)

    def stat(self, key: str) -> ObjectInfo:
        """Size, ETag, modification time, content type and user metadata of an object.

        Raises:
            NotFound: If the key or the bucket does not exist.
            Unavailable, PermissionDenied, Internal: See the module doc.
        """
        _check_key(key)
        try:
            obj = self._client.stat_object(self.bucket, key)
        except Exception as exc:
            _raise_translated(exc, "stat", bucket=self.bucket, key=key)
        return _info_of(obj, key)

    def exists(self, key: str) -> bool:
        """Whether the object exists (``False`` too when the bucket does not: an S3
        ``HEAD`` cannot tell the two apart).

        Raises:
            Unavailable, PermissionDenied, Internal: See the module doc.
        """
        try:
            self.stat(key)
        except NotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """Delete an object; deleting a missing key is not an error (S3 semantics).

        Raises:
            NotFound: If the bucket does not exist.
            Unavailable, PermissionDenied, Internal: See the module doc.
        """
        _check_key(key)
        try:
            self._client.remove_object(self.bucket, key)
        except Exception as exc:
            _raise_translated(exc, "delete", bucket=self.bucket, key=key)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Delete objects in batches (S3 DeleteObjects); missing keys are ignored.

        Raises:
            InvalidArgument: If a key is invalid (see the module doc); nothing is deleted.
            Internal: If the store refused to delete some keys (the message
                counts them; ``metadata["first_key"]`` names one).
            NotFound, Unavailable, PermissionDenied: See the module doc.
        """
        keys = builtins.list(keys)
        for key in keys:
            _check_key(key)
        targets = [DeleteObject(key) for key in keys]
        if not targets:
            return
        try:
            failures = builtins.list(self._client.remove_objects(self.bucket, targets))
        except Exception as exc:
            _raise_translated(exc, "delete", bucket=self.bucket)
        if failures:
            first = failures[0]
            raise Internal(
                f"object store refused to delete {len(failures)} of {len(targets)} objects",
                reason="OBJECT_STORE_DELETE_FAILED",
                metadata={
                    "bucket": self.bucket,
                    "first_key": str(first.name),
                    "code": str(first.code),
                },
            )

    def list(self, prefix: str = "", *, recursive: bool = True) -> Iterator[ObjectInfo]:
        """Objects whose keys start with ``prefix``, in key order, fetched page by page.

        With ``recursive=False`` the listing stops at ``/`` and "directories" are
        skipped.

        Raises:
            NotFound: If the bucket does not exist.
            Unavailable, PermissionDenied, Internal: See the module doc (raised
                while iterating).
        """
        try:
            for obj in self._client.list_objects(
                self.bucket, prefix=prefix or None, recursive=recursive
            ):
                if obj.is_dir:
                    continue
                yield _info_of(obj, obj.object_name)
        except Exception as exc:
            _raise_translated(exc, "list", bucket=self.bucket, key=prefix)

    def presigned_put_url(self, key: str, *, expires: timedelta = DEFAULT_PRESIGN_EXPIRY) -> str:
        """A URL anyone may ``PUT`` the object's bytes to until ``expires`` has passed.

        Computed locally (no request to the store).

        Raises:
            InvalidArgument: If ``expires`` is not within 1 second to 7 days.
            Internal: If the URL cannot be signed.
        """
        _check_key(key)
        _check_expiry(expires)
        try:
            return str(self._client.presigned_put_object(self.bucket, key, expires=expires))
        except Exception as exc:
            _raise_translated(exc, "presign", bucket=self.bucket, key=key)

    def presigned_get_url(self, key: str, *, expires: timedelta = DEFAULT_PRESIGN_EXPIRY) -> str:
        """A URL anyone may ``GET`` the object from until ``expires`` has passed.

        Raises:
            InvalidArgument: If ``expires`` is not within 1 second to 7 days.
            Internal: If the URL cannot be signed.
        """
        _check_key(key)
        _check_expiry(expires)
        try:
            return str(self._client.presigned_get_object(self.bucket, key, expires=expires))
        except Exception as exc:
            _raise_translated(exc, "presign", bucket=self.bucket, key=key)

    def sha256_of(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> str:
        """Hex SHA-256 of an object's content, streamed (memory: one chunk).

        Raises:
            NotFound, Unavailable, PermissionDenied, Internal: As ``get_stream``.
        """
        digest = hashlib.sha256()
        with self.get_stream(key, chunk_size=chunk_size) as stream:
            for chunk in stream:
                digest.update(chunk)
        return digest.hexdigest()


class ObjectStore:
    """Asyncio face of :class:`SyncObjectStore`: the same operations as coroutines.

    Build it with :meth:`from_settings`; ``store.sync`` is the blocking store it
    wraps (for code already running in a thread).
    """

    def __init__(self, sync: SyncObjectStore) -> None:
        self.sync = sync

    @classmethod
    def from_settings(
        cls,
        settings: S3Settings,
        *,
        bucket: str | None = None,
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
        max_retries: int | None = None,
        max_pool_connections: int = DEFAULT_MAX_POOL_CONNECTIONS,
    ) -> ObjectStore:
        """See :meth:`SyncObjectStore.from_settings`."""
        return cls(
            SyncObjectStore.from_settings(
                settings,
                bucket=bucket,
                connect_timeout_s=connect_timeout_s,
                read_timeout_s=read_timeout_s,
                max_retries=max_retries,
                max_pool_connections=max_pool_connections,
            )
        )

    @property
    def bucket(self) -> str:
        """The bucket this store reads and writes."""
        return self.sync.bucket

    def uri(self, key: str) -> str:
        """``s3://<bucket>/<key>``."""
        return self.sync.uri(key)

    async def ensure_bucket(self) -> None:
        """See :meth:`SyncObjectStore.ensure_bucket`."""
        await asyncio.to_thread(self.sync.ensure_bucket)

    async def put_stream(
        self,
        key: str,
        stream: AsyncUploadSource,
        *,
        length: int = -1,
        part_size: int = DEFAULT_PART_SIZE,
        parallel_uploads: int = DEFAULT_PARALLEL_UPLOADS,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> PutResult:
        """See :meth:`SyncObjectStore.put_stream`; also takes an async iterable of chunks.

        An async source is pulled from the event loop, one chunk at a time, by the
        uploading thread.
        """
        source: UploadSource
        if isinstance(stream, AsyncIterable):
            source = _AsyncChunks(stream, asyncio.get_running_loop())
        else:
            source = stream
        try:
            return await asyncio.to_thread(
                self.sync.put_stream,
                key,
                source,
                length=length,
                part_size=part_size,
                parallel_uploads=parallel_uploads,
                content_type=content_type,
                metadata=metadata,
            )
        finally:
            if isinstance(source, _AsyncChunks):
                await source.aclose()

    async def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> PutResult:
        """See :meth:`SyncObjectStore.put_bytes`."""
        return await asyncio.to_thread(
            self.sync.put_bytes, key, data, content_type=content_type, metadata=metadata
        )

    async def put_file(
        self,
        key: str,
        path: str | Path,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        parallel_uploads: int = DEFAULT_PARALLEL_UPLOADS,
    ) -> PutResult:
        """See :meth:`SyncObjectStore.put_file`."""
        return await asyncio.to_thread(
            self.sync.put_file,
            key,
            path,
            content_type=content_type,
            metadata=metadata,
            part_size=part_size,
            parallel_uploads=parallel_uploads,
        )

    def get_stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectStream:
        """See :meth:`SyncObjectStore.get_stream`; the object is opened on the first read,
        so a missing key raises :class:`NotFound` from the first ``__anext__``."""
        return ObjectStream(lambda: self.sync.get_stream(key, chunk_size=chunk_size))

    async def get_bytes(self, key: str) -> bytes:
        """See :meth:`SyncObjectStore.get_bytes`."""
        return await asyncio.to_thread(self.sync.get_bytes, key)

    async def get_file(self, key: str, path: str | Path) -> ObjectInfo:
        """See :meth:`SyncObjectStore.get_file`."""
        return await asyncio.to_thread(self.sync.get_file, key, path)

    async def stat(self, key: str) -> ObjectInfo:
        """See :meth:`SyncObjectStore.stat`."""
        return await asyncio.to_thread(self.sync.stat, key)

    async def exists(self, key: str) -> bool:
        """See :meth:`SyncObjectStore.exists`."""
        return await asyncio.to_thread(self.sync.exists, key)

    async def delete(self, key: str) -> None:
        """See :meth:`SyncObjectStore.delete`."""
        await asyncio.to_thread(self.sync.delete, key)

    async def delete_many(self, keys: Iterable[str]) -> None:
        """See :meth:`SyncObjectStore.delete_many`."""
        await asyncio.to_thread(self.sync.delete_many, builtins.list(keys))

    async def list(self, prefix: str = "", *, recursive: bool = True) -> builtins.list[ObjectInfo]:
        """See :meth:`SyncObjectStore.list`; returns the whole listing as a list."""
        return await asyncio.to_thread(
            lambda: builtins.list(self.sync.list(prefix, recursive=recursive))
        )

    async def presigned_put_url(
        self, key: str, *, expires: timedelta = DEFAULT_PRESIGN_EXPIRY
    ) -> str:
        """See :meth:`SyncObjectStore.presigned_put_url`."""
        return await asyncio.to_thread(self.sync.presigned_put_url, key, expires=expires)

    async def presigned_get_url(
        self, key: str, *, expires: timedelta = DEFAULT_PRESIGN_EXPIRY
    ) -> str:
        """See :meth:`SyncObjectStore.presigned_get_url`."""
        return await asyncio.to_thread(self.sync.presigned_get_url, key, expires=expires)

    async def sha256_of(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> str:
        """See :meth:`SyncObjectStore.sha256_of` (the whole hash runs in one thread)."""
        return await asyncio.to_thread(self.sync.sha256_of, key, chunk_size=chunk_size)


class _ChunkReader:
    """``read(n)`` over an iterable of chunks, returning exactly ``n`` bytes until EOF.

    minio reads each part with repeated ``read`` calls and concatenates the results
    (quadratic for small chunks); answering each call in full avoids that.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        have = 0
        chunk: bytes | None = self._pending
        self._pending = b""
        while size < 0 or have < size:
            if not chunk:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                if not chunk:
                    continue
            if 0 <= size < have + len(chunk):
                # Split only the chunk that overshoots: one copy of the part, in join.
                need = size - have
                self._pending = chunk[need:]
                chunk = chunk[:need]
            parts.append(chunk)
            have += len(chunk)
            chunk = None
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.count += len(data)
        return bytes(data)


class _AsyncChunks:
    """A blocking iterator over an async iterable, for a worker thread to consume."""

    def __init__(self, chunks: AsyncIterable[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._iterator = aiter(chunks)
        self._loop = loop

    def __iter__(self) -> _AsyncChunks:
        return self

    def __next__(self) -> bytes:
        chunk = asyncio.run_coroutine_threadsafe(self._next(), self._loop).result()
        if chunk is None:
            raise StopIteration
        return chunk

    async def _next(self) -> bytes | None:
        try:
            return await anext(self._iterator)
        except StopAsyncIteration:
            return None

    async def aclose(self) -> None:
        close = getattr(self._iterator, "aclose", None)
        if close is not None:
            await close()


def _reader_of(stream: UploadSource) -> Any:
    if callable(getattr(stream, "read", None)):
        return stream
    return _ChunkReader(stream)


def _check_key(key: str) -> None:
    """Raise InvalidArgument (INVALID_OBJECT_KEY) unless every S3 server stores ``key`` as is."""
    rule = _key_rule_broken(key)
    if rule is not None:
        raise InvalidArgument(
            f"object key {_bounded(repr(key))} is invalid: {rule}",
            reason="INVALID_OBJECT_KEY",
            metadata={"key": str(key), "rule": rule},
        )


# Characters of a rejected key quoted in the error message.
_KEY_SHOWN_CHARS: Final = 200


def _key_rule_broken(key: object) -> str | None:
    if not isinstance(key, str):
        return "a key must be a string"
    if not key:
        return "a key must not be empty"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "a key must be valid UTF-8"
    if size > MAX_KEY_BYTES:
        return f"a key must be at most {MAX_KEY_BYTES} bytes of UTF-8"
    if any(unicodedata.category(char) == "Cc" for char in key):
        return "a key must not contain control characters (NUL, newline, DEL, ...)"
    if "\\" in key:
        # SeaweedFS turns a backslash into "/": g\ becomes a directory, m\n is m/n.
        return "a key must not contain '\\' (some S3 servers turn it into '/')"
    if key.startswith("/"):
        return "a key must not start with '/'"
    if key.endswith("/"):
        return "a key must not end with '/'"
    segments = key.split("/")
    if "" in segments:
        return "a key must not contain an empty segment ('//')"
    if "." in segments or ".." in segments:
        return "a key must not contain a '.' or '..' segment"
    return None


def _check_expiry(expires: timedelta) -> None:
    if not timedelta(seconds=1) <= expires <= MAX_PRESIGN_EXPIRY:
        raise InvalidArgument(
            "presigned URL expiry must be between 1 second and 7 days",
            reason="INVALID_PRESIGN_EXPIRY",
            metadata={"expires_s": str(int(expires.total_seconds()))},
        )


def _bounded(text: str) -> str:
    return text if len(text) <= _KEY_SHOWN_CHARS else f"{text[:_KEY_SHOWN_CHARS]}..."


def _unquote(etag: str | None) -> str:
    return (etag or "").strip('"')


def _info_of(obj: Any, key: str) -> ObjectInfo:
    raw = obj.metadata or {}
    metadata = {
        str(k).lower().removeprefix(_META_PREFIX): str(v)
        for k, v in raw.items()
        if str(k).lower().startswith(_META_PREFIX)
    }
    return ObjectInfo(
        key=key,
        size=int(obj.size or 0),
        etag=_unquote(obj.etag),
        last_modified=obj.last_modified,
        content_type=obj.content_type,
        metadata=metadata,
    )


def _raise_translated(
    exc: BaseException, operation: str, *, bucket: str, key: str | None = None
) -> NoReturn:
    """Raise the GyreError for a minio/urllib3 exception, chained to it."""
    where = {"bucket": bucket, "operation": operation}
    if key is not None:
        where["key"] = key
    if isinstance(exc, GyreError):
        raise exc
    if isinstance(exc, S3Error):
        code = exc.code or ""
        where["s3_code"] = code
        if code in _NOT_FOUND_CODES:
            if code == "NoSuchBucket":
                raise NotFound(
                    f"bucket {bucket} does not exist", reason="BUCKET_NOT_FOUND", metadata=where
                ) from exc
            raise NotFound(
                f"object {key or ''} does not exist in bucket {bucket}",
                reason="OBJECT_NOT_FOUND",
                metadata=where,
            ) from exc
        if code in _DENIED_CODES:
            raise PermissionDenied(
                f"object store denied {operation} ({code})",
                reason="OBJECT_STORE_ACCESS_DENIED",
                metadata=where,
            ) from exc
        if code in _INVALID_ARGUMENT_CODES:
            raise InvalidArgument(
                f"object store rejected the arguments of {operation} ({code})",
                reason="INVALID_OBJECT_STORE_ARGUMENT",
                metadata=where,
            ) from exc
        if code in _UNAVAILABLE_CODES:
            raise Unavailable(
                f"object store unavailable for {operation} ({code})",
                reason="OBJECT_STORE_UNAVAILABLE",
                metadata=where,
            ) from exc
        raise Internal(
            f"object store failed {operation} ({code})", reason="OBJECT_STORE_ERROR", metadata=where
        ) from exc
    if isinstance(exc, ServerError | InvalidResponseError):
        status = getattr(exc, "status_code", None) or getattr(exc, "_code", None)
        where["http_status"] = str(status)
        if isinstance(status, int) and status >= 500:
            raise Unavailable(
                f"object store unavailable for {operation} (HTTP {status})",
                reason="OBJECT_STORE_UNAVAILABLE",
                metadata=where,
            ) from exc
        raise Internal(
            f"object store failed {operation} (HTTP {status})",
            reason="OBJECT_STORE_ERROR",
            metadata=where,
        ) from exc
    if isinstance(
        exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError | socket.gaierror
    ):
        # Connection refused, DNS, timeouts, retries exhausted, connection reset.
        raise Unavailable(
            f"object store unreachable for {operation}",
            reason="OBJECT_STORE_UNAVAILABLE",
            metadata=where,
        ) from exc
    if isinstance(exc, ValueError):
        # minio validates its arguments (bucket name, lengths, part size, metadata)
        # with ValueError before sending anything: the caller's mistake.
        raise InvalidArgument(
            f"object store rejected the arguments of {operation}: {_bounded(str(exc))}",
            reason="INVALID_OBJECT_STORE_ARGUMENT",
            metadata=where,
        ) from exc
    if isinstance(exc, MinioException | OSError):
        raise Internal(
            f"object store failed {operation}", reason="OBJECT_STORE_ERROR", metadata=where
        ) from exc
    raise exc
