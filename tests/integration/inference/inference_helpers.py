"""Shared pieces of the inference gateway's integration tests: Elec2 models, a real
model registry and gateway in-process, an event collector, request builders."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from nats.aio.client import Client
from sklearn.linear_model import LogisticRegression
from support.datasets import ELECTRICITY, dataset_path
from support.gyre_services import running_service, service_settings
from support.onnx_models import OnnxModel, train_onnx
from support.servers import NatsServer, SeaweedS3, TritonServer

from gyre.common.v1 import schema_pb2
from gyre.events.v1 import event_pb2
from gyre.events.v1.validation_events_pb2 import ValidationCompleted
from gyre.inference.v1 import deployment_pb2
from gyre.inference.v1 import inference_service_pb2 as pb
from gyre.models.v1 import model_version_pb2, models_service_pb2
from gyre.runtime.events import build_event, connect_nats, event_subject
from gyre.runtime.settings import NatsSettings, ServiceSettings
from gyre.sdk import AsyncGyreClient
from gyre.sdk import models as sdk_models
from gyre.services.inference._settings import InferenceSettings
from gyre.validation.v1 import validation_pb2

T = TypeVar("T")
EVENTUALLY_TIMEOUT_S = 60.0
CHAMPION = deployment_pb2.ROUTE_ROLE_CHAMPION
CANARY = deployment_pb2.ROUTE_ROLE_CANARY
SHADOW = deployment_pb2.ROUTE_ROLE_SHADOW


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout_s: float = EVENTUALLY_TIMEOUT_S
) -> T:
    """Await ``probe()`` until it returns something truthy (bounds a failing test only)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.05)


@dataclass
class Elec2:
    """Elec2 rows and models trained on them (two good ones, one that always fails)."""

    frame: pd.DataFrame
    champion: OnnxModel
    challenger: OnnxModel
    broken_onnx: bytes

    def rows(self, start: int, count: int) -> pd.DataFrame:
        return self.frame.iloc[start : start + count]


