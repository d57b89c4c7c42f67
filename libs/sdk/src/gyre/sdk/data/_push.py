"""Pushing a file or directory as a new dataset version."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gyre.data.v1 import data_service_pb2 as ds
from gyre.data.v1 import dataset_pb2, manifest_pb2
from gyre.sdk.data import _http
from gyre.sdk.data._chunking import Chunk, ChunkedFile, file_sha256, iter_chunks, read_chunk
from gyre.sdk.errors import (
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)

__all__ = ["DEFAULT_SPLIT", "PushStats", "push", "wait_until_profiled"]

DEFAULT_SPLIT: Final = (0.7, 0.15, 0.15)
# Parallel uploads (memory: one chunk of at most 4 MiB each).
DEFAULT_PARALLEL: Final = 8
_URL_BATCH: Final = 1_000
# New chunks asked about (and uploaded) at a time while the file is still being chunked.
_PIPELINE_BATCH: Final = 32


@dataclass
class PushStats:
    """What a push moved: bytes in the files and bytes uploaded."""

    total_bytes: int = 0
    uploaded_bytes: int = 0
    uploaded_chunks: int = 0
    chunk_count: int = 0


def _files_of(path: Path) -> list[tuple[str, Path]]:
    if path.is_file():
        return [(path.name, path)]
    if not path.is_dir():
        raise InvalidArgument(f"{path} is neither a file nor a directory")
    found = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            full = Path(root) / name
            found.append((full.relative_to(path).as_posix(), full))
    if not found:
        raise InvalidArgument(f"directory {path} has no files")
    return sorted(found)


def _format_of(path: str) -> int:
    lower = path.lower()
    if lower.endswith(".csv"):
        return manifest_pb2.FILE_FORMAT_CSV
    if lower.endswith((".parquet", ".pq")):
        return manifest_pb2.FILE_FORMAT_PARQUET
    return manifest_pb2.FILE_FORMAT_OTHER


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def split_spec(
    split: Sequence[float] | dataset_pb2.SplitSpec | None,
    *,
    split_key: str | None = None,
    seed: int = 0,
) -> dataset_pb2.SplitSpec | None:
    """A SplitSpec from fractions (train, validation, test) and an optional key column."""
    if split is None:
        return None
    if isinstance(split, dataset_pb2.SplitSpec):
        return split
    fractions = list(split)
    if len(fractions) != 3:
        raise InvalidArgument(f"split needs 3 fractions (train, validation, test), got {fractions}")
    return dataset_pb2.SplitSpec(
        train_fraction=float(fractions[0]),
        validation_fraction=float(fractions[1]),
        test_fraction=float(fractions[2]),
        key_source=(
            dataset_pb2.SPLIT_KEY_SOURCE_COLUMN
            if split_key
            else dataset_pb2.SPLIT_KEY_SOURCE_ROW_CONTENT
        ),
        key_column=split_key or "",
        seed=seed,
    )


def ensure_dataset(
    client: Any, dataset: str, *, create: bool, info: dataset_pb2.Dataset | None = None
) -> str:
    """``datasets/{dataset}`` for an id or name, created (with ``info``'s description,
    owner, source, labels, ...) if missing and ``create``."""
    name = dataset if dataset.startswith("datasets/") else f"datasets/{dataset}"
    try:
        client.data.GetDataset(ds.GetDatasetRequest(name=name))
    except NotFound:
        if not create:
            raise
        client.data.CreateDataset(
            ds.CreateDatasetRequest(
                dataset_id=name.removeprefix("datasets/"),
                dataset=info if info is not None else dataset_pb2.Dataset(),
            )
        )
    return name


def push(
    client: Any,
    path: str | os.PathLike[str],
    *,
    dataset: str,
    target: str | None = None,
    split: Sequence[float] | dataset_pb2.SplitSpec | None = DEFAULT_SPLIT,
    split_key: str | None = None,
    seed: int = 0,
    description: str = "",
    labels: Mapping[str, str] | None = None,
    parents: Sequence[str] | None = None,
    create_dataset: bool = True,
    dataset_info: dataset_pb2.Dataset | None = None,
    parallel: int = DEFAULT_PARALLEL,
    progress: bool = False,
    request_id: str | None = None,
    stats: PushStats | None = None,
    on_bytes: Callable[[int], None] | None = None,
    wait: bool = True,
    wait_timeout_s: float | None = None,
) -> dataset_pb2.DatasetVersion:
    """Push a file (or every file under a directory) as a new version of ``dataset``.

    The files are chunked and hashed locally (FastCDC, SHA-256), only the chunks the
    store lacks are uploaded, in parallel, straight to the object store through
    presigned URLs, and the manifest is committed. Memory stays bounded whatever the
    file size (the file is memory-mapped; ``parallel`` chunks of at most 4 MiB are in
    flight). Pushing identical content returns the existing version.

    Args:
        client: A :class:`gyre.sdk.GyreClient`.
        path: A CSV / Parquet file (or any file), or a directory.
        dataset: Dataset id (``"elec2"``) or name (``"datasets/elec2"``).
        target: Label column (default: the previous version's).
        split: (train, validation, test) fractions summing to 1, or a ``SplitSpec``;
            ``None`` keeps the previous version's spec.
        split_key: Column whose value decides a row's split (default: the whole row).
        seed: Split hash seed.
        description, labels: Commit message and labels of the version.
        parents: Parent version names (default: the dataset's latest version).
        create_dataset: Create the dataset when it does not exist.
        dataset_info: Metadata of a dataset created here (display name, description,
            owner, source, preprocessing notes, labels).
        parallel: Concurrent chunk uploads.
        progress: Show tqdm progress bars (hashing, upload).
        request_id: Idempotency key (default: a new UUID).
        stats: Filled with the bytes hashed and uploaded.
        wait: Large versions (above the registry's synchronous limit, 64 MiB by
            default) are committed in state PROFILING and profiled in the background;
            wait until they are READY (or raise if profiling FAILED). Small versions
            are READY when the commit returns.
        wait_timeout_s: Give up waiting after this many seconds (``None``: never).

    Returns:
        The committed (or already existing) ``gyre.data.v1.DatasetVersion``.

    Raises:
        InvalidArgument: Bad split, unreadable table (the message names file and line).
        NotFound: The dataset does not exist and ``create_dataset`` is false.
        FailedPrecondition, DataLoss: Chunks went missing or were corrupted in the store.
    """
    root = Path(path)
    files = _files_of(root)
    stats = stats if stats is not None else PushStats()
    total = sum(p.stat().st_size for _, p in files)
    stats.total_bytes = total
    name = ensure_dataset(client, dataset, create=create_dataset, info=dataset_info)
    # Whole-file digests are only needed at commit: computed by a thread of their own
    # while chunks are cut, hashed and uploaded.
    digester = ThreadPoolExecutor(1)
    file_digests = {rel: digester.submit(file_sha256, full) for rel, full in files}
    digester.shutdown(wait=False)
    where: dict[str, tuple[Path, Chunk]] = {}
    chunked: list[tuple[str, ChunkedFile]] = []
    bar = _bar(progress, total, "hashing")
    with _Uploader(client, name, where, parallel=parallel, progress=progress, stats=stats) as up:
        try:
            for rel, full in files:
                chunks: list[Chunk] = []
                for chunk in iter_chunks(full, on_bytes=_tick(bar, on_bytes)):
                    chunks.append(chunk)
                    if chunk.sha256 not in where:
                        where[chunk.sha256] = (full, chunk)
                        up.offer(chunk)
                chunked.append((rel, ChunkedFile(full, full.stat().st_size, "", chunks)))
        finally:
            if bar is not None:
                bar.close()
        up.flush()
    stats.chunk_count = len(where)
    descriptors = [
        manifest_pb2.ChunkDescriptor(sha256=sha, size_bytes=chunk.length)
        for sha, (_, chunk) in where.items()
    ]

    manifest = manifest_pb2.Manifest(
        files=[
            manifest_pb2.ManifestFile(
                path=rel,
                size_bytes=cf.size,
                sha256=file_digests[rel].result(),
                format=_format_of(rel),  # type: ignore[arg-type]
                chunks=[
                    manifest_pb2.ChunkRef(sha256=c.sha256, offset=c.offset, length=c.length)
                    for c in cf.chunks
                ],
            )
            for rel, cf in sorted(chunked, key=lambda item: item[0])
        ]
    )
    request = ds.CommitDatasetVersionRequest(
        dataset=name,
        manifest=manifest,
        target_column=target or "",
        description=description,
        labels=dict(labels or {}),
        request_id=request_id or str(uuid.uuid4()),
        parent_versions=list(parents or []),
    )
    spec = split_spec(split, split_key=split_key, seed=seed)
    if spec is not None:
        request.split_spec.CopyFrom(spec)
    # Profiling a large version takes a while; never time out on our side.
    try:
        response = client.data.CommitDatasetVersion(request, timeout=None)
    except (DataLoss, FailedPrecondition) as err:
        if err.reason not in ("CHUNK_CORRUPT", "CHUNKS_MISSING"):
            raise
        # Stored chunks went missing or bad since FindMissingChunks: upload them (all of
        # them when the error names too many to list) and commit once more.
        named = {
            value.split(":", 1)[0]
            for key, value in err.metadata.items()
            if key.startswith("chunk_")
        }
        count = int(err.metadata.get("problem_count", "0") or 0)
        again = [d for d in descriptors if count > len(named) or d.sha256 in named]
        _upload(client, name, again, where, parallel=parallel, progress=progress, stats=stats)
        response = client.data.CommitDatasetVersion(request, timeout=None)
    version: dataset_pb2.DatasetVersion = response.dataset_version
    if wait:
        version = wait_until_profiled(client, version, timeout_s=wait_timeout_s)
    return version


def wait_until_profiled(
    client: Any,
    version: dataset_pb2.DatasetVersion,
    *,
    timeout_s: float | None = None,
    poll_s: float = 0.25,
) -> dataset_pb2.DatasetVersion:
    """Poll a PROFILING version until it is READY; raise if it FAILED.

    Raises:
        FailedPrecondition: Profiling failed (the message says why, e.g. a malformed
            row and its line).
        DeadlineExceeded: Still profiling after ``timeout_s``.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while version.state == dataset_pb2.DATASET_VERSION_STATE_PROFILING:
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlineExceeded(f"{version.name} is still being profiled")
        time.sleep(poll_s)
        version = client.data.GetDatasetVersion(
            ds.GetDatasetVersionRequest(name=version.name)
        ).dataset_version
    if version.state == dataset_pb2.DATASET_VERSION_STATE_FAILED:
        raise FailedPrecondition(
            f"{version.name} could not be profiled: {version.state_message}",
            reason="VERSION_PROFILING_FAILED",
            metadata={"name": version.name},
        )
    return version


def _bar(progress: bool, total: int, desc: str) -> Any:
    if not progress:
        return None
    from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc)


def _tick(bar: Any, extra: Callable[[int], None] | None) -> Callable[[int], None] | None:
    if bar is None and extra is None:
        return None

    def tick(n: int) -> None:
        if bar is not None:
            bar.update(n)
        if extra is not None:
            extra(n)

    return tick


class _Uploader:
    """Uploads the chunks the store lacks while the rest of the file is still being
    chunked: new chunks are batched, asked about (FindMissingChunks), and the missing
    ones PUT by a thread pool that reads each chunk from the file when it runs."""

    def __init__(
        self,
        client: Any,
        dataset: str,
        where: Mapping[str, tuple[Path, Chunk]],
        *,
        parallel: int,
        progress: bool,
        stats: PushStats,
    ) -> None:
        self._client = client
        self._dataset = dataset
        self._where = where
        self._stats = stats
        self._batch: list[Chunk] = []
        self._pool = ThreadPoolExecutor(max(1, parallel))
        self._futures: list[Future[int]] = []
        self._fds: dict[Path, int] = {}
        self._lock = threading.Lock()
        self._bar = _bar(progress, 0, "uploading")

    def __enter__(self) -> _Uploader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for fd in self._fds.values():
            os.close(fd)
        if self._bar is not None:
            self._bar.close()

    def offer(self, chunk: Chunk) -> None:
        """A chunk not seen before in this push."""
        self._batch.append(chunk)
        if len(self._batch) >= _PIPELINE_BATCH:
            self._ask()

    def _ask(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        response = self._client.data.FindMissingChunks(
            ds.FindMissingChunksRequest(
                dataset=self._dataset,
                chunks=[
                    manifest_pb2.ChunkDescriptor(sha256=c.sha256, size_bytes=c.length)
                    for c in batch
                ],
            )
        )
        self.upload(list(response.missing_chunks))

    def upload(self, missing: Sequence[manifest_pb2.ChunkDescriptor]) -> None:
        """Queue PUTs of ``missing`` chunks (presigned URLs asked in batches)."""
        for batch in _batches(list(missing), _URL_BATCH):
            urls = self._client.data.CreateUploadUrls(
                ds.CreateUploadUrlsRequest(dataset=self._dataset, chunks=list(batch))
            ).urls
            if self._bar is not None:
                self._bar.total += sum(d.size_bytes for d in batch)
                self._bar.refresh()
            for url in urls:
                if url.url:  # no URL: the registry already holds this chunk
                    self._futures.append(self._pool.submit(self._send, url))

    def _send(self, url: ds.ChunkUrl) -> int:
        path, chunk = self._where[url.sha256]
        with self._lock:
            fd = self._fds.get(path)
            if fd is None:
                fd = self._fds[path] = os.open(path, os.O_RDONLY)
        data = read_chunk(fd, chunk)
        _http.put(url.url, data)
        if self._bar is not None:
            self._bar.update(len(data))
        return len(data)

    def flush(self) -> None:
        """Ask about the last batch and wait for every upload (raising the first error)."""
        self._ask()
        futures, self._futures = self._futures, []
        for future in futures:
            self._stats.uploaded_bytes += future.result()
            self._stats.uploaded_chunks += 1


def _upload(
    client: Any,
    dataset: str,
    missing: Sequence[manifest_pb2.ChunkDescriptor],
    where: Mapping[str, tuple[Path, Chunk]],
    *,
    parallel: int,
    progress: bool,
    stats: PushStats,
) -> None:
    if not missing:
        return
    bar = _bar(progress, sum(m.size_bytes for m in missing), "uploading")
    descriptors: dict[Path, int] = {}
    try:
        for path in {where[m.sha256][0] for m in missing}:
            descriptors[path] = os.open(path, os.O_RDONLY)

        def send(url: ds.ChunkUrl) -> int:
            path, chunk = where[url.sha256]
            data = read_chunk(descriptors[path], chunk)
            _http.put(url.url, data)
            if bar is not None:
                bar.update(len(data))
            return len(data)

        with ThreadPoolExecutor(max(1, parallel)) as pool:
            for batch in _batches(list(missing), _URL_BATCH):
                urls = client.data.CreateUploadUrls(
                    ds.CreateUploadUrlsRequest(dataset=dataset, chunks=list(batch))
                ).urls
                # No URL: the registry already holds this chunk.
                for sent in pool.map(send, [u for u in urls if u.url]):
                    stats.uploaded_bytes += sent
                    stats.uploaded_chunks += 1
    finally:
        for fd in descriptors.values():
            os.close(fd)
        if bar is not None:
            bar.close()
