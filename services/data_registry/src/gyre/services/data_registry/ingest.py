"""Reading a committed manifest back from the object store: chunk verification, schema,
row count, per-column profiles and deterministic splits, in bounded memory.

Runs in a worker thread (blocking I/O and pyarrow). Every chunk is fetched once, in
file order (two chunks prefetched), hashed and compared with its digest and length;
CSV files are parsed by pyarrow's streaming reader straight from that stream (UTF-8
checked on the way, so undecodable text is reported with its line), Parquet files are
spooled to a temporary file and read batch by batch. Each batch is hashed into splits
(:mod:`gyre.sdk.data._rowkeys`), profiled, and appended to one local Parquet file per
split; a second pass over those files counts rows into the quantile bins found in the
first. Memory: a few chunks, one batch, a bounded reservoir per numeric column, the
category counts, and 8 bytes per distinct key.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.csv as pacsv  # type: ignore[import-untyped,unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

from gyre.common.v1 import profile_pb2, schema_pb2
from gyre.data.v1 import dataset_pb2, manifest_pb2
from gyre.runtime.errors import FieldViolation, GyreError, InvalidArgument, NotFound
from gyre.runtime.objectstore import SyncObjectStore
from gyre.sdk.data._rowkeys import (
    ROW_KEY_COLUMN,
    assign_splits,
    key_digest,
    row_key_hashes,
)

__all__ = [
    "CATEGORICAL_MAX_DISTINCT",
    "HISTOGRAM_BINS",
    "TOP_K_CATEGORIES",
    "Analysis",
    "ChunkProblem",
    "ChunkProblemsError",
    "SplitOutput",
    "analyze",
    "check_chunks_present",
    "chunk_key",
    "promote_staged",
    "staging_key",
]

# Quantile bins of numeric profiles (deciles).
HISTOGRAM_BINS: Final = 10
# Categories kept in categorical profiles (the rest is "other").
TOP_K_CATEGORIES: Final = 20
# A string column with at most this many distinct values (and at most half as many as
# non-null values) is categorical; otherwise free text.
CATEGORICAL_MAX_DISTINCT: Final = 1000
# Values kept per numeric column to estimate quantile edges (exact below this).
RESERVOIR_SIZE: Final = 100_000
# Exact category counts kept per column; beyond it the rarest are dropped.
MAX_TRACKED_CATEGORIES: Final = 100_000
# Hashes kept by the k-minimum-values sketch of distinct values.
KMV_SIZE: Final = 4096
# pyarrow CSV block size (bytes parsed at once; also the type-inference sample).
CSV_BLOCK_BYTES: Final = 4 * 1024 * 1024
# Chunks fetched ahead while parsing.
PREFETCH_CHUNKS: Final = 2
# Parallel HEAD requests when checking chunk presence.
STAT_THREADS: Final = 16
_SPLIT_NAMES: Final = {1: "train", 2: "validation", 3: "test"}

_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): CSV conversion error to (\S+?):")


def chunk_key(sha256: str) -> str:
    """Object key of a chunk: ``chunks/sha256/<hex>`` (one object per digest, shared).

    Only the registry writes here, and only bytes it has verified against the digest:
    clients upload to :func:`staging_key` (presigned PUTs are not bound to the content).
    """
    return f"chunks/sha256/{sha256}"


def staging_key(sha256: str) -> str:
    """Where a client uploads a new chunk: ``staging/chunks/sha256/<hex>``.

    A commit verifies the staged bytes against the digest and copies them to
    :func:`chunk_key`; bad staged bytes are dropped and never reach a version.
    """
    return f"staging/chunks/sha256/{sha256}"


# Largest chunk a client may stage (the SDK's chunker stops at 4 MiB).
MAX_STAGED_CHUNK_BYTES: Final = 64 * 1024 * 1024


def promote_staged(
    store: SyncObjectStore,
    files: Sequence[manifest_pb2.ManifestFile],
    *,
    known: set[str] | frozenset[str] = frozenset(),
) -> dict[str, int]:
    """Move the staged uploads of the not-yet-``known`` chunks of ``files`` to their
    content-addressed keys, each only if its bytes hash to its digest and have the
    claimed length (one that does not stays staged until a new upload replaces it).
    Chunks ``known`` from an earlier commit are never rewritten.

    Returns:
        The rejected staged uploads: digest -> ChunkProblemKind (digest or size
        mismatch), for :func:`check_chunks_present` to report if the chunk is missing.
    """
    chunks = {sha: length for sha, (length, _) in _chunk_paths(files).items() if sha not in known}

    def promote(item: tuple[str, int]) -> tuple[str, int] | None:
        sha, length = item
        staged = staging_key(sha)
        try:
            info = store.stat(staged)
        except NotFound:
            return None
        if info.size != length or info.size > MAX_STAGED_CHUNK_BYTES:
            return sha, manifest_pb2.CHUNK_PROBLEM_KIND_SIZE_MISMATCH
        try:
            data = store.get_bytes(staged)
        except NotFound:
            # A concurrent commit of the same chunk promoted (and removed) it first;
            # check_chunks_present then finds it at its content-addressed key.
            return None
        if len(data) != length:
            return sha, manifest_pb2.CHUNK_PROBLEM_KIND_SIZE_MISMATCH
        if hashlib.sha256(data).hexdigest() != sha:
            return sha, manifest_pb2.CHUNK_PROBLEM_KIND_DIGEST_MISMATCH
        store.put_bytes(chunk_key(sha), data)
        store.delete(staged)  # a key already removed by a concurrent commit is fine
        return None

    with ThreadPoolExecutor(STAT_THREADS) as pool:
        return dict(p for p in pool.map(promote, chunks.items()) if p is not None)


@dataclass(frozen=True, slots=True)
class ChunkProblem:
    """One offending chunk of a commit."""

    sha256: str
    size: int
    kind: int  # manifest_pb2.ChunkProblemKind
    paths: tuple[str, ...]


class ChunkProblemsError(Exception):
    """Chunks are missing (FAILED_PRECONDITION) or corrupt (DATA_LOSS)."""

    def __init__(self, problems: Sequence[ChunkProblem]) -> None:
        self.problems = list(problems)
        kinds = {p.kind for p in self.problems}
        self.data_loss = kinds != {manifest_pb2.CHUNK_PROBLEM_KIND_MISSING}
        super().__init__(describe_problems(self.problems))


def describe_problems(problems: Sequence[ChunkProblem]) -> str:
    """One line naming the offending chunks."""
    names: dict[int, str] = {
        manifest_pb2.CHUNK_PROBLEM_KIND_MISSING: "missing",
        manifest_pb2.CHUNK_PROBLEM_KIND_DIGEST_MISMATCH: "digest mismatch",
        manifest_pb2.CHUNK_PROBLEM_KIND_SIZE_MISMATCH: "size mismatch",
    }
    shown = ", ".join(
        f"{p.sha256} ({names.get(p.kind, '?')}, in {', '.join(p.paths)})" for p in problems[:10]
    )
    more = f" and {len(problems) - 10} more" if len(problems) > 10 else ""
    return f"{len(problems)} chunk(s) cannot be used: {shown}{more}"


def _chunk_paths(files: Sequence[manifest_pb2.ManifestFile]) -> dict[str, tuple[int, list[str]]]:
    found: dict[str, tuple[int, list[str]]] = {}
    for f in files:
        for c in f.chunks:
            entry = found.setdefault(c.sha256, (c.length, []))
            if f.path not in entry[1]:
                entry[1].append(f.path)
    return found


def check_chunks_present(
    store: SyncObjectStore,
    files: Sequence[manifest_pb2.ManifestFile],
    *,
    known: set[str] | frozenset[str] = frozenset(),
    rejected: Mapping[str, int] | None = None,
) -> None:
    """Check every chunk is stored with the claimed length (HEAD requests in parallel).

    ``known`` chunks were verified by an earlier commit and are only checked to exist.
    A missing chunk whose staged upload was ``rejected`` is reported with that problem.

    Raises:
        ChunkProblemsError: naming every missing chunk or chunk of the wrong size.
    """
    chunks = _chunk_paths(files)

    def check(item: tuple[str, tuple[int, list[str]]]) -> ChunkProblem | None:
        sha, (length, paths) = item
        try:
            info = store.stat(chunk_key(sha))
        except NotFound:
            kind = (rejected or {}).get(sha, manifest_pb2.CHUNK_PROBLEM_KIND_MISSING)
            return ChunkProblem(sha, length, kind, tuple(paths))
        if info.size != length:
            return ChunkProblem(
                sha, length, manifest_pb2.CHUNK_PROBLEM_KIND_SIZE_MISMATCH, tuple(paths)
            )
        return None

    with ThreadPoolExecutor(STAT_THREADS) as pool:
        problems = [p for p in pool.map(check, chunks.items()) if p is not None]
    if problems:
        raise ChunkProblemsError(problems)


class _ChunkCorrupt(Exception):
    """Raised inside a stream when a chunk's bytes do not match its digest."""


