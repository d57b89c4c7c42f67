"""Helpers and fixtures of the monitor's integration tests: the real service on real NATS and SQL,
and a stand-in *gateway side* that publishes prediction logs and feedback the way the
runtime's outbox and relay do (its own database, ``Outbox`` + ``OutboxRelay``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from google.protobuf import duration_pb2, field_mask_pb2
from nats.aio.client import Client
from support.datasets import ELECTRICITY, dataset_path
from support.gyre_services import SERVICE_NAMES, UNREACHABLE_PEER, running_service
from support.runtime_events import eventually

from gyre.common.v1 import value_pb2
from gyre.events.v1 import inference_events_pb2, validation_events_pb2
from gyre.inference.v1 import deployment_pb2, prediction_pb2
from gyre.monitoring.v1 import monitoring_policy_pb2, monitoring_service_pb2
from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, migrate
from gyre.runtime.events import Outbox, OutboxRelay, connect_nats, tail_events
from gyre.runtime.settings import NatsSettings
from gyre.sdk.client import AsyncGyreClient
from gyre.services.monitoring.settings import MonitoringSettings
from gyre.validation.v1 import validation_pb2

ELEC2_FEATURES = [
    "date",
    "day",
    "period",
    "nswprice",
    "nswdemand",
    "vicprice",
    "vicdemand",
    "transfer",
]
# Half-hourly rows: the first year of Elec2.
FIRST_YEAR_ROWS = 48 * 365
DEPLOYMENT = "deployments/elec2"
MODEL_VERSION = "models/elec2/versions/1"

__all__ = [
    "DEPLOYMENT",
    "ELEC2_FEATURES",
    "FIRST_YEAR_ROWS",
    "MODEL_VERSION",
    "Gateway",
    "MonitorHandle",
    "Registry",
    "eventually",
    "registry_with",
]


@pytest.fixture(scope="session")
def elec2() -> pd.DataFrame:
    """The Elec2 table."""
    return pd.read_csv(dataset_path(ELECTRICITY))


@dataclass
class Gateway:
    """Publishes inference events through a real outbox and relay (as the gateway does)."""

    db: Database
    outbox: Outbox
    nats: NatsSettings

    async def emit(self, event_type: str, subject: str, payload: Any) -> None:
        async with self.db.transaction() as session:
            await self.outbox.emit(
                session, type=event_type, subject_resource=subject, payload_message=payload
            )

    async def deployment_created(self, deployment: str = DEPLOYMENT) -> None:
        await self.emit(
            "inference.deployment.created",
            deployment,
            inference_events_pb2.InferenceDeploymentCreated(
                deployment=deployment_pb2.Deployment(
                    name=deployment,
                    registered_model="models/elec2",
                    routes=[
                        deployment_pb2.Route(
                            model_version=MODEL_VERSION,
                            role=deployment_pb2.ROUTE_ROLE_CHAMPION,
                            weight=100,
                        )
                    ],
                )
            ),
        )

    async def validation_completed(self, metrics: dict[str, float]) -> None:
        payload = validation_events_pb2.ValidationCompleted(
            validation="validations/v1",
            model_version=MODEL_VERSION,
            registered_model="models/elec2",
            verdict=validation_pb2.VALIDATION_VERDICT_PASSED,
        )
        for name, value in metrics.items():
            payload.candidate_metrics.add(name=name, value=value)
        await self.emit("validation.completed", "validations/v1", payload)

    async def log_predictions(
        self,
        frame: pd.DataFrame,
        predictions: Sequence[Any],
        probabilities: np.ndarray | None = None,
        *,
        request_prefix: str,
        batch: int = 500,
        deployment: str = DEPLOYMENT,
        model_version: str = MODEL_VERSION,
        classes: Sequence[str] = ("DOWN", "UP"),
        columns: Sequence[str] = ELEC2_FEATURES,
    ) -> list[str]:
        """Log ``frame``'s rows with their predictions; returns the request ids."""
        request_ids = []
        start = datetime(2026, 1, 1, tzinfo=UTC)
        rows = frame[list(columns)].to_dict("records")
        for lo in range(0, len(rows), batch):
            payload = inference_events_pb2.InferencePredictionLogged(
                deployment=deployment, sample_rate=1.0
            )
            for i in range(lo, min(lo + batch, len(rows))):
                request_id = f"{request_prefix}-{i}"
                request_ids.append(request_id)
                record = payload.records.add(
                    request_id=request_id,
                    deployment=deployment,
                    model_version=model_version,
                    role=deployment_pb2.ROUTE_ROLE_CHAMPION,
                )
                for name, value in rows[i].items():
                    if isinstance(value, str):
                        record.features.values[name].string_value = value
                    else:
                        record.features.values[name].double_value = float(value)
                prediction = predictions[i]
                if isinstance(prediction, int | np.integer):
                    record.prediction.prediction.int64_value = int(prediction)
                else:
                    record.prediction.prediction.string_value = str(prediction)
                if probabilities is not None:
                    for k, label in enumerate(classes):
                        record.prediction.probabilities[label] = float(probabilities[i, k])
                record.time.FromDatetime(start + timedelta(minutes=30 * i))
            await self.emit("inference.prediction.logged", deployment, payload)
        return request_ids

    async def feedback(
        self, request_ids: Sequence[str], truths: Sequence[str], *, batch: int = 500
    ) -> None:
        for lo in range(0, len(request_ids), batch):
            payload = inference_events_pb2.InferenceFeedbackRecorded(deployment=DEPLOYMENT)
            for i in range(lo, min(lo + batch, len(request_ids))):
                payload.feedback.append(
                    prediction_pb2.Feedback(
                        request_id=request_ids[i],
                        ground_truth=value_pb2.Value(string_value=str(truths[i])),
                    )
                )
            await self.emit("inference.feedback.recorded", DEPLOYMENT, payload)


