"""Dataset resources: create, get, list with filter and pages, update with etag, delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_registry_support import unique_dataset
from google.protobuf import field_mask_pb2

from gyre.data.v1 import data_service_pb2 as ds
from gyre.data.v1 import dataset_pb2
from gyre.sdk import GyreClient
from gyre.sdk import data as sdk_data
from gyre.sdk.errors import Aborted, AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

pytestmark = pytest.mark.integration


def test_data_registry_dataset_lifecycle(client: GyreClient, tmp_path: Path) -> None:
    team = unique_dataset("team")
    ids = [unique_dataset("life") for _ in range(3)]
    for index, dataset_id in enumerate(ids):
        created = client.data.CreateDataset(
            ds.CreateDatasetRequest(
                dataset_id=dataset_id,
                dataset=dataset_pb2.Dataset(
                    description=f"d{index}", owner="ana", labels={"team": team}
                ),
            )
        ).dataset
        assert created.name == f"datasets/{dataset_id}"
        assert created.etag
        assert created.version_count == 0
    with pytest.raises(AlreadyExists):
        client.data.CreateDataset(
            ds.CreateDatasetRequest(dataset_id=ids[0], dataset=dataset_pb2.Dataset())
        )
    # Filter and paginate.
    seen = []
    token = ""
    while True:
        page = client.data.ListDatasets(
            ds.ListDatasetsRequest(
                filter=f'labels.team = "{team}" AND owner = "ana"', page_size=2, page_token=token
            )
        )
        assert len(page.datasets) <= 2
        assert page.total_size == 3
        seen += [d.name for d in page.datasets]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(f"datasets/{i}" for i in ids)
    with pytest.raises(InvalidArgument):
        client.data.ListDatasets(ds.ListDatasetsRequest(filter="labels.team ~ x"))
    with pytest.raises(InvalidArgument):
        client.data.ListDatasets(ds.ListDatasetsRequest(page_token="garbage"))
    # Update with etag; a stale etag is ABORTED.
    current = client.data.GetDataset(ds.GetDatasetRequest(name=f"datasets/{ids[0]}")).dataset
    current.description = "new"
    updated = client.data.UpdateDataset(
        ds.UpdateDatasetRequest(
            dataset=current, update_mask=field_mask_pb2.FieldMask(paths=["description"])
        )
    ).dataset
    assert updated.description == "new"
    assert updated.etag != current.etag
    with pytest.raises(Aborted):
        client.data.UpdateDataset(
            ds.UpdateDatasetRequest(
                dataset=current, update_mask=field_mask_pb2.FieldMask(paths=["description"])
            )
        )
    with pytest.raises(InvalidArgument):
        client.data.UpdateDataset(
            ds.UpdateDatasetRequest(
                dataset=updated, update_mask=field_mask_pb2.FieldMask(paths=["version_count"])
            )
        )
    # Delete: refused while versions exist unless forced.
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,2\n3,4\n")
    version = sdk_data.push(client, path, dataset=ids[1])
    with pytest.raises(FailedPrecondition):
        client.data.DeleteDataset(ds.DeleteDatasetRequest(name=f"datasets/{ids[1]}"))
    client.data.DeleteDataset(ds.DeleteDatasetRequest(name=f"datasets/{ids[1]}", force=True))
    with pytest.raises(NotFound):
        client.data.GetDatasetVersion(ds.GetDatasetVersionRequest(name=version.name))
    client.data.DeleteDataset(ds.DeleteDatasetRequest(name=f"datasets/{ids[2]}"))
    with pytest.raises(NotFound):
        client.data.GetDataset(ds.GetDatasetRequest(name=f"datasets/{ids[2]}"))


def test_data_registry_latest_and_version_listing(client: GyreClient, tmp_path: Path) -> None:
    dataset = unique_dataset("latest")
    path = tmp_path / "t.csv"
    names = []
    for i in range(3):
        path.write_bytes(b"a,b\n" + b"".join(b"%d,%d\n" % (i, j) for j in range(10)))
        names.append(sdk_data.push(client, path, dataset=dataset, labels={"n": str(i)}).name)
    latest = sdk_data.get_version(client, f"datasets/{dataset}/versions/latest")
    assert latest.name == names[-1]
    listed = client.data.ListDatasetVersions(
        ds.ListDatasetVersionsRequest(parent=f"datasets/{dataset}", filter='labels.n = "1"')
    )
    assert [v.name for v in listed.dataset_versions] == [names[1]]
    assert all(not v.column_profiles for v in listed.dataset_versions)
    ascending = client.data.ListDatasetVersions(
        ds.ListDatasetVersionsRequest(parent=f"datasets/{dataset}", order_by="version")
    )
    assert [v.name for v in ascending.dataset_versions] == names
    manifest = client.data.GetManifest(ds.GetManifestRequest(name=f"{names[0]}/manifest")).manifest
    assert [f.path for f in manifest.files] == ["t.csv"]
    with pytest.raises(InvalidArgument):
        client.data.CreateDownloadUrls(
            ds.CreateDownloadUrlsRequest(dataset_version=names[0], chunk_sha256s=["0" * 64])
        )
