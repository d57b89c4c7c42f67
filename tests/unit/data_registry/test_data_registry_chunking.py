"""Content-defined chunking: exact digests, bounded changes after appends and inserts."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from gyre.sdk.data._chunking import MAX_CHUNK_BYTES, MIN_CHUNK_BYTES, chunk_file


def _random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def test_data_registry_chunks_cover_the_file_and_hash_it(tmp_path: Path) -> None:
    data = _random_bytes(6_000_000, 1)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    chunked = chunk_file(path)
    assert chunked.sha256 == hashlib.sha256(data).hexdigest()
    assert chunked.size == len(data)
    offset = 0
    for chunk in chunked.chunks:
        assert chunk.offset == offset
        assert chunk.sha256 == hashlib.sha256(data[offset : offset + chunk.length]).hexdigest()
        assert chunk.length <= MAX_CHUNK_BYTES
        offset += chunk.length
    assert offset == len(data)
    assert all(c.length >= MIN_CHUNK_BYTES for c in chunked.chunks[:-1])


def test_data_registry_append_and_insert_change_few_chunks(tmp_path: Path) -> None:
    data = _random_bytes(12_000_000, 2)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    before = {c.sha256 for c in chunk_file(path).chunks}
    path.write_bytes(data + _random_bytes(100_000, 3))
    appended = [c for c in chunk_file(path).chunks if c.sha256 not in before]
    assert len(appended) <= 2
    path.write_bytes(data[:5_000_000] + b"inserted row\n" + data[5_000_000:])
    inserted = [c for c in chunk_file(path).chunks if c.sha256 not in before]
    assert len(inserted) <= 2


def test_data_registry_empty_file_has_no_chunks(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    chunked = chunk_file(path)
    assert chunked.chunks == []
    assert chunked.sha256 == hashlib.sha256(b"").hexdigest()


def test_data_registry_chunking_a_large_file_keeps_memory_bounded(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "big.bin"
    with open(path, "wb") as out:  # 768 MB of pseudo-random pages, written in pieces
        block = _random_bytes(8 * 1024 * 1024, 4)
        for i in range(96):
            out.write(block[i % 7 :] + block[: i % 7])
    script = (
        "import resource, sys\n"
        "from gyre.sdk.data._chunking import chunk_file\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "chunked = chunk_file(sys.argv[1])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(len(chunked.chunks), (after - before) // 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    chunks, grown_mb = (int(x) for x in out.stdout.split())
    assert chunks > 100
    assert grown_mb < 200, f"resident set grew by {grown_mb} MB for a 768 MB file"