def broken_model(signature: schema_pb2.Signature) -> bytes:
    """An ONNX graph with ``signature``'s inputs and outputs that fails at run time
    (Gather with an index out of bounds), like a model that errors on live traffic."""
    from onnx import TensorProto, helper

    first = signature.inputs[0].name
    nodes = [
        helper.make_node("Gather", [first, "five"], ["picked"], axis=1),
        helper.make_node("Reshape", ["picked", "flat_shape"], ["flat"]),
        helper.make_node("Cast", ["flat"], ["index"], to=TensorProto.INT64),
        helper.make_node("Gather", ["classes", "index"], ["label"], axis=0),
        helper.make_node("Concat", ["picked", "picked"], ["probabilities"], axis=1),
    ]
    inputs = [
        helper.make_tensor_value_info(spec.name, TensorProto.FLOAT, [None, 1])
        for spec in signature.inputs
    ]
    graph = helper.make_graph(
        nodes,
        "broken",
        inputs,
        [
            helper.make_tensor_value_info("label", TensorProto.STRING, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ],
        initializer=[
            helper.make_tensor("five", TensorProto.INT64, [1], [5]),
            helper.make_tensor("flat_shape", TensorProto.INT64, [1], [-1]),
            helper.make_tensor("classes", TensorProto.STRING, [2], [b"DOWN", b"UP"]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def load_elec2() -> Elec2:
    frame = pd.read_csv(dataset_path(ELECTRICITY), nrows=6000)
    champion = train_onnx(frame.iloc[:3000], "class", LogisticRegression(max_iter=300))
    challenger = train_onnx(
        frame.iloc[3000:6000], "class", LogisticRegression(max_iter=300, C=0.05)
    )
    return Elec2(
        frame=frame,
        champion=champion,
        challenger=challenger,
        broken_onnx=broken_model(champion.signature),
    )


def rows_request(
    deployment: str, frame: pd.DataFrame, columns: list[str], **kwargs: Any
) -> pb.PredictRequest:
    request = pb.PredictRequest(deployment=deployment, **kwargs)
    records = frame[columns].to_dict("records")
    for record in records:
        row = request.rows.rows.add()
        for column, value in record.items():
            row.values[column].double_value = float(value)
    return request


@dataclass
class EventLog:
    """Every event published under ``gyre.v1.inference.>`` (and validation), decoded."""

    events: list[Any] = field(default_factory=list)

    def of(self, type_: str, *, subject: str | None = None) -> list[Any]:
        return [
            e for e in self.events if e.type == type_ and (subject is None or e.subject == subject)
        ]


@dataclass
class Stack:
    """A real model registry and inference gateway, in-process."""

    registry: str
    gateway: str
    gateway_settings: ServiceSettings
    client: AsyncGyreClient
    nc: Client
    nats: NatsSettings
    events: EventLog
    elec2: Elec2
    triton: TritonServer

    async def register(self, model: str, onnx: bytes, signature: schema_pb2.Signature) -> str:
        version = await sdk_models.register_onnx(
            self.client, model, onnx, signature=signature, actor="test"
        )
        return str(version.name)

    async def validate(self, version: str, *, passed: bool = True) -> None:
        """Announce a validation verdict as the validation gate would."""
        model = "/".join(version.split("/")[:2])
        event = build_event(
            event_pb2.Event,
            type="validation.completed",
            source="validation",
            subject=f"validations/{uuid.uuid4().hex[:12]}",
            payload=ValidationCompleted(
                validation=f"validations/{uuid.uuid4().hex[:12]}",
                model_version=version,
                registered_model=model,
                verdict=validation_pb2.VALIDATION_VERDICT_PASSED
                if passed
                else validation_pb2.VALIDATION_VERDICT_FAILED,
            ),
        )
        js = self.nc.jetstream()
        await js.publish(
            event_subject(self.nats, "validation.completed"),
            event.SerializeToString(),
            headers={"Nats-Msg-Id": str(event.id)},
        )

    async def validated(self, version: str) -> None:
        await self.validate(version)

        async def status() -> bool:
            mv = await self.client.models.GetModelVersion(
                models_service_pb2.GetModelVersionRequest(name=version)
            )
            return bool(mv.model_version.status == model_version_pb2.MODEL_VERSION_STATUS_VALIDATED)

        await eventually(status)

    async def champion_alias(self, model: str) -> str:
        version = await sdk_models.resolve_alias(self.client, model, "champion")
        return str(version.name) if version is not None else ""

    async def deployment(self, name: str) -> deployment_pb2.Deployment:
        response = await self.client.inference.GetDeployment(pb.GetDeploymentRequest(name=name))
        return response.deployment


@contextlib.asynccontextmanager
async def running_stack(
    home: Path,
    *,
    nats_server: NatsServer,
    s3_server: SeaweedS3,
    triton: TritonServer,
    elec2: Elec2,
    gateway_overrides: dict[str, Any] | None = None,
) -> AsyncIterator[Stack]:
    """Model registry + inference gateway on real NATS, S3 and Triton."""
    bucket = f"inf-{uuid.uuid4().hex[:10]}"
    registry_settings = service_settings(
        "model_registry", home / "registry", nats=nats_server, s3=s3_server, bucket=bucket
    )
    async with running_service("model_registry", registry_settings) as registry:
        base = service_settings(
            "inference",
            home / "gateway",
            nats=nats_server,
            s3=s3_server,
            bucket=bucket,
            peers={"model_registry": registry.target},
            triton={
                "grpc_url": triton.grpc_url,
                "http_url": triton.http_url,
                "model_repository": str(triton.model_repository),
            },
        )
        settings = InferenceSettings(
            **base.model_dump(),
            gateway={
                "judge_tick_s": 0.05,
                "log_flush_interval_s": 0.1,
                **(gateway_overrides or {}),
            },
        )
        async with running_service("inference", settings) as gateway:
            nc = await connect_nats(settings.nats)
            log = EventLog()

            async def collect(msg: Any) -> None:
                event = event_pb2.Event()
                event.ParseFromString(msg.data)
                log.events.append(event)

            await nc.subscribe(f"{settings.nats.subject_prefix}.inference.>", cb=collect)
            client = AsyncGyreClient(
                addresses={"model_registry": registry.target, "inference": gateway.target}
            )
            try:
                yield Stack(
                    registry=registry.target,
                    gateway=gateway.target,
                    gateway_settings=settings,
                    client=client,
                    nc=nc,
                    nats=settings.nats,
                    events=log,
                    elec2=elec2,
                    triton=triton,
                )
            finally:
                await client.close()
                await nc.close()
