"""Elec2 end to end: the monitor on real NATS and SQL, fed the way the gateway feeds it.

Reference = the first year pushed to the real data registry (running in-process on real
S3), whose profile (decile bins, label frequencies) the monitor fetches with
``GetDatasetVersion``; the model is a
random forest trained on the first year, converted to ONNX and run with onnxruntime to
produce the logged predictions and probabilities.

- Traffic sampled from the first year (the reference population) shows no drift.
- Traffic from the last months drifts on exactly the features whose PSI, computed in
  one numpy batch over the same window, exceeds the threshold; one episode of
  consecutive drifted windows fires exactly one ``monitoring.drift.detected``.
- Feedback: the first year keeps the validated accuracy; the last months' real labels
  show the drop, which fires ``monitoring.performance.degraded``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from monitoring_helpers import (
    ELEC2_FEATURES,
    FIRST_YEAR_ROWS,
    MODEL_VERSION,
    Gateway,
    MonitorHandle,
    Registry,
    eventually,
)
from sklearn.ensemble import RandomForestClassifier
from support.onnx_models import OnnxModel, train_onnx

from gyre.data.v1 import dataset_pb2
from gyre.monitoring.v1 import alert_pb2, monitoring_service_pb2
from gyre.services.monitoring.drift import psi

WINDOW = 2000


@pytest.fixture(scope="module")
def first_year(elec2: pd.DataFrame) -> pd.DataFrame:
    return elec2.iloc[:FIRST_YEAR_ROWS]


@pytest.fixture(scope="module")
def model(first_year: pd.DataFrame) -> tuple[OnnxModel, float]:
    """An ONNX random forest trained on 70 % of the first year, and its held-out accuracy."""
    train = first_year.sample(frac=0.7, random_state=0)
    held_out = first_year.drop(train.index)
    onnx = train_onnx(
        train[[*ELEC2_FEATURES, "class"]],
        "class",
        RandomForestClassifier(n_estimators=20, max_depth=10, random_state=0),
    )
    predictions, _ = predict(onnx, held_out)
    return onnx, float(np.mean(np.asarray(predictions) == held_out["class"].to_numpy()))


def predict(model: OnnxModel, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    session = ort.InferenceSession(model.onnx_bytes, providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], model.onnx_inputs(frame))
    return [str(v) for v in label], np.asarray(probabilities)


def batch_psi(reference: dataset_pb2.DatasetVersion, window: pd.DataFrame) -> dict[str, float]:
    """Each feature's PSI over the whole window at once (numpy), on the same bins."""
    result = {}
    for profile in reference.column_profiles:
        if profile.column not in ELEC2_FEATURES:
            continue
        edges = np.asarray(profile.numeric.histogram.edges)
        bins = len(profile.numeric.histogram.counts)
        index = np.searchsorted(edges, window[profile.column], "right") - 1
        counts = np.bincount(np.clip(index, 0, bins - 1), minlength=bins)
        result[profile.column] = psi(list(profile.numeric.histogram.counts), counts)
    return result


async def start_monitoring(handle: MonitorHandle, gateway: Gateway, registry: Registry) -> None:
    """The deployment (announced by the gateway) and its policy, naming the reference the
    data registry profiled (no model registry needed)."""
    await gateway.deployment_created()
    await handle.set_policy(
        reference_dataset_version=registry.version.name,
        window_rows=WINDOW,
        min_window_rows=500,
        min_feedback_rows=500,
        alert_cooldown=timedelta(hours=1),
    )


