"""Address resolution: explicit > environment > stack.json > default port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gyre.sdk.endpoints import DATA_REGISTRY, SERVICES, resolve_address, service_by_key


def test_default_is_loopback_and_default_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATA_REGISTRY.env_var, raising=False)
    assert resolve_address(DATA_REGISTRY, home=tmp_path) == "127.0.0.1:50051"


def test_stack_file_beats_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_REGISTRY.env_var, raising=False)
    (tmp_path / "stack.json").write_text(
        json.dumps({"services": {"data_registry": "127.0.0.1:6001"}})
    )
    assert resolve_address(DATA_REGISTRY, home=tmp_path) == "127.0.0.1:6001"


def test_environment_beats_stack_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "stack.json").write_text(
        json.dumps({"services": {"data_registry": "127.0.0.1:6001"}})
    )
    monkeypatch.setenv("GYRE_DATA_REGISTRY_ADDRESS", "10.1.2.3:7000")
    assert resolve_address(DATA_REGISTRY, home=tmp_path) == "10.1.2.3:7000"
    assert resolve_address(DATA_REGISTRY, address="h:1", home=tmp_path) == "h:1"


def test_unreadable_stack_file_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_REGISTRY.env_var, raising=False)
    (tmp_path / "stack.json").write_text("{not json")
    assert resolve_address(DATA_REGISTRY, home=tmp_path) == "127.0.0.1:50051"


def test_services_have_distinct_keys_and_ports() -> None:
    assert len({s.key for s in SERVICES}) == len(SERVICES) == 6
    assert len({s.default_port for s in SERVICES}) == 6
    assert service_by_key("monitoring").grpc_service == "gyre.monitoring.v1.MonitoringService"
    with pytest.raises(KeyError, match="unknown Gyre service"):
        service_by_key("nope")
