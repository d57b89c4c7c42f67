"""Gyre local stack: NATS, S3, Triton, Ray and every installed service under supervisord.

``gyre up``, ``gyre status [--json]`` and ``gyre down`` (see :mod:`gyre.stack.cli`) are
thin wrappers around :func:`up`, :func:`status` and :func:`down`. Services plug in
through the ``gyre.services`` entry points (see :mod:`gyre.stack._services`).
"""

from __future__ import annotations

from gyre.stack._commands import (
    build_triton_backend_dir,
    nats_server_command,
    ray_head_command,
    s3_identities_json,
    triton_environment,
    triton_server_command,
    venv_executable,
    weed_server_command,
)
from gyre.stack._components import STACK_ID_ENV
from gyre.stack._layout import StackLayout
from gyre.stack._ports import PortConflict, PortConflictError, find_port_conflicts
from gyre.stack._services import (
    SERVICES_ENTRY_POINT_GROUP,
    ServiceSpec,
    ServiceSpecError,
    discover_services,
)
from gyre.stack._settings import StackSettings
from gyre.stack._stack import (
    ComponentHealth,
    DownReport,
    StackError,
    StackHomeError,
    StackLeftovers,
    StackNotRunning,
    StackStateUnreadable,
    UpReport,
    down,
    status,
    up,
)

__all__ = [
    "SERVICES_ENTRY_POINT_GROUP",
    "STACK_ID_ENV",
    "ComponentHealth",
    "DownReport",
    "PortConflict",
    "PortConflictError",
    "ServiceSpec",
    "ServiceSpecError",
    "StackError",
    "StackHomeError",
    "StackLayout",
    "StackLeftovers",
    "StackNotRunning",
    "StackSettings",
    "StackStateUnreadable",
    "UpReport",
    "build_triton_backend_dir",
    "discover_services",
    "down",
    "find_port_conflicts",
    "nats_server_command",
    "ray_head_command",
    "s3_identities_json",
    "status",
    "triton_environment",
    "triton_server_command",
    "up",
    "venv_executable",
    "weed_server_command",
]
