"""The object store adapter against a real S3 server (SeaweedFS)."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from support.servers import SeaweedS3, free_port

from gyre.runtime.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from gyre.runtime.objectstore import MAX_KEY_BYTES, MIN_PART_SIZE, ObjectStore
from gyre.runtime.settings import S3Settings

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
BIG_OBJECT_SIZE = 32 * MiB
SOURCE_CHUNK_SIZE = 256 * 1024


def _settings(server: SeaweedS3, *, bucket: str, secret_key: str | None = None) -> S3Settings:
    return S3Settings(
        endpoint=server.endpoint,
        access_key=server.access_key,
        secret_key=SecretStr(secret_key or server.secret_key),
        bucket=bucket,
    )


@pytest.fixture
async def store(s3_server: SeaweedS3) -> ObjectStore:
    """A store on a fresh bucket of the real S3 server."""
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    objects = ObjectStore.from_settings(_settings(s3_server, bucket=bucket))
    await objects.ensure_bucket()
    return objects


def _chunks(total: int, *, seed: int = 7) -> Iterator[bytes]:
    """Deterministic pseudo-random bytes, produced chunk by chunk (never all at once)."""
    rng = random.Random(seed)
    left = total
    while left:
        size = min(SOURCE_CHUNK_SIZE, left)
        left -= size
        yield rng.randbytes(size)


def _digest_of(total: int) -> str:
    digest = hashlib.sha256()
    for chunk in _chunks(total):
        digest.update(chunk)
    return digest.hexdigest()


async def test_large_stream_round_trip_with_bounded_memory(store: ObjectStore) -> None:
    expected = _digest_of(BIG_OBJECT_SIZE)

    tracemalloc.start()
    try:
        result = await store.put_stream(
            "big/object.bin",
            _chunks(BIG_OBJECT_SIZE),
            part_size=MIN_PART_SIZE,
            parallel_uploads=1,
            metadata={"sha256": expected},
        )
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()

        digest = hashlib.sha256()
        received = 0
        async with store.get_stream("big/object.bin", chunk_size=MiB) as stream:
            async for chunk in stream:
                digest.update(chunk)
                received += len(chunk)
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.size == BIG_OBJECT_SIZE
    assert received == BIG_OBJECT_SIZE
    assert digest.hexdigest() == expected
    # Sequential multipart: a few copies of one part (the part being assembled,
    # the previous one, minio's slice), never the whole object.
    assert upload_peak < 4 * MIN_PART_SIZE < BIG_OBJECT_SIZE
    assert download_peak < 4 * MiB
    info = await store.stat("big/object.bin")
    assert info.size == BIG_OBJECT_SIZE
    assert info.metadata == {"sha256": expected}
    assert info.etag == result.etag
    assert await store.sha256_of("big/object.bin") == expected


async def test_put_stream_from_an_async_iterable(store: ObjectStore) -> None:
    async def produce() -> AsyncIterator[bytes]:
        for chunk in _chunks(3 * SOURCE_CHUNK_SIZE + 10):
            yield chunk

    result = await store.put_stream("async.bin", produce())

    assert result.size == 3 * SOURCE_CHUNK_SIZE + 10
    assert hashlib.sha256(await store.get_bytes("async.bin")).hexdigest() == _digest_of(
        3 * SOURCE_CHUNK_SIZE + 10
    )


async def test_bytes_stat_exists_delete(store: ObjectStore) -> None:
    result = await store.put_bytes(
        "models/m1/model.onnx",
        b"onnx-bytes",
        content_type="application/onnx",
        metadata={"Run": "runs/r1"},
    )

    assert await store.get_bytes("models/m1/model.onnx") == b"onnx-bytes"
    info = await store.stat("models/m1/model.onnx")
    assert (info.key, info.size, info.etag) == ("models/m1/model.onnx", 10, result.etag)
    assert info.etag == hashlib.md5(b"onnx-bytes").hexdigest()  # single-part ETag
    assert info.content_type == "application/onnx"
    assert info.metadata == {"run": "runs/r1"}
    assert info.last_modified is not None
    assert await store.exists("models/m1/model.onnx")

    await store.delete("models/m1/model.onnx")
    assert not await store.exists("models/m1/model.onnx")
    await store.delete("models/m1/model.onnx")  # deleting again is fine
    assert store.uri("models/m1/model.onnx") == f"s3://{store.bucket}/models/m1/model.onnx"


async def test_file_round_trip(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"x" * 1000 + b"y")
    await store.put_file("files/in.bin", source)

    target = tmp_path / "out" / "copy.bin"
    info = await store.get_file("files/in.bin", target)

    assert target.read_bytes() == b"x" * 1000 + b"y"
    assert info.size == 1001


async def test_list_by_prefix_and_delete_many(store: ObjectStore) -> None:
    keys = ["chunks/aa/1", "chunks/aa/2", "chunks/bb/3", "other/4"]
    for key in keys:
        await store.put_bytes(key, key.encode())

    listed = await store.list("chunks/")
    assert [o.key for o in listed] == ["chunks/aa/1", "chunks/aa/2", "chunks/bb/3"]
    assert [o.size for o in listed] == [len(k) for k in keys[:3]]

    await store.delete_many(["chunks/aa/1", "chunks/aa/2", "chunks/missing"])
    assert [o.key for o in await store.list()] == ["chunks/bb/3", "other/4"]


async def test_presigned_put_then_get(store: ObjectStore) -> None:
    put_url = await store.presigned_put_url("uploads/data.csv", expires=timedelta(minutes=5))
    async with httpx.AsyncClient() as client:
        response = await client.put(put_url, content=b"a,b\n1,2\n")
        assert response.status_code == 200, response.text

        assert await store.get_bytes("uploads/data.csv") == b"a,b\n1,2\n"
        get_url = await store.presigned_get_url("uploads/data.csv")
        fetched = await client.get(get_url)
    assert fetched.status_code == 200
    assert fetched.content == b"a,b\n1,2\n"


async def test_missing_key_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(NotFound) as stat_error:
        await store.stat("nope")
    assert stat_error.value.reason == "OBJECT_NOT_FOUND"
    assert stat_error.value.metadata["key"] == "nope"
    assert stat_error.value.metadata["bucket"] == store.bucket
    assert isinstance(stat_error.value.__cause__, Exception)

    with pytest.raises(NotFound):
        await store.get_bytes("nope")
    with pytest.raises(NotFound):
        await store.sha256_of("nope")
    stream = store.get_stream("nope")
    with pytest.raises(NotFound):
        await anext(stream)
    await stream.aclose()


async def test_missing_bucket_is_not_found(s3_server: SeaweedS3) -> None:
    missing = ObjectStore.from_settings(
        _settings(s3_server, bucket=f"absent-{uuid.uuid4().hex[:8]}")
    )
    with pytest.raises(NotFound) as caught:
        await missing.get_bytes("k")
    assert caught.value.reason == "BUCKET_NOT_FOUND"
    # A HEAD cannot tell a missing bucket from a missing key.
    assert not await missing.exists("k")


async def test_wrong_credentials_are_permission_denied(
    s3_server: SeaweedS3, store: ObjectStore
) -> None:
    intruder = ObjectStore.from_settings(
        _settings(s3_server, bucket=store.bucket, secret_key="not-the-secret"), max_retries=0
    )
    with pytest.raises(PermissionDenied) as caught:
        await intruder.put_bytes("k", b"v")
    assert caught.value.reason == "OBJECT_STORE_ACCESS_DENIED"


async def test_closed_port_is_unavailable() -> None:
    settings = S3Settings(endpoint=f"127.0.0.1:{free_port()}", bucket="whatever")
    dead = ObjectStore.from_settings(
        settings, connect_timeout_s=0.5, read_timeout_s=0.5, max_retries=0
    )

    with pytest.raises(Unavailable) as caught:
        await dead.stat("k")

    assert caught.value.reason == "OBJECT_STORE_UNAVAILABLE"
    assert caught.value.metadata["operation"] == "stat"
    # The URL and credentials stay out of the message that may reach a client.
    assert settings.endpoint not in caught.value.message


async def test_invalid_arguments_are_rejected_before_any_request(store: ObjectStore) -> None:
    with pytest.raises(InvalidArgument) as empty_key:
        await store.put_bytes("", b"x")
    assert empty_key.value.reason == "INVALID_OBJECT_KEY"
    with pytest.raises(InvalidArgument) as small_part:
        await store.put_stream("k", iter([b"x"]), part_size=MiB)
    assert small_part.value.reason == "PART_SIZE_TOO_SMALL"
    with pytest.raises(InvalidArgument):
        await store.presigned_get_url("k", expires=timedelta(days=8))


# Keys an S3 server would store under another name, or not at all (silent data loss).
INVALID_KEYS = [
    "",
    "f/",
    "/leading",
    "d//e",
    "a/./b",
    "a/../b",
    ".",
    "..",
    "nul\x00byte",
    "new\nline",
    "del\x7f",
    "c1\x85control",
    "k" * (MAX_KEY_BYTES + 1),
    "é" * (MAX_KEY_BYTES // 2 + 1),
    # SeaweedFS turns a backslash into "/": a directory (the bytes lost), a collision
    # with "m/n", a ".." segment (Internal).
    "g\\",
    "m\\n",
    "r\\..\\t",
]


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_keys_the_store_would_mangle_are_rejected(store: ObjectStore, key: str) -> None:
    for call in (
        store.put_bytes(key, b"payload"),
        store.put_stream(key, iter([b"payload"])),
        store.get_bytes(key),
        store.stat(key),
        store.delete(key),
        store.delete_many(["fine", key]),
        store.presigned_put_url(key),
    ):
        with pytest.raises(InvalidArgument) as caught:
            await call
        assert caught.value.reason == "INVALID_OBJECT_KEY"
        assert caught.value.metadata["key"] == key
        assert caught.value.metadata["rule"] in caught.value.message
    assert await store.list() == []


async def test_unusual_but_valid_keys_round_trip_exactly(store: ObjectStore) -> None:
    longest = "/".join(["k" * 200] * 5) + "/" + "k" * 19
    assert len(longest) == MAX_KEY_BYTES
    keys = [longest, "données/é.csv", "a.b/..c/d.", "spaces in/a key", "x"]
    for key in keys:
        await store.put_bytes(key, key.encode())

    assert sorted(o.key for o in await store.list()) == sorted(keys)
    for key in keys:
        assert await store.get_bytes(key) == key.encode()


async def test_a_key_the_store_refuses_is_invalid_argument(store: ObjectStore) -> None:
    # SeaweedFS limits each segment to 255 bytes.
    with pytest.raises(InvalidArgument) as caught:
        await store.put_bytes("k" * 300, b"v")
    assert caught.value.reason == "INVALID_OBJECT_STORE_ARGUMENT"
    assert caught.value.metadata["s3_code"] == "KeyTooLongError"


async def test_arguments_minio_rejects_are_invalid_argument(s3_server: SeaweedS3) -> None:
    bad_bucket = ObjectStore.from_settings(_settings(s3_server, bucket="Not_A_Bucket!"))
    with pytest.raises(InvalidArgument) as caught:
        await bad_bucket.stat("k")
    assert caught.value.reason == "INVALID_OBJECT_STORE_ARGUMENT"
    assert caught.value.metadata["operation"] == "stat"
    assert isinstance(caught.value.__cause__, ValueError)


@pytest.mark.timeout(120)
async def test_a_hung_store_is_unavailable_instead_of_blocking(tmp_path: Path) -> None:
    with SeaweedS3.running(tmp_path) as hung:
        # Set up with the defaults: a fresh SeaweedFS may take seconds to allocate a volume.
        setup = ObjectStore.from_settings(_settings(hung, bucket="hung"))
        await setup.ensure_bucket()
        await setup.put_bytes("k", b"v")
        store = ObjectStore.from_settings(
            _settings(hung, bucket="hung"), connect_timeout_s=1.0, read_timeout_s=1.0
        )
        assert (await store.stat("k")).size == 1
        assert hung.proc is not None
        os.kill(hung.proc.pid, signal.SIGSTOP)
        try:
            with pytest.raises(Unavailable) as caught:
                await store.stat("k")
        finally:
            os.kill(hung.proc.pid, signal.SIGCONT)
    assert caught.value.reason == "OBJECT_STORE_UNAVAILABLE"
    assert caught.value.metadata["operation"] == "stat"
