"""The model registry reacting to real events on a real NATS JetStream: automatic
registration from ``training.run.succeeded`` (exactly once under redelivery),
statuses from ``validation.completed``, ``champion`` moved by
``inference.deployment.promoted``, lineage back to the dataset version and its parents,
and deletes refused while a version is aliased or deployed."""

# The fixture imported from model_registry_support is a test parameter of the same name.
# ruff: noqa: F811

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pandas as pd
import pytest
from model_registry_support import (  # noqa: F401 - the fixture is used by name
    PENDING,
    REJECTED,
    VALIDATED,
    Registry,
    eventually,
    publish_event,
    registry,
)
from sklearn.linear_model import LogisticRegression
from support.datasets import ELECTRICITY, dataset_path
from support.onnx_models import OnnxModel, train_onnx

from gyre.common.v1 import artifact_pb2, cause_pb2, metric_pb2, value_pb2
from gyre.events.v1 import (
    data_events_pb2,
    event_pb2,
    inference_events_pb2,
    training_events_pb2,
    validation_events_pb2,
)
from gyre.inference.v1 import deployment_pb2
from gyre.models.v1 import lineage_pb2, models_service_pb2
from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, migrate
from gyre.runtime.events import Outbox, OutboxRelay, connect_nats, event_subject, tail_events
from gyre.runtime.objectstore import ObjectStore
from gyre.sdk import FailedPrecondition
from gyre.validation.v1 import validation_pb2

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

_MODEL_CACHE: dict[str, OnnxModel] = {}


def _onnx_model() -> OnnxModel:
    if "m" not in _MODEL_CACHE:
        frame = pd.read_csv(dataset_path(ELECTRICITY), nrows=2000)
        frame = frame[["nswprice", "nswdemand", "vicprice", "class"]]
        _MODEL_CACHE["m"] = train_onnx(frame, "class", LogisticRegression(max_iter=200))
    return _MODEL_CACHE["m"]


async def _upload_run_artifact(
    registry: Registry, run: str, data: bytes
) -> artifact_pb2.ArtifactRef:
    key = f"runs/{run.removeprefix('runs/')}/model.onnx"
    store = ObjectStore.from_settings(registry.settings.s3)
    await store.put_bytes(key, data)
    return artifact_pb2.ArtifactRef(
        uri=store.uri(key),
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        media_type="application/onnx",
    )


def _succeeded(
    run: str,
    model: str,
    artifact: artifact_pb2.ArtifactRef,
    *,
    dataset_version: str = "datasets/elec2/versions/1",
    cause: cause_pb2.TriggerCause | None = None,
) -> training_events_pb2.TrainingRunSucceeded:
    payload = training_events_pb2.TrainingRunSucceeded(
        run=run,
        experiment="experiments/elec",
        registered_model=model,
        dataset_version=dataset_version,
        dataset_digest="sha256:" + "ab" * 32,
        model_artifact=artifact,
        signature=_onnx_model().signature,
        metrics=[metric_pb2.Metric(name="accuracy", value=0.8)],
        target_column="class",
        feature_columns=["nswprice", "nswdemand", "vicprice"],
    )
    payload.params["max_iter"].CopyFrom(value_pb2.Value(int64_value=200))
    if cause is not None:
        payload.cause.CopyFrom(cause)
    return payload


async def _versions(registry: Registry, model: str) -> list[Any]:
    try:
        listed = await registry.client.models.ListModelVersions(
            models_service_pb2.ListModelVersionsRequest(parent=model)
        )
    except Exception:
        return []
    return list(listed.model_versions)


async def _wait_version(registry: Registry, model: str, count: int = 1) -> list[Any]:
    versions: list[Any] = await eventually(
        lambda: _versions(registry, model), lambda vs: len(vs) >= count
    )
    return versions


