"""The whole monitor in the caller's event loop: ``running(settings)``.

Migrations (runtime chain, then the monitor's), the NATS connection, the outbox relay,
the durable event consumer of prediction logs, feedback, validation results and
deployment changes, the evaluation loop, and the gRPC server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

from gyre.monitoring.v1 import monitoring_service_pb2_grpc
from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, migrate
from gyre.runtime.events import EventConsumer, Outbox, OutboxRelay, connect_nats, event_subject
from gyre.runtime.server import GyreServer, ServiceRegistration, start_server
from gyre.runtime.settings import ServiceSettings
from gyre.sdk.client import AsyncGyreClient
from gyre.services.monitoring.models import MONITORING_MIGRATIONS
from gyre.services.monitoring.monitor import CONSUMED_EVENT_TYPES, Monitor
from gyre.services.monitoring.performance import JoinBuffer
from gyre.services.monitoring.reference import ReferenceResolver
from gyre.services.monitoring.servicer import MonitoringServicer
from gyre.services.monitoring.settings import MonitoringSettings, MonitorOptions
from gyre.services.monitoring.webhook import WebhookSender

__all__ = ["GRPC_SERVICE", "build_monitor", "running"]

GRPC_SERVICE = "gyre.monitoring.v1.MonitoringService"


def _options(settings: ServiceSettings) -> MonitorOptions:
    if isinstance(settings, MonitoringSettings):
        return settings.monitoring
    return MonitorOptions()


def build_monitor(
    db: Database, outbox: Outbox, client: AsyncGyreClient | None, options: MonitorOptions
) -> Monitor:
    """A :class:`Monitor` configured from ``options``."""
    return Monitor(
        db,
        outbox,
        ReferenceResolver(client, retry_after_s=options.reference_retry_after_s),
        join_buffer=JoinBuffer(
            max_entries=options.join_max_entries,
            retention=timedelta(seconds=options.join_retention_s),
        ),
        webhook=WebhookSender(
            attempts=options.webhook_attempts,
            timeout_s=options.webhook_timeout_s,
            wait_initial_s=options.webhook_wait_initial_s,
        ),
        tick_s=options.tick_s,
        checkpoint_interval_s=options.checkpoint_interval_s,
    )


@asynccontextmanager
async def running(settings: ServiceSettings) -> AsyncIterator[GyreServer]:
    """Run the monitor (see the module docstring); yields the started server.

    ``settings`` may be a :class:`MonitoringSettings` (for the monitor's own knobs) or
    any ``ServiceSettings`` (defaults).
    """
    options = _options(settings)
    url = settings.database_url()
    await migrate(url, chains=[RUNTIME_MIGRATIONS, MONITORING_MIGRATIONS])
    async with AsyncExitStack() as stack:
        db = Database(url, pool_size=settings.database.pool_size, echo=settings.database.echo)
        stack.push_async_callback(db.dispose)
        nc = await connect_nats(settings.nats, name=settings.service_name)
        stack.push_async_callback(nc.close)
        client = AsyncGyreClient(
            addresses=settings.peers, home=settings.home, timeout=options.peer_timeout_s
        )
        stack.push_async_callback(client.close)
        outbox = Outbox(source=settings.service_name, nats=settings.nats)
        relay = OutboxRelay(db, nc, settings.nats, outbox=outbox)
        await relay.ensure_streams()
        relay.start()
        stack.push_async_callback(relay.stop)
        monitor = build_monitor(db, outbox, client, options)
        await monitor.start()
        stack.push_async_callback(monitor.stop)
        consumer = EventConsumer(
            db,
            nc,
            settings.nats,
            name=options.consumer_name,
            subjects=[event_subject(settings.nats, t) for t in CONSUMED_EVENT_TYPES],
            handler=monitor.handle_event,
        )
        await consumer.subscribe()
        consumer.start()
        stack.push_async_callback(consumer.stop)
        servicer = MonitoringServicer(db, monitor)
        server = await start_server(
            settings,
            services=[
                ServiceRegistration(
                    monitoring_service_pb2_grpc.add_MonitoringServiceServicer_to_server,
                    servicer,
                    GRPC_SERVICE,
                )
            ],
        )
        stack.push_async_callback(server.stop, settings.server.grace_period_s)
        server.monitor = monitor  # type: ignore[attr-defined]
        yield server
