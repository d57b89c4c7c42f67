"""Prometheus metrics of the monitor (default registry, created once per process).

Gauges per deployment, model version and feature, so Grafana can chart drift and live
performance over time; counters of what the intake accepted or could not use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final

from prometheus_client import Counter, Gauge

from gyre.monitoring.v1 import report_pb2

__all__ = ["MonitorMetrics", "monitor_metrics"]

_LOCK: Final = threading.Lock()
_INSTANCE: list[MonitorMetrics] = []


@dataclass(frozen=True)
class MonitorMetrics:
    """The monitor's metric families."""

    feature_psi: Gauge
    feature_drifted: Gauge
    drifted_share: Gauge
    prediction_psi: Gauge
    live_metric: Gauge
    baseline_metric: Gauge
    window_rows: Gauge
    records: Counter
    feedback: Counter
    alerts: Counter

    def record_drift(self, deployment: str, report: report_pb2.DriftReport) -> None:
        """Set the gauges of a drift report."""
        version = report.model_version
        for feature in report.features:
            self.feature_psi.labels(deployment, version, feature.feature).set(feature.psi)
            self.feature_drifted.labels(deployment, version, feature.feature).set(
                1.0 if feature.drifted else 0.0
            )
        self.drifted_share.labels(deployment, version).set(report.drifted_share)
        if report.HasField("prediction_drift"):
            self.prediction_psi.labels(deployment, version).set(report.prediction_drift.psi)

    def record_performance(self, deployment: str, report: report_pb2.PerformanceReport) -> None:
        """Set the gauges of a performance report."""
        for metric in report.metrics:
            labels = (deployment, report.model_version, metric.metric)
            self.live_metric.labels(*labels).set(metric.live_value)
            if metric.baseline_value or metric.absolute_drop:
                self.baseline_metric.labels(*labels).set(metric.baseline_value)


def monitor_metrics() -> MonitorMetrics:
    """The process's metric families (several monitors in one process share them)."""
    with _LOCK:
        if _INSTANCE:
            return _INSTANCE[0]
        dv = ("deployment", "model_version")
        metrics = MonitorMetrics(
            feature_psi=Gauge(
                "gyre_monitoring_feature_psi",
                "PSI of a feature in the last evaluated window.",
                (*dv, "feature"),
            ),
            feature_drifted=Gauge(
                "gyre_monitoring_feature_drifted",
                "1 when the feature drifted in the last evaluated window, else 0.",
                (*dv, "feature"),
            ),
            drifted_share=Gauge(
                "gyre_monitoring_drifted_share",
                "Share of monitored features that drifted in the last window (0-1).",
                dv,
            ),
            prediction_psi=Gauge(
                "gyre_monitoring_prediction_psi",
                "PSI of the prediction distribution in the last window.",
                dv,
            ),
            live_metric=Gauge(
                "gyre_monitoring_live_metric",
                "Live metric from feedback in the last performance window.",
                (*dv, "metric"),
            ),
            baseline_metric=Gauge(
                "gyre_monitoring_baseline_metric",
                "Validated baseline of a live metric.",
                (*dv, "metric"),
            ),
            window_rows=Gauge(
                "gyre_monitoring_window_rows",
                "Rows in the open drift window.",
                dv,
            ),
            records=Counter(
                "gyre_monitoring_prediction_records",
                "Logged prediction records received, by outcome.",
                ("outcome",),
            ),
            feedback=Counter(
                "gyre_monitoring_feedback_entries",
                "Feedback entries received, by outcome.",
                ("outcome",),
            ),
            alerts=Counter(
                "gyre_monitoring_alerts",
                "Alerts raised, by kind.",
                ("kind",),
            ),
        )
        _INSTANCE.append(metrics)
        return metrics
