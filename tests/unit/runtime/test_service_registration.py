"""ServiceRegistration refuses servicers with synchronous RPC methods (Gyre is asyncio-only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gyre.data.v1 import data_service_pb2_grpc
from gyre.runtime.server import ServiceRegistration

_Base: Any = data_service_pb2_grpc.DataRegistryServiceServicer
_NAME = "gyre.data.v1.DataRegistryService"


def _register(servicer: object) -> ServiceRegistration:
    return ServiceRegistration(
        data_service_pb2_grpc.add_DataRegistryServiceServicer_to_server, servicer, _NAME
    )


class _SyncGet(_Base):  # type: ignore[misc]
    def GetDataset(self, request: Any, context: Any) -> Any:
        return None

    def ListDatasets(self, request: Any, context: Any) -> Any:
        return None


class _AsyncServicer(_Base):  # type: ignore[misc]
    async def GetDataset(self, request: Any, context: Any) -> Any:
        return None

    async def GetManifest(self, request: Any, context: Any) -> AsyncIterator[Any]:
        yield None

    def helper(self) -> None:
        """Not an RPC: synchronous helpers are fine."""


class _SyncSubclassOfAsync(_AsyncServicer):
    def GetDataset(self, request: Any, context: Any) -> Any:
        return None


def test_synchronous_rpc_methods_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"not 'async def'.*: GetDataset, ListDatasets;"):
        _register(_SyncGet())


def test_a_synchronous_override_deeper_in_the_hierarchy_is_refused() -> None:
    with pytest.raises(TypeError, match=r"_SyncSubclassOfAsync .*GetDataset"):
        _register(_SyncSubclassOfAsync())


def test_async_methods_generators_and_unimplemented_ones_are_accepted() -> None:
    registration = _register(_AsyncServicer())
    assert registration.service_name == _NAME


def test_servicers_without_a_generated_base_are_not_inspected() -> None:
    class Plain:
        def Echo(self, request: Any, context: Any) -> Any:
            return request

    assert _register(Plain()).servicer is not None
