"""The whole model registry in one async context manager (tests and ``__main__``).

::

    async with running(ServiceSettings(service_name="model-registry")) as server:
        print(server.target)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Final

from gyre.models.v1.models_service_pb2_grpc import add_ModelRegistryServiceServicer_to_server
from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, migrate
from gyre.runtime.events import EventConsumer, Outbox, OutboxRelay, connect_nats, event_subject
from gyre.runtime.server import GyreServer, ServiceRegistration, start_server
from gyre.runtime.settings import ServiceSettings
from gyre.services.model_registry.artifacts import ArtifactStores
from gyre.services.model_registry.handlers import (
    CONSUMED_EVENT_TYPES,
    CONSUMER_NAME,
    EventHandlers,
)
from gyre.services.model_registry.lineage import Lineage
from gyre.services.model_registry.registry import Registry
from gyre.services.model_registry.schema import MIGRATIONS
from gyre.services.model_registry.servicer import ModelRegistryServicer

__all__ = ["GRPC_SERVICE", "build_registration", "running"]

GRPC_SERVICE: Final = "gyre.models.v1.ModelRegistryService"
# Seconds the test-mode server gives in-flight RPCs when the block exits.
_STOP_GRACE_S: Final = 1.0


@contextlib.asynccontextmanager
async def running(
    settings: ServiceSettings, *, grace_s: float | None = None
) -> AsyncIterator[GyreServer]:
    """Run the model registry (migrations, outbox relay, event consumer, gRPC server on
    ``settings.server.port``) in the caller's event loop; yield the started server."""
    url = settings.database_url()
    await migrate(url, chains=[RUNTIME_MIGRATIONS, MIGRATIONS])
    db = Database(url, pool_size=settings.database.pool_size, echo=settings.database.echo)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(db.dispose)
        nc = await connect_nats(settings.nats, name=settings.service_name)
        stack.push_async_callback(nc.close)
        outbox = Outbox(source=settings.service_name, nats=settings.nats)
        relay = OutboxRelay(db, nc, settings.nats, outbox=outbox)
        await relay.ensure_streams()
        relay.start()
        stack.push_async_callback(relay.stop)
        stores = ArtifactStores(settings.s3)
        await stores.default.ensure_bucket()
        registry = Registry(db, outbox, stores, actor=settings.service_name)
        handlers = EventHandlers(registry)
        consumer = EventConsumer(
            db,
            nc,
            settings.nats,
            name=CONSUMER_NAME,
            subjects=[event_subject(settings.nats, t) for t in CONSUMED_EVENT_TYPES],
            handler=handlers.handle,
        )
        consumer.start()
        stack.push_async_callback(consumer.stop)
        server = await start_server(settings, services=[build_registration(registry, Lineage(db))])
        try:
            yield server
        finally:
            await server.stop(settings.server.grace_period_s if grace_s is None else grace_s)


def build_registration(registry: Registry, lineage: Lineage) -> ServiceRegistration:
    """The gRPC service registration of the model registry."""
    return ServiceRegistration(
        add_ModelRegistryServiceServicer_to_server,
        ModelRegistryServicer(registry, lineage),
        GRPC_SERVICE,
    )
