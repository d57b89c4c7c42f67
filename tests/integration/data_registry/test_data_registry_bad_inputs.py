"""Bad inputs get a clear INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION / DATA_LOSS
and leave nothing behind."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import grpc
import pytest
from data_registry_support import ServiceThread, unique_dataset
from google.rpc import status_pb2

from gyre.data.v1 import data_service_pb2 as ds
from gyre.data.v1 import data_service_pb2_grpc, dataset_pb2, manifest_pb2
from gyre.sdk import GyreClient
from gyre.sdk import data as sdk_data
from gyre.sdk.data import _http
from gyre.sdk.errors import DataLoss, FailedPrecondition, InvalidArgument, NotFound

pytestmark = pytest.mark.integration


def _assert_nothing_committed(client: GyreClient, dataset: str) -> None:
    name = f"datasets/{dataset}"
    got = client.data.GetDataset(ds.GetDatasetRequest(name=name)).dataset
    assert got.version_count == 0
    assert got.latest_version == ""
    listed = client.data.ListDatasetVersions(ds.ListDatasetVersionsRequest(parent=name))
    assert list(listed.dataset_versions) == []


def _push_bytes(client: GyreClient, tmp_path: Path, name: str, content: bytes, **kwargs: object):
    path = tmp_path / name
    path.write_bytes(content)
    dataset = unique_dataset("bad")
    with pytest.raises(InvalidArgument) as caught:
        sdk_data.push(client, path, dataset=dataset, **kwargs)  # type: ignore[arg-type]
    _assert_nothing_committed(client, dataset)
    return caught.value


def test_data_registry_ragged_csv_names_the_line(client: GyreClient, tmp_path: Path) -> None:
    rows = b"".join(b"%d,%d,x\n" % (i, i) for i in range(50))
    err = _push_bytes(client, tmp_path, "ragged.csv", b"a,b,c\n" + rows + b"7,8\n" + rows)
    assert err.reason == "MALFORMED_CSV"
    assert err.metadata["line"] == "52"
    assert "'ragged.csv', line 52" in err.message
    assert "expected 3 fields" in err.message


def test_data_registry_empty_file_is_invalid(client: GyreClient, tmp_path: Path) -> None:
    err = _push_bytes(client, tmp_path, "empty.csv", b"")
    assert err.reason == "EMPTY_FILE"
    assert "empty.csv" in err.message


def test_data_registry_header_only_csv_is_invalid(client: GyreClient, tmp_path: Path) -> None:
    err = _push_bytes(client, tmp_path, "header.csv", b"a,b,c\n")
    assert err.reason == "EMPTY_FILE"
    assert "no data rows" in err.message


def test_data_registry_undecodable_text_names_the_line(client: GyreClient, tmp_path: Path) -> None:
    err = _push_bytes(client, tmp_path, "latin1.csv", b"a,b\n1,x\n2,y\n3,caf\xe9\n4,z\n")
    assert err.reason == "UNDECODABLE_TEXT"
    assert err.metadata["line"] == "4"


def test_data_registry_split_must_sum_to_one(client: GyreClient, tmp_path: Path) -> None:
    err = _push_bytes(client, tmp_path, "ok.csv", b"a,b\n1,2\n3,4\n", split=(0.5, 0.3, 0.3))
    assert err.reason == "INVALID_SPLIT"
    assert "sum to 1" in err.message


def test_data_registry_unknown_target_or_key_column(client: GyreClient, tmp_path: Path) -> None:
    err = _push_bytes(client, tmp_path, "ok.csv", b"a,b\n1,2\n3,4\n", target="nope")
    assert err.reason == "UNKNOWN_COLUMN"
    err = _push_bytes(client, tmp_path, "ok.csv", b"a,b\n1,2\n3,4\n", split_key="nope")
    assert err.reason == "UNKNOWN_COLUMN"


def test_data_registry_unknown_dataset_is_not_found(client: GyreClient, tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with pytest.raises(NotFound):
        sdk_data.push(client, path, dataset=unique_dataset("missing"), create_dataset=False)
    manifest, _ = _manifest_for(b"a,b\n1,2\n")
    with pytest.raises(NotFound) as caught:
        client.data.CommitDatasetVersion(
            ds.CommitDatasetVersionRequest(
                dataset="datasets/no-such-dataset", manifest=manifest, request_id="r1"
            )
        )
    assert caught.value.reason == "DATASET_NOT_FOUND"
    with pytest.raises(NotFound):
        client.data.GetDatasetVersion(
            ds.GetDatasetVersionRequest(name="datasets/no-such-dataset/versions/1")
        )


@pytest.mark.parametrize(
    ("dataset_id"), ["Upper", "9starts-with-digit", "has_underscore", "", "x" * 64]
)
def test_data_registry_invalid_dataset_id(client: GyreClient, dataset_id: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        client.data.CreateDataset(
            ds.CreateDatasetRequest(dataset_id=dataset_id, dataset=dataset_pb2.Dataset())
        )
    assert caught.value.reason == "INVALID_NAME"


@pytest.mark.parametrize(
    "name",
    ["datasets/x/versions/abc", "datasets/x/versions/0", "x/versions/1", "datasets/X/versions/1"],
)
def test_data_registry_invalid_version_name(client: GyreClient, name: str) -> None:
    with pytest.raises(InvalidArgument):
        client.data.GetDatasetVersion(ds.GetDatasetVersionRequest(name=name))


def test_data_registry_malformed_manifest_is_invalid(client: GyreClient) -> None:
    dataset = unique_dataset("manifest")
    client.data.CreateDataset(
        ds.CreateDatasetRequest(dataset_id=dataset, dataset=dataset_pb2.Dataset())
    )
    sha = hashlib.sha256(b"abc").hexdigest()
    bad_files = [
        manifest_pb2.ManifestFile(path="../escape.csv", size_bytes=3, sha256=sha,
                                  chunks=[manifest_pb2.ChunkRef(sha256=sha, offset=0, length=3)]),
        manifest_pb2.ManifestFile(path="a.csv", size_bytes=4, sha256=sha,
                                  chunks=[manifest_pb2.ChunkRef(sha256=sha, offset=0, length=3)]),
        manifest_pb2.ManifestFile(path="a.csv", size_bytes=3, sha256="XYZ",
                                  chunks=[manifest_pb2.ChunkRef(sha256=sha, offset=0, length=3)]),
    ]  # fmt: skip
    for bad in bad_files:
        with pytest.raises(InvalidArgument):
            client.data.CommitDatasetVersion(
                ds.CommitDatasetVersionRequest(
                    dataset=f"datasets/{dataset}",
                    manifest=manifest_pb2.Manifest(files=[bad]),
                    request_id=str(uuid.uuid4()),
                )
            )
    _assert_nothing_committed(client, dataset)


def _manifest_for(data: bytes, path: str = "t.csv") -> tuple[manifest_pb2.Manifest, str]:
    sha = hashlib.sha256(data).hexdigest()
    manifest = manifest_pb2.Manifest(
        files=[
            manifest_pb2.ManifestFile(
                path=path,
                size_bytes=len(data),
                sha256=sha,
                chunks=[manifest_pb2.ChunkRef(sha256=sha, offset=0, length=len(data))],
            )
        ]
    )
    return manifest, sha


def _raw_commit_error(target: str, request: ds.CommitDatasetVersionRequest) -> grpc.RpcError:
    with grpc.insecure_channel(target) as channel:
        stub = data_service_pb2_grpc.DataRegistryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.CommitDatasetVersion(request, timeout=60)
    return caught.value


def _chunk_problems(error: grpc.RpcError) -> manifest_pb2.ChunkProblems:
    for key, value in error.trailing_metadata():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                problems = manifest_pb2.ChunkProblems()
                if detail.Is(problems.DESCRIPTOR):
                    detail.Unpack(problems)
                    return problems
    raise AssertionError("no ChunkProblems detail")


def test_data_registry_missing_chunks_fail_precondition_naming_them(
    client: GyreClient, registry: ServiceThread
) -> None:
    dataset = unique_dataset("missing-chunks")
    client.data.CreateDataset(
        ds.CreateDatasetRequest(dataset_id=dataset, dataset=dataset_pb2.Dataset())
    )
    data = f"a,b\n1,{uuid.uuid4()}\n".encode()
    manifest, sha = _manifest_for(data)
    request = ds.CommitDatasetVersionRequest(
        dataset=f"datasets/{dataset}", manifest=manifest, request_id=str(uuid.uuid4())
    )
    with pytest.raises(FailedPrecondition) as caught:
        client.data.CommitDatasetVersion(request)
    assert caught.value.reason == "CHUNKS_MISSING"
    assert sha in caught.value.message
    assert caught.value.metadata["chunk_0"] == f"{sha}:MISSING"
    error = _raw_commit_error(registry.target, request)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    problems = _chunk_problems(error)
    assert [(p.chunk.sha256, p.kind, list(p.paths)) for p in problems.problems] == [
        (sha, manifest_pb2.CHUNK_PROBLEM_KIND_MISSING, ["t.csv"])
    ]
    _assert_nothing_committed(client, dataset)


def test_data_registry_corrupt_chunk_is_data_loss_naming_it(
    client: GyreClient, registry: ServiceThread
) -> None:
    dataset = unique_dataset("corrupt")
    name = f"datasets/{dataset}"
    client.data.CreateDataset(
        ds.CreateDatasetRequest(dataset_id=dataset, dataset=dataset_pb2.Dataset())
    )
    data = f"a,b\n1,{uuid.uuid4()}\n".encode()
    manifest, sha = _manifest_for(data)
    # Upload other bytes of the same length under the chunk's digest.
    url = client.data.CreateUploadUrls(
        ds.CreateUploadUrlsRequest(
            dataset=name, chunks=[manifest_pb2.ChunkDescriptor(sha256=sha, size_bytes=len(data))]
        )
    ).urls[0]
    _http.put(url.url, data.upper())
    request = ds.CommitDatasetVersionRequest(
        dataset=name, manifest=manifest, request_id=str(uuid.uuid4())
    )
    with pytest.raises(DataLoss) as caught:
        client.data.CommitDatasetVersion(request)
    assert caught.value.reason == "CHUNK_CORRUPT"
    assert caught.value.metadata["chunk_0"] == f"{sha}:DIGEST_MISMATCH"
    problems = _chunk_problems(_raw_commit_error(registry.target, request))
    assert [(p.chunk.sha256, p.kind) for p in problems.problems] == [
        (sha, manifest_pb2.CHUNK_PROBLEM_KIND_DIGEST_MISMATCH)
    ]
    _assert_nothing_committed(client, dataset)
    # A chunk of the wrong size is DATA_LOSS too.
    _http.put(url.url, data + b"extra")
    with pytest.raises(DataLoss) as caught:
        client.data.CommitDatasetVersion(request)
    assert caught.value.metadata["chunk_0"] == f"{sha}:SIZE_MISMATCH"
    _assert_nothing_committed(client, dataset)


def test_data_registry_files_with_different_columns_are_invalid(
    client: GyreClient, tmp_path: Path
) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "a.csv").write_bytes(b"x,y\n1,2\n")
    (folder / "b.csv").write_bytes(b"x,z\n3,4\n")
    dataset = unique_dataset("schemas")
    with pytest.raises(InvalidArgument) as caught:
        sdk_data.push(client, folder, dataset=dataset)
    assert caught.value.reason == "SCHEMA_MISMATCH"
    assert "'b.csv'" in caught.value.message
    _assert_nothing_committed(client, dataset)


def test_data_registry_type_contradicted_after_the_first_block_is_widened(
    client: GyreClient, tmp_path: Path
) -> None:
    # Far more than one 4 MiB parse block of integers, then a float and a word.
    rows = b"".join(b"%d,%d\n" % (i, i % 7) for i in range(600_000))
    path = tmp_path / "late.csv"
    path.write_bytes(b"id,v\n" + rows + b"600000,1.5\n600001,many\n")
    version = sdk_data.push(client, path, dataset=unique_dataset("widen"))
    assert version.row_count == 600_002
    types = {c.name: c.physical_type for c in version.schema.columns}
    assert types == {"id": "int64", "v": "string"}
    whole = sdk_data.read_table(client, version.name, columns=["v"])
    assert whole.column("v").to_pylist()[-2:] == ["1.5", "many"]


def test_data_registry_quoted_newlines_are_values_not_rows(
    client: GyreClient, tmp_path: Path
) -> None:
    rows = b"".join(b'%d,"note %d\nsecond line, with a comma"\n' % (i, i) for i in range(3000))
    path = tmp_path / "notes.csv"
    path.write_bytes(b"id,note\n" + rows)
    version = sdk_data.push(client, path, dataset=unique_dataset("multiline"))
    assert version.row_count == 3000
    notes = sdk_data.read_table(client, version.name, columns=["note"]).column("note")
    assert notes[7].as_py() == "note 7\nsecond line, with a comma"
    test = sdk_data.read_table(client, version.name, split="test", columns=["note"])
    assert all("\n" in n for n in test.column("note").to_pylist())


def test_data_registry_stored_chunk_cannot_be_overwritten(
    client: GyreClient, tmp_path: Path
) -> None:
    """An upload URL is never issued for a chunk a commit has verified; new chunks go
    to a staging key, so a PUT of other bytes can never break a READY version."""
    body = b"x,class\n" + b"".join(b"%d,%s\n" % (i, b"UP" if i % 2 else b"DOWN") for i in range(40))
    body += f"{uuid.uuid4()},UP\n".encode()
    path = tmp_path / "victim.csv"
    path.write_bytes(body)
    victim = sdk_data.push(client, path, dataset=unique_dataset("victim"), target="class")
    sha = hashlib.sha256(body).hexdigest()
    attacker = unique_dataset("attacker")
    client.data.CreateDataset(
        ds.CreateDatasetRequest(dataset_id=attacker, dataset=dataset_pb2.Dataset())
    )
    fresh = f"a,b\n1,{uuid.uuid4()}\n".encode()
    urls = client.data.CreateUploadUrls(
        ds.CreateUploadUrlsRequest(
            dataset=f"datasets/{attacker}",
            chunks=[
                manifest_pb2.ChunkDescriptor(sha256=sha, size_bytes=len(body)),
                manifest_pb2.ChunkDescriptor(
                    sha256=hashlib.sha256(fresh).hexdigest(), size_bytes=len(fresh)
                ),
            ],
        )
    ).urls
    assert [u.sha256 for u in urls] == [sha, hashlib.sha256(fresh).hexdigest()]
    if urls[0].url:  # the attack (before the fix): other bytes under the stored digest
        _http.put(urls[0].url, body.replace(b"UP", b"XX"))
    assert urls[0].url == ""
    assert urls[0].method == ""
    assert urls[1].url
    assert urls[1].method == "PUT"
    assert "/staging/" in urls[1].url.split("?")[0]  # never the content-addressed key
    frame = sdk_data.read_pandas(client, victim.name)
    assert len(frame) == 41
    assert set(frame["class"]) == {"UP", "DOWN"}
