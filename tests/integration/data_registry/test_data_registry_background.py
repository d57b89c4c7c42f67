"""Large versions: committed in PROFILING, profiled in the background, resumed after a
restart; the event is emitted once READY or FAILED."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from data_registry_support import ServiceThread, committed_event, unique_dataset
from support.datasets import ELECTRICITY, dataset_path
from support.servers import NatsServer

from gyre.data.v1 import data_service_pb2 as ds
from gyre.data.v1 import dataset_pb2
from gyre.sdk import GyreClient
from gyre.sdk import data as sdk_data
from gyre.sdk.errors import FailedPrecondition

pytestmark = pytest.mark.integration


def test_data_registry_large_version_is_profiled_in_the_background(
    small_sync_registry: ServiceThread, nats_server: NatsServer, tmp_path: Path
) -> None:
    path = tmp_path / "elec.csv"
    pacsv.write_csv(pacsv.read_csv(dataset_path(ELECTRICITY)).slice(0, 10_000), path)
    with GyreClient(addresses={"data_registry": small_sync_registry.target}) as client:
        dataset = unique_dataset("large")
        committed = sdk_data.push(client, path, dataset=dataset, target="class", wait=False)
        assert committed.state in (
            dataset_pb2.DATASET_VERSION_STATE_PROFILING,
            dataset_pb2.DATASET_VERSION_STATE_READY,
        )
        ready = sdk_data.wait_until_profiled(client, committed, timeout_s=60)
        assert ready.state == dataset_pb2.DATASET_VERSION_STATE_READY
        assert ready.row_count == 10_000
        assert len(ready.column_profiles) == 9
        assert sum(s.row_count for s in ready.split_stats) == 10_000
        train = sdk_data.read_table(client, ready.name, split="train")
        assert train.num_rows == next(s.row_count for s in ready.split_stats if s.split == 1)
        event = committed_event(nats_server.url, ready.name)
        assert event.data_version_committed.state == dataset_pb2.DATASET_VERSION_STATE_READY
        assert event.data_version_committed.row_count == 10_000
        # Pushing it again returns the same version.
        again = sdk_data.push(client, path, dataset=dataset)
        assert again.name == ready.name


def test_data_registry_large_malformed_version_fails_profiling(
    small_sync_registry: ServiceThread, nats_server: NatsServer, tmp_path: Path
) -> None:
    path = tmp_path / "ragged.csv"
    rows = b"".join(b"%d,%d,%d\n" % (i, i, i) for i in range(20_000))
    path.write_bytes(b"a,b,c\n" + rows + b"1,2\n")
    with GyreClient(addresses={"data_registry": small_sync_registry.target}) as client:
        dataset = unique_dataset("large-bad")
        with pytest.raises(FailedPrecondition) as caught:
            sdk_data.push(client, path, dataset=dataset, wait_timeout_s=60)
        assert "line 20002" in caught.value.message
        got = client.data.GetDatasetVersion(
            ds.GetDatasetVersionRequest(name=f"datasets/{dataset}/versions/1")
        ).dataset_version
        assert got.state == dataset_pb2.DATASET_VERSION_STATE_FAILED
        assert "line 20002" in got.state_message
        event = committed_event(nats_server.url, got.name)
        assert event.data_version_committed.state == dataset_pb2.DATASET_VERSION_STATE_FAILED
        # The files themselves are intact and downloadable.
        sdk_data.pull(client, got.name, tmp_path / "pulled")
        assert (tmp_path / "pulled" / "ragged.csv").read_bytes() == path.read_bytes()
