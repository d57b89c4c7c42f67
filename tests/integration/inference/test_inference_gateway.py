"""The inference gateway on a real Triton, with a real model registry, NATS and S3.

One gateway and one registry serve the whole module; every test deploys under its
own deployment id (so its own Triton models) and its own registered model.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from unittest import mock

import grpc
import httpx
import numpy as np
import onnxruntime as ort
import pytest
import pytest_asyncio
import structlog
from google.protobuf.duration_pb2 import Duration
from inference_helpers import (
    CANARY,
    CHAMPION,
    SHADOW,
    Elec2,
    Stack,
    eventually,
    load_elec2,
    rows_request,
    running_stack,
)
from prometheus_client import REGISTRY
from support.servers import NatsServer, SeaweedS3, TritonServer

from gyre.common.v1 import schema_pb2, value_pb2
from gyre.events.v1 import event_pb2
from gyre.inference.v1 import deployment_pb2, prediction_pb2
from gyre.inference.v1 import inference_service_pb2 as pb
from gyre.sdk import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from gyre.sdk.errors import from_status

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(scope="module")
def elec2() -> Elec2:
    return load_elec2()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory,
    nats_server: NatsServer,
    s3_server: SeaweedS3,
    triton_server: TritonServer,
    elec2: Elec2,
) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path_factory.mktemp("inference"),
        nats_server=nats_server,
        s3_server=s3_server,
        triton=triton_server,
        elec2=elec2,
    ) as running:
        yield running


_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


def _model() -> str:
    return f"elec-{uuid.uuid4().hex[:8]}"


async def _deploy(
    stack: Stack,
    model: str,
    version: str,
    *,
    policy: deployment_pb2.RolloutPolicy | None = None,
    sample_rate: float = 0.0,
    allow_unvalidated: bool = True,
) -> str:
    deployment_id = f"d-{uuid.uuid4().hex[:8]}"
    response = await stack.client.inference.CreateDeployment(
        pb.CreateDeploymentRequest(
            deployment_id=deployment_id,
            allow_unvalidated=allow_unvalidated,
            deployment=deployment_pb2.Deployment(
                registered_model=f"models/{model}",
                routes=[deployment_pb2.Route(model_version=version, role=CHAMPION, weight=100)],
                rollout_policy=policy or deployment_pb2.RolloutPolicy(),
                prediction_log_sample_rate=sample_rate,
            ),
        )
    )
    assert response.deployment.state == deployment_pb2.DEPLOYMENT_STATE_SERVING
    return str(response.deployment.name)


def _ort_outputs(onnx: bytes, feed: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], feed)
    return [str(v) for v in label], np.asarray(probabilities)


async def test_first_deploy_leaves_triton_ready(stack: Stack) -> None:
    """The ONNX backend probe (native onnxruntime fails on this Triton) must not leave a
    failed model behind: Triton's strict readiness would stay HTTP 400 for good."""
    elec2 = stack.elec2
    model = _model()
    v1 = await stack.register(model, elec2.champion.onnx_bytes, elec2.champion.signature)
    await _deploy(stack, model, v1)
    async with httpx.AsyncClient() as http:
        ready = await http.get(f"http://{stack.triton.http_url}/v2/health/ready")
        index = await http.post(f"http://{stack.triton.http_url}/v2/repository/index")
    assert ready.status_code == 200, index.text
    assert not [m for m in index.json() if m.get("state") not in ("READY", None)] or all(
        m.get("reason") == "unloaded" for m in index.json() if m.get("state") != "READY"
    ), index.text


async def test_predictions_equal_onnx_runtime_and_promotion_moves_champion(stack: Stack) -> None:
    elec2 = stack.elec2
    model = _model()
    v1 = await stack.register(model, elec2.champion.onnx_bytes, elec2.champion.signature)
    name = await _deploy(stack, model, v1)
    rows = elec2.rows(4000, 300)
    labels, probabilities = _ort_outputs(
        elec2.champion.onnx_bytes, elec2.champion.onnx_inputs(rows)
    )
    classes = list(elec2.champion.signature.outputs[1].categories)

    response = await stack.client.inference.Predict(
        rows_request(name, rows, elec2.champion.feature_columns, request_id="r-1")
    )
    assert response.request_id == "r-1"
    assert response.model_version == v1
    assert response.role == CHAMPION
    assert [p.prediction.string_value for p in response.predictions] == labels
    served = np.array([[p.probabilities[c] for c in classes] for p in response.predictions])
    np.testing.assert_allclose(served, probabilities, rtol=0, atol=1e-6)

    # The same rows as typed columns and as raw tensors give the same answers.
    columns = pb.PredictRequest(deployment=name)
    for column in elec2.champion.feature_columns:
        columns.columns.columns.add(
            name=column,
            values=[value_pb2.Value(double_value=float(v)) for v in rows[column]],
        )
    by_columns = await stack.client.inference.Predict(columns)
    assert [p.prediction.string_value for p in by_columns.predictions] == labels
    assert by_columns.request_id  # generated
    tensors = pb.PredictRequest(deployment=name, include_tensors=True)
    for column, array in elec2.champion.onnx_inputs(rows).items():
        tensor = tensors.tensors.tensors.add(
            name=column, data_type=value_pb2.DATA_TYPE_FLOAT32, shape=list(array.shape)
        )
        tensor.raw_contents = array.astype("<f4").tobytes()
    by_tensors = await stack.client.inference.Predict(tensors)
    assert [p.prediction.string_value for p in by_tensors.predictions] == labels
    raw = {t.name: t for t in by_tensors.outputs}
    np.testing.assert_allclose(
        np.array(raw["probabilities"].contents.fp32_contents).reshape(-1, 2),
        probabilities,
        atol=1e-6,
    )

    # The deployment's first champion moves the registry's champion alias.
    async def champion() -> bool:
        return await stack.champion_alias(model) == v1

    await eventually(champion)


