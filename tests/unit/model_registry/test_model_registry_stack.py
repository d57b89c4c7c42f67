"""The model registry plugs into ``gyre up`` through its ``gyre.services`` entry point."""

from __future__ import annotations

from gyre.sdk.endpoints import MODEL_REGISTRY
from gyre.services.model_registry import STACK_SERVICE
from gyre.stack._services import discover_services


def test_entry_point_describes_the_service() -> None:
    [spec] = [s for s in discover_services() if s.name == "model_registry"]
    assert spec.default_port == MODEL_REGISTRY.default_port == 50053
    assert spec.health_service == MODEL_REGISTRY.grpc_service
    assert spec.command[1:] == ("-m", "gyre.services.model_registry")
    assert STACK_SERVICE.name == MODEL_REGISTRY.key
