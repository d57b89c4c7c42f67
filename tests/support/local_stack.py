"""A local stack (`gyre up`) on free ports in a temporary home, for tests that run the
services as the processes users run.

:class:`FreePorts` hands out ports that are free, outside Ray's worker ranges, and whose
``+10000`` twin (SeaweedFS's gRPC ports) is free too; :func:`stack_env` builds the CLI's
environment with every port setting of :class:`gyre.stack.StackSettings` and every
service port on such a port.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from gyre.stack import StackSettings, discover_services

__all__ = ["GYRE", "PORT_SETTINGS", "FreePorts", "stack_env"]

GYRE = str(Path(sys.executable).parent / "gyre")
# Port settings of StackSettings (everything but the Ray worker range and service ports).
PORT_SETTINGS = [
    name
    for name in StackSettings.model_fields
    if name.endswith("_port") and name not in {"ray_min_worker_port", "ray_max_worker_port"}
]
WORKER_RANGE = (StackSettings().ray_min_worker_port, StackSettings().ray_max_worker_port)


class FreePorts:
    """Free ports outside Ray's worker ranges, each with its +10000 twin free too."""

    def __init__(self) -> None:
        self.used: set[int] = set()

    def take(self) -> int:
        while True:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            twin = port + 10_000
            if (
                twin <= 65_535
                and not 10_002 <= port <= 19_999
                and not WORKER_RANGE[0] <= port <= WORKER_RANGE[1]
                and not WORKER_RANGE[0] <= twin <= WORKER_RANGE[1]
                and not {port, twin} & self.used
            ):
                self.used |= {port, twin}
                return port


def stack_env(
    home: Path,
    *,
    extra_services: tuple[str, ...] = (),
    pythonpath: tuple[str, ...] = (),
    ray_cpus: int = 1,
) -> tuple[dict[str, str], set[int]]:
    """Environment for the CLI with every port free (``GYRE_*``/``RAY_*`` of the caller's
    shell removed), and every port the stack may open.

    ``extra_services`` are further ``gyre.services`` names to give a port.
    """
    ports = FreePorts()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GYRE_", "RAY_"))}
    env["GYRE_HOME"] = str(home)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    for name in PORT_SETTINGS:
        env[f"GYRE_STACK__{name.upper()}"] = str(ports.take())
    services = {spec.name: ports.take() for spec in discover_services()}
    for name in extra_services:
        services[name] = ports.take()
    env["GYRE_STACK__SERVICE_PORTS"] = json.dumps(services)
    env["GYRE_STACK__RAY_NUM_CPUS"] = str(ray_cpus)
    return env, ports.used