async def test_bad_requests_are_invalid_argument_with_the_expected_signature(stack: Stack) -> None:
    elec2 = stack.elec2
    model = _model()
    v1 = await stack.register(model, elec2.champion.onnx_bytes, elec2.champion.signature)
    name = await _deploy(stack, model, v1)
    columns = elec2.champion.feature_columns
    good = rows_request(name, elec2.rows(0, 2), columns)

    missing = pb.PredictRequest()
    missing.CopyFrom(good)
    del missing.rows.rows[1].values["nswprice"]
    extra = pb.PredictRequest()
    extra.CopyFrom(good)
    extra.rows.rows[0].values["colour"].string_value = "red"
    wrong_type = pb.PredictRequest()
    wrong_type.CopyFrom(good)
    wrong_type.rows.rows[0].values["vicprice"].string_value = "cheap"
    wrong_shape = pb.PredictRequest(deployment=name)
    for column in columns:
        tensor = wrong_shape.tensors.tensors.add(
            name=column, data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[2, 2]
        )
        tensor.contents.fp32_contents.extend([0.1, 0.2, 0.3, 0.4])
    wrong_dtype = pb.PredictRequest(deployment=name)
    for column in columns:
        tensor = wrong_dtype.tensors.tensors.add(
            name=column, data_type=value_pb2.DATA_TYPE_FLOAT64, shape=[1, 1]
        )
        tensor.contents.fp64_contents.append(0.5)
    no_inputs = pb.PredictRequest(deployment=name)

    cases = {
        "missing column(s) nswprice": missing,
        "unexpected column(s) colour": extra,
        "column vicprice, row 0: expected FLOAT32, got string": wrong_type,
        "expected shape [-1, 1], got [2, 2]": wrong_shape,
        "expected data type FLOAT32, got FLOAT64": wrong_dtype,
        "no inputs given": no_inputs,
    }
    for fragment, request in cases.items():
        with pytest.raises(InvalidArgument) as caught:
            await stack.client.inference.Predict(request)
        assert fragment in caught.value.message
        assert "nswprice: FLOAT32 [-1, 1]" in caught.value.message  # the expected signature
        assert caught.value.metadata["expected_inputs"].startswith("date: FLOAT32 [-1, 1]")

    with pytest.raises(NotFound):
        await stack.client.inference.Predict(
            rows_request("deployments/nope", elec2.rows(0, 1), columns)
        )
    with pytest.raises(InvalidArgument):
        await stack.client.inference.Predict(
            rows_request(
                name, elec2.rows(0, 1), columns, model_version=f"models/{model}/versions/9"
            )
        )
    # Control-plane errors, each leaving nothing behind.
    with pytest.raises(AlreadyExists):
        await stack.client.inference.CreateDeployment(
            pb.CreateDeploymentRequest(
                deployment_id=name.removeprefix("deployments/"),
                allow_unvalidated=True,
                deployment=deployment_pb2.Deployment(
                    registered_model=f"models/{model}",
                    routes=[deployment_pb2.Route(model_version=v1, role=CHAMPION)],
                ),
            )
        )
    for version, error in ((f"models/{model}/versions/7", NotFound), (v1, FailedPrecondition)):
        with pytest.raises(error):
            await stack.client.inference.CreateDeployment(
                pb.CreateDeploymentRequest(
                    deployment_id="never-created",
                    deployment=deployment_pb2.Deployment(
                        registered_model=f"models/{model}",
                        routes=[deployment_pb2.Route(model_version=version, role=CHAMPION)],
                    ),
                )
            )
    with pytest.raises(NotFound):
        await stack.client.inference.GetDeployment(
            pb.GetDeploymentRequest(name="deployments/never-created")
        )
    with pytest.raises(InvalidArgument):
        await stack.client.inference.CreateDeployment(
            pb.CreateDeploymentRequest(
                deployment_id="Bad_Id",
                deployment=deployment_pb2.Deployment(registered_model=f"models/{model}"),
            )
        )


