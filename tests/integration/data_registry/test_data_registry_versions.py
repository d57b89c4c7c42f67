"""Concurrent and idempotent commits, diff with PSI, verified pull, de-duplication,
Parquet, key-column splits and the CLI, against the running data registry."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from data_registry_support import ServiceThread, unique_dataset
from minio import Minio
from support.datasets import ELECTRICITY, dataset_path
from support.servers import SeaweedS3
from typer.testing import CliRunner

from gyre.data.v1 import data_service_pb2 as ds
from gyre.data.v1 import dataset_pb2
from gyre.sdk import GyreClient
from gyre.sdk import data as sdk_data
from gyre.sdk.errors import DataLoss

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def elec2_table() -> pa.Table:
    return pacsv.read_csv(dataset_path(ELECTRICITY))


def _write_csv(table: pa.Table, path: Path) -> Path:
    pacsv.write_csv(table, path)
    return path


def test_data_registry_concurrent_commits_get_distinct_versions(
    client: GyreClient, registry: ServiceThread, elec2_table: pa.Table, tmp_path: Path
) -> None:
    dataset = unique_dataset("concurrent")
    client.data.CreateDataset(
        ds.CreateDatasetRequest(dataset_id=dataset, dataset=dataset_pb2.Dataset())
    )
    paths = [
        _write_csv(elec2_table.slice(i * 3000, 3000), tmp_path / f"part{i}.csv") for i in range(4)
    ]
    results: dict[int, dataset_pb2.DatasetVersion] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(paths))

    def push(index: int) -> None:
        try:
            with GyreClient(addresses={"data_registry": registry.target}, timeout=120) as own:
                barrier.wait()
                results[index] = sdk_data.push(own, paths[index], dataset=dataset)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(v.version for v in results.values()) == [1, 2, 3, 4]
    assert len({v.digest for v in results.values()}) == 4
    got = client.data.GetDataset(ds.GetDatasetRequest(name=f"datasets/{dataset}")).dataset
    assert got.version_count == 4
    listed = sdk_data.list_versions(client, dataset)
    assert [v.version for v in listed] == [4, 3, 2, 1]
    for v in listed:
        assert v.row_count == 3000


def test_data_registry_same_request_id_returns_the_first_version(
    client: GyreClient, elec2_table: pa.Table, tmp_path: Path
) -> None:
    dataset = unique_dataset("replay")
    first_path = _write_csv(elec2_table.slice(0, 2000), tmp_path / "a.csv")
    request_id = str(uuid.uuid4())
    first = sdk_data.push(client, first_path, dataset=dataset, request_id=request_id)
    # A retry of the same commit (same request id) creates nothing, whatever it carries.
    second_path = _write_csv(elec2_table.slice(2000, 2000), tmp_path / "a.csv")
    again = sdk_data.push(client, second_path, dataset=dataset, request_id=request_id)
    assert again.name == first.name
    assert again.digest == first.digest
    # Concurrent identical content from two clients: one version.
    results: list[dataset_pb2.DatasetVersion] = []
    same = _write_csv(elec2_table.slice(5000, 2000), tmp_path / "same.csv")
    threads = [
        threading.Thread(
            target=lambda: results.append(sdk_data.push(client, same, dataset=dataset))
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    assert results[0].name == results[1].name
    got = client.data.GetDataset(ds.GetDatasetRequest(name=f"datasets/{dataset}")).dataset
    assert got.version_count == 2


def test_data_registry_diff_reports_files_schema_rows_and_psi(
    client: GyreClient, elec2_table: pa.Table, tmp_path: Path
) -> None:
    dataset = unique_dataset("diff")
    early = sdk_data.push(
        client,
        _write_csv(elec2_table.slice(0, 15000), tmp_path / "elec.csv"),
        dataset=dataset,
        target="class",
    )
    late_table = elec2_table.slice(30000, 15312).drop_columns(["transfer"])
    late = sdk_data.push(client, _write_csv(late_table, tmp_path / "elec.csv"), dataset=dataset)
    assert late.parent_versions == [early.name]
    assert late.target_column == "class"  # inherited from the parent
    result = sdk_data.diff(client, early.name, late.name)
    assert [(f.path, f.kind) for f in result.file_changes] == [
        ("elec.csv", ds.FILE_CHANGE_KIND_MODIFIED)
    ]
    assert [(c.column, c.kind) for c in result.column_changes] == [
        ("transfer", ds.COLUMN_CHANGE_KIND_REMOVED)
    ]
    assert result.row_count_delta == 15312 - 15000
    assert result.new_chunk_bytes > 0
    psi = {d.column: d.psi for d in result.column_drifts}
    assert set(psi) == {c.name for c in late.schema.columns}
    assert psi["date"] > 1.0  # disjoint time ranges
    assert psi["day"] < 0.05  # weekdays are stable
    same = sdk_data.diff(client, late.name, late.name)
    assert list(same.file_changes) == []
    assert all(d.psi < 1e-9 for d in same.column_drifts)


def test_data_registry_pull_verifies_every_chunk(
    client: GyreClient, s3_server: SeaweedS3, registry: ServiceThread, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    (source / "nested").mkdir(parents=True)
    (source / "a.csv").write_bytes(
        b"x,y\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(5000))
    )
    (source / "nested" / "notes.txt").write_bytes(f"free text {uuid.uuid4()}\n".encode())
    dataset = unique_dataset("pull")
    version = sdk_data.push(client, source, dataset=dataset)
    assert version.manifest_summary.file_count == 2
    assert version.row_count == 5000
    out = tmp_path / "out"
    written = sdk_data.pull(client, version.name, out)
    assert sorted(p.relative_to(out).as_posix() for p in written) == ["a.csv", "nested/notes.txt"]
    assert (out / "a.csv").read_bytes() == (source / "a.csv").read_bytes()
    assert (out / "nested" / "notes.txt").read_bytes() == (
        source / "nested" / "notes.txt"
    ).read_bytes()
    # Corrupt the stored chunk of notes.txt: pull refuses it.
    files = sdk_data._read.manifest_files(client, version.name)
    notes = next(f for f in files if f.path == "nested/notes.txt")
    minio = Minio(
        s3_server.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key,
        secure=False,
    )  # fmt: skip
    import io

    bad = (source / "nested" / "notes.txt").read_bytes().upper()
    minio.put_object(
        registry.settings.s3.bucket, f"chunks/sha256/{notes.chunks[0].sha256}", io.BytesIO(bad),
        len(bad),
    )  # fmt: skip
    with pytest.raises(DataLoss) as caught:
        sdk_data.pull(client, version.name, tmp_path / "again")
    assert notes.chunks[0].sha256 in caught.value.message
    assert not (tmp_path / "again" / "nested" / "notes.txt").exists()


def test_data_registry_append_reuploads_few_bytes(
    client: GyreClient, elec2_table: pa.Table, tmp_path: Path
) -> None:
    big = pa.concat_tables([elec2_table] * 4)
    path = _write_csv(big, tmp_path / "big.csv")
    dataset = unique_dataset("append")
    first = sdk_data.PushStats()
    sdk_data.push(client, path, dataset=dataset, stats=first)
    assert 0 < first.uploaded_bytes <= first.total_bytes  # repeated rows dedupe too
    extra = elec2_table.slice(0, big.num_rows // 100)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(extra, sink, pacsv.WriteOptions(include_header=False))
    with open(path, "ab") as out:
        out.write(sink.getvalue().to_pybytes())
    second = sdk_data.PushStats()
    version = sdk_data.push(client, path, dataset=dataset, stats=second)
    assert version.version == 2
    assert version.row_count == big.num_rows + extra.num_rows
    assert second.uploaded_bytes <= 0.2 * second.total_bytes


def test_data_registry_parquet_and_key_column_splits(
    client: GyreClient, elec2_table: pa.Table, tmp_path: Path
) -> None:
    dataset = unique_dataset("parquet")
    first_rows = elec2_table.slice(0, 20000)
    pq.write_table(first_rows, tmp_path / "elec.parquet")
    v1 = sdk_data.push(
        client, tmp_path / "elec.parquet", dataset=dataset, split_key="date", target="class"
    )
    assert v1.row_count == 20000
    assert v1.split_spec.key_column == "date"
    pq.write_table(elec2_table.slice(0, 30000), tmp_path / "elec.parquet")
    v2 = sdk_data.push(client, tmp_path / "elec.parquet", dataset=dataset, split_key="date")
    assert v2.split_spec.key_column == "date"
    # Every date lands in one split, and in the same split in both versions.
    split_of: dict[float, str] = {}
    for version in (v1, v2):
        for name in ("train", "validation", "test"):
            table = sdk_data.read_table(client, version.name, split=name, columns=["date"])
            for date in set(table.column("date").to_pylist()):
                assert split_of.setdefault(date, name) == name
    # The whole-version read computes the same keys as the split files.
    whole = sdk_data.read_table(client, v2.name, with_row_keys=True, columns=["date"])
    test = sdk_data.read_table(client, v2.name, split="test", with_row_keys=True, columns=["date"])
    test_keys = set(test.column(sdk_data.ROW_KEY_COLUMN).to_pylist())
    test_dates = {d for d, s in split_of.items() if s == "test"}
    for date, key in zip(
        whole.column("date").to_pylist(), whole.column(sdk_data.ROW_KEY_COLUMN).to_pylist(),
        strict=True,
    ):  # fmt: skip
        assert (key in test_keys) == (date in test_dates)


def test_data_registry_cli_push_ls_show_diff_pull(
    registry: ServiceThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elec2_table: pa.Table
) -> None:
    from gyre.cli.main import _load_plugins, app

    _load_plugins()
    monkeypatch.setenv("GYRE_DATA_REGISTRY_ADDRESS", registry.target)
    runner = CliRunner()
    dataset = unique_dataset("cli")
    path = _write_csv(elec2_table.slice(0, 3000), tmp_path / "elec.csv")
    pushed = runner.invoke(
        app, ["data", "push", str(path), "--dataset", dataset, "--target", "class", "--split",
              "0.8,0.1,0.1", "--split-key", "date", "-q"],
    )  # fmt: skip
    assert pushed.exit_code == 0, pushed.output
    assert f"datasets/{dataset}/versions/1" in pushed.output
    bad = runner.invoke(
        app, ["data", "push", str(path), "--dataset", dataset, "--split", "0.8,0.3,0.1", "-q"]
    )
    assert bad.exit_code == 1
    assert "sum to 1" in bad.output
    listed = runner.invoke(app, ["data", "ls", dataset])
    assert listed.exit_code == 0
    assert f"datasets/{dataset}/versions/1" in listed.output
    shown = runner.invoke(app, ["data", "show", f"{dataset}/1", "--json"])
    assert shown.exit_code == 0, shown.output
    import json

    # The in-process service logs to the same stdout: take the JSON document.
    start = shown.output.index("{\n")
    body, _ = json.JSONDecoder().raw_decode(shown.output[start:])
    assert body["row_count"] == "3000"
    assert body["split_spec"]["key_column"] == "date"
    _write_csv(elec2_table.slice(3000, 3000), path)
    assert (
        runner.invoke(app, ["data", "push", str(path), "--dataset", dataset, "-q"]).exit_code == 0
    )
    diffed = runner.invoke(app, ["data", "diff", f"{dataset}/1", f"{dataset}/2"])
    assert diffed.exit_code == 0, diffed.output
    assert "modified  elec.csv" in diffed.output
    assert "psi" in diffed.output
    pulled = runner.invoke(app, ["data", "pull", dataset, str(tmp_path / "pulled")])
    assert pulled.exit_code == 0, pulled.output
    assert (tmp_path / "pulled" / "elec.csv").read_bytes() == path.read_bytes()
    missing = runner.invoke(app, ["data", "show", "no-such-dataset/1"])
    assert missing.exit_code == 1
    assert "NotFound" in missing.output


def test_data_registry_push_repairs_a_corrupt_stored_chunk(
    client: GyreClient, s3_server: SeaweedS3, registry: ServiceThread, tmp_path: Path
) -> None:
    import io

    path = tmp_path / "repair.csv"
    path.write_bytes(f"a,b\n1,{uuid.uuid4()}\n".encode())
    chunk = sdk_data.chunk_file(path).chunks[0]
    minio = Minio(
        s3_server.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key,
        secure=False,
    )  # fmt: skip
    bad = path.read_bytes().upper()
    minio.put_object(
        registry.settings.s3.bucket, f"chunks/sha256/{chunk.sha256}", io.BytesIO(bad), len(bad)
    )
    stats = sdk_data.PushStats()
    version = sdk_data.push(client, path, dataset=unique_dataset("repair"), stats=stats)
    assert version.row_count == 1
    assert stats.uploaded_chunks == 1  # the corrupt chunk, uploaded after DATA_LOSS
