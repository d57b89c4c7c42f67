"""SDK helpers of the monitor: policy updates carry exactly the named fields; reports
render as a PSI table and a reference-vs-live chart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gyre.common.v1 import profile_pb2
from gyre.monitoring.v1 import monitoring_service_pb2, report_pb2
from gyre.sdk import monitoring


class FakeMonitoring:
    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.monitoring = self

    def UpdateMonitoringPolicy(self, request: Any) -> Any:
        self.requests.append(request)
        return monitoring_service_pb2.UpdateMonitoringPolicyResponse(
            monitoring_policy=request.monitoring_policy
        )


def test_set_policy_sends_a_mask_of_the_named_fields() -> None:
    client = FakeMonitoring()
    policy = monitoring.set_policy(
        client,
        "elec2",
        window_rows=2000,
        alert_cooldown=timedelta(minutes=5),
        features=["a", "b"],
        performance_thresholds=[{"metric": "accuracy", "max_absolute_drop": 0.1}],
    )
    request = client.requests[0]
    assert request.allow_missing
    assert sorted(request.update_mask.paths) == [
        "alert_cooldown",
        "features",
        "performance_thresholds",
        "window_rows",
    ]
    assert policy.name == "deployments/elec2/monitoringPolicy"
    assert policy.alert_cooldown.seconds == 300
    assert list(policy.features) == ["a", "b"]
    with pytest.raises(TypeError, match="unknown policy fields"):
        monitoring.set_policy(client, "elec2", window=3)


def test_render_report_shows_the_table_and_a_chart() -> None:
    report = report_pb2.DriftReport(
        name="deployments/elec2/driftReports/r1",
        model_version="models/elec2/versions/1",
        reference_dataset_version="datasets/elec2/versions/1",
        row_count=100,
        drifted_share=0.5,
        drifted=True,
    )
    report.features.add(
        feature="nswprice",
        kind=report_pb2.FEATURE_KIND_NUMERIC,
        psi=0.41,
        drifted=True,
        reference=profile_pb2.Histogram(edges=[0.0, 0.5, 1.0], counts=[50, 50]),
        current=profile_pb2.Histogram(edges=[0.0, 0.5, 1.0], counts=[90, 10]),
    )
    report.features.add(
        feature="day",
        kind=report_pb2.FEATURE_KIND_CATEGORICAL,
        psi=0.01,
        chi_square_p_value=0.6,
        reference=profile_pb2.Histogram(categories=["mon", "tue"], counts=[5, 5, 0]),
        current=profile_pb2.Histogram(categories=["mon", "tue"], counts=[5, 4, 1]),
    )
    report.missing_feature_counts["transfer"] = 3
    text = monitoring.render_report(report)
    assert "nswprice" in text
    assert "0.4100" in text
    assert "DRIFTED" in text
    assert "[-inf, 0.5)" in text
    assert "ref  50.0%" in text
    assert "now  90.0%" in text
    assert "missing in logs: transfer (3 rows)" in text
    categorical = monitoring.render_report(report, feature="day")
    assert "(other)" in categorical
    assert "0.6" in categorical
    assert "no feature 'zzz'" in monitoring.render_report(report, feature="zzz")


def test_render_drift_reports_performance_and_stats() -> None:
    drift = report_pb2.DriftReport(
        name="deployments/elec2/driftReports/r1",
        model_version="models/elec2/versions/1",
        row_count=2000,
        drifted_share=0.375,
        drifted=True,
    )
    drift.create_time.FromSeconds(1_700_000_000)
    drift.window.start_time.FromSeconds(1_699_990_000)
    drift.window.end_time.FromSeconds(1_699_999_000)
    table = monitoring.render_drift_reports([drift])
    assert "r1" in table
    assert "38%" in table
    assert "DRIFTED" in table
    assert "2023-11-14 22:13:20" in table
    assert monitoring.render_drift_reports([]) == "no drift reports"

    performance = report_pb2.PerformanceReport(
        name="deployments/elec2/performanceReports/p1", sample_count=500, degraded=True
    )
    performance.metrics.add(
        metric="accuracy", live_value=0.7, baseline_value=0.9, absolute_drop=0.2, degraded=True
    )
    text = monitoring.render_performance(performance)
    assert "samples 500" in text
    assert "DEGRADED" in text
    assert "0.7000" in text
    assert "0.9000" in text

    stats = monitoring_service_pb2.GetIngestionStatsResponse(
        prediction_records=10, feedback_entries=4, unmatched_feedback_entries=1
    )
    stats.unknown_deployment_records["deployments/ghost"] = 3
    text = monitoring.render_stats(stats)
    assert "unmatched feedback        1" in text
    assert "deployments/ghost" in text
    assert "no reference profile      none" in text
