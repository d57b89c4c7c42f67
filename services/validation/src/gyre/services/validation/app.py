"""The whole validation gate in one async context manager (tests and ``__main__``).

::

    async with running(ServiceSettings(service_name="validation")) as server:
        print(server.target)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Final

from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, migrate
from gyre.runtime.events import EventConsumer, Outbox, OutboxRelay, connect_nats, event_subject
from gyre.runtime.objectstore import ObjectStore
from gyre.runtime.server import GyreServer, ServiceRegistration, start_server
from gyre.runtime.settings import ServiceSettings
from gyre.services.validation._gate import (
    CONSUMER_NAME,
    REGISTERED_EVENT,
    GateSettings,
    ValidationGate,
)
from gyre.services.validation._migrations import VALIDATION_MIGRATIONS
from gyre.services.validation._peers import Peers, RegistryPeers
from gyre.services.validation._servicer import ValidationServicer
from gyre.validation.v1.validation_service_pb2_grpc import add_ValidationServiceServicer_to_server

__all__ = ["GRPC_SERVICE", "ValidationServiceSettings", "running"]

GRPC_SERVICE: Final = "gyre.validation.v1.ValidationService"
SERVICE_NAME: Final = "validation"


class ValidationServiceSettings(ServiceSettings):
    """The service's settings: the shared ones plus the worker's (``GYRE_GATE__...``)."""

    service_name: str = SERVICE_NAME
    gate: GateSettings = GateSettings()


@contextlib.asynccontextmanager
async def running(
    settings: ServiceSettings,
    *,
    gate_settings: GateSettings | None = None,
    peers: Peers | None = None,
    grace_s: float | None = None,
) -> AsyncIterator[GyreServer]:
    """Run the validation gate (migrations, outbox relay, the ``models.version.registered``
    consumer, the evaluation worker, gRPC server on ``settings.server.port``) in the
    caller's event loop; yield the started server.

    ``gate_settings`` defaults to ``settings.gate`` for :class:`ValidationServiceSettings`;
    ``peers`` (the registries) defaults to gRPC clients of ``settings.peers``.
    """
    if gate_settings is None:
        gate_settings = getattr(settings, "gate", None) or GateSettings()
    url = settings.database_url()
    await migrate(url, chains=[RUNTIME_MIGRATIONS, VALIDATION_MIGRATIONS])
    db = Database(url, pool_size=settings.database.pool_size, echo=settings.database.echo)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(db.dispose)
        store = ObjectStore.from_settings(settings.s3)
        await store.ensure_bucket()
        nc = await connect_nats(settings.nats, name=settings.service_name)
        stack.push_async_callback(nc.close)
        outbox = Outbox(source=settings.service_name, nats=settings.nats)
        relay = OutboxRelay(db, nc, settings.nats, outbox=outbox)
        await relay.ensure_streams()
        relay.start()
        stack.push_async_callback(relay.stop)
        if peers is None:
            peers = RegistryPeers(addresses=settings.peers, home=settings.home)
            stack.callback(peers.close)
        gate = ValidationGate(
            db=db, outbox=outbox, store=store, peers=peers, settings=gate_settings
        )
        gate.start()
        stack.push_async_callback(gate.stop)
        consumer = EventConsumer(
            db,
            nc,
            settings.nats,
            name=CONSUMER_NAME,
            subjects=[event_subject(settings.nats, REGISTERED_EVENT)],
            handler=gate.on_version_registered,
        )
        consumer.start()
        stack.push_async_callback(consumer.stop)
        registration = ServiceRegistration(
            add_ValidationServiceServicer_to_server, ValidationServicer(gate), GRPC_SERVICE
        )
        server = await start_server(settings, services=[registration])
        try:
            yield server
        finally:
            await server.stop(settings.server.grace_period_s if grace_s is None else grace_s)
