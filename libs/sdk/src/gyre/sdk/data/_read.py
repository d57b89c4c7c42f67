"""Reading dataset versions: whole versions or one split as Arrow tables, batches or
pandas DataFrames, and pulling a version's files with SHA-256 verification."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.csv as pacsv  # type: ignore[import-untyped,unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

from gyre.common.v1 import split_pb2
from gyre.data.v1 import data_service_pb2 as ds
from gyre.data.v1 import dataset_pb2, manifest_pb2
from gyre.sdk.data import _http
from gyre.sdk.data._rowkeys import ROW_KEY_COLUMN, row_key_hashes
from gyre.sdk.errors import DataLoss, FailedPrecondition, InvalidArgument

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "SPLITS",
    "iter_batches",
    "manifest_files",
    "pull",
    "read_pandas",
    "read_table",
]

DEFAULT_BATCH_ROWS: Final = 65536
SPLITS: Final = {
    "train": split_pb2.SPLIT_TRAIN,
    "validation": split_pb2.SPLIT_VALIDATION,
    "test": split_pb2.SPLIT_TEST,
}
_URL_BATCH: Final = 1000
_DOWNLOAD_PARALLEL: Final = 8
_TIMESTAMP = re.compile(r"^timestamp\[(s|ms|us|ns)(?:, tz=(.+))?\]$")


def _split_value(split: str | int) -> int:
    if isinstance(split, int):
        if split not in SPLITS.values():
            raise InvalidArgument(f"unknown split {split}")
        return split
    value = SPLITS.get(split.lower())
    if value is None:
        raise InvalidArgument(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    return value


def _arrow_type(physical: str) -> pa.DataType | None:
    simple: dict[str, pa.DataType] = {
        "int8": pa.int8(),
        "int16": pa.int16(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "uint8": pa.uint8(),
        "uint16": pa.uint16(),
        "uint32": pa.uint32(),
        "uint64": pa.uint64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "bool": pa.bool_(),
        "string": pa.string(),
        "large_string": pa.large_string(),
        "binary": pa.binary(),
        "date32[day]": pa.date32(),
    }
    if physical in simple:
        return simple[physical]
    match = _TIMESTAMP.match(physical)
    if match:
        return pa.timestamp(match.group(1), tz=match.group(2))
    return None


def manifest_files(client: Any, version_name: str) -> list[manifest_pb2.ManifestFile]:
    """Every file of a version's manifest (all pages), sorted by path."""
    files: list[manifest_pb2.ManifestFile] = []
    token = ""
    while True:
        response = client.data.GetManifest(
            ds.GetManifestRequest(name=f"{version_name}/manifest", page_token=token)
        )
        files.extend(response.manifest.files)
        token = response.next_page_token
        if not token:
            return files