async def test_canary_at_20_percent_serves_about_a_fifth_and_shadow_never_answers(
    stack: Stack,
) -> None:
    elec2 = stack.elec2
    model = _model()
    v1 = await stack.register(model, elec2.champion.onnx_bytes, elec2.champion.signature)
    v2 = await stack.register(model, elec2.challenger.onnx_bytes, elec2.challenger.signature)
    name = await _deploy(
        stack, model, v1, policy=deployment_pb2.RolloutPolicy(min_requests=1_000_000)
    )
    rolled = await stack.client.inference.Rollout(
        pb.RolloutRequest(name=name, model_version=v2, weight=20, allow_unvalidated=True)
    )
    assert rolled.deployment.state == deployment_pb2.DEPLOYMENT_STATE_ROLLING_OUT
    assert {(r.model_version, r.role, r.weight) for r in rolled.deployment.routes} == {
        (v1, CHAMPION, 80),
        (v2, CANARY, 20),
    }
    request = rows_request(name, elec2.rows(100, 1), elec2.champion.feature_columns)
    served: Counter[str] = Counter()
    for _ in range(40):
        answers = await asyncio.gather(
            *(stack.client.inference.Predict(request) for _ in range(50))
        )
        served.update(a.model_version for a in answers)
    assert sum(served.values()) == 2000
    assert 300 <= served[v2] <= 500  # 20 % of 2,000 is 400; the sd is ~18
    # Sticky routing: one key, one route.
    keyed = [
        (
            await stack.client.inference.Predict(
                rows_request(
                    name, elec2.rows(100, 1), elec2.champion.feature_columns, routing_key=k
                )
            )
        ).model_version
        for k in ("user-1", "user-1", "user-1", "user-2", "user-2")
    ]
    assert keyed[0] == keyed[1] == keyed[2]
    assert keyed[3] == keyed[4]
    with pytest.raises(FailedPrecondition):  # one rollout at a time
        await stack.client.inference.Rollout(
            pb.RolloutRequest(name=name, model_version=v2, allow_unvalidated=True)
        )
    back = await stack.client.inference.Rollback(pb.RollbackRequest(name=name, reason="test"))
    assert [(r.model_version, r.weight) for r in back.deployment.routes] == [(v1, 100)]

    # Shadow: every request mirrored to v2; answers still come from v1, unchanged.
    await stack.client.inference.Rollout(
        pb.RolloutRequest(
            name=name, model_version=v2, role=SHADOW, weight=100, allow_unvalidated=True
        )
    )
    await stack.client.inference.UpdateDeployment(
        pb.UpdateDeploymentRequest(
            deployment=deployment_pb2.Deployment(name=name, prediction_log_sample_rate=1.0),
            update_mask={"paths": ["prediction_log_sample_rate"]},
        )
    )
    rows = elec2.rows(2000, 50)
    labels, _ = _ort_outputs(elec2.champion.onnx_bytes, elec2.champion.onnx_inputs(rows))
    shadow_labels, _ = _ort_outputs(elec2.challenger.onnx_bytes, elec2.challenger.onnx_inputs(rows))
    assert labels != shadow_labels  # the two models disagree on these rows
    response = await stack.client.inference.Predict(
        rows_request(name, rows, elec2.champion.feature_columns, request_id="shadowed")
    )
    assert response.model_version == v1
    assert [p.prediction.string_value for p in response.predictions] == labels

    async def logged() -> list[prediction_pb2.PredictionRecord]:
        records = [
            r
            for e in stack.events.of("inference.prediction.logged", subject=name)
            for r in e.inference_prediction_logged.records
            if r.request_id == "shadowed"
        ]
        return records if len(records) == 100 else []

    records = await eventually(logged)
    by_role = {
        role: sorted((r for r in records if r.role == role), key=lambda r: r.row_index)
        for role in (CHAMPION, SHADOW)
    }
    assert [r.prediction.prediction.string_value for r in by_role[SHADOW]] == shadow_labels
    assert [r.prediction.prediction.string_value for r in by_role[CHAMPION]] == labels
    assert {r.model_version for r in by_role[SHADOW]} == {v2}
    # Prometheus: per deployment, version and role (the gateway runs in this process).
    shadow_requests = REGISTRY.get_sample_value(
        "gyre_inference_requests_total",
        {"deployment": name, "model_version": v2, "role": "shadow"},
    )
    canary_requests = REGISTRY.get_sample_value(
        "gyre_inference_requests_total",
        {"deployment": name, "model_version": v2, "role": "canary"},
    )
    assert shadow_requests is not None
    assert shadow_requests >= 1
    assert canary_requests == served[v2] + keyed.count(v2)
    first = by_role[CHAMPION][0]
    assert first.deployment == name
    assert first.features.values["nswprice"].double_value == pytest.approx(
        float(rows["nswprice"].iloc[0]), rel=1e-6
    )


