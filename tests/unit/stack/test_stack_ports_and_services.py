"""Port-conflict detection and ``gyre.services`` discovery of the local stack."""

from __future__ import annotations

import json
import socket
import sys
import time
import types
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from gyre.stack import _services
from gyre.stack._ports import PortConflictError, find_port_conflicts, port_is_free
from gyre.stack._services import (
    ServiceSpec,
    ServiceSpecError,
    assign_service_ports,
    discover_services,
)
from gyre.stack._settings import StackSettings

FAKE_MODULE = "fake_gyre_service_for_stack_tests"


def _always_free(host: str, port: int) -> bool:
    return True


def test_no_conflicts_with_defaults_when_ports_are_free() -> None:
    assert find_port_conflicts(StackSettings(), {}, is_free=_always_free) == []


def test_unbindable_host_is_one_clear_conflict() -> None:
    (conflict,) = find_port_conflicts(StackSettings(host="192.0.2.254"), {})
    assert str(conflict).startswith("host: cannot listen on 192.0.2.254")


def test_duplicate_port_names_both_settings() -> None:
    settings = StackSettings(triton_http_port=4222)
    (conflict,) = find_port_conflicts(settings, {}, is_free=_always_free)
    assert conflict.port == 4222
    assert conflict.setting == "triton_http_port"
    assert "nats_port" in conflict.reason


def test_weed_grpc_twin_collides_with_another_setting() -> None:
    settings = StackSettings(weed_filer_port=8000, triton_http_port=8001, triton_grpc_port=18000)
    conflicts = find_port_conflicts(settings, {}, is_free=_always_free)
    assert [c.setting for c in conflicts] == ["weed_filer_port + 10000"]
    assert "triton_grpc_port" in conflicts[0].reason


def test_port_inside_ray_worker_range() -> None:
    settings = StackSettings(ray_min_worker_port=30000, ray_max_worker_port=30100, nats_port=30050)
    (conflict,) = find_port_conflicts(settings, {}, is_free=_always_free)
    assert conflict.setting == "nats_port"
    assert "worker port range" in conflict.reason


def test_service_port_conflict() -> None:
    conflicts = find_port_conflicts(StackSettings(), {"training": 8265}, is_free=_always_free)
    assert [(c.setting, c.port) for c in conflicts] == [("service_ports[training]", 8265)]


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port something listens on, low enough to be any setting (S3's + 10000 <= 65535)."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port + 10000 > 65535 or 10002 <= port <= 21999:
                continue
            sock.listen()
            yield port
            return
    pytest.fail("no suitable free port found in 100 tries")


def test_port_in_use_is_reported_with_its_setting(listening_port: int) -> None:
    assert not port_is_free("127.0.0.1", listening_port)
    settings = StackSettings(nats_monitor_port=listening_port)
    conflicts = find_port_conflicts(
        settings, {}, is_free=lambda host, port: port != listening_port or port_is_free(host, port)
    )
    assert [(c.setting, c.port) for c in conflicts] == [("nats_monitor_port", listening_port)]
    message = str(PortConflictError(conflicts))
    assert f"port {listening_port} (nats_monitor_port)" in message
    assert "GYRE_STACK__" in message


def test_free_port_is_free() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    assert port_is_free("127.0.0.1", port)


def test_up_refuses_a_taken_port_before_starting_anything(
    tmp_path: Path, listening_port: int
) -> None:
    from gyre.stack import up

    home = tmp_path / "home"
    with pytest.raises(PortConflictError) as info:
        up(
            home,
            settings=StackSettings(s3_port=listening_port),
            s3_access_key="gyre",
            s3_secret_key="x",
            s3_bucket="gyre",
            echo=lambda _: None,
            services=[],
        )
    assert any(c.setting == "s3_port" for c in info.value.conflicts)
    assert not (home / "supervisord.conf").exists()


# ---------------------------------------------------------------- gyre.services discovery


@pytest.fixture
def fake_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType(FAKE_MODULE)
    module.REGISTRY = types.SimpleNamespace(  # type: ignore[attr-defined]
        name="model_registry",
        command=[sys.executable, "-m", "gyre.services.model_registry"],
        default_port=50053,
        health_service="gyre.models.v1.ModelRegistryService",
    )
    module.DATA = ServiceSpec(  # type: ignore[attr-defined]
        name="data_registry", command=("python", "-m", "data")
    )
    module.BROKEN = types.SimpleNamespace(name="Bad Name", command=["x"])  # type: ignore[attr-defined]
    module.NO_COMMAND = types.SimpleNamespace(name="monitoring", command="python -m x")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, FAKE_MODULE, module)
    return module


