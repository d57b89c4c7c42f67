"""Start Gyre services in-process for integration tests, against real NATS / S3 / SQL.

Every service package provides ``gyre.services.<key>.app.running(settings)``, an
async context manager that runs the whole service (migrations, outbox relay, event
consumers, gRPC server on ``settings.server.port``; 0 picks a free port) in the
caller's event loop and yields the started ``gyre.runtime.server.GyreServer``
(``.target`` is the address to dial). Tests of one service start the real peers it
calls with :func:`running_service` and pass their addresses through
``settings.peers``.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from gyre.runtime.server import GyreServer
from gyre.runtime.settings import ServiceSettings
from support.servers import NatsServer, SeaweedS3

# Nothing listens on TCP port 1 on loopback: calls fail at once with UNAVAILABLE.
UNREACHABLE_PEER = "127.0.0.1:1"

SERVICE_NAMES = {
    "data_registry": "data-registry",
    "training": "training",
    "model_registry": "model-registry",
    "validation": "validation",
    "inference": "inference",
    "monitoring": "monitoring",
}


def service_settings(
    key: str,
    home: Path,
    *,
    nats: NatsServer,
    s3: SeaweedS3,
    database_url: str | None = None,
    bucket: str = "gyre",
    peers: Mapping[str, str] | None = None,
    **overrides: Any,
) -> ServiceSettings:
    """Settings for service ``key`` (a ``gyre.sdk.endpoints.SERVICES`` key) in ``home``.

    ``peers`` not given are :data:`UNREACHABLE_PEER`. ``database_url`` defaults to a
    SQLite file in ``home``; ``overrides`` are further
    top-level settings fields (e.g. ``triton={...}``, ``ray={...}``).
    """
    home.mkdir(parents=True, exist_ok=True)
    fields: dict[str, Any] = {
        "service_name": SERVICE_NAMES[key],
        "home": home,
        "nats": {"url": nats.url},
        "s3": {
            "endpoint": s3.endpoint,
            "access_key": s3.access_key,
            "secret_key": s3.secret_key,
            "bucket": bucket,
        },
        "server": {"host": "127.0.0.1", "port": 0, "metrics_port": 0},
        # Every peer not given points at a closed port: a test must never reach a real
        # service on the default ports (a developer's local stack) by falling back to them.
        "peers": {**{k: UNREACHABLE_PEER for k in SERVICE_NAMES}, **dict(peers or {})},
    }
    if database_url:
        fields["database"] = {"url": database_url}
    fields.update(overrides)
    return ServiceSettings(**fields)


@asynccontextmanager
async def running_service(key: str, settings: ServiceSettings) -> AsyncIterator[GyreServer]:
    """Run service ``key`` in-process with ``settings``; yield its server."""
    module = importlib.import_module(f"gyre.services.{key}.app")
    async with module.running(settings) as server:
        yield server