@pytest.fixture
async def gateway(tmp_path: Path, nats_settings: NatsSettings) -> AsyncIterator[Gateway]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    await migrate(url, chains=[RUNTIME_MIGRATIONS])
    db = Database(url)
    nc = await connect_nats(nats_settings, name="test-gateway", initial_timeout_s=10)
    outbox = Outbox(source="inference", nats=nats_settings)
    relay = OutboxRelay(db, nc, nats_settings, outbox=outbox, poll_interval_s=0.1)
    await relay.ensure_streams()
    relay.start()
    try:
        yield Gateway(db=db, outbox=outbox, nats=nats_settings)
    finally:
        await relay.stop()
        await nc.close()
        await db.dispose()


@dataclass
class Registry:
    """The real data registry, running in-process, and the first year pushed to it."""

    target: str
    version: Any  # gyre.data.v1.DatasetVersion


@asynccontextmanager
async def registry_with(
    tmp_path: Path,
    nats_settings: NatsSettings,
    nats_server: Any,
    s3_server: Any,
    frame: pd.DataFrame,
    *,
    dataset: str,
    target: str,
) -> AsyncIterator[Registry]:
    """The real data registry, in-process, with ``frame`` pushed as ``dataset``."""
    from support.gyre_services import service_settings

    from gyre.sdk.data import push_async

    settings = service_settings(
        "data_registry", tmp_path / f"data-registry-{dataset}", nats=nats_server, s3=s3_server
    ).model_copy(update={"nats": nats_settings})
    csv = tmp_path / f"{dataset}.csv"
    frame.to_csv(csv, index=False)
    async with running_service("data_registry", settings) as server:
        client = AsyncGyreClient(addresses={"data_registry": server.target})
        try:
            version = await push_async(client, csv, dataset=dataset, target=target)
        finally:
            await client.close()
        yield Registry(target=server.target, version=version)


@pytest.fixture
async def data_registry(
    tmp_path: Path,
    nats_settings: NatsSettings,
    nats_server: Any,
    s3_server: Any,
    elec2: pd.DataFrame,
) -> AsyncIterator[Registry]:
    """The data registry with Elec2's first year pushed (target ``class``) as the reference."""
    async with registry_with(
        tmp_path,
        nats_settings,
        nats_server,
        s3_server,
        elec2.iloc[:FIRST_YEAR_ROWS],
        dataset="elec2-first-year",
        target="class",
    ) as registry:
        yield registry


