"""Dataset versions from Python: push, read (whole or one split), pull, diff.

::

    from gyre.sdk import GyreClient
    from gyre.sdk import data

    with GyreClient() as gyre:
        v = data.push(gyre, "electricity.csv", dataset="elec2", target="class")
        train = data.read_table(gyre, v.name, split="train")
        test = data.read_table(gyre, v.name, split="test", with_row_keys=True)

Every function takes a blocking :class:`gyre.sdk.GyreClient`; the ``*_async``
variants take an :class:`gyre.sdk.AsyncGyreClient` and run the same work in a thread.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from gyre.data.v1 import data_service_pb2 as ds
from gyre.data.v1 import dataset_pb2
from gyre.sdk.data._chunking import Chunk, ChunkedFile, chunk_file, iter_chunks
from gyre.sdk.data._push import DEFAULT_SPLIT, PushStats, push, split_spec, wait_until_profiled
from gyre.sdk.data._read import SPLITS, iter_batches, pull, read_pandas, read_table
from gyre.sdk.data._rowkeys import ROW_KEY_COLUMN, assign_splits, key_digest, row_key_hashes

__all__ = [
    "DEFAULT_SPLIT",
    "ROW_KEY_COLUMN",
    "SPLITS",
    "Chunk",
    "ChunkedFile",
    "PushStats",
    "assign_splits",
    "chunk_file",
    "diff",
    "diff_async",
    "get_split",
    "get_version",
    "get_version_async",
    "iter_batches",
    "iter_chunks",
    "key_digest",
    "list_datasets",
    "list_versions",
    "pull",
    "pull_async",
    "push",
    "push_async",
    "read_pandas",
    "read_pandas_async",
    "read_table",
    "read_table_async",
    "row_key_hashes",
    "split_spec",
    "wait_until_profiled",
]

T = TypeVar("T")


def get_version(client: Any, version_name: str) -> dataset_pb2.DatasetVersion:
    """``GetDatasetVersion`` (``{version}`` may be ``latest``)."""
    version: dataset_pb2.DatasetVersion = client.data.GetDatasetVersion(
        ds.GetDatasetVersionRequest(name=version_name)
    ).dataset_version
    return version


def get_split(client: Any, version_name: str, split: str | int) -> ds.GetSplitResponse:
    """``GetSplit`` with presigned URLs (stats, spec, key-hash list, row files)."""
    from gyre.sdk.data._read import _split_value

    response: ds.GetSplitResponse = client.data.GetSplit(
        ds.GetSplitRequest(
            dataset_version=version_name,
            split=_split_value(split),  # type: ignore[arg-type]
            include_urls=True,
        )
    )
    return response


def list_datasets(client: Any, *, filter: str = "") -> list[dataset_pb2.Dataset]:
    """Every dataset (all pages)."""
    found: list[dataset_pb2.Dataset] = []
    token = ""
    while True:
        response = client.data.ListDatasets(
            ds.ListDatasetsRequest(page_size=1000, page_token=token, filter=filter)
        )
        found.extend(response.datasets)
        token = response.next_page_token
        if not token:
            return found


def list_versions(client: Any, dataset: str) -> list[dataset_pb2.DatasetVersion]:
    """Every version of a dataset, newest first (profiles omitted)."""
    parent = dataset if dataset.startswith("datasets/") else f"datasets/{dataset}"
    found: list[dataset_pb2.DatasetVersion] = []
    token = ""
    while True:
        response = client.data.ListDatasetVersions(
            ds.ListDatasetVersionsRequest(parent=parent, page_size=1000, page_token=token)
        )
        found.extend(response.dataset_versions)
        token = response.next_page_token
        if not token:
            return found


def diff(
    client: Any, base_version: str, target_version: str, *, include_distribution: bool = True
) -> ds.DiffDatasetVersionsResponse:
    """Files, schema, rows and per-column PSI between two versions."""
    response: ds.DiffDatasetVersionsResponse = client.data.DiffDatasetVersions(
        ds.DiffDatasetVersionsRequest(
            base_version=base_version,
            target_version=target_version,
            include_distribution=include_distribution,
        ),
        timeout=None,
    )
    return response


def _sync_client(async_client: Any) -> Any:
    from gyre.sdk.client import GyreClient
    from gyre.sdk.endpoints import DATA_REGISTRY

    return GyreClient(
        addresses={DATA_REGISTRY.key: async_client.address(DATA_REGISTRY)},
        timeout=async_client._timeout,
    )


def _in_thread(function: Callable[..., T]) -> Callable[..., Any]:
    @functools.wraps(function)
    async def run(async_client: Any, *args: Any, **kwargs: Any) -> T:
        def call() -> T:
            with _sync_client(async_client) as client:
                return function(client, *args, **kwargs)

        return await asyncio.to_thread(call)

    run.__doc__ = f"Async variant of :func:`{function.__name__}` (takes an AsyncGyreClient)."
    return run


push_async = _in_thread(push)
read_table_async = _in_thread(read_table)
read_pandas_async = _in_thread(read_pandas)
pull_async = _in_thread(pull)
get_version_async = _in_thread(get_version)
diff_async = _in_thread(diff)

_ = Sequence
