"""Pushing, reading and splitting real data through the running data registry."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from data_registry_support import ServiceThread, committed_event, unique_dataset
from support.datasets import ELECTRICITY, dataset_path
from support.servers import NatsServer

from gyre.common.v1 import schema_pb2, split_pb2
from gyre.data.v1 import data_service_pb2 as ds
from gyre.data.v1 import dataset_pb2
from gyre.sdk import GyreClient
from gyre.sdk import data as sdk_data

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def elec2_version(registry: ServiceThread) -> dataset_pb2.DatasetVersion:
    """electricity.csv pushed once per module (dataset "elec2-...")."""
    with GyreClient(addresses={"data_registry": registry.target}, timeout=120) as gyre:
        return sdk_data.push(
            gyre, dataset_path(ELECTRICITY), dataset=unique_dataset("elec2"), target="class"
        )


def test_data_registry_push_electricity_gives_schema_profiles_and_splits(
    elec2_version: dataset_pb2.DatasetVersion,
) -> None:
    v = elec2_version
    assert v.version == 1
    assert v.name.endswith("/versions/1")
    assert v.state == dataset_pb2.DATASET_VERSION_STATE_READY
    assert v.row_count == 45_312
    assert [c.name for c in v.schema.columns] == [
        "date", "day", "period", "nswprice", "nswdemand", "vicprice", "vicdemand", "transfer",
        "class",
    ]  # fmt: skip
    assert v.target_column == "class"
    assert v.digest.startswith("sha256:")
    by_name = {c.name: c for c in v.schema.columns}
    assert by_name["class"].logical_type == schema_pb2.LOGICAL_TYPE_CATEGORICAL
    assert by_name["day"].logical_type == schema_pb2.LOGICAL_TYPE_INTEGER
    assert by_name["nswprice"].logical_type == schema_pb2.LOGICAL_TYPE_FLOAT
    assert [p.column for p in v.column_profiles] == [c.name for c in v.schema.columns]
    for profile in v.column_profiles:
        assert profile.count == 45_312
        if profile.column == "class":
            cats = {c.value: c.count for c in profile.categorical.top_categories}
            assert cats == {"DOWN": 26_075, "UP": 19_237}
            assert profile.categorical.other_count == 0
        else:
            hist = profile.numeric.histogram
            assert len(hist.edges) == len(hist.counts) + 1
            assert sum(hist.counts) == 45_312 - profile.null_count
            assert list(hist.edges) == sorted(hist.edges)
            assert hist.edges[0] == profile.numeric.min
            assert hist.edges[-1] == profile.numeric.max
    # 0.7 / 0.15 / 0.15 by row content; every row in exactly one split.
    stats = {s.split: s for s in v.split_stats}
    assert sum(s.row_count for s in stats.values()) == 45_312
    assert 0.67 < stats[split_pb2.SPLIT_TRAIN].row_count / 45_312 < 0.73
    assert v.split_spec.train_fraction == pytest.approx(0.7)
    assert v.manifest_summary.file_count == 1
    assert v.manifest_summary.total_bytes == dataset_path(ELECTRICITY).stat().st_size


def test_data_registry_splits_never_intersect_and_match_their_digests(
    client: GyreClient, elec2_version: dataset_pb2.DatasetVersion
) -> None:
    keys = {}
    for name in ("train", "validation", "test"):
        table = sdk_data.read_table(client, elec2_version.name, split=name, with_row_keys=True)
        assert table.column_names[-1] == sdk_data.ROW_KEY_COLUMN
        assert table.schema.field(sdk_data.ROW_KEY_COLUMN).type == pa.uint64()
        hashes = np.unique(table.column(sdk_data.ROW_KEY_COLUMN).to_numpy())
        stats = next(s for s in elec2_version.split_stats if s.split == sdk_data.SPLITS[name])
        assert table.num_rows == stats.row_count
        assert sdk_data.key_digest(hashes) == stats.key_digest
        keys[name] = set(hashes.tolist())
    assert not keys["train"] & keys["test"]
    assert not keys["train"] & keys["validation"]
    assert not keys["validation"] & keys["test"]
    # The whole version read back carries the same keys.
    whole = sdk_data.read_table(client, elec2_version.name, with_row_keys=True)
    assert whole.num_rows == 45_312
    assert set(whole.column(sdk_data.ROW_KEY_COLUMN).to_numpy().tolist()) == (
        keys["train"] | keys["validation"] | keys["test"]
    )
    # GetSplit's key list is the same set.
    split = sdk_data.get_split(client, elec2_version.name, "test")
    assert split.key_hashes.media_type == "application/x-gyre-key-hashes"
    assert split.stats.key_count == len(keys["test"])


def test_data_registry_push_again_returns_the_same_version(
    client: GyreClient, elec2_version: dataset_pb2.DatasetVersion
) -> None:
    dataset = elec2_version.name.rsplit("/versions/", 1)[0]
    again = sdk_data.push(client, dataset_path(ELECTRICITY), dataset=dataset, target="class")
    assert again.name == elec2_version.name
    assert again.digest == elec2_version.digest
    got = client.data.GetDataset(ds.GetDatasetRequest(name=dataset)).dataset
    assert got.version_count == 1
    assert got.latest_version == elec2_version.name


def test_data_registry_read_columns_and_pandas(
    client: GyreClient, elec2_version: dataset_pb2.DatasetVersion
) -> None:
    frame = sdk_data.read_pandas(
        client, elec2_version.name, split="train", columns=["day", "class"]
    )
    assert list(frame.columns) == ["day", "class"]
    train_rows = next(s.row_count for s in elec2_version.split_stats if s.split == 1)
    assert len(frame) == train_rows
    batches = list(
        sdk_data.iter_batches(client, elec2_version.name, columns=["nswprice"], batch_rows=10_000)
    )
    assert all(b.num_rows <= 10_000 for b in batches)
    assert sum(b.num_rows for b in batches) == 45_312


def test_data_registry_commit_emits_data_version_committed(
    registry: ServiceThread, nats_server: NatsServer, elec2_version: dataset_pb2.DatasetVersion
) -> None:
    event = committed_event(nats_server.url, elec2_version.name)
    payload = event.data_version_committed
    assert event.type == "data.version.committed"
    assert payload.dataset_version == elec2_version.name
    assert payload.digest == elec2_version.digest
    assert payload.row_count == 45_312
    assert payload.state == dataset_pb2.DATASET_VERSION_STATE_READY
    assert len(payload.schema.columns) == 9
    assert [s.key_digest for s in payload.split_stats] == [
        s.key_digest for s in elec2_version.split_stats
    ]
