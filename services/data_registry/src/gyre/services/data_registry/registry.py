"""Domain logic of the data registry: datasets, commits, reads, diffs and splits.

Heavy work (chunk verification, parsing, profiling, splitting) runs in worker threads
before the one short database transaction of a commit, which writes the version, its
manifest, the chunks it references, the dataset's counters and the
``data.version.committed`` event (transactional outbox) together.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import json
import logging
import math
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]
from google.protobuf import timestamp_pb2
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.common.v1 import profile_pb2, schema_pb2
from gyre.data.v1 import data_service_pb2 as ds
from gyre.data.v1 import dataset_pb2, manifest_pb2
from gyre.events.v1 import data_events_pb2
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
from gyre.runtime.objectstore import ObjectStore, SyncObjectStore
from gyre.services.data_registry import ingest
from gyre.services.data_registry.names import (
    dataset_name,
    parse_dataset,
    parse_version,
    validate_dataset_id,
    version_name,
)
from gyre.services.data_registry.tables import ChunkRecord, DatasetRecord, VersionRecord

__all__ = ["SYNC_PROFILE_MAX_BYTES", "DataRegistry", "manifest_digest"]

_log = logging.getLogger(__name__)

EVENT_TYPE: Final = "data.version.committed"
MAX_FIND_CHUNKS: Final = 10_000
MAX_URL_CHUNKS: Final = 1_000
MAX_MANIFEST_CHUNKS: Final = 2_000_000
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
URL_EXPIRY: Final = timedelta(hours=1)
# Versions larger than this are committed in state PROFILING and profiled in the
# background (chunk presence is still checked before the commit).
SYNC_PROFILE_MAX_BYTES: Final = 64 * 1024 * 1024
# Commits verified and profiled at once (each holds a few chunks and one batch).
MAX_CONCURRENT_ANALYSES: Final = 2
_SHA256_HEX: Final = re.compile(r"^[0-9a-f]{64}$")
_DEFAULT_SPLIT = dataset_pb2.SplitSpec(
    train_fraction=0.8,
    validation_fraction=0.1,
    test_fraction=0.1,
    key_source=dataset_pb2.SPLIT_KEY_SOURCE_ROW_CONTENT,
    seed=0,
)
_SPLIT_FILE_NAMES: Final = {1: "train", 2: "validation", 3: "test"}
_PARQUET_MEDIA: Final = "application/vnd.apache.parquet"
_KEYS_MEDIA: Final = "application/x-gyre-key-hashes"
_DATASET_FIELDS: Final = (
    "display_name",
    "description",
    "labels",
    "owner",
    "source",
    "preprocessing_notes",
)


def _ts(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def _new_etag() -> str:
    return uuid.uuid4().hex


def manifest_digest(files: Iterable[manifest_pb2.ManifestFile]) -> str:
    """``"sha256:<hex>"`` over the sorted ``path\\0sha256\\n`` lines of the files."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f.path.encode() + b"\0" + f.sha256.encode() + b"\n")
    return "sha256:" + digest.hexdigest()


def _format_of(path: str) -> int:
    lower = path.lower()
    if lower.endswith(".csv"):
        return manifest_pb2.FILE_FORMAT_CSV
    if lower.endswith((".parquet", ".pq")):
        return manifest_pb2.FILE_FORMAT_PARQUET
    return manifest_pb2.FILE_FORMAT_OTHER


def _check_path(path: str) -> str | None:
    if not path:
        return "is empty"
    if len(path.encode()) > 1024:
        return "is longer than 1024 bytes"
    if path.startswith("/") or "\\" in path:
        return "must be relative and '/'-separated"
    if any(seg in ("", ".", "..") for seg in path.split("/")):
        return "has an empty, '.' or '..' segment"
    if any(ord(ch) < 32 for ch in path):
        return "has a control character"
    return None


def _invalid(message: str, field: str, reason: str = "INVALID_ARGUMENT") -> InvalidArgument:
    return InvalidArgument(
        message, reason=reason, field_violations=[FieldViolation(field, message)]
    )


def normalize_manifest(manifest: manifest_pb2.Manifest) -> list[manifest_pb2.ManifestFile]:
    """The manifest's files, checked, sorted by path, with formats resolved.

    Raises:
        InvalidArgument: paths, digests, offsets or sizes are malformed; a tabular file
            is empty.
    """
    if not manifest.files:
        raise _invalid("the manifest has no files", "manifest.files", "EMPTY_MANIFEST")
    files: list[manifest_pb2.ManifestFile] = []
    seen: set[str] = set()
    total_chunks = 0
    for index, original in enumerate(manifest.files):
        where = f"manifest.files[{index}]"
        problem = _check_path(original.path)
        if problem:
            raise _invalid(
                f"file path {original.path!r} {problem}", f"{where}.path", "INVALID_PATH"
            )
        if original.path in seen:
            raise _invalid(f"file path {original.path!r} appears twice", f"{where}.path")
        seen.add(original.path)
        if not _SHA256_HEX.match(original.sha256):
            raise _invalid(
                f"file {original.path!r}: sha256 must be 64 lowercase hex digits", f"{where}.sha256"
            )
        f = manifest_pb2.ManifestFile()
        f.CopyFrom(original)
        if f.format == manifest_pb2.FILE_FORMAT_UNSPECIFIED:
            f.format = _format_of(f.path)  # type: ignore[assignment,unused-ignore]
        offset = 0
        for j, chunk in enumerate(f.chunks):
            cwhere = f"{where}.chunks[{j}]"
            if not _SHA256_HEX.match(chunk.sha256):
                raise _invalid(
                    f"file {f.path!r}: chunk {j} sha256 must be 64 lowercase hex digits",
                    f"{cwhere}.sha256",
                )
            if chunk.offset != offset or chunk.length <= 0:
                raise _invalid(
                    f"file {f.path!r}: chunks must be contiguous from offset 0 with positive "
                    f"lengths (chunk {j} at offset {chunk.offset}, length {chunk.length})",
                    f"{cwhere}.offset",
                )
            offset += chunk.length
        if offset != f.size_bytes:
            raise _invalid(
                f"file {f.path!r}: size_bytes {f.size_bytes} is not the sum of its chunk "
                f"lengths ({offset})",
                f"{where}.size_bytes",
            )
        if f.size_bytes == 0 and f.format != manifest_pb2.FILE_FORMAT_OTHER:
            raise InvalidArgument(
                f"file {f.path!r}: the file is empty",
                reason="EMPTY_FILE",
                metadata={"path": f.path},
                field_violations=[FieldViolation(f"{where}.size_bytes", "the file is empty")],
            )
        total_chunks += len(f.chunks)
        files.append(f)
    if total_chunks > MAX_MANIFEST_CHUNKS:
        raise _invalid(f"more than {MAX_MANIFEST_CHUNKS} chunks", "manifest.files")
    files.sort(key=lambda f: f.path)
    return files