@dataclass
class MonitorHandle:
    """The running monitor, a client, and a recorder of the events it emits."""

    server: Any
    client: AsyncGyreClient
    settings: MonitoringSettings
    events: list[Any]

    @property
    def monitor(self) -> Any:
        return self.server.monitor

    def emitted(self, event_type: str) -> list[Any]:
        return [e for e in self.events if e.type == event_type]

    async def set_policy(self, deployment: str = DEPLOYMENT, **fields: Any) -> Any:
        policy = monitoring_policy_pb2.MonitoringPolicy(name=f"{deployment}/monitoringPolicy")
        for key, value in fields.items():
            if isinstance(value, timedelta):
                getattr(policy, key).CopyFrom(
                    duration_pb2.Duration(seconds=int(value.total_seconds()))
                )
            elif isinstance(value, list):
                getattr(policy, key).extend(value)
            else:
                setattr(policy, key, value)
        response = await self.client.monitoring.UpdateMonitoringPolicy(
            monitoring_service_pb2.UpdateMonitoringPolicyRequest(
                monitoring_policy=policy,
                update_mask=field_mask_pb2.FieldMask(paths=sorted(fields)),
                allow_missing=True,
            )
        )
        return response.monitoring_policy

    async def drift_reports(self, deployment: str = DEPLOYMENT) -> list[Any]:
        response = await self.client.monitoring.ListDriftReports(
            monitoring_service_pb2.ListDriftReportsRequest(
                parent=deployment, order_by="create_time", page_size=1000
            )
        )
        return list(response.drift_reports)

    async def performance_reports(self, deployment: str = DEPLOYMENT) -> list[Any]:
        response = await self.client.monitoring.ListPerformanceReports(
            monitoring_service_pb2.ListPerformanceReportsRequest(
                parent=deployment, order_by="create_time", page_size=1000
            )
        )
        return list(response.performance_reports)

    async def alerts(self, filter: str = "") -> list[Any]:
        response = await self.client.monitoring.ListAlerts(
            monitoring_service_pb2.ListAlertsRequest(filter=filter, page_size=1000)
        )
        return list(response.alerts)

    async def stats(self) -> Any:
        return await self.client.monitoring.GetIngestionStats(
            monitoring_service_pb2.GetIngestionStatsRequest()
        )

    async def settled(self, records: int) -> None:
        """Wait until the monitor has taken in ``records`` prediction records in total."""

        async def check() -> bool:
            return int((await self.stats()).prediction_records) >= records

        await eventually(check, within_s=60)


def monitoring_settings(
    home: Path,
    nats: NatsSettings,
    database_url: str | None,
    peers: dict[str, str] | None = None,
    **options: Any,
) -> MonitoringSettings:
    """The monitor's settings; every peer not in ``peers`` is unreachable.

    The monitor must never fall back to a peer's default address: a developer's local
    stack on the default ports would answer (a real model / data registry), and a test
    expecting "no reference" would get one.
    """
    fields: dict[str, Any] = {
        "home": home,
        "nats": nats.model_dump(),
        "server": {"host": "127.0.0.1", "port": 0, "metrics_port": 0},
        "peers": {**{key: UNREACHABLE_PEER for key in SERVICE_NAMES}, **(peers or {})},
        "monitoring": {"tick_s": 0.05, "webhook_wait_initial_s": 0.01, **options},
    }
    if database_url:
        fields["database"] = {"url": database_url}
    return MonitoringSettings(**fields)


@pytest.fixture
async def monitor_factory(tmp_path: Path, nats_settings: NatsSettings) -> AsyncIterator[Any]:
    """``async with monitor_factory(database_url=..., **options) as handle``."""

    @asynccontextmanager
    async def start(
        database_url: str | None = None, peers: dict[str, str] | None = None, **options: Any
    ) -> AsyncIterator[MonitorHandle]:
        settings = monitoring_settings(
            tmp_path / f"home-{uuid.uuid4().hex[:6]}",
            nats_settings,
            database_url,
            peers,
            **options,
        )
        nc: Client = await connect_nats(nats_settings, name="test-recorder", initial_timeout_s=10)
        events: list[Any] = []

        async def record() -> None:
            async for event in tail_events(
                nc, nats_settings, subject=f"{nats_settings.subject_prefix}.monitoring.>"
            ):
                events.append(event)

        async with running_service("monitoring", settings) as server:
            recorder = asyncio.create_task(record())
            client = AsyncGyreClient(addresses={"monitoring": server.target})
            try:
                yield MonitorHandle(server=server, client=client, settings=settings, events=events)
            finally:
                recorder.cancel()
                with __import__("contextlib").suppress(asyncio.CancelledError):
                    await recorder
                await client.close()
                await nc.close()

    return start