async def test_auto_registration_exactly_once_under_redelivery(
    registry: Registry, tmp_path: Any
) -> None:
    model = f"models/auto-{uuid.uuid4().hex[:8]}"
    run = f"runs/r-{uuid.uuid4().hex[:8]}"
    artifact = await _upload_run_artifact(registry, run, _onnx_model().onnx_bytes)

    # The training service's side: its own database, outbox and relay to the same NATS.
    training_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'training.db'}")
    await migrate(training_db.url, chains=[RUNTIME_MIGRATIONS])
    nc = await connect_nats(registry.settings.nats)
    outbox = Outbox(source="training", nats=registry.settings.nats)
    relay = OutboxRelay(training_db, nc, registry.settings.nats, outbox=outbox)
    relay.start()
    try:
        async with training_db.transaction() as session:
            event = await outbox.emit(
                session,
                type="training.run.succeeded",
                subject_resource=run,
                payload_message=_succeeded(run, model, artifact),
            )
        [version] = await _wait_version(registry, model)
        # Redelivery: the same envelope stored again under another message id (a relay
        # re-publishing after JetStream's de-duplication window) ...
        js = nc.jetstream()
        await js.publish(
            event_subject(registry.settings.nats, "training.run.succeeded"),
            event.SerializeToString(),
            headers={
                "Nats-Msg-Id": f"{event_pb2.Event.FromString(event.SerializeToString()).id}-again"
            },
            stream=registry.settings.nats.stream,
        )
        # ... and a second event for the same run (a new event id).
        await publish_event(
            registry.settings, "training.run.succeeded", run, _succeeded(run, model, artifact)
        )
        # A sentinel run after them: once it is registered, the duplicates were handled.
        sentinel_model = f"models/sentinel-{uuid.uuid4().hex[:8]}"
        sentinel_run = f"runs/s-{uuid.uuid4().hex[:8]}"
        await publish_event(
            registry.settings,
            "training.run.succeeded",
            sentinel_run,
            _succeeded(sentinel_run, sentinel_model, artifact),
        )
        [sentinel] = await _wait_version(registry, sentinel_model)
    finally:
        await relay.stop()
        await nc.close()
        await training_db.dispose()

    assert [v.name for v in await _versions(registry, model)] == [version.name]
    assert version.source_run == run
    assert version.status == PENDING
    assert version.artifact.sha256 == artifact.sha256
    assert version.dataset_version == "datasets/elec2/versions/1"
    assert version.params["max_iter"].int64_value == 200
    assert [m.name for m in version.metrics] == ["accuracy"]
    assert version.creator == "model-registry"

    # One models.version.registered per run: read the stream up to the sentinel's.
    nc = await connect_nats(registry.settings.nats)
    registered: list[str] = []
    events = tail_events(
        nc,
        registry.settings.nats,
        subject=event_subject(registry.settings.nats, "models.version.registered"),
        deliver_all=True,
    )
    try:
        async for received in events:
            name = received.models_version_registered.model_version.name  # type: ignore[attr-defined]
            registered.append(name)
            if name == sentinel.name:
                break
    finally:
        await events.aclose()
        await nc.close()
    assert registered.count(version.name) == 1
    received_event = registered.index(version.name)
    assert received_event < registered.index(sentinel.name)


async def test_corrupt_run_artifact_is_not_registered(registry: Registry) -> None:
    model = f"models/corrupt-{uuid.uuid4().hex[:8]}"
    run = f"runs/c-{uuid.uuid4().hex[:8]}"
    artifact = await _upload_run_artifact(registry, run, _onnx_model().onnx_bytes)
    artifact.sha256 = hashlib.sha256(b"something else").hexdigest()
    await publish_event(
        registry.settings, "training.run.succeeded", run, _succeeded(run, model, artifact)
    )
    sentinel_model = f"models/after-{uuid.uuid4().hex[:8]}"
    good = await _upload_run_artifact(registry, run + "-ok", _onnx_model().onnx_bytes)
    await publish_event(
        registry.settings,
        "training.run.succeeded",
        run + "-ok",
        _succeeded(run + "-ok", sentinel_model, good),
    )
    await _wait_version(registry, sentinel_model)
    assert await _versions(registry, model) == []


