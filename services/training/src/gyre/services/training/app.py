"""The whole training scheduler in the caller's event loop: ``running(settings)``.

Migrations (runtime chain, then the scheduler's), the NATS connection, the outbox
relay, the durable consumers of the CT trigger events (``data.version.committed``,
``monitoring.drift.detected``, ``monitoring.performance.degraded``), the scheduler
loop (reconcile with Ray, dispatch the queue, cron triggers) and the gRPC server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Final

from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, migrate
from gyre.runtime.events import EventConsumer, Outbox, OutboxRelay, connect_nats, event_subject
from gyre.runtime.objectstore import ObjectStore
from gyre.runtime.server import GyreServer, ServiceRegistration, start_server
from gyre.runtime.settings import ServiceSettings
from gyre.sdk.client import AsyncGyreClient
from gyre.services.training.db import TRAINING_MIGRATIONS
from gyre.services.training.ray_jobs import RayJobs, token_headers
from gyre.services.training.scheduler import Scheduler, TrainingOptions, TrainingSettings
from gyre.services.training.servicer import TrainingServicer
from gyre.services.training.triggers import Triggers
from gyre.training.v1 import training_service_pb2_grpc

__all__ = [
    "DATA_CONSUMER",
    "GRPC_SERVICE",
    "MODELS_CONSUMER",
    "MONITOR_CONSUMER",
    "running",
]

GRPC_SERVICE: Final = "gyre.training.v1.TrainingService"
# Durable consumer names (shared by every replica: each event goes to one of them).
DATA_CONSUMER: Final = "training-triggers-data"
MONITOR_CONSUMER: Final = "training-triggers-monitor"
MODELS_CONSUMER: Final = "training-model-versions"


def _options(settings: ServiceSettings) -> TrainingOptions:
    if isinstance(settings, TrainingSettings):
        return settings.training
    return TrainingOptions()


@asynccontextmanager
async def running(
    settings: ServiceSettings, *, options: TrainingOptions | None = None
) -> AsyncIterator[GyreServer]:
    """Run the training scheduler; yields the started server (``.target``).

    ``settings`` may be a :class:`TrainingSettings` (its ``training`` options) or any
    ``ServiceSettings``; ``options`` overrides either. The server object carries the
    domain objects as ``server.scheduler`` and ``server.triggers`` (for tests).
    """
    options = options or _options(settings)
    url = settings.database_url()
    await migrate(url, chains=[RUNTIME_MIGRATIONS, TRAINING_MIGRATIONS])
    async with AsyncExitStack() as stack:
        db = Database(url, pool_size=settings.database.pool_size, echo=settings.database.echo)
        stack.push_async_callback(db.dispose)
        nc = await connect_nats(settings.nats, name=settings.service_name)
        stack.push_async_callback(nc.close)
        data_client = AsyncGyreClient(addresses=settings.peers, home=settings.home)
        stack.push_async_callback(data_client.close)
        store = ObjectStore.from_settings(settings.s3)
        await store.ensure_bucket()
        outbox = Outbox(source=settings.service_name, nats=settings.nats)
        relay = OutboxRelay(db, nc, settings.nats, outbox=outbox)
        await relay.ensure_streams()
        relay.start()
        stack.push_async_callback(relay.stop)
        ray = RayJobs(settings.ray.address, headers=token_headers(options.ray_token_file or None))
        scheduler = Scheduler(
            db=db,
            outbox=outbox,
            store=store,
            ray=ray,
            settings=settings,
            options=options,
            data_client=data_client,
        )
        triggers = Triggers(scheduler)
        scheduler.hooks.append(triggers.tick_schedules)
        for name, types, handler in (
            (DATA_CONSUMER, ["data.version.committed"], triggers.on_data_committed),
            (
                MONITOR_CONSUMER,
                ["monitoring.drift.detected", "monitoring.performance.degraded"],
                triggers.on_monitor_event,
            ),
            (MODELS_CONSUMER, ["models.version.registered"], scheduler.on_model_registered),
        ):
            consumer = EventConsumer(
                db,
                nc,
                settings.nats,
                name=name,
                subjects=[event_subject(settings.nats, t) for t in types],
                handler=handler,
            )
            await consumer.subscribe()
            consumer.start()
            stack.push_async_callback(consumer.stop)
        servicer = TrainingServicer(scheduler, triggers)

        async def start_scheduler(server: GyreServer) -> None:
            scheduler.start(server.target)

        server = await start_server(
            settings,
            services=[
                ServiceRegistration(
                    training_service_pb2_grpc.add_TrainingServiceServicer_to_server,
                    servicer,
                    GRPC_SERVICE,
                )
            ],
            on_startup=[start_scheduler],
            on_shutdown=[scheduler.stop],
        )
        stack.push_async_callback(server.stop, settings.server.grace_period_s)
        server.scheduler = scheduler  # type: ignore[attr-defined]
        server.triggers = triggers  # type: ignore[attr-defined]
        yield server
