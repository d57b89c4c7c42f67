"""The validation gate's integration stack: the real data registry, model registry and
validation gate in-process, on real NATS, S3 (SeaweedFS) and SQLite / PostgreSQL, with
an Elec2 subsample pushed once per module and models trained on its train split."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import pytest_asyncio
from sklearn.base import BaseEstimator
from support.datasets import ELECTRICITY, dataset_path
from support.gyre_services import running_service, service_settings
from support.onnx_models import OnnxModel, train_onnx
from support.servers import NatsServer, PostgresServer, SeaweedS3

from gyre.data.v1 import dataset_pb2
from gyre.models.v1 import model_version_pb2
from gyre.runtime.settings import NatsSettings, ServiceSettings
from gyre.sdk import AsyncGyreClient, GyreClient
from gyre.sdk import data as data_sdk
from gyre.sdk import models as models_sdk
from gyre.sdk import validation as validation_sdk
from gyre.validation.v1 import validation_pb2, validation_service_pb2

TARGET = "class"
# Rows of Elec2 pushed per module (enough for stable metrics, quick to train on).
SAMPLE_ROWS = 6000
# Generous bound on waiting for an asynchronous outcome; only a failing test hits it.
EVENTUALLY_S = 90.0
PASSED = validation_pb2.VALIDATION_VERDICT_PASSED
FAILED = validation_pb2.VALIDATION_VERDICT_FAILED
ERROR = validation_pb2.VALIDATION_VERDICT_ERROR
CHECK_PASSED = validation_pb2.CHECK_VERDICT_PASSED
CHECK_FAILED = validation_pb2.CHECK_VERDICT_FAILED
CHECK_SKIPPED = validation_pb2.CHECK_VERDICT_SKIPPED
CHECK_ERROR = validation_pb2.CHECK_VERDICT_ERROR


@dataclass
class Stack:
    """The three services and clients of them."""

    settings: dict[str, ServiceSettings]
    targets: dict[str, str]
    client: AsyncGyreClient
    home: Path
    dataset_version: dataset_pb2.DatasetVersion
    train: pd.DataFrame
    models: dict[str, OnnxModel] = field(default_factory=dict)

    def sync_client(self) -> GyreClient:
        return GyreClient(addresses=self.targets)

    def model(
        self, key: str, estimator: Callable[[], BaseEstimator], drop: tuple[str, ...] = ()
    ) -> OnnxModel:
        """A model trained on the train split (cached per module by ``key``)."""
        if key not in self.models:
            frame = self.train.drop(columns=list(drop))
            self.models[key] = train_onnx(frame, TARGET, estimator())
        return self.models[key]

    async def register(
        self,
        model_id: str,
        model: OnnxModel | bytes,
        *,
        dataset_version: str | None = None,
        signature: Any = None,
    ) -> model_version_pb2.ModelVersion:
        data = model if isinstance(model, bytes) else model.onnx_bytes
        sig = signature if signature is not None else model.signature  # type: ignore[union-attr]
        return await models_sdk.register_onnx(
            self.client,
            model_id,
            data,
            signature=sig,
            dataset_version=dataset_version or self.dataset_version.name,
            dataset_digest=self.dataset_version.digest,
        )

    async def validation_of(self, version: str, *, cause: str = "") -> validation_pb2.Validation:
        """The completed (automatic, unless ``cause``) validation of ``version``."""
        filter_ = f'model_version = "{version}" AND state = COMPLETED'
        if cause:
            filter_ += f' AND cause = "{cause}"'
        deadline = asyncio.get_running_loop().time() + EVENTUALLY_S
        while True:
            page = await validation_sdk.list_validations(self.client, filter=filter_)
            if page.validations:
                return page.validations[0]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no completed validation of {version}")
            await asyncio.sleep(0.2)

    async def status_of(self, version: str, wanted: int) -> model_version_pb2.ModelVersion:
        """The version once the registry has applied the gate's verdict (``wanted``)."""
        deadline = asyncio.get_running_loop().time() + EVENTUALLY_S
        while True:
            got = await models_sdk.resolve_alias(
                self.client, version.split("/")[1], version.split("/")[-1]
            )
            if got is not None and got.status == wanted:
                return got
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{version} never reached status {wanted}: {got}")
            await asyncio.sleep(0.2)

    async def report(
        self, name: str, fmt: int = validation_service_pb2.REPORT_FORMAT_MARKDOWN
    ) -> validation_service_pb2.GetValidationReportResponse:
        return await self.client.validation.GetValidationReport(
            validation_service_pb2.GetValidationReportRequest(name=name, format=fmt)  # type: ignore[arg-type]
        )


def new_model_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def checks_by_name(
    validation: validation_pb2.Validation,
) -> dict[str, validation_pb2.ValidationCheck]:
    return {c.name: c for c in validation.checks}


async def start_stack(
    stack: AsyncExitStack,
    home: Path,
    nats_server: NatsServer,
    s3_server: SeaweedS3,
    *,
    validation_database_url: str | None = None,
) -> Stack:
    token = uuid.uuid4().hex[:8]
    nats = NatsSettings(
        url=nats_server.url,
        stream=f"VAL_{token}",
        subject_prefix=f"val{token}.v1",
        dead_letter_stream=f"VAL_DLQ_{token}",
        dead_letter_prefix=f"val{token}.dlq",
    )
    settings: dict[str, ServiceSettings] = {}
    targets: dict[str, str] = {}
    for key in ("data_registry", "model_registry", "validation"):
        svc = service_settings(
            key,
            home / key,
            nats=nats_server,
            s3=s3_server,
            bucket=f"val-{token}",
            database_url=validation_database_url if key == "validation" else None,
            peers=dict(targets),
        ).model_copy(update={"nats": nats})
        server = await stack.enter_async_context(running_service(key, svc))
        settings[key] = svc
        targets[key] = server.target
    client = await stack.enter_async_context(AsyncGyreClient(addresses=targets))
    frame = pd.read_csv(dataset_path(ELECTRICITY)).sample(n=SAMPLE_ROWS, random_state=11)
    csv = home / "elec2.csv"
    frame.to_csv(csv, index=False)

    def push_and_read() -> tuple[dataset_pb2.DatasetVersion, pd.DataFrame]:
        with GyreClient(addresses=targets) as gyre:
            version = data_sdk.push(gyre, csv, dataset=f"elec2-{token}", target=TARGET)
            train = data_sdk.read_pandas(gyre, version.name, split="train")
        return version, train

    version, train = await asyncio.to_thread(push_and_read)
    return Stack(settings, targets, client, home, version, train)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gate_stack(
    tmp_path_factory: pytest.TempPathFactory, nats_server: NatsServer, s3_server: SeaweedS3
) -> AsyncIterator[Stack]:
    """The three services on SQLite, shared by a module's tests."""
    async with AsyncExitStack() as stack:
        yield await start_stack(stack, tmp_path_factory.mktemp("gate"), nats_server, s3_server)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gate_stack_postgres(
    tmp_path_factory: pytest.TempPathFactory,
    nats_server: NatsServer,
    s3_server: SeaweedS3,
    postgres_server: PostgresServer,
) -> AsyncIterator[Stack]:
    """The same, with the validation gate on PostgreSQL."""
    url = postgres_server.create_database(f"gate_{uuid.uuid4().hex[:8]}")
    async with AsyncExitStack() as stack:
        yield await start_stack(
            stack,
            tmp_path_factory.mktemp("gate-pg"),
            nats_server,
            s3_server,
            validation_database_url=url,
        )