async def _validation(registry: Registry, version: str, verdict: int, **fields: Any) -> str:
    name = f"validations/{uuid.uuid4().hex[:8]}"
    await publish_event(
        registry.settings,
        "validation.completed",
        version,
        validation_events_pb2.ValidationCompleted(
            validation=name,
            model_version=version,
            registered_model=version.rsplit("/versions/", 1)[0],
            verdict=verdict,  # type: ignore[arg-type]
            report_uri=f"s3://reports/{name}.md",
            **fields,
        ),
    )
    return name


async def test_lineage_statuses_champion_and_deletes(registry: Registry) -> None:
    token = uuid.uuid4().hex[:8]
    model = f"models/lin-{token}"
    parent_data, data = f"datasets/elec-{token}/versions/1", f"datasets/elec-{token}/versions/2"
    for name, parents in ((parent_data, []), (data, [parent_data])):
        committed = await publish_event(
            registry.settings,
            "data.version.committed",
            name,
            data_events_pb2.DataVersionCommitted(
                dataset=name.rsplit("/versions/", 1)[0],
                dataset_version=name,
                digest="sha256:" + hashlib.sha256(name.encode()).hexdigest(),
                parent_versions=parents,
                row_count=100,
            ),
        )
    cause = cause_pb2.TriggerCause(
        kind=cause_pb2.TRIGGER_KIND_NEW_DATA,
        trigger=f"triggers/new-data-{token}",
        event_id=committed.id,
        event_type="data.version.committed",
        subject=data,
        reason="new data",
    )
    runs = [f"runs/lin-{token}-{i}" for i in range(3)]
    await publish_event(
        registry.settings,
        "training.trigger.fired",
        cause.trigger,
        training_events_pb2.TrainingTriggerFired(trigger=cause.trigger, cause=cause, run=runs[0]),
    )
    for run in runs:
        artifact = await _upload_run_artifact(registry, run, _onnx_model().onnx_bytes)
        await publish_event(
            registry.settings,
            "training.run.succeeded",
            run,
            _succeeded(run, model, artifact, dataset_version=data, cause=cause),
        )
    versions = await _wait_version(registry, model, 3)
    v1, v2, v3 = (f"{model}/versions/{n}" for n in (1, 2, 3))
    assert sorted(v.name for v in versions) == [v1, v2, v3]

    passed = await _validation(
        registry, v1, validation_pb2.VALIDATION_VERDICT_PASSED, dataset_version=data
    )
    failed = await _validation(
        registry,
        v2,
        validation_pb2.VALIDATION_VERDICT_FAILED,
        failed_checks=[validation_pb2.ValidationCheck(name="min_accuracy")],
    )
    get = registry.client.models.GetModelVersion
    validated = await eventually(
        lambda: get(models_service_pb2.GetModelVersionRequest(name=v1)),
        lambda r: r.model_version.status == VALIDATED,
    )
    assert validated.model_version.validation == passed
    rejected = await eventually(
        lambda: get(models_service_pb2.GetModelVersionRequest(name=v2)),
        lambda r: r.model_version.status == REJECTED,
    )
    assert "min_accuracy" in rejected.model_version.status_message
    assert f"s3://reports/{failed}.md" in rejected.model_version.status_message

    deployment = f"deployments/lin-{token}"
    await publish_event(
        registry.settings,
        "inference.deployment.promoted",
        deployment,
        inference_events_pb2.InferenceDeploymentPromoted(
            deployment=deployment,
            registered_model=model,
            model_version=v1,
            reason="first champion",
        ),
    )
    await publish_event(
        registry.settings,
        "inference.deployment.rollout_started",
        deployment,
        inference_events_pb2.InferenceDeploymentRolloutStarted(
            deployment=deployment,
            registered_model=model,
            model_version=v3,
            role=deployment_pb2.ROUTE_ROLE_CANARY,
            weight=10,
            champion_version=v1,
        ),
    )
    champion = await eventually(
        lambda: registry.client.models.ListAliasHistory(
            models_service_pb2.ListAliasHistoryRequest(parent=model)
        ),
        lambda r: len(r.changes) == 1,
    )
    change = champion.changes[0]
    assert change.to_version == v1
    assert change.cause == deployment
    assert deployment in change.reason
    assert not change.override_protection  # v1 was VALIDATED first

    # Delete is refused while an alias points at the version or a deployment routes it.
    with pytest.raises(FailedPrecondition) as aliased:
        await registry.client.models.DeleteModelVersion(
            models_service_pb2.DeleteModelVersionRequest(name=v1)
        )
    assert aliased.value.reason == "MODEL_VERSION_HAS_ALIASES"

    await eventually(  # the registry learned of the canary route
        lambda: registry.client.models.GetLineage(
            models_service_pb2.GetLineageRequest(
                name=v3, direction=lineage_pb2.LINEAGE_DIRECTION_DOWNSTREAM, depth=1
            )
        ),
        lambda r: any(n.name == deployment for n in r.nodes),
    )
    with pytest.raises(FailedPrecondition) as deployed:
        await registry.client.models.DeleteModelVersion(
            models_service_pb2.DeleteModelVersionRequest(name=v3)
        )
    assert deployed.value.reason == "MODEL_VERSION_DEPLOYED"

    # Lineage upstream: version <- run <- dataset version <- parent; run <- trigger <- event.
    up = await registry.client.models.GetLineage(
        models_service_pb2.GetLineageRequest(
            name=v1, direction=lineage_pb2.LINEAGE_DIRECTION_UPSTREAM, depth=5
        )
    )
    edges = {(e.source, e.target, e.relation) for e in up.edges}
    assert (runs[0], v1, lineage_pb2.LINEAGE_RELATION_PRODUCED) in edges
    assert (data, runs[0], lineage_pb2.LINEAGE_RELATION_TRAINED_ON) in edges
    assert (parent_data, data, lineage_pb2.LINEAGE_RELATION_DERIVED_FROM) in edges
    assert (cause.trigger, runs[0], lineage_pb2.LINEAGE_RELATION_TRIGGERED) in edges
    assert (
        f"events/{committed.id}",
        cause.trigger,
        lineage_pb2.LINEAGE_RELATION_TRIGGERED,
    ) in edges
    nodes = {n.name: n for n in up.nodes}
    assert nodes[data].type == "gyre.dev/DatasetVersion"
    assert nodes[data].attributes["digest"].startswith("sha256:")
    assert nodes[runs[0]].attributes["cause"] == "NEW_DATA"
    assert not up.truncated

    # Downstream: the validation, the deployment and later versions from the same data.
    down = await registry.client.models.GetLineage(
        models_service_pb2.GetLineageRequest(
            name=v1, direction=lineage_pb2.LINEAGE_DIRECTION_DOWNSTREAM
        )
    )
    down_edges = {(e.source, e.target, e.relation) for e in down.edges}
    assert (v1, passed, lineage_pb2.LINEAGE_RELATION_VALIDATED_BY) in down_edges
    assert (v1, deployment, lineage_pb2.LINEAGE_RELATION_DEPLOYED_TO) in down_edges
    assert (runs[2], v3, lineage_pb2.LINEAGE_RELATION_PRODUCED) in down_edges

    # After the canary is rolled back, the version can go.
    await publish_event(
        registry.settings,
        "inference.deployment.rolled_back",
        deployment,
        inference_events_pb2.InferenceDeploymentRolledBack(
            deployment=deployment, registered_model=model, model_version=v3, champion_version=v1
        ),
    )

    async def deleted() -> bool:
        try:
            await registry.client.models.DeleteModelVersion(
                models_service_pb2.DeleteModelVersionRequest(name=v3)
            )
        except FailedPrecondition:
            return False
        return True

    assert await eventually(deleted, bool)
    tombstone = await registry.client.models.GetLineage(
        models_service_pb2.GetLineageRequest(
            name=v3, direction=lineage_pb2.LINEAGE_DIRECTION_UPSTREAM
        )
    )
    assert {n.name: n for n in tombstone.nodes}[v3].attributes["deleted"] == "true"
