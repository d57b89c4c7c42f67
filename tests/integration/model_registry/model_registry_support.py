"""Shared fixtures and helpers of the model registry's integration tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from support.gyre_services import running_service, service_settings
from support.servers import NatsServer, PostgresServer, SeaweedS3

from gyre.common.v1 import schema_pb2, value_pb2
from gyre.events.v1 import event_pb2, validation_events_pb2
from gyre.models.v1 import model_version_pb2, models_service_pb2, registered_model_pb2
from gyre.runtime.events import build_event, connect_nats, event_subject
from gyre.runtime.objectstore import ObjectStore
from gyre.runtime.settings import NatsSettings, ServiceSettings
from gyre.sdk import AsyncGyreClient, GyreClient
from gyre.validation.v1 import validation_pb2

VALIDATED = model_version_pb2.MODEL_VERSION_STATUS_VALIDATED
PENDING = model_version_pb2.MODEL_VERSION_STATUS_PENDING_VALIDATION
REJECTED = model_version_pb2.MODEL_VERSION_STATUS_REJECTED
ARCHIVED = model_version_pb2.MODEL_VERSION_STATUS_ARCHIVED


def signature() -> schema_pb2.Signature:
    signature = schema_pb2.Signature()
    signature.inputs.add(name="nswprice", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1])
    signature.outputs.add(name="label", data_type=value_pb2.DATA_TYPE_STRING, shape=[-1])
    return signature


def onnx_bytes() -> bytes:
    # Registration checks integrity, not ONNX validity: any unique bytes will do here.
    return b"\x08\x07onnx-test-" + uuid.uuid4().bytes * 64


@dataclass
class Registry:
    settings: ServiceSettings
    target: str
    client: AsyncGyreClient
    store: ObjectStore
    backend: str

    def sync_client(self) -> GyreClient:
        return GyreClient(addresses={"model_registry": self.target})


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
async def registry(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    nats_server: NatsServer,
    s3_server: SeaweedS3,
) -> AsyncIterator[Registry]:
    home = tmp_path_factory.mktemp(f"mr-{request.param}")
    database_url = None
    if request.param == "postgresql":
        postgres: PostgresServer = request.getfixturevalue("postgres_server")
        database_url = postgres.create_database(f"mr_versions_{uuid.uuid4().hex[:8]}")
    token = uuid.uuid4().hex[:8]
    settings = service_settings(
        "model_registry",
        home,
        nats=nats_server,
        s3=s3_server,
        database_url=database_url,
        bucket=f"mr-{token}",
    )
    settings = settings.model_copy(
        update={
            "nats": NatsSettings(
                url=nats_server.url,
                stream=f"MRV_{token}",
                subject_prefix=f"mrv{token}.v1",
                dead_letter_stream=f"MRV_DLQ_{token}",
                dead_letter_prefix=f"mrv{token}.dlq",
            )
        }
    )
    async with (
        running_service("model_registry", settings) as server,
        AsyncGyreClient(addresses={"model_registry": server.target}) as client,
    ):
        store = ObjectStore.from_settings(settings.s3)
        yield Registry(settings, server.target, client, store, request.param)


async def new_model(registry: Registry, prefix: str = "m") -> str:
    model_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await registry.client.models.CreateRegisteredModel(
        models_service_pb2.CreateRegisteredModelRequest(
            registered_model_id=model_id,
            registered_model=registered_model_pb2.RegisteredModel(
                description="test model", owner="risk-team", labels={"team": "risk"}
            ),
        )
    )
    return model_id


async def validate(registry: Registry, version: str) -> None:
    """Mark a version VALIDATED the way the validation gate does: an event."""
    await publish_event(
        registry.settings,
        "validation.completed",
        version,
        validation_events_pb2.ValidationCompleted(
            validation=f"validations/{uuid.uuid4().hex[:8]}",
            model_version=version,
            registered_model=version.rsplit("/versions/", 1)[0],
            verdict=validation_pb2.VALIDATION_VERDICT_PASSED,
            report_uri="s3://reports/r.md",
        ),
    )
    await eventually(
        lambda: registry.client.models.GetModelVersion(
            models_service_pb2.GetModelVersionRequest(name=version)
        ),
        lambda r: r.model_version.status == VALIDATED,
    )


async def publish_event(
    settings: ServiceSettings, type_: str, subject: str, payload: Any, *, event_id: str = ""
) -> event_pb2.Event:
    """Publish an envelope straight to JetStream, as another service's relay would."""
    event = build_event(
        event_pb2.Event,
        type=type_,
        source="test",
        subject=subject,
        payload=payload,
        id=event_id or None,
    )
    nc = await connect_nats(settings.nats)
    try:
        js = nc.jetstream()
        await js.publish(
            event_subject(settings.nats, type_),
            event.SerializeToString(),
            headers={"Nats-Msg-Id": event.id},
            stream=settings.nats.stream,
        )
    finally:
        await nc.close()
    return event  # type: ignore[return-value]


async def eventually(call: Any, check: Any, *, timeout_s: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await call()
        if check(result):
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {timeout_s}s; last: {result}")
        await asyncio.sleep(0.1)