def normalize_split_spec(
    spec: dataset_pb2.SplitSpec | None, default: dataset_pb2.SplitSpec
) -> dataset_pb2.SplitSpec:
    """The split spec to use, checked (fractions in [0, 1] summing to 1)."""
    if spec is None:
        result = dataset_pb2.SplitSpec()
        result.CopyFrom(default)
        return result
    result = dataset_pb2.SplitSpec()
    result.CopyFrom(spec)
    fractions = (result.train_fraction, result.validation_fraction, result.test_fraction)
    if any(not math.isfinite(f) or f < 0 or f > 1 for f in fractions):
        raise _invalid(
            f"split fractions must each be within [0, 1], got {list(fractions)}",
            "split_spec",
            "INVALID_SPLIT",
        )
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise _invalid(
            f"split fractions must sum to 1, got {list(fractions)} (sum {sum(fractions):g})",
            "split_spec",
            "INVALID_SPLIT",
        )
    if result.key_source == dataset_pb2.SPLIT_KEY_SOURCE_UNSPECIFIED:
        result.key_source = (
            dataset_pb2.SPLIT_KEY_SOURCE_COLUMN
            if result.key_column
            else dataset_pb2.SPLIT_KEY_SOURCE_ROW_CONTENT
        )
    if result.key_source == dataset_pb2.SPLIT_KEY_SOURCE_COLUMN and not result.key_column:
        raise _invalid(
            "split key source COLUMN needs split_spec.key_column",
            "split_spec.key_column",
            "INVALID_SPLIT",
        )
    if result.key_source == dataset_pb2.SPLIT_KEY_SOURCE_ROW_CONTENT:
        result.key_column = ""
    return result


