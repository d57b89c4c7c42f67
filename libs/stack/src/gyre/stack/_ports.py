"""Which ports the stack will open, and whether they are free before ``gyre up``."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gyre.stack._settings import WEED_GRPC_PORT_OFFSET, StackSettings

__all__ = [
    "PortConflict",
    "PortConflictError",
    "find_port_conflicts",
    "planned_ports",
    "port_is_free",
]

_SINGLE_PORT_SETTINGS = (
    "nats_port",
    "nats_monitor_port",
    "s3_port",
    "weed_master_port",
    "weed_volume_port",
    "weed_filer_port",
    "triton_http_port",
    "triton_grpc_port",
    "triton_metrics_port",
    "ray_gcs_port",
    "ray_node_manager_port",
    "ray_object_manager_port",
    "ray_runtime_env_agent_port",
    "ray_dashboard_agent_grpc_port",
    "ray_metrics_export_port",
    "ray_dashboard_port",
    "ray_dashboard_agent_listen_port",
    "ray_client_server_port",
)
_WEED_SETTINGS = ("s3_port", "weed_master_port", "weed_volume_port", "weed_filer_port")


@dataclass(frozen=True)
class PortConflict:
    """One port the stack cannot use: which setting wants it and why it is unusable."""

    setting: str
    port: int
    reason: str

    def __str__(self) -> str:
        if not self.port:  # the host itself, not one port
            return f"{self.setting}: {self.reason}"
        return f"port {self.port} ({self.setting}): {self.reason}"


class PortConflictError(RuntimeError):
    """Raised by ``gyre up`` when a port it needs is taken or configured twice."""

    def __init__(self, conflicts: list[PortConflict]) -> None:
        self.conflicts = conflicts
        lines = "\n".join(f"  - {c}" for c in conflicts)
        super().__init__(
            f"cannot start the stack, {len(conflicts)} port conflict(s):\n{lines}\n"
            "Stop whatever holds the port or override the setting (GYRE_STACK__<SETTING>)."
        )


def planned_ports(settings: StackSettings, service_ports: Mapping[str, int]) -> dict[str, int]:
    """Every listening port of the stack, keyed by the setting that decides it.

    SeaweedFS's derived gRPC ports appear as ``"<setting> + 10000"``; services as
    ``"service_ports[<name>]"``. The Ray worker range is not included (see
    :func:`find_port_conflicts`).
    """
    ports = {name: int(getattr(settings, name)) for name in _SINGLE_PORT_SETTINGS}
    for name in _WEED_SETTINGS:
        ports[f"{name} + {WEED_GRPC_PORT_OFFSET}"] = ports[name] + WEED_GRPC_PORT_OFFSET
    for service, port in service_ports.items():
        ports[f"service_ports[{service}]"] = port
    return ports


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could bind ``host:port`` now (``SO_REUSEADDR``, like servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    # Something bound to the wildcard address with SO_REUSEPORT would still accept here.
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return False
    return True


def find_port_conflicts(
    settings: StackSettings,
    service_ports: Mapping[str, int],
    *,
    is_free: Callable[[str, int], bool] = port_is_free,
) -> list[PortConflict]:
    """Ports that are configured twice, fall in Ray's worker range, or are in use.

    Returns an empty list when the stack can start. ``is_free(host, port)`` is
    injectable for tests.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((settings.host, 0))
        except OSError as exc:
            return [PortConflict("host", 0, f"cannot listen on {settings.host}: {exc.strerror}")]
    conflicts: list[PortConflict] = []
    ports = planned_ports(settings, service_ports)
    owner: dict[int, str] = {}
    low, high = settings.ray_min_worker_port, settings.ray_max_worker_port
    for setting, port in ports.items():
        if not 1 <= port <= 65_535:
            conflicts.append(PortConflict(setting, port, "not a valid TCP port"))
            continue
        if port in owner:
            conflicts.append(PortConflict(setting, port, f"also configured as {owner[port]}"))
            continue
        owner[port] = setting
        if low <= port <= high:
            conflicts.append(
                PortConflict(
                    setting,
                    port,
                    f"inside Ray's worker port range {low}-{high} "
                    "(ray_min_worker_port..ray_max_worker_port)",
                )
            )
            continue
        if not is_free(settings.host, port):
            conflicts.append(PortConflict(setting, port, f"already in use on {settings.host}"))
    return conflicts