async def test_first_year_traffic_does_not_drift_and_last_months_drift_once(
    monitor_factory: Any,
    gateway: Gateway,
    first_year: pd.DataFrame,
    elec2: pd.DataFrame,
    model: tuple[OnnxModel, float],
    database_url: str,
    data_registry: Registry,
) -> None:
    onnx, _ = model
    version = data_registry.version
    peers = {"data_registry": data_registry.target}
    async with monitor_factory(database_url=database_url, peers=peers) as handle:
        await start_monitoring(handle, gateway, data_registry)

        # 3 windows sampled from the reference population.
        replay = first_year.sample(n=3 * WINDOW, random_state=7)
        labels, probabilities = predict(onnx, replay)
        await gateway.log_predictions(replay, labels, probabilities, request_prefix="replay")
        await eventually(lambda: _count(handle.drift_reports(), 3), within_s=60)
        reports = await handle.drift_reports()
        assert [r.drifted for r in reports] == [False, False, False]
        for report in reports:
            assert report.row_count == WINDOW
            assert report.reference_dataset_version == version.name
            assert report.model_version == MODEL_VERSION
            assert max(f.psi for f in report.features) < 0.1
            assert not report.prediction_drift.drifted
        assert await handle.alerts() == []

        # 3 windows from the last months: one drift episode.
        recent = elec2.iloc[-3 * WINDOW :]
        labels, probabilities = predict(onnx, recent)
        await gateway.log_predictions(recent, labels, probabilities, request_prefix="recent")
        await eventually(lambda: _count(handle.drift_reports(), 6), within_s=60)
        reports = (await handle.drift_reports())[3:]
        assert [r.drifted for r in reports] == [True, True, True]
        for i, report in enumerate(reports):
            window = recent.iloc[i * WINDOW : (i + 1) * WINDOW]
            expected = batch_psi(version, window)
            by_name = {f.feature: f for f in report.features}
            for name, value in expected.items():
                assert by_name[name].psi == pytest.approx(value, rel=1e-9, abs=1e-12)
            moved = {name for name, value in expected.items() if value > 0.2}
            assert {f.feature for f in report.features if f.drifted} == moved
            assert {"date", "vicprice", "vicdemand"} <= moved
            assert not by_name["day"].drifted
            assert not by_name["period"].drifted

        await eventually(lambda: _has(handle, "monitoring.drift.detected", 1), within_s=30)
        detected = handle.emitted("monitoring.drift.detected")
        assert len(detected) == 1
        payload = detected[0].monitoring_drift_detected
        assert payload.deployment == "deployments/elec2"
        assert payload.model_version == MODEL_VERSION
        assert payload.report.name == reports[0].name
        assert payload.report.drifted
        alerts = await handle.alerts()
        assert len(alerts) == 1
        alert = alerts[0]
        assert alert.kind == alert_pb2.ALERT_KIND_DRIFT
        assert alert.state == alert_pb2.ALERT_STATE_OPEN
        assert alert.report == reports[0].name
        assert "features drifted" in alert.summary
        assert alert.webhook_delivery.state == alert_pb2.WEBHOOK_DELIVERY_STATE_NOT_CONFIGURED
        assert len(handle.emitted("monitoring.alert.raised")) == 1

        # Back to reference-like traffic: the episode ends and the alert resolves.
        calm = first_year.sample(n=WINDOW, random_state=11)
        labels, probabilities = predict(onnx, calm)
        await gateway.log_predictions(calm, labels, probabilities, request_prefix="calm")
        await eventually(lambda: _count(handle.drift_reports(), 7), within_s=60)
        assert not (await handle.drift_reports())[-1].drifted
        resolved = await handle.alerts(filter="state = RESOLVED")
        assert [a.name for a in resolved] == [alert.name]

        # A new episode within the cooldown raises nothing more.
        again = recent.iloc[:WINDOW]
        labels, probabilities = predict(onnx, again)
        await gateway.log_predictions(again, labels, probabilities, request_prefix="again")
        await eventually(lambda: _count(handle.drift_reports(), 8), within_s=60)
        assert (await handle.drift_reports())[-1].drifted
        assert len(handle.emitted("monitoring.drift.detected")) == 1
        assert len(await handle.alerts()) == 1

        latest = await handle.client.monitoring.GetDriftReport(
            monitoring_service_pb2.GetDriftReportRequest(
                name="deployments/elec2/driftReports/latest"
            )
        )
        assert latest.drift_report.name == (await handle.drift_reports())[-1].name


async def test_feedback_accuracy_drop_fires_performance_degraded(
    monitor_factory: Any,
    gateway: Gateway,
    first_year: pd.DataFrame,
    elec2: pd.DataFrame,
    model: tuple[OnnxModel, float],
    data_registry: Registry,
) -> None:
    onnx, held_out_accuracy = model
    peers = {"data_registry": data_registry.target}
    async with monitor_factory(peers=peers) as handle:
        await start_monitoring(handle, gateway, data_registry)
        await gateway.validation_completed({"accuracy": held_out_accuracy})

        # Held-out first-year rows: the live accuracy matches the validated one.
        held_out = first_year.iloc[1::7].iloc[:WINDOW]
        labels, probabilities = predict(onnx, held_out)
        ids = await gateway.log_predictions(held_out, labels, probabilities, request_prefix="h")
        await gateway.feedback(ids, held_out["class"].tolist())
        await eventually(lambda: _count(handle.performance_reports(), 1), within_s=60)
        first = (await handle.performance_reports())[0]
        metrics = {m.metric: m for m in first.metrics}
        assert first.sample_count == WINDOW
        assert not first.degraded
        assert metrics["accuracy"].baseline_value == pytest.approx(held_out_accuracy)
        assert abs(metrics["accuracy"].absolute_drop) < 0.05
        assert 0.5 < metrics["roc_auc"].live_value <= 1.0
        assert "f1" in metrics

        # The last months with their real labels: accuracy drops.
        recent = elec2.iloc[-WINDOW:]
        labels, probabilities = predict(onnx, recent)
        ids = await gateway.log_predictions(recent, labels, probabilities, request_prefix="r")
        await gateway.feedback(ids, recent["class"].tolist())
        await eventually(lambda: _count(handle.performance_reports(), 2), within_s=60)
        second = (await handle.performance_reports())[1]
        accuracy = {m.metric: m for m in second.metrics}["accuracy"]
        live = float(np.mean(np.asarray(labels) == recent["class"].to_numpy()))
        assert accuracy.live_value == pytest.approx(live)
        assert accuracy.absolute_drop > 0.05
        assert accuracy.degraded
        assert second.degraded

        await eventually(lambda: _has(handle, "monitoring.performance.degraded", 1), within_s=30)
        degraded = handle.emitted("monitoring.performance.degraded")
        assert len(degraded) == 1
        assert degraded[0].monitoring_performance_degraded.report.name == second.name
        alerts = await handle.alerts(
            filter='kind = PERFORMANCE AND deployment = "deployments/elec2"'
        )
        assert len(alerts) == 1
        assert "accuracy" in alerts[0].summary

        stats = await handle.stats()
        assert stats.feedback_entries == 2 * WINDOW
        assert stats.unmatched_feedback_entries == 0