def _download_file(
    client: Any, version_name: str, file: manifest_pb2.ManifestFile, dest: Path, *, parallel: int
) -> None:
    """Download one file's chunks into ``dest``, verifying each chunk and the file."""
    unique = list(dict.fromkeys(c.sha256 for c in file.chunks))
    offsets: dict[str, list[manifest_pb2.ChunkRef]] = {}
    for c in file.chunks:
        offsets.setdefault(c.sha256, []).append(c)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, file.size_bytes)

        def fetch(url: ds.ChunkUrl) -> None:
            data = _http.get(url.url)
            if hashlib.sha256(data).hexdigest() != url.sha256:
                raise DataLoss(
                    f"chunk {url.sha256} of {file.path!r} does not match its digest",
                    reason="CHUNK_DIGEST_MISMATCH",
                    metadata={"sha256": url.sha256, "path": file.path},
                )
            for ref in offsets[url.sha256]:
                if len(data) != ref.length:
                    raise DataLoss(
                        f"chunk {url.sha256} of {file.path!r} has the wrong size",
                        reason="CHUNK_SIZE_MISMATCH",
                        metadata={"sha256": url.sha256, "path": file.path},
                    )
                os.pwrite(fd, data, ref.offset)

        with ThreadPoolExecutor(max(1, parallel)) as pool:
            for start in range(0, len(unique), _URL_BATCH):
                urls = client.data.CreateDownloadUrls(
                    ds.CreateDownloadUrlsRequest(
                        dataset_version=version_name,
                        chunk_sha256s=unique[start : start + _URL_BATCH],
                    )
                ).urls
                list(pool.map(fetch, urls))
    finally:
        os.close(fd)
    digest = hashlib.sha256()
    with open(partial, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    if digest.hexdigest() != file.sha256:
        partial.unlink(missing_ok=True)
        raise DataLoss(
            f"file {file.path!r} does not match its sha256 after download",
            reason="FILE_DIGEST_MISMATCH",
            metadata={"path": file.path},
        )
    os.replace(partial, dest)


def pull(
    client: Any,
    version_name: str,
    dest: str | os.PathLike[str],
    *,
    parallel: int = _DOWNLOAD_PARALLEL,
) -> list[Path]:
    """Download every file of a version under ``dest``, verifying every chunk's and
    file's SHA-256 (a file is renamed into place only once verified).

    Returns:
        The paths written.

    Raises:
        DataLoss: A chunk or file does not match its digest.
        NotFound: The version does not exist.
    """
    root = Path(dest)
    written = []
    for file in manifest_files(client, version_name):
        target = root.joinpath(*file.path.split("/"))
        _download_file(client, version_name, file, target, parallel=parallel)
        written.append(target)
    return written


def _download_object(url: ds.ObjectUrl, path: Path) -> None:
    sha, size = _http.get_to_file(url.url, str(path))
    if sha != url.sha256 or size != url.size_bytes:
        raise DataLoss(
            "a split file does not match its digest after download", reason="OBJECT_DIGEST_MISMATCH"
        )


def _select(
    batch: pa.RecordBatch, columns: Sequence[str] | None, with_row_keys: bool
) -> pa.RecordBatch:
    names = (
        list(columns)
        if columns is not None
        else [n for n in batch.schema.names if n != ROW_KEY_COLUMN]
    )
    if with_row_keys:
        names.append(ROW_KEY_COLUMN)
    missing = [n for n in names if n not in batch.schema.names]
    if missing:
        raise InvalidArgument(f"unknown columns {missing}")
    return batch.select(names)


def _split_batches(
    client: Any,
    version_name: str,
    split: int,
    columns: Sequence[str] | None,
    with_row_keys: bool,
    batch_rows: int,
) -> Iterator[pa.RecordBatch]:
    response = client.data.GetSplit(
        ds.GetSplitRequest(dataset_version=version_name, split=split, include_urls=True)  # type: ignore[arg-type]
    )
    with tempfile.TemporaryDirectory(prefix="gyre-split-") as scratch:
        for index, url in enumerate(response.row_files):
            local = Path(scratch) / f"{index}.parquet"
            _download_object(url, local)
            parquet = pq.ParquetFile(local)
            wanted = None
            if columns is not None:
                wanted = [*columns, *([ROW_KEY_COLUMN] if with_row_keys else [])]
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=wanted):
                yield _select(batch, columns, with_row_keys)
            local.unlink()