@dataclass
class _Page:
    offset: int

    @staticmethod
    def decode(token: str) -> int:
        if not token:
            return 0
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
            offset = int(data["o"])
        except Exception as exc:
            raise _invalid("page_token is malformed", "page_token") from exc
        if offset < 0:
            raise _invalid("page_token is malformed", "page_token")
        return offset

    @staticmethod
    def encode(offset: int) -> str:
        return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _page_size(size: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    if size < 0:
        raise _invalid("page_size must not be negative", "page_size")
    return default if size == 0 else min(size, MAX_PAGE_SIZE)


_FILTER_TERM: Final = re.compile(r'^\s*([A-Za-z_][\w.\-]*)\s*(=|!=)\s*(?:"([^"]*)"|(\S+))\s*$')


def _parse_filter(text: str) -> list[tuple[str, str, str]]:
    if not text.strip():
        return []
    terms = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = _FILTER_TERM.match(part)
        if match is None:
            raise _invalid(
                f'filter term {part!r} is not supported: use field = "value" joined by AND',
                "filter",
            )
        value = match.group(3) if match.group(3) is not None else match.group(4)
        terms.append((match.group(1), match.group(2), value))
    return terms


def _matches(terms: list[tuple[str, str, str]], get: Callable[[str], str | None]) -> bool:
    for field, op, value in terms:
        actual = get(field)
        if (actual == value) != (op == "="):
            return False
    return True


def _parse_order(text: str, allowed: Sequence[str], default: str) -> list[tuple[str, bool]]:
    text = text.strip() or default
    order = []
    for part in text.split(","):
        words = part.split()
        if (
            not words
            or len(words) > 2
            or words[0] not in allowed
            or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
        ):
            raise _invalid(
                f"order_by {text!r} is not supported; fields: {', '.join(allowed)}", "order_by"
            )
        order.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return order


def _flip(key: Callable[[Any, str], Any], field: str, item: Any) -> Any:
    return key(item, field)


def _sort(items: list[Any], order: list[tuple[str, bool]], key: Callable[[Any, str], Any]) -> None:
    for field, desc in reversed(order):
        items.sort(key=functools.partial(_flip, key, field), reverse=desc)


class DataRegistry:
    """The data registry's operations over its database, object store and outbox."""

    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        outbox: Outbox,
        *,
        workdir: Path | None = None,
        sync_profile_max_bytes: int = SYNC_PROFILE_MAX_BYTES,
    ) -> None:
        self.db = db
        self.store = store
        self.outbox = outbox
        self.workdir = workdir
        self.sync_profile_max_bytes = sync_profile_max_bytes
        self._analyses = asyncio.Semaphore(MAX_CONCURRENT_ANALYSES)
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------ background profiling

    async def resume(self) -> None:
        """Profile again every version a previous process left in PROFILING."""
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(VersionRecord.body).where(
                        VersionRecord.state == dataset_pb2.DATASET_VERSION_STATE_PROFILING
                    )
                )
            ).scalars()
            names = [dataset_pb2.DatasetVersion.FromString(body).name for body in rows]
        for name in names:
            self._spawn(name)

    def _spawn(self, name: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._profile_logged(name), name=f"profile {name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel background profiling (PROFILING versions resume at the next start)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def wait_idle(self) -> None:
        """Wait until no background profiling runs (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _commit_then_profile(
        self,
        request: ds.CommitDatasetVersionRequest,
        dataset_id: str,
        files: Sequence[manifest_pb2.ManifestFile],
        digest: str,
        spec: dataset_pb2.SplitSpec,
        target: str,
        parents: Sequence[str],
    ) -> tuple[dataset_pb2.DatasetVersion, bool]:
        """Large versions: check chunk presence, commit in PROFILING, profile in the
        background (the event is emitted once READY or FAILED)."""
        known = await self._known_chunks(files)
        rejected = await asyncio.to_thread(
            ingest.promote_staged, self.sync_store, files, known=known
        )
        await asyncio.to_thread(
            functools.partial(
                ingest.check_chunks_present, self.sync_store, files, known=known, rejected=rejected
            )
        )
        version = self._build_version(
            request,
            files,
            digest,
            spec,
            target,
            parents,
            ingest.Analysis(schema_pb2.Schema(), 0, [], [], tabular=False),
        )
        version.state = dataset_pb2.DATASET_VERSION_STATE_PROFILING
        version.split_spec.CopyFrom(spec)
        result, created = await self.db.run(
            lambda session: self._write(
                session, dataset_id, request, files, version, {}, emit=False
            )
        )
        if created:
            self._spawn(result.name)
        return result, created

    async def _profile_logged(self, name: str) -> None:
        try:
            await self._profile(name)
        except NotFound:  # deleted meanwhile (DeleteDataset with force)
            return
        except Exception:
            _log.exception("profiling %s failed; it resumes at the next start", name)

    async def _profile(self, name: str) -> None:
        async with self.db.transaction() as session:
            _, row = await self._version_row(session, name)
            body = self._version_proto(row)
            files = list(manifest_pb2.Manifest.FromString(row.manifest).files)
        if body.state != dataset_pb2.DATASET_VERSION_STATE_PROFILING:
            return
        spec = body.split_spec
        uploaded: list[str] = []
        failure: str | None = None
        derived: dict[str, Any] = {}
        async with self._analyses:
            workdir = Path(tempfile.mkdtemp(prefix="gyre-data-profile-", dir=self.workdir))
            try:
                analysis = await asyncio.to_thread(
                    ingest.analyze, self.sync_store, files, spec, workdir
                )
                if analysis.tabular:
                    ingest.check_columns(
                        analysis.schema,
                        target_column=body.target_column,
                        key_column=spec.key_column or None,
                    )
                derived = await self._upload_derived(analysis, uploaded)
            except (InvalidArgument, ingest.ChunkProblemsError) as exc:
                failure = str(exc)
            except asyncio.CancelledError:
                await self._delete_quietly(uploaded)
                raise
            except Exception:
                _log.exception("profiling %s failed; it resumes at the next start", name)
                await self._delete_quietly(uploaded)
                return
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        if failure is None:
            body.schema.CopyFrom(analysis.schema)
            body.row_count = analysis.row_count
            del body.column_profiles[:]
            body.column_profiles.extend(analysis.profiles)
            del body.split_stats[:]
            if analysis.tabular:
                body.split_stats.extend(
                    dataset_pb2.SplitStats(
                        split=s.split,  # type: ignore[arg-type]
                        row_count=s.row_count,
                        key_count=s.key_count,
                        key_digest=s.key_digest,
                    )
                    for s in analysis.splits
                )
            else:
                body.ClearField("split_spec")
            body.state = dataset_pb2.DATASET_VERSION_STATE_READY
        else:
            body.state = dataset_pb2.DATASET_VERSION_STATE_FAILED
            body.state_message = failure

        async def finish(session: AsyncSession) -> None:
            row = (
                await session.execute(
                    select(VersionRecord).where(VersionRecord.id == row_id).with_for_update()
                )
            ).scalar_one_or_none()
            if row is None or row.state != dataset_pb2.DATASET_VERSION_STATE_PROFILING:
                return
            row.state = body.state
            row.body = body.SerializeToString()
            row.derived = derived
            await self._emit(session, body)

        row_id = row.id
        await self.db.run(finish)

    @property
    def sync_store(self) -> SyncObjectStore:
        return self.store.sync

    # ----------------------------------------------------------------- datasets

    def _dataset_proto(self, row: DatasetRecord) -> dataset_pb2.Dataset:
        return dataset_pb2.Dataset(
            name=dataset_name(row.dataset_id),
            display_name=row.display_name,
            description=row.description,
            labels=dict(row.labels or {}),
            owner=row.owner,
            source=row.source,
            preprocessing_notes=row.preprocessing_notes,
            latest_version=(
                version_name(row.dataset_id, row.latest_version) if row.latest_version else ""
            ),
            version_count=row.version_count,
            create_time=_ts(row.create_time),
            update_time=_ts(row.update_time),
            etag=row.etag,
        )

    async def _dataset_row(
        self, session: AsyncSession, dataset_id: str, *, lock: bool = False
    ) -> DatasetRecord:
        query = select(DatasetRecord).where(DatasetRecord.dataset_id == dataset_id)
        if lock:
            query = query.with_for_update()
        row = (await session.execute(query)).scalar_one_or_none()
        if row is None:
            raise NotFound(
                f"dataset {dataset_name(dataset_id)!r} does not exist",
                reason="DATASET_NOT_FOUND",
                metadata={"name": dataset_name(dataset_id)},
            )
        return row

    async def create_dataset(
        self, dataset_id: str, dataset: dataset_pb2.Dataset
    ) -> dataset_pb2.Dataset:
        validate_dataset_id(dataset_id)
        now = utcnow()

        async def work(session: AsyncSession) -> dataset_pb2.Dataset:
            existing = (
                await session.execute(
                    select(DatasetRecord.id).where(DatasetRecord.dataset_id == dataset_id)
                )
            ).scalar_one_or_none()
            if existing is not None:
                raise AlreadyExists(
                    f"dataset {dataset_name(dataset_id)!r} already exists",
                    reason="DATASET_EXISTS",
                    metadata={"name": dataset_name(dataset_id)},
                )
            row = DatasetRecord(
                dataset_id=dataset_id,
                display_name=dataset.display_name,
                description=dataset.description,
                labels=dict(dataset.labels),
                owner=dataset.owner,
                source=dataset.source,
                preprocessing_notes=dataset.preprocessing_notes,
                version_count=0,
                latest_version=0,
                etag=_new_etag(),
                create_time=now,
                update_time=now,
            )
            session.add(row)
            await session.flush()
            return self._dataset_proto(row)

        try:
            return await self.db.run(work)
        except AlreadyExists as exc:
            if exc.reason == "DATASET_EXISTS":
                raise
            raise AlreadyExists(
                f"dataset {dataset_name(dataset_id)!r} already exists",
                reason="DATASET_EXISTS",
                metadata={"name": dataset_name(dataset_id)},
            ) from exc

    async def get_dataset(self, name: str) -> dataset_pb2.Dataset:
        dataset_id = parse_dataset(name)
        async with self.db.transaction() as session:
            return self._dataset_proto(await self._dataset_row(session, dataset_id))

    async def list_datasets(
        self, *, page_size: int, page_token: str, filter: str, order_by: str
    ) -> tuple[list[dataset_pb2.Dataset], str, int]:
        size = _page_size(page_size)
        offset = _Page.decode(page_token)
        terms = _parse_filter(filter)
        order = _parse_order(
            order_by, ("name", "create_time", "update_time", "owner", "version_count"), "name"
        )
        async with self.db.transaction() as session:
            rows = list((await session.execute(select(DatasetRecord))).scalars())

        def get(row: DatasetRecord, field: str) -> str | None:
            if field.startswith("labels."):
                return (row.labels or {}).get(field[len("labels.") :])
            if field == "name":
                return dataset_name(row.dataset_id)
            if field in ("owner", "display_name", "source"):
                return str(getattr(row, field))
            raise _invalid(f"cannot filter on {field!r}", "filter")

        matched = [r for r in rows if _matches(terms, functools.partial(get, r))]
        _sort(
            matched,
            order,
            lambda r, f: r.dataset_id if f == "name" else getattr(r, f),
        )
        page = matched[offset : offset + size]
        token = _Page.encode(offset + size) if offset + size < len(matched) else ""
        return [self._dataset_proto(r) for r in page], token, len(matched)

    async def update_dataset(
        self, dataset: dataset_pb2.Dataset, paths: Sequence[str]
    ) -> dataset_pb2.Dataset:
        dataset_id = parse_dataset(dataset.name, field="dataset.name")
        if not paths:
            raise _invalid("update_mask must name fields (or '*')", "update_mask")
        fields = list(_DATASET_FIELDS) if "*" in paths else list(paths)
        for path in fields:
            if path not in _DATASET_FIELDS:
                raise _invalid(
                    f"update_mask names {path!r}, which is unknown or output-only; mutable "
                    f"fields: {', '.join(_DATASET_FIELDS)}",
                    "update_mask",
                )

        async def work(session: AsyncSession) -> dataset_pb2.Dataset:
            row = await self._dataset_row(session, dataset_id, lock=True)
            if dataset.etag and dataset.etag != row.etag:
                raise Aborted(
                    "the dataset changed since it was read (etag mismatch); read it again",
                    reason="ETAG_MISMATCH",
                    metadata={"name": dataset.name},
                )
            for path in fields:
                value = getattr(dataset, path)
                setattr(row, path, dict(value) if path == "labels" else value)
            row.etag = _new_etag()
            row.update_time = utcnow()
            await session.flush()
            return self._dataset_proto(row)

        return await self.db.run(work)

    async def delete_dataset(self, name: str, *, etag: str, force: bool) -> None:
        dataset_id = parse_dataset(name)

        async def work(session: AsyncSession) -> None:
            row = await self._dataset_row(session, dataset_id, lock=True)
            if etag and etag != row.etag:
                raise Aborted(
                    "the dataset changed since it was read (etag mismatch)",
                    reason="ETAG_MISMATCH",
                    metadata={"name": name},
                )
            if row.version_count and not force:
                raise FailedPrecondition(
                    f"dataset {name!r} has {row.version_count} version(s); pass force to "
                    "delete them too",
                    reason="DATASET_HAS_VERSIONS",
                    metadata={"name": name},
                )
            versions = (
                await session.execute(
                    select(VersionRecord).where(VersionRecord.dataset_pk == row.id)
                )
            ).scalars()
            for version in versions:
                await session.delete(version)
            await session.delete(row)

        await self.db.run(work)

    # ------------------------------------------------------------------- chunks

    @staticmethod
    def _check_descriptors(chunks: Sequence[manifest_pb2.ChunkDescriptor], limit: int) -> None:
        if len(chunks) > limit:
            raise _invalid(f"at most {limit} chunks per request, got {len(chunks)}", "chunks")
        for index, chunk in enumerate(chunks):
            if not _SHA256_HEX.match(chunk.sha256):
                raise _invalid(
                    f"chunk {index}: sha256 must be 64 lowercase hex digits", f"chunks[{index}]"
                )
            if chunk.size_bytes <= 0:
                raise _invalid(
                    f"chunk {index}: size_bytes must be positive", f"chunks[{index}].size_bytes"
                )

    async def _require_dataset(self, name: str, field: str = "dataset") -> str:
        dataset_id = parse_dataset(name, field=field)
        async with self.db.transaction() as session:
            await self._dataset_row(session, dataset_id)
        return dataset_id

    async def find_missing_chunks(
        self, dataset: str, chunks: Sequence[manifest_pb2.ChunkDescriptor]
    ) -> list[manifest_pb2.ChunkDescriptor]:
        self._check_descriptors(chunks, MAX_FIND_CHUNKS)
        await self._require_dataset(dataset)
        wanted = sorted({c.sha256 for c in chunks})
        known: set[str] = set()
        async with self.db.transaction() as session:
            for start in range(0, len(wanted), 500):
                batch = wanted[start : start + 500]
                known.update(
                    (
                        await session.execute(
                            select(ChunkRecord.sha256).where(ChunkRecord.sha256.in_(batch))
                        )
                    ).scalars()
                )
        unknown = [sha for sha in wanted if sha not in known]

        def stat_all() -> set[str]:
            from concurrent.futures import ThreadPoolExecutor

            def present(sha: str) -> bool:
                try:
                    self.sync_store.stat(ingest.chunk_key(sha))
                except NotFound:
                    return False
                return True

            with ThreadPoolExecutor(ingest.STAT_THREADS) as pool:
                return {
                    sha for sha, ok in zip(unknown, pool.map(present, unknown), strict=True) if ok
                }

        stored = await asyncio.to_thread(stat_all) if unknown else set()
        missing = []
        emitted: set[str] = set()
        for chunk in chunks:
            if chunk.sha256 in known or chunk.sha256 in stored or chunk.sha256 in emitted:
                continue
            emitted.add(chunk.sha256)
            missing.append(chunk)
        return missing

    async def create_upload_urls(
        self, dataset: str, chunks: Sequence[manifest_pb2.ChunkDescriptor]
    ) -> list[ds.ChunkUrl]:
        """One ChunkUrl per chunk, in request order. A chunk already stored gets no URL
        (empty ``url`` and ``method``: nothing to upload; a stored chunk is never
        overwritten). New chunks are PUT to a staging key; the commit verifies the
        staged bytes against the digest before they become the chunk."""
        self._check_descriptors(chunks, MAX_URL_CHUNKS)
        await self._require_dataset(dataset)
        # Chunks a commit has verified are final. A chunk only present in the store
        # (promoted by a commit that then failed) still gets a staging URL: staging
        # cannot hurt anyone, and a commit rewrites the key only with verified bytes.
        known = await self._known_digests({c.sha256 for c in chunks})
        expire = _ts(utcnow() + URL_EXPIRY)
        urls = []
        for chunk in chunks:
            if chunk.sha256 in known:
                urls.append(ds.ChunkUrl(sha256=chunk.sha256))
                continue
            url = self.sync_store.presigned_put_url(
                ingest.staging_key(chunk.sha256), expires=URL_EXPIRY
            )
            urls.append(
                ds.ChunkUrl(
                    sha256=chunk.sha256,
                    url=url,
                    method="PUT",
                    headers={"Content-Length": str(chunk.size_bytes)},
                    expire_time=expire,
                )
            )
        return urls

    # ------------------------------------------------------------------ commits

    async def _version_row(
        self, session: AsyncSession, name: str, *, field: str = "name"
    ) -> tuple[DatasetRecord, VersionRecord]:
        dataset_id, number = parse_version(name, field=field)
        dataset = await self._dataset_row(session, dataset_id)
        if number is None:
            number = dataset.latest_version
        row = None
        if number:
            row = (
                await session.execute(
                    select(VersionRecord).where(
                        VersionRecord.dataset_pk == dataset.id, VersionRecord.version == number
                    )
                )
            ).scalar_one_or_none()
        if row is None:
            raise NotFound(
                f"dataset version {name!r} does not exist",
                reason="DATASET_VERSION_NOT_FOUND",
                metadata={"name": name},
            )
        return dataset, row

    @staticmethod
    def _version_proto(row: VersionRecord) -> dataset_pb2.DatasetVersion:
        return dataset_pb2.DatasetVersion.FromString(row.body)

    async def _latest(self, session: AsyncSession, dataset: DatasetRecord) -> VersionRecord | None:
        if not dataset.latest_version:
            return None
        return (
            await session.execute(
                select(VersionRecord).where(
                    VersionRecord.dataset_pk == dataset.id,
                    VersionRecord.version == dataset.latest_version,
                )
            )
        ).scalar_one_or_none()

    async def commit(
        self, request: ds.CommitDatasetVersionRequest
    ) -> tuple[dataset_pb2.DatasetVersion, bool]:
        """Commit a version; (version, created). See the RPC's contract."""
        dataset_id = parse_dataset(request.dataset, field="dataset")
        if not request.request_id or len(request.request_id) > 128:
            raise _invalid("request_id is required (at most 128 characters)", "request_id")
        files = normalize_manifest(request.manifest)
        digest = manifest_digest(files)
        explicit_spec = request.split_spec if request.HasField("split_spec") else None
        if explicit_spec is not None:
            normalize_split_spec(explicit_spec, _DEFAULT_SPLIT)  # fail fast on bad fractions
        for index, parent in enumerate(request.parent_versions):
            parse_version(parent, field=f"parent_versions[{index}]")

        # Replays and identical content return at once, before any heavy work.
        async with self.db.transaction() as session:
            dataset = await self._dataset_row(session, dataset_id)
            early = await self._existing(session, dataset, request.request_id, digest)
            if early is not None:
                return early, False
            latest = await self._latest(session, dataset)
            latest_proto = self._version_proto(latest) if latest is not None else None
            parents = await self._parents(session, dataset, request, latest)
        default_spec = latest_proto.split_spec if latest_proto is not None else _DEFAULT_SPLIT
        spec = normalize_split_spec(explicit_spec, default_spec)
        target = request.target_column or (latest_proto.target_column if latest_proto else "")
        if sum(f.size_bytes for f in files) > self.sync_profile_max_bytes:
            return await self._commit_then_profile(
                request, dataset_id, files, digest, spec, target, parents
            )
        async with self._analyses:
            workdir = Path(tempfile.mkdtemp(prefix="gyre-data-commit-", dir=self.workdir))
            uploaded: list[str] = []
            try:
                known = await self._known_chunks(files)
                rejected = await asyncio.to_thread(
                    ingest.promote_staged, self.sync_store, files, known=known
                )
                await asyncio.to_thread(
                    functools.partial(
                        ingest.check_chunks_present,
                        self.sync_store,
                        files,
                        known=known,
                        rejected=rejected,
                    )
                )
                analysis = await asyncio.to_thread(
                    ingest.analyze, self.sync_store, files, spec, workdir
                )
                if analysis.tabular:
                    ingest.check_columns(
                        analysis.schema,
                        target_column=target,
                        key_column=spec.key_column or None,
                    )
                elif target:
                    raise _invalid(
                        f"target column {target!r} given, but the version has no tabular file",
                        "target_column",
                    )
                derived = await self._upload_derived(analysis, uploaded)
                version = self._build_version(
                    request, files, digest, spec, target, parents, analysis
                )
                result, created = await self.db.run(
                    lambda session: self._write(
                        session, dataset_id, request, files, version, derived
                    )
                )
                if not created:
                    await self._delete_quietly(uploaded)
                return result, created
            except BaseException:
                await self._delete_quietly(uploaded)
                raise
            finally:
                shutil.rmtree(workdir, ignore_errors=True)

    async def _existing(
        self, session: AsyncSession, dataset: DatasetRecord, request_id: str, digest: str
    ) -> dataset_pb2.DatasetVersion | None:
        replay = (
            await session.execute(
                select(VersionRecord).where(
                    VersionRecord.dataset_pk == dataset.id, VersionRecord.request_id == request_id
                )
            )
        ).scalar_one_or_none()
        if replay is not None:
            return self._version_proto(replay)
        latest = await self._latest(session, dataset)
        if latest is not None and latest.digest == digest:
            return self._version_proto(latest)
        return None

    async def _parents(
        self,
        session: AsyncSession,
        dataset: DatasetRecord,
        request: ds.CommitDatasetVersionRequest,
        latest: VersionRecord | None,
    ) -> list[str]:
        if request.no_parents:
            return []
        if not request.parent_versions:
            return [version_name(dataset.dataset_id, latest.version)] if latest else []
        parents = []
        for index, parent in enumerate(request.parent_versions):
            _, row = await self._version_row(session, parent, field=f"parent_versions[{index}]")
            body = self._version_proto(row)
            parents.append(body.name)
        return parents

    async def _known_chunks(self, files: Sequence[manifest_pb2.ManifestFile]) -> set[str]:
        return await self._known_digests({c.sha256 for f in files for c in f.chunks})

    async def _known_digests(self, digests: set[str]) -> set[str]:
        """The ``digests`` of chunks a commit has verified (rows of the chunk table)."""
        wanted = sorted(digests)
        known: set[str] = set()
        async with self.db.transaction() as session:
            for start in range(0, len(wanted), 500):
                batch = wanted[start : start + 500]
                known.update(
                    (
                        await session.execute(
                            select(ChunkRecord.sha256).where(ChunkRecord.sha256.in_(batch))
                        )
                    ).scalars()
                )
        return known

    async def _upload_derived(
        self, analysis: ingest.Analysis, uploaded: list[str]
    ) -> dict[str, Any]:
        if not analysis.tabular:
            return {}
        prefix = f"derived/{uuid.uuid4().hex}"
        derived: dict[str, Any] = {}

        def digest_of(path: Path) -> str:
            h = hashlib.sha256()
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    h.update(block)
            return h.hexdigest()

        for output in analysis.splits:
            name = _SPLIT_FILE_NAMES[output.split]
            entry: dict[str, Any] = {}
            for kind, path, media in (
                ("keys", output.keys_path, _KEYS_MEDIA),
                ("rows", output.rows_path, _PARQUET_MEDIA),
            ):
                key = f"{prefix}/{name}.{'keys' if kind == 'keys' else 'parquet'}"
                sha = await asyncio.to_thread(digest_of, path)
                uploaded.append(key)
                await self.store.put_file(key, path)
                obj = {"key": key, "sha256": sha, "size": path.stat().st_size, "media_type": media}
                entry[kind] = obj if kind == "keys" else [obj]
            derived[name] = entry
        return derived

    async def _delete_quietly(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        # Best effort: orphans are harmless (never referenced).
        with contextlib.suppress(Exception):
            await self.store.delete_many(list(keys))

    @staticmethod
    def _build_version(
        request: ds.CommitDatasetVersionRequest,
        files: Sequence[manifest_pb2.ManifestFile],
        digest: str,
        spec: dataset_pb2.SplitSpec,
        target: str,
        parents: Sequence[str],
        analysis: ingest.Analysis,
    ) -> dataset_pb2.DatasetVersion:
        all_chunks = [c for f in files for c in f.chunks]
        version = dataset_pb2.DatasetVersion(
            digest=digest,
            parent_versions=list(parents),
            manifest_summary=dataset_pb2.ManifestSummary(
                file_count=len(files),
                total_bytes=sum(f.size_bytes for f in files),
                chunk_count=len(all_chunks),
                unique_chunk_count=len({c.sha256 for c in all_chunks}),
            ),
            row_count=analysis.row_count,
            target_column=target,
            state=dataset_pb2.DATASET_VERSION_STATE_READY,
            description=request.description,
            labels=dict(request.labels),
        )
        if analysis.tabular:
            version.schema.CopyFrom(analysis.schema)
            version.column_profiles.extend(analysis.profiles)
            version.split_spec.CopyFrom(spec)
            version.split_stats.extend(
                dataset_pb2.SplitStats(
                    split=s.split,  # type: ignore[arg-type]
                    row_count=s.row_count,
                    key_count=s.key_count,
                    key_digest=s.key_digest,
                )
                for s in analysis.splits
            )
        return version

    async def _write(
        self,
        session: AsyncSession,
        dataset_id: str,
        request: ds.CommitDatasetVersionRequest,
        files: Sequence[manifest_pb2.ManifestFile],
        version: dataset_pb2.DatasetVersion,
        derived: dict[str, Any],
        *,
        emit: bool = True,
    ) -> tuple[dataset_pb2.DatasetVersion, bool]:
        if self.db.is_sqlite:
            # Take SQLite's write lock first: a concurrent committer waits for it here
            # (busy timeout) instead of failing to upgrade a read snapshot later.
            await session.execute(
                update(DatasetRecord)
                .where(DatasetRecord.dataset_id == dataset_id)
                .values(version_count=DatasetRecord.version_count)
            )
        dataset = await self._dataset_row(session, dataset_id, lock=True)
        existing = await self._existing(session, dataset, request.request_id, version.digest)
        if existing is not None:
            return existing, False
        now = utcnow()
        number = dataset.latest_version + 1
        body = dataset_pb2.DatasetVersion()
        body.CopyFrom(version)
        body.name = version_name(dataset_id, number)
        body.version = number
        body.create_time.CopyFrom(_ts(now))
        manifest = manifest_pb2.Manifest(name=body.name + "/manifest", files=list(files))
        session.add(
            VersionRecord(
                dataset_pk=dataset.id,
                version=number,
                digest=body.digest,
                request_id=request.request_id,
                state=body.state,
                labels=dict(body.labels),
                create_time=now,
                body=body.SerializeToString(),
                manifest=manifest.SerializeToString(),
                derived=derived,
            )
        )
        sizes: dict[str, int] = {}
        for f in files:
            for c in f.chunks:
                sizes[c.sha256] = c.length
        if sizes:
            rows = [{"sha256": s, "size": n, "create_time": now} for s, n in sizes.items()]
            insert = pg_insert if not self.db.is_sqlite else sqlite_insert
            for start in range(0, len(rows), 500):
                await session.execute(
                    insert(ChunkRecord).values(rows[start : start + 500]).on_conflict_do_nothing()
                )
        dataset.latest_version = number
        dataset.version_count = dataset.version_count + 1
        await session.flush()
        if emit:
            await self._emit(session, body)
        return body, True

    async def _emit(self, session: AsyncSession, body: dataset_pb2.DatasetVersion) -> None:
        dataset_id, _ = parse_version(body.name)
        payload = data_events_pb2.DataVersionCommitted(
            dataset=dataset_name(dataset_id),
            dataset_version=body.name,
            version=body.version,
            digest=body.digest,
            parent_versions=list(body.parent_versions),
            row_count=body.row_count,
            target_column=body.target_column,
            manifest_summary=body.manifest_summary,
            state=body.state,
            labels=dict(body.labels),
            schema=body.schema if body.HasField("schema") else None,
            split_spec=body.split_spec if body.HasField("split_spec") else None,
            split_stats=list(body.split_stats),
        )
        await self.outbox.emit(
            session, type=EVENT_TYPE, subject_resource=body.name, payload_message=payload
        )

    # -------------------------------------------------------------------- reads

    async def get_version(self, name: str) -> dataset_pb2.DatasetVersion:
        async with self.db.transaction() as session:
            _, row = await self._version_row(session, name)
            return self._version_proto(row)

    async def list_versions(
        self, parent: str, *, page_size: int, page_token: str, filter: str, order_by: str
    ) -> tuple[list[dataset_pb2.DatasetVersion], str, int]:
        dataset_id = parse_dataset(parent, field="parent")
        size = _page_size(page_size)
        offset = _Page.decode(page_token)
        terms = _parse_filter(filter)
        order = _parse_order(order_by, ("version", "create_time"), "version desc")
        async with self.db.transaction() as session:
            dataset = await self._dataset_row(session, dataset_id)
            rows = list(
                (
                    await session.execute(
                        select(VersionRecord).where(VersionRecord.dataset_pk == dataset.id)
                    )
                ).scalars()
            )

        def get(row: VersionRecord, field: str) -> str | None:
            if field.startswith("labels."):
                return (row.labels or {}).get(field[len("labels.") :])
            if field == "state":
                return dataset_pb2.DatasetVersionState.Name(row.state).removeprefix(
                    "DATASET_VERSION_STATE_"
                )
            if field == "digest":
                return row.digest
            raise _invalid(f"cannot filter on {field!r}", "filter")

        matched = [r for r in rows if _matches(terms, functools.partial(get, r))]
        _sort(matched, order, getattr)
        page = matched[offset : offset + size]
        token = _Page.encode(offset + size) if offset + size < len(matched) else ""
        versions = []
        for row in page:
            body = self._version_proto(row)
            del body.column_profiles[:]
            versions.append(body)
        return versions, token, len(matched)

    async def _manifest(self, name: str, *, field: str = "name") -> manifest_pb2.Manifest:
        async with self.db.transaction() as session:
            _, row = await self._version_row(session, name, field=field)
            return manifest_pb2.Manifest.FromString(row.manifest)

    async def get_manifest(
        self, name: str, *, page_size: int, page_token: str
    ) -> tuple[manifest_pb2.Manifest, str]:
        if not name.endswith("/manifest"):
            raise _invalid(
                f"name {name!r} must be 'datasets/{{dataset}}/versions/{{version}}/manifest'",
                "name",
                "INVALID_NAME",
            )
        manifest = await self._manifest(name.removesuffix("/manifest"))
        size = _page_size(page_size, 1000)
        offset = _Page.decode(page_token)
        files = list(manifest.files)[offset : offset + size]
        token = _Page.encode(offset + size) if offset + size < len(manifest.files) else ""
        return manifest_pb2.Manifest(name=manifest.name, files=files), token

    async def create_download_urls(
        self, version: str, chunk_sha256s: Sequence[str]
    ) -> list[ds.ChunkUrl]:
        if len(chunk_sha256s) > MAX_URL_CHUNKS:
            raise _invalid(f"at most {MAX_URL_CHUNKS} chunks per request", "chunk_sha256s")
        manifest = await self._manifest(version, field="dataset_version")
        members = {c.sha256 for f in manifest.files for c in f.chunks}
        for index, sha in enumerate(chunk_sha256s):
            if sha not in members:
                raise _invalid(f"chunk {sha!r} is not part of {version}", f"chunk_sha256s[{index}]")
        expire = _ts(utcnow() + URL_EXPIRY)
        return [
            ds.ChunkUrl(
                sha256=sha,
                url=self.sync_store.presigned_get_url(ingest.chunk_key(sha), expires=URL_EXPIRY),
                method="GET",
                expire_time=expire,
            )
            for sha in chunk_sha256s
        ]

    async def get_split(
        self, version: str, split: int, *, include_urls: bool
    ) -> ds.GetSplitResponse:
        if split not in _SPLIT_FILE_NAMES:
            raise _invalid("split must be TRAIN, VALIDATION or TEST", "split")
        async with self.db.transaction() as session:
            _, row = await self._version_row(session, version, field="dataset_version")
            body = self._version_proto(row)
            derived = dict(row.derived or {})
        if body.state != dataset_pb2.DATASET_VERSION_STATE_READY:
            raise FailedPrecondition(
                f"{body.name} is not READY",
                reason="VERSION_NOT_READY",
                metadata={"name": body.name},
            )
        entry = derived.get(_SPLIT_FILE_NAMES[split])
        stats = next((s for s in body.split_stats if s.split == split), None)
        if entry is None or stats is None or not body.HasField("split_spec"):
            raise FailedPrecondition(
                f"{body.name} has no splits (it has no tabular files)",
                reason="VERSION_NOT_SPLIT",
                metadata={"name": body.name},
            )
        response = ds.GetSplitResponse(stats=stats, split_spec=body.split_spec)
        if include_urls:
            response.key_hashes.CopyFrom(self._object_url(entry["keys"]))
            response.row_files.extend(self._object_url(obj) for obj in entry["rows"])
        return response

    def _object_url(self, obj: dict[str, Any]) -> ds.ObjectUrl:
        return ds.ObjectUrl(
            url=self.sync_store.presigned_get_url(obj["key"], expires=URL_EXPIRY),
            sha256=obj["sha256"],
            size_bytes=int(obj["size"]),
            media_type=obj["media_type"],
            expire_time=_ts(utcnow() + URL_EXPIRY),
        )

    # --------------------------------------------------------------------- diff

    async def diff(
        self, base_name: str, target_name: str, *, include_distribution: bool
    ) -> ds.DiffDatasetVersionsResponse:
        async with self.db.transaction() as session:
            _, base_row = await self._version_row(session, base_name, field="base_version")
            _, target_row = await self._version_row(session, target_name, field="target_version")
            base = self._version_proto(base_row)
            target = self._version_proto(target_row)
            base_manifest = manifest_pb2.Manifest.FromString(base_row.manifest)
            target_manifest = manifest_pb2.Manifest.FromString(target_row.manifest)
            target_derived = dict(target_row.derived or {})
        response = ds.DiffDatasetVersionsResponse(
            base_row_count=base.row_count,
            target_row_count=target.row_count,
            row_count_delta=target.row_count - base.row_count,
        )
        base_files = {f.path: f for f in base_manifest.files}
        target_files = {f.path: f for f in target_manifest.files}
        for path in sorted(set(base_files) | set(target_files)):
            b, t = base_files.get(path), target_files.get(path)
            if b is not None and t is not None and b.sha256 == t.sha256:
                continue
            kind = (
                ds.FILE_CHANGE_KIND_ADDED
                if b is None
                else ds.FILE_CHANGE_KIND_REMOVED
                if t is None
                else ds.FILE_CHANGE_KIND_MODIFIED
            )
            response.file_changes.add(
                path=path,
                kind=kind,
                base_sha256=b.sha256 if b else "",
                target_sha256=t.sha256 if t else "",
                base_size_bytes=b.size_bytes if b else 0,
                target_size_bytes=t.size_bytes if t else 0,
            )
        base_columns = {c.name: c for c in base.schema.columns}
        target_columns = {c.name: c for c in target.schema.columns}
        for column in target.schema.columns:
            old = base_columns.get(column.name)
            if old is None:
                response.column_changes.add(
                    column=column.name, kind=ds.COLUMN_CHANGE_KIND_ADDED, target=column
                )
            elif old.logical_type != column.logical_type:
                response.column_changes.add(
                    column=column.name,
                    kind=ds.COLUMN_CHANGE_KIND_TYPE_CHANGED,
                    base=old,
                    target=column,
                )
            elif old.nullable != column.nullable:
                response.column_changes.add(
                    column=column.name,
                    kind=ds.COLUMN_CHANGE_KIND_NULLABILITY_CHANGED,
                    base=old,
                    target=column,
                )
        for column in base.schema.columns:
            if column.name not in target_columns:
                response.column_changes.add(
                    column=column.name, kind=ds.COLUMN_CHANGE_KIND_REMOVED, base=column
                )
        base_chunks = {c.sha256 for f in base_manifest.files for c in f.chunks}
        new_chunks: dict[str, int] = {}
        for f in target_manifest.files:
            for c in f.chunks:
                if c.sha256 not in base_chunks:
                    new_chunks[c.sha256] = c.length
        response.new_chunk_bytes = sum(new_chunks.values())
        if include_distribution:
            for version in (base, target):
                if version.state != dataset_pb2.DATASET_VERSION_STATE_READY:
                    raise FailedPrecondition(
                        f"{version.name} is not READY", reason="VERSION_NOT_READY"
                    )
            drifts = await asyncio.to_thread(self._drifts, base, target, target_derived)
            response.column_drifts.extend(drifts)
        return response

    def _drifts(
        self,
        base: dataset_pb2.DatasetVersion,
        target: dataset_pb2.DatasetVersion,
        target_derived: dict[str, Any],
    ) -> list[ds.ColumnDrift]:
        base_profiles = {p.column: p for p in base.column_profiles}
        target_profiles = {p.column: p for p in target.column_profiles}
        columns = [c for c in base_profiles if c in target_profiles]
        counts = _target_counts(
            self.sync_store, target_derived, {c: base_profiles[c] for c in columns}
        )
        drifts = []
        for column in columns:
            b, t = base_profiles[column], target_profiles[column]
            base_counts = _base_counts(b)
            if base_counts is None or column not in counts:
                continue
            drifts.append(
                ds.ColumnDrift(
                    column=column,
                    psi=psi(base_counts, counts[column]),
                    base_null_rate=b.null_count / b.count if b.count else 0.0,
                    target_null_rate=t.null_count / t.count if t.count else 0.0,
                )
            )
        return drifts


def psi(base: Sequence[float], target: Sequence[float], *, epsilon: float = 1e-6) -> float:
    """Population stability index of ``target`` against ``base`` over the same bins:
    ``sum((t - b) * ln(t / b))`` over bin shares, each floored at ``epsilon``."""
    b = np.asarray(base, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if b.sum() <= 0 or t.sum() <= 0:
        return 0.0
    b = np.maximum(b / b.sum(), epsilon)
    t = np.maximum(t / t.sum(), epsilon)
    return float(((t - b) * np.log(t / b)).sum())


def _base_counts(profile: profile_pb2.ColumnProfile) -> list[float] | None:
    if profile.HasField("numeric") and profile.numeric.histogram.edges:
        return [float(c) for c in profile.numeric.histogram.counts]
    if profile.HasField("categorical"):
        cat = profile.categorical
        return [float(c.count) for c in cat.top_categories] + [float(cat.other_count)]
    return None


def _target_counts(
    store: SyncObjectStore,
    derived: dict[str, Any],
    base_profiles: dict[str, profile_pb2.ColumnProfile],
) -> dict[str, list[float]]:
    """Counts of the target's rows over the base profiles' bins / categories."""
    from gyre.services.data_registry.ingest import _numeric_values

    wanted = {c: p for c, p in base_profiles.items() if _base_counts(p) is not None}
    counts: dict[str, np.ndarray[Any, Any]] = {}
    for column, profile in wanted.items():
        if profile.HasField("numeric"):
            counts[column] = np.zeros(len(profile.numeric.histogram.counts))
        else:
            counts[column] = np.zeros(len(profile.categorical.top_categories) + 1)
    if not wanted:
        return {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in _SPLIT_FILE_NAMES.values():
            for obj in (derived.get(name) or {}).get("rows", []):
                local = Path(scratch) / f"{name}.parquet"
                store.get_file(obj["key"], local)
                parquet = pq.ParquetFile(local)
                present = [c for c in wanted if c in parquet.schema_arrow.names]
                for batch in parquet.iter_batches(columns=present, batch_size=65536):
                    for column in present:
                        profile = wanted[column]
                        values = batch.column(column)
                        if profile.HasField("numeric"):
                            hist = profile.numeric.histogram
                            edges = np.asarray(hist.edges)
                            try:
                                numbers = _numeric_values(values)
                            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                                continue
                            finite = numbers[np.isfinite(numbers)]
                            n_bins = len(hist.counts)
                            index = np.clip(
                                np.searchsorted(edges, finite, side="right") - 1, 0, n_bins - 1
                            )
                            counts[column] += np.bincount(index, minlength=n_bins)
                        else:
                            categories = [c.value for c in profile.categorical.top_categories]
                            position = {v: i for i, v in enumerate(categories)}
                            other = len(categories)
                            counted = values.cast(pa.string()).value_counts()
                            for value, number in zip(
                                counted.field("values").to_pylist(),
                                counted.field("counts").to_pylist(),
                                strict=True,
                            ):
                                if value is not None:
                                    counts[column][position.get(value, other)] += number
                local.unlink()
    return {c: [float(x) for x in v] for c, v in counts.items()}


def split_enum_name(split: int) -> str:
    """``"train"``, ``"validation"`` or ``"test"``."""
    return _SPLIT_FILE_NAMES[split]