async def _count(reports: Any, n: int) -> bool:
    return len(await reports) >= n


async def _has(handle: MonitorHandle, event_type: str, n: int) -> bool:
    return len(handle.emitted(event_type)) >= n


async def test_reference_and_baseline_found_through_the_model_registry(
    monitor_factory: Any,
    gateway: Gateway,
    first_year: pd.DataFrame,
    model: tuple[OnnxModel, float],
    data_registry: Registry,
    tmp_path: Any,
    nats_server: Any,
    s3_server: Any,
) -> None:
    """No policy at all: the logged model version leads, through the real model registry,
    to its training dataset version (the reference), its signature inputs (the monitored
    features) and its metrics (the baseline, when no validation result was received)."""
    from support.gyre_services import running_service, service_settings

    from gyre.sdk.client import AsyncGyreClient
    from gyre.sdk.models import register_onnx

    onnx, held_out_accuracy = model
    settings = service_settings(
        "model_registry", tmp_path / "model-registry", nats=nats_server, s3=s3_server
    ).model_copy(update={"nats": gateway.nats})
    async with running_service("model_registry", settings) as registry:
        client = AsyncGyreClient(addresses={"model_registry": registry.target})
        try:
            version = await register_onnx(
                client,
                "elec2",
                onnx.onnx_bytes,
                signature=onnx.signature,
                dataset_version=data_registry.version.name,
                metrics={"accuracy": held_out_accuracy},
            )
        finally:
            await client.close()
        assert version.name == MODEL_VERSION
        peers = {"data_registry": data_registry.target, "model_registry": registry.target}
        async with monitor_factory(peers=peers) as handle:
            await gateway.deployment_created()
            sample = first_year.sample(n=1000, random_state=3)  # the default window size
            labels, probabilities = predict(onnx, sample)
            ids = await gateway.log_predictions(sample, labels, probabilities, request_prefix="m")
            await eventually(lambda: _count(handle.drift_reports(), 1), within_s=60)
            report = (await handle.drift_reports())[0]
            assert report.reference_dataset_version == data_registry.version.name
            assert sorted(f.feature for f in report.features) == sorted(ELEC2_FEATURES)
            assert not report.drifted
            await gateway.feedback(ids, sample["class"].tolist())
            await eventually(lambda: _count(handle.performance_reports(), 1), within_s=60)
            performance = (await handle.performance_reports())[0]
            accuracy = {m.metric: m for m in performance.metrics}["accuracy"]
            assert accuracy.baseline_value == pytest.approx(held_out_accuracy)


async def test_open_windows_survive_a_restart(
    monitor_factory: Any,
    gateway: Gateway,
    first_year: pd.DataFrame,
    data_registry: Registry,
    tmp_path: Any,
) -> None:
    """A graceful stop checkpoints the open windows; the next start goes on counting."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'monitor-restart.db'}"
    peers = {"data_registry": data_registry.target}
    rows = first_year.sample(n=600, random_state=9)
    async with monitor_factory(database_url=url, peers=peers) as handle:
        await start_monitoring(handle, gateway, data_registry)
        await gateway.log_predictions(rows.iloc[:300], ["UP"] * 300, request_prefix="a")
        await handle.settled(300)
    async with monitor_factory(database_url=url, peers=peers) as handle:
        await gateway.log_predictions(rows.iloc[300:], ["UP"] * 300, request_prefix="b")
        await handle.settled(300)  # counters are per process: this one saw 300
        response = await handle.client.monitoring.EvaluateNow(
            monitoring_service_pb2.EvaluateNowRequest(deployment="deployments/elec2")
        )
        assert response.drift_report.row_count == 600
        counts = {f.feature: sum(f.current.counts) for f in response.drift_report.features}
        assert set(counts.values()) == {600}
