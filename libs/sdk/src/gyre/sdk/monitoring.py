"""Client-side helpers for the monitor (``gyre.monitoring.v1.MonitoringService``).

::

    from gyre.sdk import GyreClient
    from gyre.sdk import monitoring

    with GyreClient() as client:
        monitoring.set_policy(client, "elec2", window_rows=2000, psi_threshold=0.25,
                              reference_dataset_version="datasets/elec2/versions/1")
        report = monitoring.drift_report(client, "elec2")          # the latest
        print(monitoring.render_report(report, feature="nswprice"))
        for alert in monitoring.list_alerts(client, deployment="elec2", state="OPEN"):
            print(alert.summary)
        print(monitoring.render_drift_reports(list(monitoring.list_drift_reports(client, "elec2"))))
        print(monitoring.render_performance(monitoring.performance_report(client, "elec2")))
        print(monitoring.render_stats(monitoring.ingestion_stats(client)))

Deployments may be given as ``"elec2"`` or ``"deployments/elec2"``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, Final

from google.protobuf import duration_pb2, field_mask_pb2

from gyre.monitoring.v1 import (
    alert_pb2,
    monitoring_policy_pb2,
    monitoring_service_pb2,
    report_pb2,
)

__all__ = [
    "POLICY_FIELDS",
    "deployment_name",
    "drift_report",
    "get_policy",
    "ingestion_stats",
    "list_alerts",
    "list_drift_reports",
    "list_performance_reports",
    "performance_report",
    "render_alerts",
    "render_drift_reports",
    "render_histogram",
    "render_performance",
    "render_report",
    "render_stats",
    "set_policy",
]

#: Policy fields ``set_policy`` accepts as keyword arguments.
POLICY_FIELDS: Final = frozenset(
    monitoring_policy_pb2.MonitoringPolicy.DESCRIPTOR.fields_by_name
) - {"name", "update_time", "etag"}
_DURATIONS: Final = frozenset({"window_duration", "evaluation_interval", "alert_cooldown"})
_BAR: Final = "█"


def deployment_name(deployment: str) -> str:
    """``"deployments/{deployment}"`` from ``"x"`` or ``"deployments/x"``."""
    return deployment if deployment.startswith("deployments/") else f"deployments/{deployment}"


def get_policy(client: Any, deployment: str) -> monitoring_policy_pb2.MonitoringPolicy:
    """The deployment's policy in force (the defaults when none was set).

    Raises:
        gyre.sdk.errors.NotFound: the monitor does not know the deployment.
    """
    response = client.monitoring.GetMonitoringPolicy(
        monitoring_service_pb2.GetMonitoringPolicyRequest(
            name=f"{deployment_name(deployment)}/monitoringPolicy"
        )
    )
    policy: monitoring_policy_pb2.MonitoringPolicy = response.monitoring_policy
    return policy


def set_policy(
    client: Any, deployment: str, *, allow_missing: bool = True, **fields: Any
) -> monitoring_policy_pb2.MonitoringPolicy:
    """Update the named policy fields (only those); creates the policy if needed.

    Durations (``window_duration``, ``evaluation_interval``, ``alert_cooldown``) take
    a ``timedelta`` or seconds; ``features`` a sequence of names;
    ``performance_thresholds`` a sequence of ``PerformanceThreshold`` messages or dicts.

    Raises:
        TypeError: an unknown field.
        gyre.sdk.errors.InvalidArgument: a value out of range.
    """
    unknown = set(fields) - POLICY_FIELDS
    if unknown:
        raise TypeError(f"unknown policy fields: {', '.join(sorted(unknown))}")
    name = f"{deployment_name(deployment)}/monitoringPolicy"
    policy = monitoring_policy_pb2.MonitoringPolicy(name=name)
    for key, value in fields.items():
        if key in _DURATIONS:
            seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
            duration = duration_pb2.Duration()
            duration.FromTimedelta(timedelta(seconds=seconds))
            getattr(policy, key).CopyFrom(duration)
        elif key == "features":
            policy.features.extend(value)
        elif key == "performance_thresholds":
            for rule in value:
                if isinstance(rule, dict):
                    rule = monitoring_policy_pb2.PerformanceThreshold(**rule)
                policy.performance_thresholds.append(rule)
        else:
            setattr(policy, key, value)
    response = client.monitoring.UpdateMonitoringPolicy(
        monitoring_service_pb2.UpdateMonitoringPolicyRequest(
            monitoring_policy=policy,
            update_mask=field_mask_pb2.FieldMask(paths=sorted(fields)),
            allow_missing=allow_missing,
        )
    )
    updated: monitoring_policy_pb2.MonitoringPolicy = response.monitoring_policy
    return updated


def drift_report(client: Any, deployment: str, report: str = "latest") -> report_pb2.DriftReport:
    """A drift report by id (default the latest).

    Raises:
        gyre.sdk.errors.NotFound: no such report (or none yet).
    """
    response = client.monitoring.GetDriftReport(
        monitoring_service_pb2.GetDriftReportRequest(
            name=f"{deployment_name(deployment)}/driftReports/{report}"
        )
    )
    result: report_pb2.DriftReport = response.drift_report
    return result


def performance_report(
    client: Any, deployment: str, report: str = "latest"
) -> report_pb2.PerformanceReport:
    """A performance report by id (default the latest).

    Raises:
        gyre.sdk.errors.NotFound: no such report (or none yet).
    """
    response = client.monitoring.GetPerformanceReport(
        monitoring_service_pb2.GetPerformanceReportRequest(
            name=f"{deployment_name(deployment)}/performanceReports/{report}"
        )
    )
    result: report_pb2.PerformanceReport = response.performance_report
    return result


def list_drift_reports(
    client: Any, deployment: str = "-", *, filter: str = "", order_by: str = ""
) -> Iterator[report_pb2.DriftReport]:
    """Every drift report of a deployment (``"-"``: all), page by page."""
    token = ""
    while True:
        response = client.monitoring.ListDriftReports(
            monitoring_service_pb2.ListDriftReportsRequest(
                parent=deployment_name(deployment),
                filter=filter,
                order_by=order_by,
                page_size=200,
                page_token=token,
            )
        )
        yield from response.drift_reports
        token = response.next_page_token
        if not token:
            return


def list_performance_reports(
    client: Any, deployment: str = "-", *, filter: str = "", order_by: str = ""
) -> Iterator[report_pb2.PerformanceReport]:
    """Every performance report of a deployment (``"-"``: all), page by page."""
    token = ""
    while True:
        response = client.monitoring.ListPerformanceReports(
            monitoring_service_pb2.ListPerformanceReportsRequest(
                parent=deployment_name(deployment),
                filter=filter,
                order_by=order_by,
                page_size=200,
                page_token=token,
            )
        )
        yield from response.performance_reports
        token = response.next_page_token
        if not token:
            return


def ingestion_stats(client: Any) -> monitoring_service_pb2.GetIngestionStatsResponse:
    """What the monitor's intake received and could not use, since it started."""
    response: monitoring_service_pb2.GetIngestionStatsResponse = (
        client.monitoring.GetIngestionStats(monitoring_service_pb2.GetIngestionStatsRequest())
    )
    return response


