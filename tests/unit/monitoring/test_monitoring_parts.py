"""Unit tests of the monitor's parts: policies, performance metrics, the feedback join,
list filters, the reference resolver (with a fake peer client) and webhook retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from google.protobuf import duration_pb2, field_mask_pb2
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from gyre.data.v1 import data_service_pb2, dataset_pb2
from gyre.models.v1 import model_version_pb2, models_service_pb2
from gyre.monitoring.v1 import monitoring_policy_pb2
from gyre.runtime.errors import InvalidArgument, NotFound
from gyre.services.monitoring.drift import numeric_histogram
from gyre.services.monitoring.listing import FilterField, apply_listing, parse_timestamp
from gyre.services.monitoring.models import AlertRecord
from gyre.services.monitoring.performance import (
    JoinBuffer,
    JoinedPrediction,
    PerformanceWindow,
    baseline_value,
    compute_metrics,
    evaluate_performance,
)
from gyre.services.monitoring.policy import (
    DEFAULT_WINDOW_ROWS,
    EffectivePolicy,
    apply_update,
    default_policy,
    policy_etag,
    validate_policy,
)
from gyre.services.monitoring.reference import ReferenceResolver, ReferenceUnavailable
from gyre.services.monitoring.webhook import AttemptResult, WebhookSender

NOW = datetime(2026, 1, 1, tzinfo=UTC)


# -- policies -----------------------------------------------------------------------------


def test_effective_policy_fills_defaults() -> None:
    effective = EffectivePolicy.of(default_policy("deployments/d"))
    assert effective.enabled
    assert effective.window_rows == DEFAULT_WINDOW_ROWS
    assert effective.window_duration == timedelta(hours=1)
    assert effective.psi_threshold == pytest.approx(0.2)
    assert {t.metric for t in effective.performance_thresholds} >= {"accuracy", "rmse"}
    small = EffectivePolicy.of(
        monitoring_policy_pb2.MonitoringPolicy(
            window_rows=50, alert_cooldown=duration_pb2.Duration(seconds=5)
        )
    )
    assert small.min_window_rows == 50  # never above the window size
    assert small.alert_cooldown == timedelta(seconds=5)


def test_apply_update_takes_only_masked_fields() -> None:
    current = monitoring_policy_pb2.MonitoringPolicy(
        name="deployments/d/monitoringPolicy", window_rows=10, features=["a"]
    )
    update = monitoring_policy_pb2.MonitoringPolicy(window_rows=99, psi_threshold=0.5)
    result = apply_update(current, update, field_mask_pb2.FieldMask(paths=["psi_threshold"]))
    assert result.window_rows == 10
    assert result.psi_threshold == pytest.approx(0.5)
    cleared = apply_update(current, update, field_mask_pb2.FieldMask(paths=["features"]))
    assert list(cleared.features) == []
    with pytest.raises(InvalidArgument, match="update_mask"):
        apply_update(current, update, field_mask_pb2.FieldMask())
    with pytest.raises(InvalidArgument, match="name"):
        apply_update(current, update, field_mask_pb2.FieldMask(paths=["name"]))


def test_validate_policy_lists_every_bad_field() -> None:
    policy = monitoring_policy_pb2.MonitoringPolicy(
        psi_threshold=-1, webhook_url="file:///x", features=["a", "a"]
    )
    with pytest.raises(InvalidArgument) as caught:
        validate_policy(policy)
    fields = {v.field for v in caught.value.field_violations}
    assert fields == {
        "monitoring_policy.psi_threshold",
        "monitoring_policy.webhook_url",
        "monitoring_policy.features",
    }
    validate_policy(monitoring_policy_pb2.MonitoringPolicy(webhook_url="https://h.example/x"))


def test_policy_etag_ignores_etag_and_time() -> None:
    a = monitoring_policy_pb2.MonitoringPolicy(window_rows=5, etag="x")
    b = monitoring_policy_pb2.MonitoringPolicy(window_rows=5)
    b.update_time.GetCurrentTime()
    assert policy_etag(a) == policy_etag(b)
    assert policy_etag(a) != policy_etag(monitoring_policy_pb2.MonitoringPolicy(window_rows=6))


# -- performance --------------------------------------------------------------------------


def test_classification_metrics() -> None:
    truth = ["UP", "UP", "DOWN", "DOWN"]
    predicted = ["UP", "DOWN", "DOWN", "DOWN"]
    probabilities = [{"UP": 0.9, "DOWN": 0.1}, {"UP": 0.4}, {"UP": 0.2}, {"UP": 0.1}]
    metrics = compute_metrics(truth, predicted, probabilities)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["f1"] == pytest.approx(2 / 3)  # positive class "UP" (sorted last)
    assert metrics["roc_auc"] == pytest.approx(1.0)
    assert "roc_auc" not in compute_metrics(truth, predicted)  # no probabilities


def test_regression_metrics_and_degradation() -> None:
    window = PerformanceWindow("deployments/d", "models/m/versions/1", NOW)
    for truth, predicted in [(1.0, 1.5), (2.0, 2.5), (3.0, 2.0)]:
        window.add(
            JoinedPrediction("deployments/d", "models/m/versions/1", predicted, {}, NOW), truth
        )
    report = evaluate_performance(
        window,
        {"val/rmse": 0.5, "mae": 0.6},
        [monitoring_policy_pb2.PerformanceThreshold(metric="rmse", max_relative_drop=0.1)],
    )
    metrics = {m.metric: m for m in report.metrics}
    assert metrics["rmse"].live_value == pytest.approx((0.25 * 2 + 1) ** 0.5 / 3**0.5)
    assert metrics["rmse"].baseline_value == pytest.approx(0.5)
    assert metrics["rmse"].absolute_drop > 0  # positive = worse, for an error metric too
    assert metrics["rmse"].degraded
    assert not metrics["mae"].degraded  # no rule for mae in this policy
    assert report.degraded
    assert report.sample_count == 3


def test_baseline_aliases() -> None:
    assert baseline_value({"test/AUC": 0.8}, "roc_auc") == pytest.approx(0.8)
    assert baseline_value({"f1_score": 0.7}, "f1") == pytest.approx(0.7)
    assert baseline_value({"precision": 0.7}, "accuracy") is None


def test_join_buffer_is_bounded_by_count_and_retention() -> None:
    buffer = JoinBuffer(max_entries=3, retention=timedelta(minutes=10))
    entry = JoinedPrediction("deployments/d", "models/m/versions/1", "UP", {}, NOW)
    for i in range(5):
        buffer.put(f"r{i}", 0, entry, NOW)
    assert len(buffer) == 3
    assert buffer.pop("r0", 0, NOW) is None  # evicted, oldest first
    assert buffer.pop("r4", 0, NOW) is entry
    assert buffer.pop("r4", 0, NOW) is None  # joined once
    assert buffer.pop("r3", 0, NOW + timedelta(minutes=11)) is None  # expired
    assert len(buffer) == 0


# -- listing ------------------------------------------------------------------------------


def _sql(filter: str, order_by: str = "") -> str:
    fields = {
        "deployment": FilterField(AlertRecord.deployment, str),
        "create_time": FilterField(AlertRecord.create_time, parse_timestamp),
        "state": FilterField(AlertRecord.state, lambda v: 1 if v == "OPEN" else 3),
    }
    statement, _ = apply_listing(
        select(AlertRecord),
        filter=filter,
        order_by=order_by,
        page_size=0,
        page_token="",
        fields=fields,
        default_order=(AlertRecord.create_time,),
    )
    return str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_filters_compile_to_sql() -> None:
    sql = _sql('deployment = "deployments/x" AND state = OPEN')
    assert "monitoring_alerts.deployment = 'deployments/x'" in sql
    assert "monitoring_alerts.state = 1" in sql
    assert "DESC" in sql  # newest first by default
    assert "ASC" in _sql("", "create_time")
    assert "create_time >" in _sql('create_time > "2026-01-01T00:00:00Z"')
    for bad in [
        "deployment",
        "deployment = ",
        "x = 1",
        "state = OPEN OR",
        'create_time > "yesterday"',
    ]:
        with pytest.raises(InvalidArgument):
            _sql(bad)
    with pytest.raises(InvalidArgument):
        _sql("", "summary desc")


# -- reference resolver -------------------------------------------------------------------


class FakePeers:
    """Stands in for AsyncGyreClient's ``models`` and ``data`` stubs."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        version = dataset_pb2.DatasetVersion(
            name="datasets/d/versions/1",
            target_column="y",
            state=dataset_pb2.DATASET_VERSION_STATE_READY,
        )
        for column in ("a", "b", "c"):
            version.column_profiles.add(column=column, count=10).numeric.histogram.CopyFrom(
                numeric_histogram(list(range(10)))
            )
        self.dataset = version
        self.models = self
        self.data = self

    async def GetModelVersion(self, request: Any) -> Any:
        self.calls.append(request.name)
        if request.name.endswith("/9"):
            raise NotFound("no such version")
        version = model_version_pb2.ModelVersion(
            name=request.name, dataset_version="datasets/d/versions/1"
        )
        version.signature.inputs.add(name="a")
        version.signature.inputs.add(name="b")
        version.metrics.add(name="accuracy", value=0.9)
        return models_service_pb2.GetModelVersionResponse(model_version=version)

    async def GetDatasetVersion(self, request: Any) -> Any:
        self.calls.append(request.name)
        return data_service_pb2.GetDatasetVersionResponse(dataset_version=self.dataset)