def _ep(name: str, attr: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"{FAKE_MODULE}:{attr}", group="gyre.services")


def test_discovery_with_no_services_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_services, "entry_points", lambda group: [])
    assert discover_services() == []


def test_discovery_loads_installed_entry_points(
    monkeypatch: pytest.MonkeyPatch, fake_module: types.ModuleType
) -> None:
    seen: list[str] = []

    def fake_entry_points(group: str) -> list[EntryPoint]:
        seen.append(group)
        return [_ep("model_registry", "REGISTRY"), _ep("data_registry", "DATA")]

    monkeypatch.setattr(_services, "entry_points", fake_entry_points)
    specs = discover_services()
    assert seen == ["gyre.services"]
    assert [s.name for s in specs] == ["data_registry", "model_registry"]
    registry = specs[1]
    assert registry.command == (sys.executable, "-m", "gyre.services.model_registry")
    assert registry.port_env == "GYRE_SERVER__PORT"
    assert registry.health_service == "gyre.models.v1.ModelRegistryService"
    assert registry.default_port == 50053
    assert registry.address_env == "GYRE_MODEL_REGISTRY_ADDRESS"


@pytest.mark.parametrize(
    ("attr", "message"),
    [("BROKEN", "'name' must match"), ("NO_COMMAND", "'command' must be"), ("MISSING", "load")],
)
def test_discovery_rejects_malformed_services(
    fake_module: types.ModuleType, attr: str, message: str
) -> None:
    with pytest.raises(ServiceSpecError, match=message):
        discover_services([_ep("x", attr)])


def test_discovery_rejects_duplicate_and_reserved_names(fake_module: types.ModuleType) -> None:
    with pytest.raises(ServiceSpecError, match="two"):
        discover_services([_ep("a", "DATA"), _ep("b", "DATA")])
    fake_module.RAY = types.SimpleNamespace(name="ray", command=["x"])  # type: ignore[attr-defined]
    with pytest.raises(ServiceSpecError, match="reserved"):
        discover_services([_ep("ray", "RAY")])


def test_assign_service_ports() -> None:
    specs = [
        ServiceSpec("a", ("a",)),
        ServiceSpec("b", ("b",), default_port=50051),
        ServiceSpec("c", ("c",)),
        ServiceSpec("d", ("d",), default_port=50090),
    ]
    ports = assign_service_ports(specs, base_port=50051, overrides={"d": 50052})
    assert ports == {"a": 50053, "b": 50051, "c": 50054, "d": 50052}


# ---------------------------------------------------------------- status never hangs


def test_status_of_a_stack_whose_supervisord_hangs_returns_unhealthy(tmp_path: Path) -> None:
    from gyre.stack import StackLayout, status

    home = Path(f"/tmp/gyre-unit-{time.monotonic_ns()}")
    layout = StackLayout.for_home(home)
    home.mkdir()
    try:
        probe = {"kind": "http", "target": "http://127.0.0.1:9/x"}
        layout.stack_json.write_text(
            json.dumps(
                {
                    "probe_timeout_s": 0.5,
                    "components": [
                        {
                            "name": "nats",
                            "kind": "infrastructure",
                            "endpoint": "nats://x",
                            "log": "",
                            "probe": probe,
                        }
                    ],
                }
            )
        )
        with socket.socket(socket.AF_UNIX) as hung:  # accepts, never answers
            hung.bind(str(layout.supervisor_socket))
            hung.listen()
            started = time.monotonic()
            (health,) = status(home)
            elapsed = time.monotonic() - started
        assert health.name == "nats"
        assert not health.healthy
        assert "supervisord does not answer" in health.detail
        assert elapsed < 5
    finally:
        for path in home.iterdir():
            path.unlink()
        home.rmdir()
