"""The gateway's control plane and predict path over a real database (SQLite and
PostgreSQL) with a fake Triton and a fake model source: history, events, etags, and
nothing half-written when Triton fails."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.protobuf.duration_pb2 import Duration
from sqlalchemy import select

from gyre.common.v1 import schema_pb2, value_pb2
from gyre.events.v1 import event_pb2
from gyre.inference.v1 import deployment_pb2
from gyre.inference.v1 import inference_service_pb2 as pb
from gyre.models.v1 import model_version_pb2
from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, OutboxRecord, migrate
from gyre.runtime.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from gyre.runtime.events import Outbox
from gyre.runtime.settings import NatsSettings
from gyre.services.inference._gateway import Gateway
from gyre.services.inference._migrations import INFERENCE_MIGRATIONS
from gyre.services.inference._prediction_log import PredictionLogger
from gyre.services.inference._settings import GatewaySettings
from gyre.services.inference._triton import TritonRepository
from gyre.validation.v1 import validation_pb2

CHAMPION = deployment_pb2.ROUTE_ROLE_CHAMPION
CANARY = deployment_pb2.ROUTE_ROLE_CANARY


class FakeTriton:
    url = "fake:8001"

    def __init__(self) -> None:
        self.loaded: set[str] = set()
        self.fail_load: set[str] = set()
        self.calls: list[str] = []

    async def load(self, name: str) -> None:
        if name in self.fail_load:
            raise FailedPrecondition(f"Triton could not load {name}", reason="MODEL_LOAD_FAILED")
        self.loaded.add(name)

    async def unload(self, name: str) -> None:
        self.loaded.discard(name)

    async def live(self, *, timeout_s: float = 0.5) -> bool:
        return True

    async def infer(
        self, name: str, inputs: Sequence[tuple[str, str, Any]], outputs: Sequence[str], **_: Any
    ) -> dict[str, Any]:
        if name not in self.loaded:
            raise Unavailable(f"{name} not loaded", reason="MODEL_NOT_READY")
        self.calls.append(name)
        count = inputs[0][2].shape[0]
        return {
            "label": np.array([[b"UP"]] * count, dtype=object),
            "probabilities": np.array([[0.3, 0.7]] * count, dtype=np.float32),
        }


def _signature() -> schema_pb2.Signature:
    signature = schema_pb2.Signature()
    signature.inputs.add(name="x", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1])
    for name, shape in (("label", [-1]), ("probabilities", [-1, 2])):
        signature.outputs.add(
            name=name,
            data_type=value_pb2.DATA_TYPE_STRING
            if name == "label"
            else value_pb2.DATA_TYPE_FLOAT32,
            shape=shape,
            categories=["DOWN", "UP"],
        )
    return signature


class FakeSource:
    def __init__(self) -> None:
        self.versions: dict[str, tuple[model_version_pb2.ModelVersion, bytes]] = {}

    def add(self, name: str, *, validated: bool = True) -> str:
        data = f"onnx of {name}".encode()
        version = model_version_pb2.ModelVersion(
            name=name,
            status=model_version_pb2.MODEL_VERSION_STATUS_VALIDATED
            if validated
            else model_version_pb2.MODEL_VERSION_STATUS_PENDING_VALIDATION,
            signature=_signature(),
        )
        version.artifact.sha256 = hashlib.sha256(data).hexdigest()
        self.versions[name] = (version, data)
        return name

    async def get_version(self, name: str) -> model_version_pb2.ModelVersion:
        if name not in self.versions:
            raise NotFound(f"{name} does not exist")
        return self.versions[name][0]

    async def download(self, version: model_version_pb2.ModelVersion, dest: Path) -> None:
        await asyncio.to_thread(dest.write_bytes, self.versions[version.name][1])


class World:
    def __init__(self, gateway: Gateway, db: Database, triton: FakeTriton, source: FakeSource):
        self.gateway = gateway
        self.db = db
        self.triton = triton
        self.source = source

    async def events(self, type_: str) -> list[Any]:
        async with self.db.transaction() as session:
            rows = (await session.execute(select(OutboxRecord))).scalars().all()
        events = [event_pb2.Event.FromString(r.payload) for r in rows]
        return [e for e in events if e.type == type_]


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    await migrate(database_url, chains=[RUNTIME_MIGRATIONS, INFERENCE_MIGRATIONS])
    db = Database(database_url, pool_size=2)
    triton, source = FakeTriton(), FakeSource()
    gateway = Gateway(
        db=db,
        outbox=Outbox(source="inference", nats=NatsSettings()),
        triton=triton,  # type: ignore[arg-type]
        repository=TritonRepository(tmp_path / "models"),
        source=source,
        logger=PredictionLogger(None, NatsSettings(), source="inference"),
        settings=GatewaySettings(onnx_backend="python", judge_tick_s=0.02),
        artifacts_dir=tmp_path / "artifacts",
    )
    (tmp_path / "artifacts").mkdir()
    await gateway.start()
    try:
        yield World(gateway, db, triton, source)
    finally:
        await gateway.stop()
        await db.dispose()


def _deployment(version: str | None, **policy: Any) -> deployment_pb2.Deployment:
    deployment = deployment_pb2.Deployment(
        registered_model="models/m", rollout_policy=deployment_pb2.RolloutPolicy(**policy)
    )
    if version:
        deployment.routes.add(model_version=version, role=CHAMPION, weight=100)
    return deployment


def _request(name: str = "deployments/d", **kwargs: Any) -> pb.PredictRequest:
    request = pb.PredictRequest(deployment=name, **kwargs)
    request.rows.rows.add().values["x"].double_value = 1.0
    return request


async def test_create_writes_history_and_events_and_fails_cleanly(world: World) -> None:
    v1 = world.source.add("models/m/versions/1")
    world.triton.fail_load.add("bad.m.v1")
    with pytest.raises(FailedPrecondition, match="could not load"):
        await world.gateway.create("bad", _deployment(v1))
    with pytest.raises(NotFound):
        await world.gateway.get("deployments/bad")
    assert await world.events("inference.deployment.created") == []

    created = await world.gateway.create("d", _deployment(v1), actor="ann")
    assert created.state == deployment_pb2.DEPLOYMENT_STATE_SERVING
    assert [(r.model_version, r.weight, r.triton_model) for r in created.routes] == [
        (v1, 100, "d.m.v1")
    ]
    assert "d.m.v1" in world.triton.loaded
    (promoted,) = await world.events("inference.deployment.promoted")
    assert promoted.inference_deployment_promoted.model_version == v1
    entries, _ = await world.gateway.history(
        "deployments/d", page_size=0, page_token="", filter_text=""
    )
    assert [e.action for e in entries] == [
        deployment_pb2.DEPLOYMENT_ACTION_PROMOTED,
        deployment_pb2.DEPLOYMENT_ACTION_CREATED,
    ]
    assert entries[1].actor == "ann"
    assert entries[0].event_id == promoted.id
    with pytest.raises(AlreadyExists):
        await world.gateway.create("d", _deployment(v1))
    unvalidated = world.source.add("models/m/versions/2", validated=False)
    with pytest.raises(FailedPrecondition, match="not VALIDATED"):
        await world.gateway.create("e", _deployment(unvalidated))
    with pytest.raises(FailedPrecondition, match="not a version of"):
        await world.gateway.create("f", _deployment(world.source.add("models/other/versions/1")))
    with pytest.raises(InvalidArgument, match="auto_rollout_on_validation"):
        await world.gateway.create("g", _deployment(None))


async def test_rollout_promote_rollback_with_etags(world: World) -> None:
    v1 = world.source.add("models/m/versions/1")
    v2 = world.source.add("models/m/versions/2")
    v3 = world.source.add("models/m/versions/3")
    created = await world.gateway.create("d", _deployment(v1))
    with pytest.raises(Aborted):
        await world.gateway.rollout("deployments/d", v2, weight=25, etag="stale")
    rolled = await world.gateway.rollout("deployments/d", v2, weight=25, etag=created.etag)
    assert rolled.etag != created.etag
    assert [(r.model_version, r.role, r.weight) for r in rolled.routes] == [
        (v1, CHAMPION, 75),
        (v2, CANARY, 25),
    ]
    served = {
        (await world.gateway.predict(_request(routing_key=f"k{i}"))).model_version
        for i in range(200)
    }
    assert served == {v1, v2}
    promoted = await world.gateway.promote("deployments/d", reason="good")
    assert [(r.model_version, r.weight) for r in promoted.routes] == [(v2, 100)]
    assert promoted.previous_champion == v1
    assert {"d.m.v1", "d.m.v2"} <= world.triton.loaded  # previous champion kept loaded
    await world.gateway.rollout("deployments/d", v3)
    await world.gateway.promote("deployments/d")
    assert "d.m.v1" not in world.triton.loaded  # the one before the previous: unloaded
    reverted = await world.gateway.rollback("deployments/d", reason="revert")
    assert [r.model_version for r in reverted.routes] == [v2]
    assert "d.m.v3" not in world.triton.loaded
    events = await world.events("inference.deployment.rolled_back")
    assert events[-1].inference_deployment_rolled_back.reverted_promotion
    with pytest.raises(FailedPrecondition, match=r"no rollout in progress and no previous"):
        await world.gateway.rollback("deployments/d")
    with pytest.raises(FailedPrecondition):
        await world.gateway.promote("deployments/d")


async def test_update_and_delete(world: World) -> None:
    v1 = world.source.add("models/m/versions/1")
    created = await world.gateway.create("d", _deployment(v1))
    change = deployment_pb2.Deployment(
        name="deployments/d", etag=created.etag, description="live", prediction_log_sample_rate=0.5
    )
    updated = await world.gateway.update(change, ["description", "prediction_log_sample_rate"])
    assert updated.description == "live"
    assert updated.prediction_log_sample_rate == 0.5
    with pytest.raises(InvalidArgument, match="cannot update 'routes'"):
        await world.gateway.update(change, ["routes"])
    with pytest.raises(Aborted):
        await world.gateway.update(change, ["description"])  # etag is stale now
    bad = deployment_pb2.Deployment(name="deployments/d", prediction_log_sample_rate=2.0)
    with pytest.raises(InvalidArgument, match="prediction_log_sample_rate"):
        await world.gateway.update(bad, ["prediction_log_sample_rate"])
    items, token, total = await world.gateway.list_deployments(
        page_size=0, page_token="", filter_text='registered_model = "models/m"', order_by=""
    )
    assert [d.name for d in items] == ["deployments/d"]
    assert total == 1
    assert token == ""
    with pytest.raises(InvalidArgument):
        await world.gateway.list_deployments(
            page_size=0, page_token="", filter_text="colour = red", order_by=""
        )
    await world.gateway.delete("deployments/d")
    assert "d.m.v1" not in world.triton.loaded
    with pytest.raises(NotFound):
        await world.gateway.predict(_request())


async def test_validation_passed_starts_a_canary_and_errors_roll_it_back(world: World) -> None:
    v1 = world.source.add("models/m/versions/1")
    v2 = world.source.add("models/m/versions/2", validated=False)
    await world.gateway.create(
        "d",
        _deployment(
            v1,
            canary_weight=50,
            min_requests=10,
            max_error_rate=0.1,
            auto_rollback=True,
            auto_promote=True,
            auto_rollout_on_validation=True,
            judge_interval=Duration(nanos=50_000_000),
        ),
    )
    event = event_pb2.Event(id="e-1", type="validation.completed")
    event.validation_completed.model_version = v2
    event.validation_completed.registered_model = "models/m"
    event.validation_completed.verdict = validation_pb2.VALIDATION_VERDICT_PASSED
    async with world.db.transaction() as session:
        await world.gateway.on_validation_completed(event, session)

    async def canary_routed() -> bool:
        deployment = await world.gateway.get("deployments/d")
        return any(r.role == CANARY for r in deployment.routes)

    for _ in range(200):
        if await canary_routed():
            break
        await asyncio.sleep(0.02)
    (started,) = await world.events("inference.deployment.rollout_started")
    assert started.causation_id == "e-1"
    assert started.inference_deployment_rollout_started.automatic
    world.triton.loaded.discard("d.m.v2")  # the canary now fails every call
    failures = 0
    for _ in range(60):
        try:
            await world.gateway.predict(_request())
        except Unavailable:
            failures += 1
        deployment = await world.gateway.get("deployments/d")
        if [r.model_version for r in deployment.routes] == [v1]:
            break
        await asyncio.sleep(0.02)
    assert failures > 0
    assert [r.model_version for r in deployment.routes] == [v1]
    (rolled,) = await world.events("inference.deployment.rolled_back")
    assert rolled.inference_deployment_rolled_back.automatic
    assert "error rate" in rolled.inference_deployment_rolled_back.reason


async def test_validation_of_an_older_version_starts_no_rollout(world: World) -> None:
    v1 = world.source.add("models/m/versions/1")
    v2 = world.source.add("models/m/versions/2")
    await world.gateway.create("d", _deployment(v2, auto_rollout_on_validation=True))
    for version in (v1, v2):  # older than the champion, and the champion itself
        event = event_pb2.Event(id=f"e-{version[-1]}", type="validation.completed")
        event.validation_completed.model_version = version
        event.validation_completed.registered_model = "models/m"
        event.validation_completed.verdict = validation_pb2.VALIDATION_VERDICT_PASSED
        async with world.db.transaction() as session:
            await world.gateway.on_validation_completed(event, session)
    await asyncio.sleep(0.1)
    deployment = await world.gateway.get("deployments/d")
    assert [(r.model_version, r.role) for r in deployment.routes] == [(v2, CHAMPION)]
    assert await world.events("inference.deployment.rollout_started") == []


async def test_canary_is_judged_as_soon_as_min_requests_are_reached(world: World) -> None:
    v1 = world.source.add("models/m/versions/1")
    v2 = world.source.add("models/m/versions/2")
    await world.gateway.create(
        "d",
        _deployment(
            v1,
            min_requests=5,
            max_error_rate=0.01,
            auto_promote=True,
            auto_rollback=True,
            judge_interval=Duration(seconds=3600),  # the periodic judgement never comes
        ),
    )
    await world.gateway.rollout("deployments/d", v2, weight=50)
    for _ in range(5):
        assert (await world.gateway.predict(_request(model_version=v2))).model_version == v2
    for _ in range(250):
        deployment = await world.gateway.get("deployments/d")
        if [r.model_version for r in deployment.routes] == [v2]:
            break
        await asyncio.sleep(0.02)
    assert [(r.model_version, r.role) for r in deployment.routes] == [(v2, CHAMPION)]
    (promoted,) = [
        e
        for e in await world.events("inference.deployment.promoted")
        if e.inference_deployment_promoted.model_version == v2
    ]
    assert "no errors in 5 requests" in promoted.inference_deployment_promoted.reason


async def test_feedback_is_checked_and_published(world: World) -> None:
    v1 = world.source.add("models/m/versions/1")
    await world.gateway.create("d", _deployment(v1))
    from gyre.inference.v1 import prediction_pb2

    good = prediction_pb2.Feedback(request_id="r1", ground_truth=value_pb2.Value(string_value="UP"))
    assert await world.gateway.record_feedback("deployments/d", [good, good]) == 2
    (event,) = await world.events("inference.feedback.recorded")
    assert [f.request_id for f in event.inference_feedback_recorded.feedback] == ["r1", "r1"]
    assert event.inference_feedback_recorded.feedback[0].HasField("event_time")
    numeric = prediction_pb2.Feedback(request_id="r1", ground_truth=value_pb2.Value(int64_value=1))
    with pytest.raises(InvalidArgument, match="predicts STRING, got int64"):
        await world.gateway.record_feedback("deployments/d", [numeric])
    with pytest.raises(InvalidArgument):
        await world.gateway.record_feedback("deployments/d", [])
    negative = prediction_pb2.Feedback(
        request_id="r1", row_index=-1, ground_truth=value_pb2.Value(string_value="UP")
    )
    with pytest.raises(InvalidArgument, match=r"row_index: must be >= 0"):
        await world.gateway.record_feedback("deployments/d", [good, negative])
    with pytest.raises(NotFound):
        await world.gateway.record_feedback("deployments/none", [good])
    assert len(await world.events("inference.feedback.recorded")) == 1