async def test_resolver_follows_the_model_registry_and_caches() -> None:
    peers = FakePeers()
    resolver = ReferenceResolver(peers, retry_after_s=60)
    reference = await resolver.resolve(
        "models/m/versions/1", reference_dataset_version="", features=()
    )
    assert reference.dataset_version == "datasets/d/versions/1"
    assert sorted(reference.features) == ["a", "b"]  # the signature's inputs
    await resolver.resolve("models/m/versions/1", reference_dataset_version="", features=())
    assert peers.calls == ["models/m/versions/1", "datasets/d/versions/1"]
    assert await resolver.registry_baseline("models/m/versions/1") == {"accuracy": 0.9}


async def test_resolver_remembers_failures_and_honours_explicit_references() -> None:
    peers = FakePeers()
    resolver = ReferenceResolver(peers, retry_after_s=60)
    for _ in range(3):
        with pytest.raises(ReferenceUnavailable):
            await resolver.resolve("models/m/versions/9", reference_dataset_version="", features=())
    assert peers.calls == ["models/m/versions/9"]  # asked once within retry_after
    # An explicit reference works even though the registry does not know the version.
    reference = await resolver.resolve(
        "models/m/versions/9", reference_dataset_version="datasets/d/versions/1", features=("c",)
    )
    assert list(reference.features) == ["c"]
    offline = ReferenceResolver(None)
    with pytest.raises(ReferenceUnavailable):
        await offline.resolve("models/m/versions/1", reference_dataset_version="", features=())