class _Undecodable(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


class ChunkStream(io.RawIOBase):
    """A manifest file's bytes, fetched chunk by chunk and verified as they are read."""

    def __init__(
        self,
        store: SyncObjectStore,
        file: manifest_pb2.ManifestFile,
        *,
        check_utf8: bool,
        problems: list[ChunkProblem],
    ) -> None:
        super().__init__()
        self._store = store
        self._file = file
        self._problems = problems
        self._next = 0
        self._buffer = memoryview(b"")
        self._pool = ThreadPoolExecutor(PREFETCH_CHUNKS)
        self._ahead: list[Future[bytes]] = []
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict") if check_utf8 else None
        self._lines = 0
        self._whole = hashlib.sha256()
        self._size = 0
        self.finished = False
        # The error raised inside read(), which pyarrow may wrap in its own.
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def _fetch(self, index: int) -> bytes:
        return self._store.get_bytes(chunk_key(self._file.chunks[index].sha256))

    def _advance(self) -> bool:
        chunks = self._file.chunks
        while len(self._ahead) < PREFETCH_CHUNKS and self._next + len(self._ahead) < len(chunks):
            self._ahead.append(self._pool.submit(self._fetch, self._next + len(self._ahead)))
        if not self._ahead:
            self._finish()
            return False
        ref = chunks[self._next]
        try:
            data = self._ahead.pop(0).result()
        except NotFound:  # deleted since the presence check
            self._next += 1
            self._problems.append(
                ChunkProblem(
                    ref.sha256,
                    ref.length,
                    manifest_pb2.CHUNK_PROBLEM_KIND_MISSING,
                    (self._file.path,),
                )
            )
            raise _ChunkCorrupt(ref.sha256) from None
        self._next += 1
        self._check(ref, data)
        if self._decoder is not None:
            self._decode(data)
        self._whole.update(data)
        self._size += len(data)
        self._buffer = memoryview(data)
        return True

    def _check(self, ref: manifest_pb2.ChunkRef, data: bytes) -> None:
        kind = 0
        if len(data) != ref.length:
            kind = manifest_pb2.CHUNK_PROBLEM_KIND_SIZE_MISMATCH
        elif hashlib.sha256(data).hexdigest() != ref.sha256:
            kind = manifest_pb2.CHUNK_PROBLEM_KIND_DIGEST_MISMATCH
        if kind:
            self._problems.append(ChunkProblem(ref.sha256, ref.length, kind, (self._file.path,)))
            raise _ChunkCorrupt(ref.sha256)

    def _decode(self, data: bytes) -> None:
        assert self._decoder is not None
        try:
            self._decoder.decode(data, final=self._next == len(self._file.chunks))
        except UnicodeDecodeError as exc:
            # The decoder may hold up to 3 bytes of the previous chunk; close enough to
            # name the line (the byte is at or after position exc.start in ``data``).
            start = max(exc.start, 0)
            line = self._lines + data.count(b"\n", 0, start) + 1
            raise _Undecodable(line, f"invalid UTF-8 byte at line {line}") from exc
        self._lines += data.count(b"\n")

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self._size != self._file.size_bytes or self._whole.hexdigest() != self._file.sha256:
            raise InvalidArgument(
                f"file {self._file.path!r}: its chunks do not add up to the file's "
                "sha256 / size_bytes in the manifest",
                reason="MANIFEST_FILE_DIGEST_MISMATCH",
                metadata={"path": self._file.path},
            )

    def readinto(self, buffer: Any) -> int:
        while not self._buffer:
            try:
                more = self._advance()
            except BaseException as exc:
                self.error = exc
                raise
            if not more:
                return 0
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def drain(self) -> None:
        """Fetch and verify the rest of the file, recording every corrupt chunk."""
        while True:
            try:
                if not self._advance():
                    return
            except _ChunkCorrupt:
                continue
            except (_Undecodable, InvalidArgument):
                self._decoder = None
                continue

    def close(self) -> None:
        for future in self._ahead:
            future.cancel()
        self._pool.shutdown(wait=True)
        super().close()


@dataclass
class _NumericAcc:
    count: int = 0
    nulls: int = 0
    minimum: float = float("inf")
    maximum: float = float("-inf")
    mean: float = 0.0
    m2: float = 0.0
    sample: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0))
    priority: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0))
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    edges: list[float] = field(default_factory=list)
    bins: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _pending: list[np.ndarray[Any, Any]] = field(default_factory=list)
    _pending_priority: list[np.ndarray[Any, Any]] = field(default_factory=list)
    _pending_size: int = 0

    def update(self, values: np.ndarray[Any, Any]) -> None:
        finite = values[np.isfinite(values)]
        self.nulls += int(np.isnan(values).sum())
        n = finite.size
        if n == 0:
            return
        self.minimum = min(self.minimum, float(finite.min()))
        self.maximum = max(self.maximum, float(finite.max()))
        batch_mean = float(finite.mean())
        batch_m2 = float(((finite - batch_mean) ** 2).sum())
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.m2 += batch_m2 + delta * delta * self.count * n / total
        self.count = total
        # Reservoir by random priorities: keep the values with the smallest priorities
        # (partitioned lazily, once the buffer holds several reservoirs' worth).
        self._pending.append(finite)
        self._pending_priority.append(self.rng.random(n))
        self._pending_size += n
        if self._pending_size > 4 * RESERVOIR_SIZE:
            self._compact()

    def _compact(self) -> None:
        sample = np.concatenate([self.sample, *self._pending])
        priorities = np.concatenate([self.priority, *self._pending_priority])
        self._pending, self._pending_priority, self._pending_size = [], [], 0
        if sample.size > RESERVOIR_SIZE:
            keep = np.argpartition(priorities, RESERVOIR_SIZE)[:RESERVOIR_SIZE]
            sample, priorities = sample[keep], priorities[keep]
        self.sample, self.priority = sample, priorities

    def finish_edges(self) -> None:
        self._compact()
        if self.count == 0:
            self.edges = []
            return
        quantiles = np.quantile(self.sample, np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1))
        quantiles[0], quantiles[-1] = self.minimum, self.maximum
        edges = np.unique(quantiles)
        if edges.size < 2:
            edges = np.array([edges[0], edges[0]])
        self.edges = [float(e) for e in edges]
        self.bins = np.zeros(len(self.edges) - 1, dtype=np.int64)
        self.sample = np.zeros(0)
        self.priority = np.zeros(0)

    def count_bins(self, values: np.ndarray[Any, Any]) -> None:
        if not self.edges:
            return
        finite = values[np.isfinite(values)]
        n_bins = len(self.edges) - 1
        index = np.searchsorted(np.asarray(self.edges), finite, side="right") - 1
        index = np.clip(index, 0, n_bins - 1)
        self.bins += np.bincount(index, minlength=n_bins)

    def profile(self) -> profile_pb2.NumericProfile:
        if self.count == 0:
            return profile_pb2.NumericProfile()
        return profile_pb2.NumericProfile(
            min=self.minimum,
            max=self.maximum,
            mean=self.mean,
            std=float(np.sqrt(self.m2 / self.count)),
            histogram=profile_pb2.Histogram(edges=self.edges, counts=[int(c) for c in self.bins]),
        )


