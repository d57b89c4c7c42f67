"""The data registry service, assembled: database, object store, outbox relay, gRPC.

``running(settings)`` runs the whole service in the caller's event loop (tests, other
services' tests); ``__main__`` runs the same components under ``serve()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import Final

from gyre.data.v1 import data_service_pb2_grpc
from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, migrate
from gyre.runtime.events import Outbox, OutboxRelay, connect_nats
from gyre.runtime.objectstore import ObjectStore
from gyre.runtime.server import GyreServer, ServiceRegistration, serve, start_server
from gyre.runtime.settings import ServiceSettings
from gyre.services.data_registry.migrations_chain import DATA_REGISTRY_MIGRATIONS
from gyre.services.data_registry.registry import SYNC_PROFILE_MAX_BYTES, DataRegistry
from gyre.services.data_registry.servicer import DataRegistryServicer

__all__ = ["GRPC_SERVICE", "SERVICE_NAME", "components", "run_forever", "running"]

SERVICE_NAME: Final = "data-registry"
GRPC_SERVICE: Final = "gyre.data.v1.DataRegistryService"
# Commits carry manifests of thousands of chunks: accept up to 64 MiB messages.
_MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
_OPTIONS: Final = (
    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
)


def _warm_imports() -> None:
    for module in ("pandas", "pyarrow.csv", "pyarrow.parquet"):
        importlib.import_module(module)


@contextlib.asynccontextmanager
async def components(
    settings: ServiceSettings, *, sync_profile_max_bytes: int | None = None
) -> AsyncIterator[ServiceRegistration]:
    """Migrate, connect and start the relay; yield the gRPC registration; clean up."""
    url = settings.database_url()
    # Import the heavy table libraries now, not during the first commit.
    warm = asyncio.create_task(asyncio.to_thread(_warm_imports))
    await migrate(url, chains=[RUNTIME_MIGRATIONS, DATA_REGISTRY_MIGRATIONS])
    await warm
    db = Database(url, pool_size=settings.database.pool_size, echo=settings.database.echo)
    store = ObjectStore.from_settings(settings.s3)
    try:
        await store.ensure_bucket()
        nc = await connect_nats(settings.nats, name=settings.service_name)
        try:
            outbox = Outbox(source=settings.service_name, nats=settings.nats)
            relay = OutboxRelay(db, nc, settings.nats, outbox=outbox)
            relay.start()
            try:
                registry = DataRegistry(
                    db,
                    store,
                    outbox,
                    sync_profile_max_bytes=(
                        SYNC_PROFILE_MAX_BYTES
                        if sync_profile_max_bytes is None
                        else sync_profile_max_bytes
                    ),
                )
                await registry.resume()
                try:
                    yield ServiceRegistration(
                        data_service_pb2_grpc.add_DataRegistryServiceServicer_to_server,
                        DataRegistryServicer(registry),
                        GRPC_SERVICE,
                    )
                finally:
                    await registry.close()
            finally:
                await relay.stop()
        finally:
            await nc.close()
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def running(
    settings: ServiceSettings, *, sync_profile_max_bytes: int | None = None
) -> AsyncIterator[GyreServer]:
    """Run the whole data registry in this event loop; yield its started server.

    ``sync_profile_max_bytes`` overrides the size above which versions are profiled in
    the background (tests).
    """
    async with components(settings, sync_profile_max_bytes=sync_profile_max_bytes) as registration:
        server = await start_server(settings, services=[registration], options=_OPTIONS)
        try:
            yield server
        finally:
            await server.stop(settings.server.grace_period_s)


async def run_forever(settings: ServiceSettings) -> None:
    """Serve until SIGTERM / SIGINT (the process entry point)."""
    async with components(settings) as registration:
        await serve(settings, services=[registration], options=_OPTIONS)