# -- webhook ------------------------------------------------------------------------------


async def test_webhook_retries_5xx_and_stops_on_4xx() -> None:
    answers = iter([503, 500, 200])
    seen: list[AttemptResult] = []

    async def record(result: AttemptResult) -> None:
        seen.append(result)

    sender = WebhookSender(attempts=5, wait_initial_s=0.0)
    sender._client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(next(answers)))
    )
    assert await sender.deliver("http://hook.test/", {"a": 1}, on_attempt=record)
    assert [r.http_status for r in seen] == [503, 500, 200]
    assert seen[-1].delivered

    seen.clear()
    sender._client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(404))
    )
    assert not await sender.deliver("http://hook.test/", {}, on_attempt=record)
    assert len(seen) == 1
    assert seen[0].final

    seen.clear()
    sender = WebhookSender(attempts=2, wait_initial_s=0.0)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sender._client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    assert not await sender.deliver("http://hook.test/", {}, on_attempt=record)
    assert [r.final for r in seen] == [False, True]
    assert "ConnectError" in seen[-1].error
    await sender.close()


def test_join_buffer_keeps_early_feedback_until_its_prediction_arrives() -> None:
    buffer = JoinBuffer(max_entries=2, retention=timedelta(minutes=10))
    entry = JoinedPrediction("deployments/d", "models/m/versions/1", "UP", {}, NOW)
    buffer.park("r0", 0, "truth-0", NOW)
    assert buffer.pending_feedback == 1
    assert buffer.put("r0", 0, entry, NOW) == "truth-0"  # joined at once, not retained
    assert len(buffer) == 0
    assert buffer.pending_feedback == 0
    assert buffer.put("r0", 1, entry, NOW) is None  # another row of the request waits
    assert len(buffer) == 1
    # Bounded like the join: the oldest pending feedback goes first, counted once.
    for i in range(3):
        buffer.park(f"p{i}", 0, i, NOW)
    assert buffer.pending_feedback == 2
    assert buffer.take_expired_feedback() == 1
    assert buffer.take_expired_feedback() == 0
    # And by retention.
    buffer.expire(NOW + timedelta(minutes=11))
    assert buffer.pending_feedback == 0
    assert buffer.take_expired_feedback() == 2