@dataclass
class _CategoricalAcc:
    counts: Counter[str] = field(default_factory=Counter)
    nulls: int = 0
    non_null: int = 0
    pruned: bool = False
    kmv: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    def update(self, column: pa.Array) -> None:
        self.nulls += column.null_count
        self.non_null += len(column) - column.null_count
        counted = column.value_counts()
        if len(counted) == 0:
            return
        valid: list[str] = []
        for value, number in zip(
            counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
        ):
            if value is None:
                continue
            self.counts[value] += number
            valid.append(value)
        if len(self.counts) > MAX_TRACKED_CATEGORIES:
            self.pruned = True
            self.counts = Counter(dict(self.counts.most_common(MAX_TRACKED_CATEGORIES // 2)))
        if valid:
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]

            hashes = pd.util.hash_array(np.array(valid, dtype=object), categorize=False)
            self.kmv = np.union1d(self.kmv, np.asarray(hashes, dtype=np.uint64))[:KMV_SIZE]

    def distinct(self) -> int:
        if not self.pruned:
            return len(self.counts)
        if self.kmv.size < KMV_SIZE:
            return int(self.kmv.size)
        return int((KMV_SIZE - 1) * (2.0**64) / float(self.kmv[-1]))

    def profile(self) -> profile_pb2.CategoricalProfile:
        top = self.counts.most_common(TOP_K_CATEGORIES)
        return profile_pb2.CategoricalProfile(
            top_categories=[profile_pb2.CategoryCount(value=v, count=c) for v, c in top],
            other_count=self.non_null - sum(c for _, c in top),
            distinct_estimate=self.distinct(),
        )


def _logical_type(dtype: pa.DataType) -> int:
    if pa.types.is_boolean(dtype):
        return schema_pb2.LOGICAL_TYPE_BOOLEAN
    if pa.types.is_integer(dtype):
        return schema_pb2.LOGICAL_TYPE_INTEGER
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return schema_pb2.LOGICAL_TYPE_FLOAT
    if pa.types.is_timestamp(dtype):
        return schema_pb2.LOGICAL_TYPE_TIMESTAMP
    if pa.types.is_date(dtype):
        return schema_pb2.LOGICAL_TYPE_DATE
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return schema_pb2.LOGICAL_TYPE_BINARY
    if pa.types.is_dictionary(dtype):
        return schema_pb2.LOGICAL_TYPE_CATEGORICAL
    return schema_pb2.LOGICAL_TYPE_STRING


def _numeric_values(column: pa.Array) -> np.ndarray[Any, Any]:
    """A column as float64 with NaN for nulls (timestamps in epoch seconds)."""
    dtype = column.type
    if pa.types.is_timestamp(dtype):
        unit = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[dtype.unit]
        ints = column.cast(pa.int64())
        return np.asarray(ints.to_numpy(zero_copy_only=False), dtype=np.float64) / unit
    if pa.types.is_boolean(dtype):
        column = column.cast(pa.uint8())
    values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float64)


def _is_numeric(logical: int) -> bool:
    return logical in (
        schema_pb2.LOGICAL_TYPE_BOOLEAN,
        schema_pb2.LOGICAL_TYPE_INTEGER,
        schema_pb2.LOGICAL_TYPE_FLOAT,
        schema_pb2.LOGICAL_TYPE_TIMESTAMP,
    )


def _is_text(logical: int) -> bool:
    return logical in (schema_pb2.LOGICAL_TYPE_STRING, schema_pb2.LOGICAL_TYPE_CATEGORICAL)


@dataclass
class SplitOutput:
    """One split's local outputs: its rows as Parquet and its sorted distinct key hashes."""

    split: int
    rows_path: Path
    keys_path: Path
    row_count: int
    key_count: int
    key_digest: str


@dataclass
class Analysis:
    """What reading a version back found."""

    schema: schema_pb2.Schema
    row_count: int
    profiles: list[profile_pb2.ColumnProfile]
    splits: list[SplitOutput]
    tabular: bool


class _Widen(Exception):
    def __init__(self, column: str, dtype: pa.DataType) -> None:
        super().__init__(column)
        self.column = column
        self.dtype = dtype


class _Multiline(Exception):
    """Rows are split by newlines inside quoted values: parse again allowing them."""


class _Pass:
    """State of one pass over all files."""

    def __init__(
        self,
        workdir: Path,
        spec: dataset_pb2.SplitSpec,
        forced: dict[str, pa.DataType],
        *,
        multiline: bool = False,
    ) -> None:
        self.workdir = workdir
        self.spec = spec
        self.forced = forced
        self.multiline = multiline
        self.schema: pa.Schema | None = None
        self.row_count = 0
        self.numeric: dict[str, _NumericAcc] = {}
        self.categorical: dict[str, _CategoricalAcc] = {}
        self.nulls: dict[str, int] = {}
        self.writers: dict[int, pq.ParquetWriter] = {}
        self.split_rows: dict[int, int] = dict.fromkeys(_SPLIT_NAMES, 0)
        self.split_keys: dict[int, list[np.ndarray[Any, Any]]] = {s: [] for s in _SPLIT_NAMES}
        self.split_key_sizes: dict[int, int] = dict.fromkeys(_SPLIT_NAMES, 0)

    def rows_path(self, split: int) -> Path:
        return self.workdir / f"{_SPLIT_NAMES[split]}.parquet"

    def key_column(self) -> str | None:
        if self.spec.key_source == dataset_pb2.SPLIT_KEY_SOURCE_COLUMN:
            return self.spec.key_column
        return None

    def start(self, schema: pa.Schema, path: str) -> None:
        if self.schema is None:
            names = schema.names
            if len(set(names)) != len(names):
                dupes = sorted({n for n in names if names.count(n) > 1})
                raise InvalidArgument(
                    f"file {path!r}: duplicate column names {dupes}",
                    reason="DUPLICATE_COLUMNS",
                    metadata={"path": path},
                )
            if any(not n or n == ROW_KEY_COLUMN for n in names):
                raise InvalidArgument(
                    f"file {path!r}: column names must be non-empty and not {ROW_KEY_COLUMN!r}",
                    reason="INVALID_COLUMN_NAME",
                    metadata={"path": path},
                )
            key_column = self.key_column()
            if key_column and key_column not in names:
                raise InvalidArgument(
                    f"split key column {key_column!r} is not in the data",
                    reason="UNKNOWN_COLUMN",
                    field_violations=[
                        FieldViolation("split_spec.key_column", f"{key_column!r} is not a column")
                    ],
                )
            self.schema = schema
            for f in schema:
                logical = _logical_type(f.type)
                self.nulls[f.name] = 0
                if _is_numeric(logical):
                    self.numeric[f.name] = _NumericAcc()
                elif _is_text(logical):
                    self.categorical[f.name] = _CategoricalAcc()
            return
        if schema.names != self.schema.names:
            raise InvalidArgument(
                f"file {path!r} has columns {schema.names}, but the version's first tabular "
                f"file has {self.schema.names}; all tabular files must have the same columns",
                reason="SCHEMA_MISMATCH",
                metadata={"path": path},
            )

    def add(self, batch: pa.RecordBatch, path: str) -> None:
        assert self.schema is not None
        if batch.num_rows == 0:
            return
        if batch.schema != self.schema:
            try:
                batch = pa.RecordBatch.from_arrays(
                    [batch.column(i).cast(f.type) for i, f in enumerate(self.schema)],
                    schema=self.schema,
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InvalidArgument(
                    f"file {path!r}: column types differ from the version's first tabular "
                    f"file and cannot be converted: {exc}",
                    reason="SCHEMA_MISMATCH",
                    metadata={"path": path},
                ) from exc
        self.row_count += batch.num_rows
        hashes = row_key_hashes(
            batch, key_column=self.key_column(), seed=self.spec.seed, columns=self.schema.names
        )
        splits = assign_splits(
            hashes, train=self.spec.train_fraction, validation=self.spec.validation_fraction
        )
        for name in self.schema.names:
            column = batch.column(name)
            self.nulls[name] += column.null_count
            if name in self.numeric:
                self.numeric[name].update(_numeric_values(column))
            elif name in self.categorical:
                if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                    column = column.cast(pa.string())
                self.categorical[name].update(column)
        with_keys = pa.RecordBatch.from_arrays(
            [*batch.columns, pa.array(hashes, type=pa.uint64())],
            names=[*self.schema.names, ROW_KEY_COLUMN],
        )
        for split in _SPLIT_NAMES:
            mask = splits == split
            count = int(mask.sum())
            if not count:
                continue
            self.split_rows[split] += count
            self._writer(split, with_keys.schema).write_batch(with_keys.filter(pa.array(mask)))
            keys = hashes[mask]
            self.split_keys[split].append(keys)
            self.split_key_sizes[split] += keys.size
            if self.split_key_sizes[split] > 4_000_000:
                merged = np.unique(np.concatenate(self.split_keys[split]))
                self.split_keys[split] = [merged]
                self.split_key_sizes[split] = merged.size

    def _writer(self, split: int, schema: pa.Schema) -> pq.ParquetWriter:
        writer = self.writers.get(split)
        if writer is None:
            writer = pq.ParquetWriter(self.rows_path(split), schema, compression="snappy")
            self.writers[split] = writer
        return writer

    def finish(self) -> Analysis:
        assert self.schema is not None
        key_schema = self.schema.append(pa.field(ROW_KEY_COLUMN, pa.uint64()))
        for split in _SPLIT_NAMES:
            self._writer(split, key_schema).close()
        # Second pass: count numeric values into the quantile bins.
        for acc in self.numeric.values():
            acc.finish_edges()
        if self.numeric:
            names = list(self.numeric)
            for split in _SPLIT_NAMES:
                parquet = pq.ParquetFile(self.rows_path(split))
                for batch in parquet.iter_batches(columns=names, batch_size=65536):
                    for name in names:
                        self.numeric[name].count_bins(_numeric_values(batch.column(name)))
        columns: list[schema_pb2.ColumnSchema] = []
        profiles: list[profile_pb2.ColumnProfile] = []
        for f in self.schema:
            logical = _logical_type(f.type)
            profile = profile_pb2.ColumnProfile(
                column=f.name, count=self.row_count, null_count=self.nulls[f.name]
            )
            if f.name in self.numeric:
                acc = self.numeric[f.name]
                profile.null_count = acc.nulls
                profile.numeric.CopyFrom(acc.profile())
            elif f.name in self.categorical:
                cat = self.categorical[f.name]
                distinct = cat.distinct()
                if distinct <= CATEGORICAL_MAX_DISTINCT and distinct * 2 <= max(cat.non_null, 1):
                    logical = schema_pb2.LOGICAL_TYPE_CATEGORICAL
                profile.categorical.CopyFrom(cat.profile())
            profile.logical_type = logical  # type: ignore[assignment]
            profiles.append(profile)
            columns.append(
                schema_pb2.ColumnSchema(
                    name=f.name,
                    logical_type=logical,  # type: ignore[arg-type]
                    nullable=profile.null_count > 0,
                    physical_type=str(f.type),
                )
            )
        splits: list[SplitOutput] = []
        for split in _SPLIT_NAMES:
            parts = self.split_keys[split]
            unique = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)
            unique = unique.astype("<u8")
            keys_path = self.workdir / f"{_SPLIT_NAMES[split]}.keys"
            keys_path.write_bytes(unique.tobytes())
            splits.append(
                SplitOutput(
                    split=split,
                    rows_path=self.rows_path(split),
                    keys_path=keys_path,
                    row_count=self.split_rows[split],
                    key_count=int(unique.size),
                    key_digest=key_digest(unique),
                )
            )
        return Analysis(
            schema=schema_pb2.Schema(columns=columns),
            row_count=self.row_count,
            profiles=profiles,
            splits=splits,
            tabular=True,
        )


def _bad_file(path: str, line: int | None, message: str, reason: str) -> InvalidArgument:
    where = f"{path!r}, line {line}" if line is not None else repr(path)
    metadata = {"path": path}
    if line is not None:
        metadata["line"] = str(line)
    return InvalidArgument(
        f"file {where}: {message}",
        reason=reason,
        metadata=metadata,
        field_violations=[
            FieldViolation(
                field=f"manifest.files[{path}]" + (f":{line}" if line is not None else ""),
                description=message,
            )
        ],
    )


def _find_ragged_line(
    store: SyncObjectStore, file: manifest_pb2.ManifestFile
) -> tuple[int, int, int] | None:
    """(line, expected, actual) of the first row whose field count differs from the header."""
    problems: list[ChunkProblem] = []
    raw = ChunkStream(store, file, check_utf8=False, problems=problems)
    try:
        text = io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", errors="replace")
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return None
        for row in reader:
            if row and len(row) != len(header):
                return reader.line_num, len(header), len(row)
    except csv.Error:
        return None
    finally:
        raw.close()
    return None


def _read_csv(
    store: SyncObjectStore,
    file: manifest_pb2.ManifestFile,
    state: _Pass,
    problems: list[ChunkProblem],
) -> None:
    stream = ChunkStream(store, file, check_utf8=True, problems=problems)
    try:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(newlines_in_values=state.multiline),
                convert_options=pacsv.ConvertOptions(column_types=state.forced),
            )
            state.start(reader.schema, file.path)
            for batch in reader:
                state.add(batch, file.path)
            # Reach the end of the stream, so the file digest is checked.
            while stream.read(1 << 20):
                pass
        except _ChunkCorrupt:
            stream.drain()
            return
        except _Undecodable as exc:
            raise _bad_file(
                file.path, exc.line, "text is not valid UTF-8", "UNDECODABLE_TEXT"
            ) from None
        except (pa.ArrowInvalid, OSError) as exc:
            if isinstance(stream.error, _ChunkCorrupt) or problems:
                stream.drain()
                return
            if isinstance(stream.error, _Undecodable):
                undecodable = stream.error
                raise _bad_file(
                    file.path, undecodable.line, "text is not valid UTF-8", "UNDECODABLE_TEXT"
                ) from None
            if isinstance(stream.error, GyreError):  # InvalidArgument, Unavailable, ...
                raise stream.error from None
            message = str(exc)
            converted = _CONVERSION_ERROR.search(message)
            if converted is not None and state.schema is not None:
                index = int(converted.group(1))
                name = state.schema.names[index]
                current = state.schema.field(index).type
                wider = pa.float64() if pa.types.is_integer(current) else pa.string()
                if state.forced.get(name) != wider:
                    raise _Widen(name, wider) from exc
            if "Empty CSV file" in message:
                raise _bad_file(file.path, None, "the file is empty", "EMPTY_FILE") from None
            if "Expected" in message and "columns" in message:
                found = _find_ragged_line(store, file)
                if found is not None:
                    line, expected, actual = found
                    raise _bad_file(
                        file.path,
                        line,
                        f"expected {expected} fields (as in the header), found {actual}",
                        "MALFORMED_CSV",
                    ) from None
                if not state.multiline:
                    # Every row has the header's field count once quotes are honoured:
                    # quoted values span lines.
                    raise _Multiline from exc
            raise _bad_file(
                file.path, None, f"cannot parse CSV: {message}", "MALFORMED_CSV"
            ) from None
    finally:
        stream.close()


