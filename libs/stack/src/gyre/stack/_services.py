"""Gyre services plug into the local stack through the ``gyre.services`` entry points.

A service distribution declares, in its ``pyproject.toml``::

    [project.entry-points."gyre.services"]
    data_registry = "gyre.services.data_registry:STACK_SERVICE"

and the named object has these attributes (a dataclass, a ``SimpleNamespace`` or a
:class:`ServiceSpec` — services need not depend on ``gyre-stack``):

- ``name: str`` — the service key, e.g. ``"data_registry"``: the program and log name,
  the key in ``stack.json``'s ``"services"`` and the ``GYRE_DATA_REGISTRY_ADDRESS``
  variable (the same keys as :mod:`gyre.sdk.endpoints`).
- ``command: Sequence[str]`` — argv that runs the gRPC server in the foreground, e.g.
  ``[sys.executable, "-m", "gyre.services.data_registry"]``. It must stop on SIGTERM.
- ``default_port: int`` (optional, default ``0`` = none) — the service's port in the
  local stack (the SDK's ``ServiceInfo.default_port``); services without one get the
  next free port from ``GYRE_STACK__SERVICE_BASE_PORT``.
- ``port_env: str`` (optional, default ``"GYRE_SERVER__PORT"``) — the environment
  variable through which the service reads its gRPC port.
- ``health_service: str`` (optional, default ``""``) — the name checked with the standard
  ``grpc.health.v1.Health/Check``; ``""`` means the whole server.

The stack assigns the port (``GYRE_STACK__SERVICE_PORTS`` overrides it), runs the
command under supervisord with ``GYRE_HOME`` and every endpoint variable set
(``GYRE_NATS__URL``, ``GYRE_S3__ENDPOINT``, …, ``GYRE_<SERVICE>_ADDRESS`` of every
service), starts services only once NATS, S3, Triton and Ray are ready, and calls a
service ready when its health check answers ``SERVING``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from gyre.stack._settings import MAX_PORT

__all__ = [
    "DEFAULT_PORT_ENV",
    "SERVICES_ENTRY_POINT_GROUP",
    "ServiceSpec",
    "ServiceSpecError",
    "assign_service_ports",
    "discover_services",
]

SERVICES_ENTRY_POINT_GROUP = "gyre.services"
DEFAULT_PORT_ENV = "GYRE_SERVER__PORT"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Names the infrastructure components already use (program names must be unique).
RESERVED_NAMES = frozenset({"nats", "s3", "triton", "ray", "supervisord"})


class ServiceSpecError(ValueError):
    """An installed ``gyre.services`` entry point does not describe a runnable service."""


@dataclass(frozen=True)
class ServiceSpec:
    """How the local stack runs one Gyre service (see the module docstring)."""

    name: str
    command: tuple[str, ...]
    port_env: str = DEFAULT_PORT_ENV
    health_service: str = ""
    default_port: int = 0

    @property
    def address_env(self) -> str:
        """Variable that tells clients where the service is, e.g. GYRE_DATA_REGISTRY_ADDRESS."""
        return f"GYRE_{self.name.upper()}_ADDRESS"


def _spec_from_object(ep_name: str, obj: object) -> ServiceSpec:
    name = getattr(obj, "name", None)
    command = getattr(obj, "command", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ServiceSpecError(
            f"gyre.services entry point {ep_name!r}: 'name' must match {_NAME.pattern}, "
            f"got {name!r}"
        )
    if name in RESERVED_NAMES:
        raise ServiceSpecError(f"gyre.services entry point {ep_name!r}: {name!r} is reserved")
    if (
        isinstance(command, str | bytes)
        or not isinstance(command, Sequence)
        or not command
        or not all(isinstance(arg, str) for arg in command)
    ):
        raise ServiceSpecError(
            f"gyre.services entry point {ep_name!r}: 'command' must be a non-empty "
            f"sequence of strings, got {command!r}"
        )
    port_env = getattr(obj, "port_env", DEFAULT_PORT_ENV)
    health_service = getattr(obj, "health_service", "")
    if not isinstance(port_env, str) or not port_env:
        raise ServiceSpecError(f"gyre.services entry point {ep_name!r}: bad 'port_env'")
    if not isinstance(health_service, str):
        raise ServiceSpecError(f"gyre.services entry point {ep_name!r}: bad 'health_service'")
    default_port = getattr(obj, "default_port", 0)
    if not isinstance(default_port, int) or not 0 <= default_port <= MAX_PORT:
        raise ServiceSpecError(f"gyre.services entry point {ep_name!r}: bad 'default_port'")
    return ServiceSpec(
        name=name,
        command=tuple(command),
        port_env=port_env,
        health_service=health_service,
        default_port=default_port,
    )


def discover_services(eps: Iterable[EntryPoint] | None = None) -> list[ServiceSpec]:
    """Load every installed ``gyre.services`` entry point, sorted by service name.

    ``eps`` defaults to the installed entry points (injectable for tests).

    Raises:
        ServiceSpecError: an entry point fails to load, is malformed, or two share a name.
    """
    if eps is None:
        eps = entry_points(group=SERVICES_ENTRY_POINT_GROUP)
    specs: dict[str, ServiceSpec] = {}
    for ep in eps:
        try:
            obj = ep.load()
        except Exception as exc:
            raise ServiceSpecError(
                f"gyre.services entry point {ep.name!r} ({ep.value}) failed to load: {exc}"
            ) from exc
        spec = _spec_from_object(ep.name, obj)
        if spec.name in specs:
            raise ServiceSpecError(f"two gyre.services entry points are named {spec.name!r}")
        specs[spec.name] = spec
    return [specs[name] for name in sorted(specs)]


def assign_service_ports(
    services: Sequence[ServiceSpec], *, base_port: int, overrides: Mapping[str, int]
) -> dict[str, int]:
    """gRPC port per service: its override, else its ``default_port``, else the next port
    from ``base_port`` that no other service uses."""
    ports: dict[str, int] = {}
    for spec in services:
        if spec.name in overrides:
            ports[spec.name] = overrides[spec.name]
        elif spec.default_port:
            ports[spec.name] = spec.default_port
    taken = set(ports.values())
    next_port = base_port
    for spec in services:
        if spec.name in ports:
            continue
        while next_port in taken:
            next_port += 1
        ports[spec.name] = next_port
        taken.add(next_port)
    return ports
