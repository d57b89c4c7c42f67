"""The whole inference gateway in the caller's event loop (:func:`running`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from gyre.inference.v1.inference_service_pb2_grpc import add_InferenceServiceServicer_to_server
from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, migrate
from gyre.runtime.events import EventConsumer, Outbox, OutboxRelay, connect_nats, event_subject
from gyre.runtime.server import GyreServer, ServiceRegistration, start_server
from gyre.runtime.settings import ServiceSettings
from gyre.sdk.client import AsyncGyreClient
from gyre.sdk.endpoints import INFERENCE
from gyre.services.inference._gateway import Gateway
from gyre.services.inference._migrations import INFERENCE_MIGRATIONS
from gyre.services.inference._prediction_log import PredictionLogger
from gyre.services.inference._registry import ModelSource, RegistryModelSource
from gyre.services.inference._servicer import InferenceServicer
from gyre.services.inference._settings import GatewaySettings, InferenceSettings
from gyre.services.inference._triton import TritonClient, repository_for

__all__ = ["CONSUMER_NAME", "running"]

_log = logging.getLogger(__name__)

# Durable JetStream consumer of validation.completed.
CONSUMER_NAME = "inference-gateway"
SERVICE_NAME = INFERENCE.grpc_service


def _gateway_settings(settings: ServiceSettings) -> GatewaySettings:
    if isinstance(settings, InferenceSettings):
        return settings.gateway
    return GatewaySettings()


@contextlib.asynccontextmanager
async def running(
    settings: ServiceSettings, *, model_source: ModelSource | None = None
) -> AsyncIterator[GyreServer]:
    """Run the gateway (migrations, outbox relay, consumer, Triton monitor, gRPC server).

    ``settings`` may be a plain :class:`ServiceSettings` (gateway defaults) or an
    :class:`InferenceSettings`. ``model_source`` replaces the model registry (tests).
    Yields the started server (``.target`` is its address).
    """
    gateway_settings = _gateway_settings(settings)
    if not settings.triton.model_repository:
        raise ValueError("settings.triton.model_repository must name Triton's model repository")
    url = settings.database_url()
    await migrate(url, chains=[RUNTIME_MIGRATIONS, INFERENCE_MIGRATIONS])
    async with contextlib.AsyncExitStack() as stack:
        db = Database(url, pool_size=settings.database.pool_size, echo=settings.database.echo)
        stack.push_async_callback(db.dispose)
        nc = await connect_nats(settings.nats, name=settings.service_name)
        stack.push_async_callback(nc.close)
        outbox = Outbox(source=settings.service_name, nats=settings.nats)
        relay = OutboxRelay(db, nc, settings.nats, outbox=outbox)
        relay.start()
        stack.push_async_callback(relay.stop)
        client = AsyncGyreClient(addresses=settings.peers, home=settings.home)
        stack.push_async_callback(client.close)
        triton = TritonClient(settings.triton.grpc_url, timeout_s=gateway_settings.triton_timeout_s)
        stack.push_async_callback(triton.close)
        logger = PredictionLogger(
            nc,
            settings.nats,
            source=settings.service_name,
            queue_size=gateway_settings.log_queue_size,
            flush_interval_s=gateway_settings.log_flush_interval_s,
            records_per_event=gateway_settings.log_records_per_event,
        )
        logger.start()
        stack.push_async_callback(logger.stop)
        artifacts = (
            Path(gateway_settings.artifacts_dir)
            if gateway_settings.artifacts_dir
            else settings.home / "inference" / "artifacts"
        )
        artifacts.mkdir(parents=True, exist_ok=True)
        gateway = Gateway(
            db=db,
            outbox=outbox,
            triton=triton,
            repository=repository_for(settings.triton.model_repository, settings.s3),
            source=model_source or RegistryModelSource(client),
            logger=logger,
            settings=gateway_settings,
            artifacts_dir=artifacts,
        )
        await gateway.start()
        stack.push_async_callback(gateway.stop)
        consumer = EventConsumer(
            db,
            nc,
            settings.nats,
            name=CONSUMER_NAME,
            subjects=[event_subject(settings.nats, "validation.completed")],
            handler=gateway.on_validation_completed,
        )
        consumer.start()
        stack.push_async_callback(consumer.stop)
        server = await start_server(
            settings,
            services=[
                ServiceRegistration(
                    add_InferenceServiceServicer_to_server, InferenceServicer(gateway), SERVICE_NAME
                )
            ],
            options=[
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ],
            ok_log_level=logging.DEBUG,
        )

        async def health(serving: bool) -> None:
            if server.stopping:
                return
            for name in (SERVICE_NAME, ""):
                if serving:
                    await server.health.set_serving(name)
                else:
                    await server.health.set_not_serving(name)

        gateway.on_health_change(health)
        if not gateway.triton_up:
            await health(False)
        try:
            yield server
        finally:
            await server.stop(settings.server.grace_period_s)