def _read_parquet(
    store: SyncObjectStore,
    file: manifest_pb2.ManifestFile,
    state: _Pass,
    problems: list[ChunkProblem],
    workdir: Path,
) -> None:
    stream = ChunkStream(store, file, check_utf8=False, problems=problems)
    spool = workdir / "spool.parquet"
    try:
        with open(spool, "wb") as out:
            try:
                while data := stream.read(1 << 20):
                    out.write(data)
            except _ChunkCorrupt:
                stream.drain()
                return
        try:
            parquet = pq.ParquetFile(spool)
            state.start(parquet.schema_arrow, file.path)
            for batch in parquet.iter_batches(batch_size=65536):
                state.add(batch, file.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _bad_file(
                file.path, None, f"cannot read Parquet: {exc}", "MALFORMED_PARQUET"
            ) from None
    finally:
        stream.close()
        spool.unlink(missing_ok=True)


def _verify_only(
    store: SyncObjectStore, file: manifest_pb2.ManifestFile, problems: list[ChunkProblem]
) -> None:
    stream = ChunkStream(store, file, check_utf8=False, problems=problems)
    try:
        try:
            while stream.read(1 << 20):
                pass
        except _ChunkCorrupt:
            stream.drain()
    finally:
        stream.close()


def _single_pass(
    store: SyncObjectStore,
    files: Sequence[manifest_pb2.ManifestFile],
    spec: dataset_pb2.SplitSpec,
    workdir: Path,
    forced: dict[str, pa.DataType],
    multiline: bool,
) -> Analysis:
    problems: list[ChunkProblem] = []
    state = _Pass(workdir, spec, forced, multiline=multiline)
    tabular = False
    for file in files:
        if file.format == manifest_pb2.FILE_FORMAT_CSV:
            tabular = True
            if problems:
                _verify_only(store, file, problems)
            else:
                _read_csv(store, file, state, problems)
        elif file.format == manifest_pb2.FILE_FORMAT_PARQUET:
            tabular = True
            if problems:
                _verify_only(store, file, problems)
            else:
                _read_parquet(store, file, state, problems, workdir)
        else:
            _verify_only(store, file, problems)
    if problems:
        raise ChunkProblemsError(_merge(problems))
    if not tabular:
        return Analysis(schema_pb2.Schema(), 0, [], [], tabular=False)
    if state.schema is None:
        raise InvalidArgument("no tabular file could be read", reason="EMPTY_FILE")
    if state.row_count == 0:
        path = next(f.path for f in files if f.format != manifest_pb2.FILE_FORMAT_OTHER)
        raise _bad_file(path, None, "the file has a header but no data rows", "EMPTY_FILE")
    return state.finish()


def _merge(problems: Sequence[ChunkProblem]) -> list[ChunkProblem]:
    merged: dict[str, ChunkProblem] = {}
    for p in problems:
        old = merged.get(p.sha256)
        if old is None:
            merged[p.sha256] = p
        else:
            paths = tuple(dict.fromkeys([*old.paths, *p.paths]))
            merged[p.sha256] = ChunkProblem(p.sha256, p.size, old.kind, paths)
    return list(merged.values())


def check_columns(schema: schema_pb2.Schema, *, target_column: str, key_column: str | None) -> None:
    """Raise InvalidArgument if the target or key column is not in the schema."""
    names = {c.name for c in schema.columns}
    violations = []
    if target_column and target_column not in names:
        violations.append(
            FieldViolation("target_column", f"column {target_column!r} is not in the data")
        )
    if key_column and key_column not in names:
        violations.append(
            FieldViolation("split_spec.key_column", f"column {key_column!r} is not in the data")
        )
    if violations:
        raise InvalidArgument(
            "; ".join(v.description for v in violations),
            reason="UNKNOWN_COLUMN",
            field_violations=violations,
        )


def analyze(
    store: SyncObjectStore,
    files: Sequence[manifest_pb2.ManifestFile],
    spec: dataset_pb2.SplitSpec,
    workdir: Path,
) -> Analysis:
    """Read every file back, verify every chunk, and profile and split the tables.

    ``files`` are sorted by path with their formats resolved. Split row files and key
    lists are written under ``workdir``.

    Raises:
        ChunkProblemsError: a chunk's bytes do not match its digest or length.
        InvalidArgument: a tabular file cannot be read (naming the file and line), the
            files disagree on columns, or a chunk list does not add up to its file.
    """
    forced: dict[str, pa.DataType] = {}
    multiline = False
    for _attempt in range(64):
        with tempfile.TemporaryDirectory(dir=workdir) as scratch:
            try:
                analysis = _single_pass(store, files, spec, Path(scratch), forced, multiline)
            except _Widen as widen:
                forced[widen.column] = widen.dtype
                continue
            except _Multiline:
                multiline = True
                continue
            # Keep the outputs: move them out of the scratch directory.
            for output in analysis.splits:
                output.rows_path = output.rows_path.rename(workdir / output.rows_path.name)
                output.keys_path = output.keys_path.rename(workdir / output.keys_path.name)
            return analysis
    raise InvalidArgument("column types could not be settled", reason="MALFORMED_CSV")


def iter_split_names() -> Iterator[tuple[int, str]]:
    """(Split enum value, name) pairs."""
    yield from _SPLIT_NAMES.items()