def list_alerts(
    client: Any,
    *,
    deployment: str | None = None,
    state: str | None = None,
    kind: str | None = None,
) -> Iterator[alert_pb2.Alert]:
    """Alerts, newest first, optionally of one deployment, state (``OPEN``,
    ``ACKNOWLEDGED``, ``RESOLVED``) and kind (``DRIFT``, ``PERFORMANCE``)."""
    parts = []
    if deployment:
        parts.append(f'deployment = "{deployment_name(deployment)}"')
    if state:
        parts.append(f"state = {state.upper()}")
    if kind:
        parts.append(f"kind = {kind.upper()}")
    token = ""
    while True:
        response = client.monitoring.ListAlerts(
            monitoring_service_pb2.ListAlertsRequest(
                filter=" AND ".join(parts), page_size=200, page_token=token
            )
        )
        yield from response.alerts
        token = response.next_page_token
        if not token:
            return


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def render_histogram(feature: report_pb2.FeatureDrift, *, width: int = 30) -> str:
    """A text chart of a feature's reference (``ref``) vs window (``now``) shares per bin."""
    reference = list(feature.reference.counts)
    current = list(feature.current.counts)
    ref_shares, cur_shares = _shares(reference), _shares(current)
    edges = list(feature.reference.edges)
    categories = list(feature.reference.categories)
    labels = []
    for i in range(len(reference)):
        if edges:
            low = "-inf" if i == 0 else f"{edges[i]:.4g}"
            high = "+inf" if i == len(reference) - 1 else f"{edges[i + 1]:.4g}"
            labels.append(f"[{low}, {high})")
        else:
            labels.append(categories[i] if i < len(categories) else "(other)")
    label_width = max((len(label) for label in labels), default=0)
    peak = max([*ref_shares, *cur_shares, 1e-12])
    lines = [f"{feature.feature}  PSI {feature.psi:.4f}{'  DRIFTED' if feature.drifted else ''}"]
    for label, r, c in zip(labels, ref_shares, cur_shares, strict=True):
        ref_bar = _BAR * round(r / peak * width)
        cur_bar = _BAR * round(c / peak * width)
        lines.append(f"  {label:>{label_width}}  ref {r:6.1%} {ref_bar}")
        lines.append(f"  {'':>{label_width}}  now {c:6.1%} {cur_bar}")
    return "\n".join(lines)