def _version_batches(
    client: Any,
    version_name: str,
    columns: Sequence[str] | None,
    with_row_keys: bool,
    batch_rows: int,
) -> Iterator[pa.RecordBatch]:
    version: dataset_pb2.DatasetVersion = client.data.GetDatasetVersion(
        ds.GetDatasetVersionRequest(name=version_name)
    ).dataset_version
    if not version.schema.columns:
        raise FailedPrecondition(
            f"{version.name} has no tabular files", reason="VERSION_NOT_TABULAR"
        )
    names = [c.name for c in version.schema.columns]
    types = {c.name: _arrow_type(c.physical_type) for c in version.schema.columns}
    forced = {n: t for n, t in types.items() if t is not None}
    spec = version.split_spec
    key_column = spec.key_column if spec.key_source == dataset_pb2.SPLIT_KEY_SOURCE_COLUMN else None
    with tempfile.TemporaryDirectory(prefix="gyre-read-") as scratch:
        for file in manifest_files(client, version.name):
            if file.format not in (manifest_pb2.FILE_FORMAT_CSV, manifest_pb2.FILE_FORMAT_PARQUET):
                continue
            local = Path(scratch) / "file"
            _download_file(client, version.name, file, local, parallel=_DOWNLOAD_PARALLEL)
            batches: Iterator[pa.RecordBatch]
            if file.format == manifest_pb2.FILE_FORMAT_CSV:
                reader = pacsv.open_csv(
                    local,
                    parse_options=pacsv.ParseOptions(newlines_in_values=True),
                    convert_options=pacsv.ConvertOptions(column_types=forced),
                )
                batches = iter(reader)
            else:
                batches = pq.ParquetFile(local).iter_batches(batch_size=batch_rows)
            for batch in batches:
                if batch.schema.names != names:
                    raise FailedPrecondition(f"{file.path!r} does not match the version schema")
                if any(batch.schema.field(n).type != t for n, t in forced.items()):
                    batch = pa.RecordBatch.from_arrays(
                        [
                            batch.column(n).cast(forced[n]) if n in forced else batch.column(n)
                            for n in names
                        ],
                        names=names,
                    )
                if with_row_keys:
                    hashes = row_key_hashes(
                        batch, key_column=key_column, seed=spec.seed, columns=names
                    )
                    batch = batch.append_column(ROW_KEY_COLUMN, pa.array(hashes, pa.uint64()))
                for start in range(0, batch.num_rows, batch_rows):
                    yield _select(batch.slice(start, batch_rows), columns, with_row_keys)
            local.unlink()


def iter_batches(
    client: Any,
    version_name: str,
    *,
    split: str | int | None = None,
    columns: Sequence[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    with_row_keys: bool = False,
) -> Iterator[pa.RecordBatch]:
    """Stream a version's rows (or one split's) as Arrow record batches, in bounded
    memory (one file on local disk at a time, ``batch_rows`` rows in memory).

    Args:
        client: A :class:`gyre.sdk.GyreClient`.
        version_name: ``"datasets/{dataset}/versions/{version}"`` (``latest`` allowed).
        split: ``"train"``, ``"validation"``, ``"test"`` (or the ``Split`` enum value);
            ``None`` reads every row in file order.
        columns: Columns to return (default: all).
        batch_rows: Rows per batch (at most).
        with_row_keys: Add the uint64 column ``_gyre_row_key``: the key hash that
            decided each row's split.
    """
    if split is None:
        yield from _version_batches(client, version_name, columns, with_row_keys, batch_rows)
    else:
        yield from _split_batches(
            client, version_name, _split_value(split), columns, with_row_keys, batch_rows
        )


def read_table(
    client: Any,
    version_name: str,
    *,
    split: str | int | None = None,
    columns: Sequence[str] | None = None,
    with_row_keys: bool = False,
) -> pa.Table:
    """A version (or one split) as a ``pyarrow.Table``; see :func:`iter_batches`."""
    batches = list(
        iter_batches(
            client, version_name, split=split, columns=columns, with_row_keys=with_row_keys
        )
    )
    if not batches:
        return _empty_table(client, version_name, columns, with_row_keys)
    return pa.Table.from_batches(batches)


def _empty_table(
    client: Any, version_name: str, columns: Sequence[str] | None, with_row_keys: bool
) -> pa.Table:
    version = client.data.GetDatasetVersion(
        ds.GetDatasetVersionRequest(name=version_name)
    ).dataset_version
    fields = [
        pa.field(c.name, _arrow_type(c.physical_type) or pa.string())
        for c in version.schema.columns
        if columns is None or c.name in columns
    ]
    if with_row_keys:
        fields.append(pa.field(ROW_KEY_COLUMN, pa.uint64()))
    return pa.schema(fields).empty_table()


def read_pandas(
    client: Any,
    version_name: str,
    *,
    split: str | int | None = None,
    columns: Sequence[str] | None = None,
    with_row_keys: bool = False,
) -> Any:
    """A version (or one split) as a ``pandas.DataFrame``; see :func:`iter_batches`."""
    return read_table(
        client, version_name, split=split, columns=columns, with_row_keys=with_row_keys
    ).to_pandas()
