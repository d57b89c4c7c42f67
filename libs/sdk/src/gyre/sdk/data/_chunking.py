"""Content-defined chunking of files (FastCDC) with SHA-256 per chunk, in bounded memory.

FastCDC (Xia et al., "FastCDC: a Fast and Efficient Content-Defined Chunking Approach
for Data Deduplication", USENIX ATC 2016; the ``fastcdc`` package's Cython kernel) cuts
the memory-mapped file, so the process never holds the file: pages are read on demand
and dropped by the kernel. Chunks are hashed by a thread pool while the next cut points
are found, and the whole-file digest is computed in order by a thread of its own
(``hashlib`` releases the GIL), so chunking costs little more than hashing alone.
Chunk bytes are read again (``os.pread``) only for the chunks that must be uploaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "AVG_CHUNK_BYTES",
    "MAX_CHUNK_BYTES",
    "MIN_CHUNK_BYTES",
    "Chunk",
    "ChunkedFile",
    "chunk_file",
    "file_sha256",
    "iter_chunks",
    "read_chunk",
]

# FastCDC sizes: appending or inserting rows changes about one chunk of ~1 MiB.
MIN_CHUNK_BYTES: Final = 512 * 1024
AVG_CHUNK_BYTES: Final = 1024 * 1024
MAX_CHUNK_BYTES: Final = 4 * 1024 * 1024
_HASH_THREADS: Final = 1
# Chunks hashed ahead of the consumer.
_MAX_IN_FLIGHT: Final = 32
# Hashed bytes of the mapping dropped from the resident set at a time, and how far
# behind the whole-file digest's progress the drop stays.
_RELEASE_BYTES: Final = 16 * 1024 * 1024
_CHUNK_SLACK: Final = MAX_CHUNK_BYTES


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk: lowercase hex SHA-256, byte offset in the file and length."""

    sha256: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class ChunkedFile:
    """A chunked file: its chunks in order, whole-file SHA-256 and size."""

    path: Path
    size: int
    sha256: str
    chunks: list[Chunk]


def iter_chunks(
    path: str | os.PathLike[str],
    *,
    on_bytes: Callable[[int], None] | None = None,
    whole_file: Any = None,
) -> Iterator[Chunk]:
    """Yield every chunk of the file, in order.

    ``on_bytes(n)`` is called as bytes are hashed (progress bars). ``whole_file``, a
    ``hashlib`` object, is updated with the file's bytes in order.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            with (
                ThreadPoolExecutor(_HASH_THREADS) as pool,
                ThreadPoolExecutor(1) as ordered,
            ):
                yield from _pipeline(mapped, pool, ordered, on_bytes, whole_file)
        finally:
            # A slice still referenced somewhere keeps the map; GC unmaps it later.
            with contextlib.suppress(BufferError):
                mapped.close()


def _pipeline(
    mapped: mmap.mmap,
    pool: ThreadPoolExecutor,
    ordered: ThreadPoolExecutor,
    on_bytes: Callable[[int], None] | None,
    whole_file: Any,
) -> Iterator[Chunk]:
    from fastcdc.fastcdc_cy import fastcdc_cy  # type: ignore[import-untyped,unused-ignore]

    view = memoryview(mapped)
    pending: deque[tuple[int, int, Future[str]]] = deque()
    # Whole-file digest updates in flight, by the end offset they cover.
    digests: deque[tuple[int, Future[Any]]] = deque()
    released = 0

    def release(done_upto: int) -> None:
        # Drop hashed pages from this process's resident set (they stay in the page
        # cache; touching them again just faults them back in), so RSS stays bounded
        # whatever the file size.
        nonlocal released
        while digests and digests[0][1].done():
            digests.popleft()
        if digests:
            done_upto = min(done_upto, digests[0][0] - _CHUNK_SLACK)
        aligned = (done_upto // mmap.PAGESIZE) * mmap.PAGESIZE
        if aligned - released >= _RELEASE_BYTES:
            with contextlib.suppress(OSError, ValueError):
                mapped.madvise(mmap.MADV_DONTNEED, released, aligned - released)
            released = aligned

    for piece in fastcdc_cy(
        view,
        min_size=MIN_CHUNK_BYTES,
        avg_size=AVG_CHUNK_BYTES,
        max_size=MAX_CHUNK_BYTES,
        fat=False,
        hf=None,
    ):
        start, end = piece.offset, piece.offset + piece.length
        if whole_file is not None:
            digests.append((end, ordered.submit(whole_file.update, view[start:end])))
            if len(digests) > _MAX_IN_FLIGHT:  # back-pressure on the whole-file digest
                digests[0][1].result()
        pending.append((piece.offset, piece.length, pool.submit(_sha256, view[start:end])))
        while pending and (len(pending) > _MAX_IN_FLIGHT or pending[0][2].done()):
            chunk = _finish(pending.popleft(), on_bytes)
            release(chunk.offset)
            yield chunk
    while pending:
        yield _finish(pending.popleft(), on_bytes)
    ordered.shutdown(wait=True)
    view.release()


def _finish(item: tuple[int, int, Future[str]], on_bytes: Callable[[int], None] | None) -> Chunk:
    offset, length, future = item
    digest = future.result()
    if on_bytes is not None:
        on_bytes(length)
    return Chunk(digest, offset, length)


def _sha256(data: memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def chunk_file(
    path: str | os.PathLike[str],
    *,
    on_bytes: Callable[[int], None] | None = None,
    file_digest: bool = True,
) -> ChunkedFile:
    """Chunk and hash a file: its chunks and whole-file SHA-256.

    With ``file_digest=False`` the whole-file SHA-256 is left empty (``push`` computes it
    in another thread while chunks upload; see :func:`file_sha256`).
    """
    whole = hashlib.sha256() if file_digest else None
    chunks = list(iter_chunks(path, on_bytes=on_bytes, whole_file=whole))
    size = sum(chunk.length for chunk in chunks)
    return ChunkedFile(Path(path), size, whole.hexdigest() if whole is not None else "", chunks)


def file_sha256(path: str | os.PathLike[str], *, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in ``block``-byte pieces (GIL released while hashing)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while data := handle.read(block):
            digest.update(data)
    return digest.hexdigest()


def read_chunk(fd: int, chunk: Chunk) -> bytes:
    """The bytes of ``chunk`` from the open file descriptor ``fd``."""
    data = os.pread(fd, chunk.length, chunk.offset)
    if len(data) != chunk.length:
        raise OSError(f"file changed while pushing: short read at offset {chunk.offset}")
    return data
