"""The monitor's API on a running service: policies, bad input, intake of bad records,
EvaluateNow, alerts with a webhook that fails before it succeeds, and the CLI."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.protobuf import field_mask_pb2
from monitoring_helpers import DEPLOYMENT, ELEC2_FEATURES, MODEL_VERSION, eventually
from typer.testing import CliRunner

from gyre.data.v1 import dataset_pb2
from gyre.events.v1 import inference_events_pb2
from gyre.monitoring.v1 import alert_pb2, monitoring_policy_pb2, monitoring_service_pb2
from gyre.sdk import errors
from gyre.services.monitoring.drift import numeric_histogram

REFERENCE = "datasets/uniform/versions/1"


def reference() -> dataset_pb2.DatasetVersion:
    rng = np.random.default_rng(0)
    version = dataset_pb2.DatasetVersion(name=REFERENCE, target_column="class")
    for column in ELEC2_FEATURES:
        profile = version.column_profiles.add(column=column, count=5000)
        profile.numeric.histogram.CopyFrom(numeric_histogram(rng.random(5000)))
    label = version.column_profiles.add(column="class", count=5000)
    label.categorical.top_categories.add(value="UP", count=2500)
    label.categorical.top_categories.add(value="DOWN", count=2500)
    return version


def rows(n: int, *, shift: float = 0.0, seed: int = 1) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.random((n, len(ELEC2_FEATURES))) + shift, columns=ELEC2_FEATURES)


class Hook(BaseHTTPRequestHandler):
    """Answers 503 to the first POST, then 200; records bodies."""

    bodies: list[dict[str, Any]] = []
    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(json.loads(body))
        self.send_response(503 if type(self).calls == 1 else 200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    Hook.bodies, Hook.calls = [], 0
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


async def test_policy_round_trip_and_bad_input(monitor_factory: Any, gateway: Any) -> None:
    async with monitor_factory() as handle:
        stub = handle.client.monitoring
        name = f"{DEPLOYMENT}/monitoringPolicy"
        with pytest.raises(errors.NotFound):
            await stub.GetMonitoringPolicy(
                monitoring_service_pb2.GetMonitoringPolicyRequest(name=name)
            )
        with pytest.raises(errors.NotFound):  # unknown deployment, no allow_missing
            await stub.UpdateMonitoringPolicy(
                monitoring_service_pb2.UpdateMonitoringPolicyRequest(
                    monitoring_policy=monitoring_policy_pb2.MonitoringPolicy(
                        name=name, window_rows=10
                    ),
                    update_mask=field_mask_pb2.FieldMask(paths=["window_rows"]),
                )
            )
        await gateway.deployment_created()

        async def known() -> bool:
            try:
                await stub.GetMonitoringPolicy(
                    monitoring_service_pb2.GetMonitoringPolicyRequest(name=name)
                )
            except errors.NotFound:
                return False
            return True

        await eventually(known)
        got = await stub.GetMonitoringPolicy(
            monitoring_service_pb2.GetMonitoringPolicyRequest(name=name)
        )
        assert got.is_default
        assert got.monitoring_policy.enabled

        policy = await handle.set_policy(window_rows=500, psi_threshold=0.25)
        assert policy.window_rows == 500
        assert policy.psi_threshold == pytest.approx(0.25)
        assert policy.enabled
        assert policy.etag

        bad_cases = [
            ({"psi_threshold": -1.0}, "psi_threshold"),
            ({"webhook_url": "ftp://example"}, "webhook_url"),
            ({"reference_dataset_version": "datasets/x"}, "reference_dataset_version"),
            ({"drifted_share_threshold": 1.5}, "drifted_share_threshold"),
            ({"window_rows": -3}, "window_rows"),
        ]
        for fields, field in bad_cases:
            with pytest.raises(errors.InvalidArgument) as caught:
                await handle.set_policy(**fields)
            assert field in str(caught.value)
        # Nothing half-written: the stored policy is unchanged.
        after = await stub.GetMonitoringPolicy(
            monitoring_service_pb2.GetMonitoringPolicyRequest(name=name)
        )
        assert after.monitoring_policy.etag == policy.etag
        assert not after.is_default

        with pytest.raises(errors.InvalidArgument):  # unknown mask path
            await stub.UpdateMonitoringPolicy(
                monitoring_service_pb2.UpdateMonitoringPolicyRequest(
                    monitoring_policy=monitoring_policy_pb2.MonitoringPolicy(name=name),
                    update_mask=field_mask_pb2.FieldMask(paths=["etag"]),
                )
            )
        with pytest.raises(errors.Aborted):  # stale etag
            await stub.UpdateMonitoringPolicy(
                monitoring_service_pb2.UpdateMonitoringPolicyRequest(
                    monitoring_policy=monitoring_policy_pb2.MonitoringPolicy(
                        name=name, window_rows=700, etag="stale"
                    ),
                    update_mask=field_mask_pb2.FieldMask(paths=["window_rows"]),
                )
            )
        with pytest.raises(errors.InvalidArgument):
            await stub.GetMonitoringPolicy(
                monitoring_service_pb2.GetMonitoringPolicyRequest(name="deployments/x")
            )
        with pytest.raises(errors.InvalidArgument):
            await stub.ListDriftReports(
                monitoring_service_pb2.ListDriftReportsRequest(
                    parent=DEPLOYMENT, filter="drifted = = true"
                )
            )
        with pytest.raises(errors.InvalidArgument):
            await stub.ListDriftReports(
                monitoring_service_pb2.ListDriftReportsRequest(parent=DEPLOYMENT, filter="x = 1")
            )
        with pytest.raises(errors.InvalidArgument):
            await stub.ListAlerts(monitoring_service_pb2.ListAlertsRequest(page_token="garbage"))
        with pytest.raises(errors.InvalidArgument):
            await stub.ListAlerts(monitoring_service_pb2.ListAlertsRequest(order_by="summary"))
        with pytest.raises(errors.NotFound):
            await stub.GetDriftReport(
                monitoring_service_pb2.GetDriftReportRequest(
                    name=f"{DEPLOYMENT}/driftReports/latest"
                )
            )
        with pytest.raises(errors.NotFound):
            await stub.GetAlert(monitoring_service_pb2.GetAlertRequest(name="alerts/nope"))
        with pytest.raises(errors.NotFound):
            await stub.EvaluateNow(
                monitoring_service_pb2.EvaluateNowRequest(deployment="deployments/ghost")
            )
        with pytest.raises(errors.FailedPrecondition):
            await stub.EvaluateNow(monitoring_service_pb2.EvaluateNowRequest(deployment=DEPLOYMENT))


async def test_bad_records_are_counted_not_fatal(monitor_factory: Any, gateway: Any) -> None:
    async with monitor_factory() as handle:
        await gateway.deployment_created()
        # No reference yet (no registry, no explicit reference): counted as unreferenced.
        await handle.set_policy(window_rows=100, min_window_rows=10)
        frame = rows(50)
        await gateway.log_predictions(frame, ["UP"] * 50, request_prefix="noref")
        # Unknown deployment.
        await gateway.log_predictions(
            frame, ["UP"] * 50, request_prefix="ghost", deployment="deployments/ghost"
        )
        await handle.settled(100)
        stats = await handle.stats()
        assert dict(stats.unknown_deployment_records) == {"deployments/ghost": 50}
        assert dict(stats.unreferenced_records) == {DEPLOYMENT: 50}
        with pytest.raises(errors.FailedPrecondition) as caught:
            await handle.client.monitoring.EvaluateNow(
                monitoring_service_pb2.EvaluateNowRequest(deployment=DEPLOYMENT)
            )
        assert "reference" in str(caught.value)

        # With a reference: rows lacking a column and extra columns are counted.
        handle.monitor.resolver.add_dataset_version(reference())
        await handle.set_policy(reference_dataset_version=REFERENCE)
        partial = frame.drop(columns=["transfer"]).assign(extra=1.0)
        payload = inference_events_pb2.InferencePredictionLogged(deployment=DEPLOYMENT)
        for i, row in enumerate(partial.to_dict("records")):
            record = payload.records.add(
                request_id=f"p{i}", deployment=DEPLOYMENT, model_version=MODEL_VERSION
            )
            for key, value in row.items():
                record.features.values[key].double_value = float(value)
            record.features.values["day"].string_value = "not a number"
            record.prediction.prediction.string_value = "UP"
        await gateway.emit("inference.prediction.logged", DEPLOYMENT, payload)
        await handle.settled(150)
        response = await handle.client.monitoring.EvaluateNow(
            monitoring_service_pb2.EvaluateNowRequest(deployment=DEPLOYMENT)
        )
        report = response.drift_report
        assert report.row_count == 50
        assert dict(report.missing_feature_counts) == {"transfer": 50}
        assert dict(report.unreferenced_column_counts) == {"extra": 50}
        by_name = {f.feature: f for f in report.features}
        assert by_name["transfer"].current_null_rate == pytest.approx(1.0)
        assert by_name["day"].current_null_rate == pytest.approx(1.0)
        stats = await handle.stats()
        assert stats.missing_feature_rows == 50


async def test_drift_alert_webhook_retries_and_acknowledge(
    monitor_factory: Any, gateway: Any, webhook: str, tmp_path: Path
) -> None:
    async with monitor_factory() as handle:
        handle.monitor.resolver.add_dataset_version(reference())
        await gateway.deployment_created()
        await handle.set_policy(
            reference_dataset_version=REFERENCE,
            window_rows=400,
            min_window_rows=100,
            webhook_url=webhook,
            alert_cooldown=timedelta(hours=1),
        )
        await gateway.log_predictions(rows(400, shift=0.5), ["UP"] * 400, request_prefix="s")
        alerts: list[Any] = await eventually(lambda: _alerts(handle), within_s=60)
        alert = alerts[0]

        async def delivered() -> Any:
            got = await handle.client.monitoring.GetAlert(
                monitoring_service_pb2.GetAlertRequest(name=alert.name)
            )
            state = got.alert.webhook_delivery.state
            return got.alert if state == alert_pb2.WEBHOOK_DELIVERY_STATE_DELIVERED else None

        done = await eventually(delivered, within_s=30)
        assert done.webhook_delivery.attempts == 2
        assert done.webhook_delivery.last_http_status == 200
        assert Hook.calls == 2
        assert Hook.bodies[-1]["name"] == alert.name
        assert Hook.bodies[-1]["kind"] == "ALERT_KIND_DRIFT"

        acked = await handle.client.monitoring.AcknowledgeAlert(
            monitoring_service_pb2.AcknowledgeAlertRequest(name=alert.name, note="looking")
        )
        assert acked.alert.state == alert_pb2.ALERT_STATE_ACKNOWLEDGED
        # Still drifting: the acknowledged episode goes on, no new alert.
        await gateway.log_predictions(
            rows(400, shift=0.5, seed=2), ["UP"] * 400, request_prefix="t"
        )
        await eventually(lambda: _reports(handle, 2), within_s=60)
        assert len(await handle.alerts()) == 1
        # Calm traffic resolves it; acknowledging a resolved alert is refused.
        await gateway.log_predictions(rows(400, seed=3), ["UP", "DOWN"] * 200, request_prefix="u")
        await eventually(lambda: _reports(handle, 3), within_s=60)
        resolved = await handle.client.monitoring.GetAlert(
            monitoring_service_pb2.GetAlertRequest(name=alert.name)
        )
        assert resolved.alert.state == alert_pb2.ALERT_STATE_RESOLVED
        with pytest.raises(errors.FailedPrecondition):
            await handle.client.monitoring.AcknowledgeAlert(
                monitoring_service_pb2.AcknowledgeAlertRequest(name=alert.name)
            )

        # Listing: filters and pages.
        drifted = await handle.client.monitoring.ListDriftReports(
            monitoring_service_pb2.ListDriftReportsRequest(
                parent=DEPLOYMENT, filter="drifted = true"
            )
        )
        assert len(drifted.drift_reports) == 2
        first = await handle.client.monitoring.ListDriftReports(
            monitoring_service_pb2.ListDriftReportsRequest(parent="deployments/-", page_size=2)
        )
        assert len(first.drift_reports) == 2
        assert first.next_page_token
        second = await handle.client.monitoring.ListDriftReports(
            monitoring_service_pb2.ListDriftReportsRequest(
                parent="deployments/-", page_size=2, page_token=first.next_page_token
            )
        )
        assert len(second.drift_reports) == 1
        assert not second.next_page_token
        assert first.drift_reports[0].create_time.ToDatetime() >= (
            second.drift_reports[0].create_time.ToDatetime()
        )

        # The CLI against the running service.
        runner = CliRunner()
        from gyre.cli.monitoring import monitor_app as app

        # Explicit home: never a local stack's stack.json under ~/.gyre.
        env = {"GYRE_MONITORING_ADDRESS": handle.server.target, "GYRE_HOME": str(tmp_path)}
        result = await asyncio.to_thread(runner.invoke, app, ["report", "elec2"], env=env)
        assert result.exit_code == 0, result.output
        assert "PSI" in result.output
        assert "ref" in result.output
        assert "now" in result.output
        result = await asyncio.to_thread(
            runner.invoke, app, ["alerts", "--state", "RESOLVED"], env=env
        )
        assert result.exit_code == 0, result.output
        assert alert.name in result.output
        result = await asyncio.to_thread(
            runner.invoke, app, ["policy", "set", "elec2", "--psi-threshold", "0.3"], env=env
        )
        assert result.exit_code == 0, result.output
        result = await asyncio.to_thread(runner.invoke, app, ["policy", "show", "elec2"], env=env)
        assert _json_block(result.output)["psi_threshold"] == pytest.approx(0.3)
        result = await asyncio.to_thread(runner.invoke, app, ["report", "nobody"], env=env)
        assert result.exit_code == 1
        assert "NotFound" in result.output


def _json_block(output: str) -> Any:
    """The JSON object the CLI printed (the in-process service's log lines share stdout)."""
    lines = output.splitlines()
    start = lines.index("{")
    end = lines.index("}", start)
    return json.loads("\n".join(lines[start : end + 1]))


async def _alerts(handle: Any) -> list[Any] | None:
    alerts = await handle.alerts()
    return alerts or None


async def _reports(handle: Any, n: int) -> bool:
    return len(await handle.drift_reports()) >= n


async def test_time_window_closes_below_the_row_limit_and_sets_gauges(
    monitor_factory: Any, gateway: Any
) -> None:
    from prometheus_client import REGISTRY

    async with monitor_factory() as handle:
        handle.monitor.resolver.add_dataset_version(reference())
        await gateway.deployment_created()
        await handle.set_policy(
            reference_dataset_version=REFERENCE,
            window_rows=100_000,
            min_window_rows=20,
            window_duration=timedelta(seconds=1),
            evaluation_interval=timedelta(seconds=1),
        )
        # Too few rows: the window outlives its duration and keeps counting.
        await gateway.log_predictions(rows(10), ["UP"] * 10, request_prefix="a")
        await handle.settled(10)
        await asyncio.sleep(1.5)
        assert await handle.drift_reports() == []
        await gateway.log_predictions(rows(30, seed=4), ["UP"] * 30, request_prefix="b")
        await eventually(lambda: _reports(handle, 1), within_s=30)
        report = (await handle.drift_reports())[0]
        assert report.row_count == 40
        labels = {"deployment": DEPLOYMENT, "model_version": MODEL_VERSION}
        top = report.features[0]
        value = REGISTRY.get_sample_value(
            "gyre_monitoring_feature_psi", {**labels, "feature": top.feature}
        )
        assert value == pytest.approx(top.psi)
        share = REGISTRY.get_sample_value("gyre_monitoring_drifted_share", labels)
        assert share == pytest.approx(report.drifted_share)


async def test_feedback_published_before_its_prediction_log_is_matched(
    monitor_factory: Any, gateway: Any, tmp_path: Path
) -> None:
    async with monitor_factory() as handle:
        handle.monitor.resolver.add_dataset_version(reference())
        await gateway.deployment_created()
        await handle.set_policy(
            reference_dataset_version=REFERENCE, window_rows=1000, min_feedback_rows=10
        )
        frame = rows(60)
        truths = ["UP"] * 30 + ["DOWN"] * 30
        # Feedback first (as a client recording feedback right after predicting races
        # the gateway's prediction log), for rows early-0..59; one entry never logged.
        await gateway.feedback(
            [*(f"early-{i}" for i in range(60)), "never-logged"], [*truths, "UP"]
        )

        async def fed() -> bool:
            return int((await handle.stats()).feedback_entries) >= 61

        await eventually(fed, within_s=60)
        await gateway.log_predictions(frame, ["UP"] * 60, request_prefix="early")
        await handle.settled(60)
        stats = await handle.stats()
        assert stats.feedback_entries == 61
        assert stats.unmatched_feedback_entries == 0  # still pending, not yet expired
        assert handle.monitor.join.pending_feedback == 1  # "never-logged"
        response = await handle.client.monitoring.EvaluateNow(
            monitoring_service_pb2.EvaluateNowRequest(deployment=DEPLOYMENT, force=True)
        )
        performance = response.performance_report
        assert performance.sample_count == 60
        accuracy = {m.metric: m for m in performance.metrics}["accuracy"]
        assert accuracy.live_value == pytest.approx(0.5)

        # The CLI shows the reports over time, the performance report and the stats.
        runner = CliRunner()
        from gyre.cli.monitoring import monitor_app as app

        env = {"GYRE_MONITORING_ADDRESS": handle.server.target, "GYRE_HOME": str(tmp_path)}

        async def cli(*args: str) -> str:
            result = await asyncio.to_thread(runner.invoke, app, list(args), env=env)
            assert result.exit_code == 0, result.output
            return str(result.output)

        def first_json(text: str) -> Any:
            # The in-process service's access log shares stdout: the JSON starts a line.
            lines = text.splitlines()
            start = next(i for i, line in enumerate(lines) if line.startswith(("[", "{")))
            return json.JSONDecoder().raw_decode("\n".join(lines[start:]))[0]

        table = await cli("reports", "elec2")
        assert response.drift_report.name.rsplit("/", 1)[-1] in table
        assert "60" in table  # rows
        (listed,) = first_json(await cli("reports", "elec2", "--json"))
        assert listed["name"] == response.drift_report.name
        text = await cli("performance", "elec2")
        assert "accuracy" in text
        assert "samples 60" in text
        shown = first_json(await cli("performance", "elec2", "--json"))
        assert shown["name"] == performance.name
        stats_text = await cli("stats")
        assert "unmatched feedback        0" in stats_text
        assert "feedback entries          61" in stats_text
        assert first_json(await cli("stats", "--json"))["feedback_entries"] == "61"
        missing = await asyncio.to_thread(runner.invoke, app, ["performance", "ghost"], env=env)
        assert missing.exit_code == 1
        assert "NotFound" in missing.output