async def test_erroring_canary_is_rolled_back_automatically(stack: Stack) -> None:
    elec2 = stack.elec2
    model = _model()
    v1 = await stack.register(model, elec2.champion.onnx_bytes, elec2.champion.signature)
    broken = await stack.register(model, elec2.broken_onnx, elec2.champion.signature)
    policy = deployment_pb2.RolloutPolicy(
        canary_weight=50,
        min_requests=20,
        max_error_rate=0.05,
        auto_promote=True,
        auto_rollback=True,
        auto_rollout_on_validation=True,
        judge_interval=Duration(nanos=100_000_000),
    )
    name = await _deploy(stack, model, v1, policy=policy)
    await stack.validate(broken)  # the gate passes it; the gateway starts the canary

    async def rolling() -> bool:
        deployment = await stack.deployment(name)
        return any(r.role == CANARY and r.model_version == broken for r in deployment.routes)

    await eventually(rolling)
    request = rows_request(name, elec2.rows(10, 1), elec2.champion.feature_columns)
    failures = 0

    async def rolled_back() -> bool:
        nonlocal failures
        try:
            await stack.client.inference.Predict(request)
        except Exception:
            failures += 1
        deployment = await stack.deployment(name)
        return [r.model_version for r in deployment.routes] == [v1]

    await eventually(rolled_back)
    assert failures > 0
    history = await stack.client.inference.ListDeploymentHistory(
        pb.ListDeploymentHistoryRequest(parent=name)
    )
    latest, started = history.entries[0], history.entries[1]
    assert latest.action == deployment_pb2.DEPLOYMENT_ACTION_ROLLED_BACK
    assert latest.automatic
    assert "error rate" in latest.reason
    assert started.action == deployment_pb2.DEPLOYMENT_ACTION_ROLLOUT_STARTED
    assert started.automatic

    async def event() -> list[event_pb2.Event]:
        return stack.events.of("inference.deployment.rolled_back", subject=name)

    (rolled,) = await eventually(event)
    payload = rolled.inference_deployment_rolled_back
    assert payload.model_version == broken
    assert payload.champion_version == v1
    assert payload.automatic
    assert payload.rollout.canary_error_rate > 0.05
    # After the rollback every request succeeds on the champion.
    assert (await stack.client.inference.Predict(request)).model_version == v1


async def test_healthy_canary_is_promoted_and_champion_moves(stack: Stack) -> None:
    elec2 = stack.elec2
    model = _model()
    v1 = await stack.register(model, elec2.champion.onnx_bytes, elec2.champion.signature)
    v2 = await stack.register(model, elec2.challenger.onnx_bytes, elec2.challenger.signature)
    policy = deployment_pb2.RolloutPolicy(
        canary_weight=50,
        min_requests=30,
        max_error_rate=0.0,
        auto_promote=True,
        auto_rollback=True,
        auto_rollout_on_validation=True,
        judge_interval=Duration(nanos=100_000_000),
    )
    name = await _deploy(stack, model, v1, policy=policy)
    await stack.validate(v2)
    request = rows_request(name, elec2.rows(10, 3), elec2.champion.feature_columns)

    async def promoted() -> bool:
        await asyncio.gather(*(stack.client.inference.Predict(request) for _ in range(10)))
        deployment = await stack.deployment(name)
        return [(r.model_version, r.role) for r in deployment.routes] == [(v2, CHAMPION)]

    await eventually(promoted)
    deployment = await stack.deployment(name)
    assert deployment.previous_champion == v1

    async def champion_is(version: str) -> bool:
        return await stack.champion_alias(model) == version

    await eventually(lambda: champion_is(v2))
    # Rollback with no rollout in progress reverts the promotion (previous champion
    # still loaded) and the registry moves champion back.
    reverted = await stack.client.inference.Rollback(pb.RollbackRequest(name=name, reason="revert"))
    assert [r.model_version for r in reverted.deployment.routes] == [v1]
    assert (await stack.client.inference.Predict(request)).model_version == v1
    await eventually(lambda: champion_is(v1))
    with pytest.raises(FailedPrecondition):
        await stack.client.inference.Promote(pb.PromoteRequest(name=name))