def render_report(report: report_pb2.DriftReport, *, feature: str | None = None) -> str:
    """A drift report as text: a table of features with PSI, then the histogram chart of
    ``feature`` (default: the feature with the highest PSI)."""
    lines = [
        f"{report.name}",
        f"model version {report.model_version}  reference {report.reference_dataset_version}",
        f"rows {report.row_count}  drifted share {report.drifted_share:.2f}  "
        f"verdict {'DRIFTED' if report.drifted else 'ok'}",
        "",
        f"{'feature':<24} {'kind':<12} {'PSI':>8} {'chi2 p':>10} {'null ref/now':>14}  drifted",
    ]
    rows = list(report.features)
    if report.HasField("prediction_drift"):
        rows.append(report.prediction_drift)
    for f in rows:
        kind = report_pb2.FeatureKind.Name(f.kind).removeprefix("FEATURE_KIND_").lower()
        p_value = f"{f.chi_square_p_value:.3g}" if f.HasField("chi_square_p_value") else "-"
        nulls = f"{f.reference_null_rate:.1%}/{f.current_null_rate:.1%}"
        lines.append(
            f"{f.feature:<24} {kind:<12} {f.psi:>8.4f} {p_value:>10} {nulls:>14}  "
            f"{'yes' if f.drifted else 'no'}"
        )
    for name, count in sorted(report.missing_feature_counts.items()):
        lines.append(f"missing in logs: {name} ({count} rows)")
    for name, count in sorted(report.unreferenced_column_counts.items()):
        lines.append(f"not in the reference: {name} ({count} rows)")
    chosen = None
    if feature:
        chosen = next((f for f in rows if f.feature == feature), None)
        if chosen is None:
            lines.append(f"\nno feature {feature!r} in this report")
    elif report.features:
        chosen = max(report.features, key=lambda f: f.psi)
    if chosen is not None and chosen.reference.counts:
        lines.append("")
        lines.append(render_histogram(chosen))
    return "\n".join(lines)


def render_alerts(alerts: Sequence[alert_pb2.Alert]) -> str:
    """Alerts as a table."""
    if not alerts:
        return "no alerts"
    lines = [f"{'alert':<44} {'kind':<12} {'state':<13} {'deployment':<24} summary"]
    for a in alerts:
        kind = alert_pb2.AlertKind.Name(a.kind).removeprefix("ALERT_KIND_")
        state = alert_pb2.AlertState.Name(a.state).removeprefix("ALERT_STATE_")
        lines.append(f"{a.name:<44} {kind:<12} {state:<13} {a.deployment:<24} {a.summary}")
    return "\n".join(lines)


def _time(stamp: Any) -> str:
    """A ``Timestamp`` as ``YYYY-MM-DD HH:MM:SS`` (UTC), or ``-`` when unset."""
    if not stamp.seconds and not stamp.nanos:
        return "-"
    return str(stamp.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"))


def _window(interval: Any) -> str:
    return f"{_time(interval.start_time)} .. {_time(interval.end_time)}"


def render_drift_reports(reports: Sequence[report_pb2.DriftReport]) -> str:
    """Drift reports over time as a table: created, report id, window (by prediction
    time), rows, drifted share, verdict, model version."""
    if not reports:
        return "no drift reports"
    lines = [
        f"{'created (UTC)':<19}  {'report':<12} {'window (prediction time)':<42} "
        f"{'rows':>8} {'drifted':>8}  {'verdict':<8} model version"
    ]
    for r in reports:
        report_id = r.name.rsplit("/", 1)[-1]
        lines.append(
            f"{_time(r.create_time):<19}  {report_id:<12} {_window(r.window):<42} "
            f"{r.row_count:>8} {r.drifted_share:>8.0%}  {'DRIFTED' if r.drifted else 'ok':<8} "
            f"{r.model_version}"
        )
    return "\n".join(lines)


def render_performance(report: report_pb2.PerformanceReport) -> str:
    """A performance report as text: each live metric against its baseline."""
    lines = [
        report.name,
        f"model version {report.model_version}  created {_time(report.create_time)}",
        f"window {_window(report.window)}  samples {report.sample_count}  "
        f"verdict {'DEGRADED' if report.degraded else 'ok'}",
        "",
        f"{'metric':<12} {'live':>10} {'baseline':>10} {'drop':>10} {'rel drop':>9}  degraded",
    ]
    for m in report.metrics:
        lines.append(
            f"{m.metric:<12} {m.live_value:>10.4f} {m.baseline_value:>10.4f} "
            f"{m.absolute_drop:>10.4f} {m.relative_drop:>9.1%}  {'yes' if m.degraded else 'no'}"
        )
    if not report.metrics:
        lines.append("(no metrics)")
    return "\n".join(lines)


def render_stats(stats: monitoring_service_pb2.GetIngestionStatsResponse) -> str:
    """Ingestion stats as text (counts since the monitor started)."""
    lines = [
        f"since {_time(stats.start_time)} UTC",
        f"prediction records        {stats.prediction_records}",
        f"missing feature rows      {stats.missing_feature_rows}",
        f"feedback entries          {stats.feedback_entries}",
        f"unmatched feedback        {stats.unmatched_feedback_entries}",
    ]
    for title, counts in (
        ("unknown deployments", stats.unknown_deployment_records),
        ("no reference profile", stats.unreferenced_records),
    ):
        if counts:
            lines.append(f"{title}:")
            lines.extend(f"  {name:<30} {count} records" for name, count in sorted(counts.items()))
        else:
            lines.append(f"{title:<25} none")
    return "\n".join(lines)