async def test_streaming_feedback_and_awaiting_deployment(stack: Stack) -> None:
    elec2 = stack.elec2
    model = _model()
    v1 = await stack.register(model, elec2.champion.onnx_bytes, elec2.champion.signature)
    # A deployment created before any version is validated waits, then deploys it.
    created = await stack.client.inference.CreateDeployment(
        pb.CreateDeploymentRequest(
            deployment_id=f"w-{uuid.uuid4().hex[:8]}",
            deployment=deployment_pb2.Deployment(
                registered_model=f"models/{model}",
                rollout_policy=deployment_pb2.RolloutPolicy(auto_rollout_on_validation=True),
            ),
        )
    )
    name = created.deployment.name
    assert created.deployment.state == deployment_pb2.DEPLOYMENT_STATE_AWAITING_VERSION
    with pytest.raises(FailedPrecondition):
        await stack.client.inference.Predict(
            rows_request(name, elec2.rows(0, 1), elec2.champion.feature_columns)
        )
    await stack.validate(v1)

    async def serving() -> bool:
        deployment = await stack.deployment(name)
        return deployment.state == deployment_pb2.DEPLOYMENT_STATE_SERVING

    await eventually(serving)

    columns = elec2.champion.feature_columns
    good = [rows_request(name, elec2.rows(i, 2), columns, request_id=f"s-{i}") for i in range(6)]
    bad = rows_request(name, elec2.rows(0, 1), columns[1:], request_id="s-bad")

    async def requests() -> AsyncIterator[pb.StreamPredictRequest]:
        for index, request in enumerate(good):
            if index == 3:
                yield pb.StreamPredictRequest(request=bad)
            yield pb.StreamPredictRequest(request=request)

    answers = [a async for a in stack.client.inference.StreamPredict(requests())]
    assert [a.request_id for a in answers] == ["s-0", "s-1", "s-2", "s-bad", "s-3", "s-4", "s-5"]
    assert answers[3].WhichOneof("result") == "error"
    assert answers[3].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert isinstance(from_status(answers[3].error), InvalidArgument)
    assert all(a.response.model_version == v1 for i, a in enumerate(answers) if i != 3)

    await stack.client.inference.RecordFeedback(
        pb.RecordFeedbackRequest(
            deployment=name,
            feedback=prediction_pb2.Feedback(
                request_id="s-0", ground_truth=value_pb2.Value(string_value="UP")
            ),
        )
    )
    batch = await stack.client.inference.RecordFeedbackBatch(
        pb.RecordFeedbackBatchRequest(
            deployment=name,
            feedback=[
                prediction_pb2.Feedback(
                    request_id=f"s-{i}",
                    row_index=1,
                    ground_truth=value_pb2.Value(string_value="DOWN"),
                )
                for i in range(1, 4)
            ],
        )
    )
    assert batch.accepted_count == 3
    with pytest.raises(InvalidArgument):
        await stack.client.inference.RecordFeedback(
            pb.RecordFeedbackRequest(
                deployment=name,
                feedback=prediction_pb2.Feedback(ground_truth=value_pb2.Value(string_value="UP")),
            )
        )
    with pytest.raises(InvalidArgument):  # the model predicts strings
        await stack.client.inference.RecordFeedback(
            pb.RecordFeedbackRequest(
                deployment=name,
                feedback=prediction_pb2.Feedback(
                    request_id="s-1", ground_truth=value_pb2.Value(double_value=1.0)
                ),
            )
        )

    async def feedback() -> list[prediction_pb2.Feedback]:
        entries = [
            f
            for e in stack.events.of("inference.feedback.recorded", subject=name)
            for f in e.inference_feedback_recorded.feedback
        ]
        return entries if len(entries) == 4 else []

    entries = await eventually(feedback)
    assert sorted(f.request_id for f in entries) == ["s-0", "s-1", "s-2", "s-3"]

    listed = await stack.client.inference.ListDeployments(
        pb.ListDeploymentsRequest(filter=f'registered_model = "models/{model}"')
    )
    assert [d.name for d in listed.deployments] == [name]
    await stack.client.inference.DeleteDeployment(pb.DeleteDeploymentRequest(name=name))
    with pytest.raises(NotFound):
        await stack.client.inference.GetDeployment(pb.GetDeploymentRequest(name=name))


@pytest_asyncio.fixture(loop_scope="module")
async def own_triton(tmp_path: Path) -> AsyncIterator[TritonServer]:
    """A Triton of this test's own, which it kills and restarts."""
    server = TritonServer(root=tmp_path / "triton")
    server.root.mkdir()
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def test_triton_outage_is_unavailable_at_once_and_serving_resumes(
    tmp_path: Path,
    nats_server: NatsServer,
    s3_server: SeaweedS3,
    own_triton: TritonServer,
    elec2: Elec2,
) -> None:

    # The server logs every UNAVAILABLE with its traceback; structlog's default (rich,
    # frame locals) takes hundreds of ms per record on a busy machine, which is the
    # test process's cost, not the gateway's: render plainly, as services configure it.
    previous = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.format_exc_info, structlog.processors.KeyValueRenderer()]
    )
    try:
        await _outage(tmp_path, nats_server, s3_server, own_triton, elec2)
    finally:
        structlog.configure(**previous)


async def _outage(
    tmp_path: Path,
    nats_server: NatsServer,
    s3_server: SeaweedS3,
    own_triton: TritonServer,
    elec2: Elec2,
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from gyre.sdk import Unavailable

    async with running_stack(
        tmp_path / "stack",
        nats_server=nats_server,
        s3_server=s3_server,
        triton=own_triton,
        elec2=elec2,
    ) as stack:
        model = _model()
        v1 = await stack.register(model, elec2.champion.onnx_bytes, elec2.champion.signature)
        name = await _deploy(stack, model, v1)
        request = rows_request(name, elec2.rows(0, 4), elec2.champion.feature_columns)
        assert (await stack.client.inference.Predict(request)).model_version == v1
        health = health_pb2_grpc.HealthStub(grpc.aio.insecure_channel(stack.gateway))

        await asyncio.to_thread(own_triton.stop)
        # A 1 s deadline: the gateway answers UNAVAILABLE before it (never hangs).
        with pytest.raises(Unavailable):
            await stack.client.inference.Predict(request, timeout=1.0)

        async def not_serving() -> bool:
            answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
            return answer.status == health_pb2.HealthCheckResponse.NOT_SERVING

        await eventually(not_serving)
        degraded = await stack.deployment(name)
        assert degraded.state == deployment_pb2.DEPLOYMENT_STATE_DEGRADED

        await asyncio.to_thread(own_triton.start)  # same ports, empty: models reloaded

        async def served() -> bool:
            try:
                return (await stack.client.inference.Predict(request)).model_version == v1
            except Unavailable:
                return False

        await eventually(served)
        answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_cli_deploys_predicts_and_records_feedback(stack: Stack, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gyre.cli.main import _load_plugins, app

    _load_plugins()
    elec2 = stack.elec2
    model = _model()
    v1 = await stack.register(model, elec2.champion.onnx_bytes, elec2.champion.signature)
    v2 = await stack.register(model, elec2.challenger.onnx_bytes, elec2.challenger.signature)
    env = {
        "GYRE_INFERENCE_ADDRESS": stack.gateway,
        "GYRE_MODEL_REGISTRY_ADDRESS": stack.registry,
        "GYRE_HOME": str(tmp_path),
    }
    runner = CliRunner()

    async def gyre(*args: str) -> str:
        # The blocking client must not run on the loop that serves the gateway.
        result = await asyncio.to_thread(runner.invoke, app, list(args), env=env)
        assert result.exit_code == 0, result.output
        # The in-process gateway's log lines (structlog prints to stdout) are not ours.
        return "\n".join(line for line in result.stdout.splitlines() if not _LOG_LINE.match(line))

    shown = await gyre(
        "deploy", model, "--version", "1", "--name", f"{model}-live", "--allow-unvalidated"
    )
    assert "SERVING" in shown
    assert f"{model}/versions/1 champion 100%" in shown
    record = {c: float(elec2.frame[c].iloc[7]) for c in elec2.champion.feature_columns}
    answer = json.loads(await gyre("predict", f"{model}-live", "--json", json.dumps([record])))
    assert answer["model_version"] == v1
    assert answer["predictions"][0]["prediction"]["string_value"] in {"UP", "DOWN"}
    csv_file = tmp_path / "rows.csv"
    elec2.rows(0, 5).to_csv(csv_file, index=False)
    by_csv = json.loads(
        await gyre("predict", f"{model}-live", "--csv", str(csv_file), "--drop", "class")
    )
    assert len(by_csv["predictions"]) == 5
    recorded = await gyre("feedback", f"{model}-live", answer["request_id"], "UP")
    assert "recorded" in recorded
    assert "the monitor matches it" in recorded
    negative = await asyncio.to_thread(
        runner.invoke, app, ["feedback", f"{model}-live", "r", "UP", "--row", "-1"], env=env
    )
    assert negative.exit_code == 2
    await gyre("rollout", f"{model}-live", "2", "--weight", "30", "--allow-unvalidated")
    assert f"{model}/versions/2 canary 30%" in await gyre("deployments", "show", f"{model}-live")
    await gyre("promote", f"{model}-live", "--reason", "looks good")
    listed = await gyre("deployments", "ls", "--model", model)
    assert f"{model}/versions/2 champion 100%" in listed
    history = await gyre("deployments", "history", f"{model}-live")
    assert history.splitlines()[0].split()[2] == "PROMOTED"
    assert "looks good" in history.splitlines()[0]
    as_json = json.loads(await gyre("deployments", "show", f"{model}-live", "--json"))
    assert as_json["previous_champion"] == v1
    assert as_json["routes"][0]["model_version"] == v2
    await gyre("rollback", f"{model}-live", "--reason", "revert")
    failed = await asyncio.to_thread(
        runner.invoke, app, ["predict", f"{model}-live", "--json", '[{"nope": 1}]'], env=env
    )
    assert failed.exit_code == 1
    assert "InvalidArgument" in failed.output

    # Without --version the model's champion is deployed (v1 again after the rollback).
    async def champion_back() -> bool:
        return await stack.champion_alias(model) == v1

    await eventually(champion_back)
    second = await gyre("deploy", model, "--name", f"{model}-two", "--allow-unvalidated")
    assert f"{model}/versions/1 champion 100%" in second


async def test_deploy_without_version_takes_the_latest_validated_without_champion(
    stack: Stack,
) -> None:
    from gyre.sdk.inference import deploy

    elec2 = stack.elec2
    model = _model()
    v1 = await stack.register(model, elec2.champion.onnx_bytes, elec2.champion.signature)
    await stack.validated(v1)
    assert await stack.champion_alias(model) == ""
    deployment = await deploy(stack.client, model, name=f"{model}-auto")
    assert deployment.state == deployment_pb2.DEPLOYMENT_STATE_SERVING
    assert [(r.model_version, r.role) for r in deployment.routes] == [(v1, CHAMPION)]
    # Nothing VALIDATED: the deployment waits.
    other = _model()
    await stack.register(other, elec2.champion.onnx_bytes, elec2.champion.signature)
    waiting = await deploy(stack.client, other, name=f"{other}-auto")
    assert waiting.state == deployment_pb2.DEPLOYMENT_STATE_AWAITING_VERSION
    assert not waiting.routes


async def test_cli_sets_and_changes_the_rollout_policy(stack: Stack, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gyre.cli.main import _load_plugins, app
    from gyre.sdk.inference import actor

    _load_plugins()
    model = _model()
    await stack.register(model, stack.elec2.champion.onnx_bytes, stack.elec2.champion.signature)
    env = {
        "GYRE_INFERENCE_ADDRESS": stack.gateway,
        "GYRE_MODEL_REGISTRY_ADDRESS": stack.registry,
        "GYRE_HOME": str(tmp_path),
    }
    runner = CliRunner()

    async def gyre(*args: str, code: int = 0) -> str:
        result = await asyncio.to_thread(runner.invoke, app, list(args), env=env)
        assert result.exit_code == code, result.output
        return "\n".join(line for line in result.stdout.splitlines() if not _LOG_LINE.match(line))

    # Defaults: auto-promote, auto-rollback and auto-rollout on.
    shown = await gyre("deploy", model, "--version", "1", "--allow-unvalidated")
    assert "auto-promote on, auto-rollback on, auto-rollout on" in shown
    policy = json.loads(await gyre("deployments", "policy", model, "--json"))
    assert policy["auto_promote"]
    assert policy["auto_rollback"]
    assert policy["auto_rollout_on_validation"]
    assert policy["min_requests"] == "100"
    assert policy["max_error_rate"] == 0.01

    other = f"{model}-custom"
    await gyre(
        "deploy", model, "--version", "1", "--allow-unvalidated", "--name", other,
        "--canary-weight", "25", "--min-requests", "500", "--max-error-rate", "0.05",
        "--max-p99-ms", "40", "--live-metric", "accuracy", "--max-metric-drop", "0.02",
        "--no-auto-promote", "--no-auto-rollback",
    )  # fmt: skip
    policy = json.loads(await gyre("deployments", "policy", other, "--json"))
    assert policy == {
        "canary_weight": 25,
        "min_requests": "500",
        "max_error_rate": 0.05,
        "max_p99_latency_ms": 40.0,
        "live_metric": "accuracy",
        "max_live_metric_drop": 0.02,
        "auto_rollout_on_validation": True,  # on unless --no-auto-rollout
    }
    changed = await gyre("deployments", "policy", other, "--auto-promote", "--min-requests", "50")
    assert "min requests 50" in changed
    assert "auto-promote on, auto-rollback off" in changed
    shown = json.loads(await gyre("deployments", "show", model, "--json"))
    assert shown["prediction_log_sample_rate"] == 1.0  # logging on by default
    assert "sample rate: 0.25" in await gyre(
        "deployments", "update", model, "--sample-rate", "0.25"
    )
    policy = json.loads(await gyre("deployments", "update", other, "--json"))
    assert policy["canary_weight"] == 25
    assert policy["auto_promote"] is True
    # The CLI names the actor even with an empty $USER; the gateway records it.
    env.update({"USER": "", "GYRE_ACTOR": ""})
    await gyre("deployments", "policy", other, "--canary-weight", "30")
    with mock.patch.dict(os.environ, {"USER": "", "GYRE_ACTOR": ""}):
        expected = actor()
    history = await gyre("deployments", "history", other)
    assert history.splitlines()[0].split()[3] == expected
    assert expected != "-"
    bad = await gyre("deployments", "policy", other, "--max-error-rate", "2", code=1)
    assert bad == "" or "max_error_rate" in bad


async def test_s3_model_repository_holds_the_model_files(
    s3_server: SeaweedS3, tmp_path: Path
) -> None:
    """Production Triton loads from S3: the gateway writes the same files there."""
    import hashlib

    from gyre.runtime.settings import S3Settings
    from gyre.services.inference._triton import repository_for

    s3 = S3Settings(
        endpoint=s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
    )
    bucket = f"triton-{uuid.uuid4().hex[:8]}"
    repository = repository_for(f"s3://{s3_server.endpoint}/{bucket}/models", s3)
    onnx = tmp_path / "model.onnx"
    await asyncio.to_thread(onnx.write_bytes, b"onnx bytes")
    signature = load_signature()
    from gyre.sdk import DataLoss

    def check() -> None:  # the repository is blocking I/O; the gateway runs it in threads
        with pytest.raises(DataLoss):
            repository.write("m.v1", onnx, signature, backend="onnxruntime", sha256="0" * 64)
        assert not repository.has("m.v1")
        digest = hashlib.sha256(b"onnx bytes").hexdigest()
        uri = repository.write("m.v1", onnx, signature, backend="onnxruntime", sha256=digest)
        assert uri == f"s3://{bucket}/models/m.v1"
        assert repository.has("m.v1")
        repository.remove("m.v1")
        assert not repository.has("m.v1")

    await asyncio.to_thread(check)


def load_signature() -> schema_pb2.Signature:
    signature = schema_pb2.Signature()
    signature.inputs.add(name="x", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1])
    signature.outputs.add(name="label", data_type=value_pb2.DATA_TYPE_INT64, shape=[-1])
    return signature


async def test_canary_worse_on_feedback_is_rolled_back(stack: Stack) -> None:
    """Live metric: labels arrive, the canary's accuracy drops below the champion's."""
    elec2 = stack.elec2
    model = _model()
    v1 = await stack.register(model, elec2.champion.onnx_bytes, elec2.champion.signature)
    v2 = await stack.register(model, elec2.challenger.onnx_bytes, elec2.challenger.signature)
    policy = deployment_pb2.RolloutPolicy(
        canary_weight=50,
        min_requests=40,
        max_error_rate=0.5,
        live_metric="accuracy",
        max_live_metric_drop=0.05,
        auto_promote=False,
        auto_rollback=True,
        judge_interval=Duration(nanos=100_000_000),
    )
    name = await _deploy(stack, model, v1, policy=policy)
    await stack.client.inference.Rollout(
        pb.RolloutRequest(name=name, model_version=v2, weight=50, allow_unvalidated=True)
    )
    # Rows on which the two models disagree; the truth is the champion's answer.
    frame = elec2.frame
    champion_labels, _ = _ort_outputs(elec2.champion.onnx_bytes, elec2.champion.onnx_inputs(frame))
    challenger_labels, _ = _ort_outputs(
        elec2.challenger.onnx_bytes, elec2.challenger.onnx_inputs(frame)
    )
    disagree = [
        i for i, (a, b) in enumerate(zip(champion_labels, challenger_labels, strict=True)) if a != b
    ]
    feedback = []
    for n, index in enumerate(disagree[:160]):
        answer = await stack.client.inference.Predict(
            rows_request(
                name, frame.iloc[[index]], elec2.champion.feature_columns, request_id=f"lm-{n}"
            )
        )
        feedback.append(
            prediction_pb2.Feedback(
                request_id=answer.request_id,
                ground_truth=value_pb2.Value(string_value=champion_labels[index]),
            )
        )

    async def held() -> bool:  # every SLO holds, but auto-promote is off
        current = await stack.deployment(name)
        return current.rollout.message.startswith("SLOs hold")

    await eventually(held)
    await stack.client.inference.RecordFeedbackBatch(
        pb.RecordFeedbackBatchRequest(deployment=name, feedback=feedback)
    )

    async def rolled_back() -> bool:
        current = await stack.deployment(name)
        return [r.model_version for r in current.routes] == [v1]

    await eventually(rolled_back)
    history = await stack.client.inference.ListDeploymentHistory(
        pb.ListDeploymentHistoryRequest(parent=name)
    )
    assert history.entries[0].automatic
    assert "accuracy 0.0000 vs champion 1.0000" in history.entries[0].reason
