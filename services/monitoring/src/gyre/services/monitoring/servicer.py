"""``gyre.monitoring.v1.MonitoringService``: proto in, domain call, proto out."""

from __future__ import annotations

from typing import Any

from gyre.monitoring.v1 import (
    alert_pb2,
    monitoring_service_pb2,
    monitoring_service_pb2_grpc,
)
from gyre.runtime.db import Database, utcnow
from gyre.runtime.errors import (
    Aborted,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from gyre.services.monitoring import store
from gyre.services.monitoring.monitor import Monitor
from gyre.services.monitoring.policy import apply_update, policy_etag, validate_policy

__all__ = ["MonitoringServicer"]

_POLICY_SUFFIX = "/monitoringPolicy"


def _deployment_of(value: str, field: str, *, suffix: str = "") -> str:
    """``deployments/{d}`` from ``value`` (which must end with ``suffix``)."""
    base = value[: -len(suffix)] if suffix and value.endswith(suffix) else value
    parts = base.split("/")
    ok = (not suffix or value.endswith(suffix)) and len(parts) == 2
    if not ok or parts[0] != "deployments" or not parts[1] or parts[1] in {"-", "*"}:
        shape = "deployments/{deployment}" + suffix
        raise InvalidArgument(
            f"{field} must be '{shape}', got {value!r}",
            reason="INVALID_NAME",
            field_violations=[FieldViolation(field, f"must be '{shape}'")],
        )
    return base


class MonitoringServicer(monitoring_service_pb2_grpc.MonitoringServiceServicer):
    """Thin translation over :class:`Monitor` and the store."""

    def __init__(self, db: Database, monitor: Monitor) -> None:
        self._db = db
        self._monitor = monitor

    async def GetMonitoringPolicy(
        self, request: monitoring_service_pb2.GetMonitoringPolicyRequest, context: Any
    ) -> monitoring_service_pb2.GetMonitoringPolicyResponse:
        deployment = _deployment_of(request.name, "name", suffix=_POLICY_SUFFIX)
        if not self._monitor.is_known(deployment):
            raise NotFound(
                f"deployment {deployment!r} is unknown to the monitor",
                metadata={"resource": deployment},
            )
        policy, is_default = self._monitor.policy(deployment)
        if is_default:
            policy.etag = policy_etag(policy)
        return monitoring_service_pb2.GetMonitoringPolicyResponse(
            monitoring_policy=policy, is_default=is_default
        )

    async def UpdateMonitoringPolicy(
        self, request: monitoring_service_pb2.UpdateMonitoringPolicyRequest, context: Any
    ) -> monitoring_service_pb2.UpdateMonitoringPolicyResponse:
        if not request.HasField("monitoring_policy"):
            raise InvalidArgument(
                "monitoring_policy is required",
                reason="MISSING_FIELD",
                field_violations=[FieldViolation("monitoring_policy", "required")],
            )
        incoming = request.monitoring_policy
        deployment = _deployment_of(incoming.name, "monitoring_policy.name", suffix=_POLICY_SUFFIX)
        known = self._monitor.is_known(deployment)
        if not known and not request.allow_missing:
            raise NotFound(
                f"deployment {deployment!r} is unknown to the monitor (set allow_missing to "
                "create its policy)",
                metadata={"resource": deployment},
            )
        current, is_default = self._monitor.policy(deployment)
        current_etag = policy_etag(current)
        if incoming.etag and incoming.etag != (current.etag or current_etag):
            raise Aborted(
                "the policy changed since it was read (etag mismatch); read it again",
                reason="ETAG_MISMATCH",
                metadata={"resource": incoming.name},
            )
        updated = apply_update(current, incoming, request.update_mask)
        updated.name = f"{deployment}{_POLICY_SUFFIX}"
        if (
            is_default
            and "enabled" not in request.update_mask.paths
            and request.update_mask.paths != ["*"]
        ):
            updated.enabled = True
        validate_policy(updated)
        updated.ClearField("etag")
        updated.update_time.FromDatetime(utcnow())
        updated.etag = policy_etag(updated)
        async with self._db.transaction() as session:
            if not known:
                await store.upsert_deployment(session, deployment)
            await store.upsert_policy(session, deployment, updated)
        self._monitor.policy_changed(deployment, updated)
        return monitoring_service_pb2.UpdateMonitoringPolicyResponse(monitoring_policy=updated)

    async def GetDriftReport(
        self, request: monitoring_service_pb2.GetDriftReportRequest, context: Any
    ) -> monitoring_service_pb2.GetDriftReportResponse:
        async with self._db.transaction() as session:
            report = await store.get_drift_report(session, request.name)
        return monitoring_service_pb2.GetDriftReportResponse(drift_report=report)

    async def ListDriftReports(
        self, request: monitoring_service_pb2.ListDriftReportsRequest, context: Any
    ) -> monitoring_service_pb2.ListDriftReportsResponse:
        async with self._db.transaction() as session:
            reports, token = await store.list_drift_reports(
                session,
                parent=request.parent,
                filter=request.filter,
                order_by=request.order_by,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return monitoring_service_pb2.ListDriftReportsResponse(
            drift_reports=reports, next_page_token=token
        )

    async def GetPerformanceReport(
        self, request: monitoring_service_pb2.GetPerformanceReportRequest, context: Any
    ) -> monitoring_service_pb2.GetPerformanceReportResponse:
        async with self._db.transaction() as session:
            report = await store.get_performance_report(session, request.name)
        return monitoring_service_pb2.GetPerformanceReportResponse(performance_report=report)

    async def ListPerformanceReports(
        self, request: monitoring_service_pb2.ListPerformanceReportsRequest, context: Any
    ) -> monitoring_service_pb2.ListPerformanceReportsResponse:
        async with self._db.transaction() as session:
            reports, token = await store.list_performance_reports(
                session,
                parent=request.parent,
                filter=request.filter,
                order_by=request.order_by,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return monitoring_service_pb2.ListPerformanceReportsResponse(
            performance_reports=reports, next_page_token=token
        )

    async def GetAlert(
        self, request: monitoring_service_pb2.GetAlertRequest, context: Any
    ) -> monitoring_service_pb2.GetAlertResponse:
        async with self._db.transaction() as session:
            row = await store.get_alert(session, request.name)
            alert = store.alert_to_proto(row)
        return monitoring_service_pb2.GetAlertResponse(alert=alert)

    async def ListAlerts(
        self, request: monitoring_service_pb2.ListAlertsRequest, context: Any
    ) -> monitoring_service_pb2.ListAlertsResponse:
        async with self._db.transaction() as session:
            alerts, token = await store.list_alerts(
                session,
                filter=request.filter,
                order_by=request.order_by,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return monitoring_service_pb2.ListAlertsResponse(alerts=alerts, next_page_token=token)

    async def AcknowledgeAlert(
        self, request: monitoring_service_pb2.AcknowledgeAlertRequest, context: Any
    ) -> monitoring_service_pb2.AcknowledgeAlertResponse:
        async with self._db.transaction() as session:
            row = await store.get_alert(session, request.name)
            if row.state == alert_pb2.ALERT_STATE_RESOLVED:
                raise FailedPrecondition(
                    f"alert {request.name!r} is resolved",
                    reason="ALERT_RESOLVED",
                    metadata={"resource": request.name},
                )
            if row.state != alert_pb2.ALERT_STATE_ACKNOWLEDGED:
                row.state = alert_pb2.ALERT_STATE_ACKNOWLEDGED
                row.note = request.note
                row.update_time = utcnow()
            alert = store.alert_to_proto(row)
        return monitoring_service_pb2.AcknowledgeAlertResponse(alert=alert)

    async def GetIngestionStats(
        self, request: monitoring_service_pb2.GetIngestionStatsRequest, context: Any
    ) -> monitoring_service_pb2.GetIngestionStatsResponse:
        stats = self._monitor.stats
        response = monitoring_service_pb2.GetIngestionStatsResponse(
            prediction_records=stats.prediction_records,
            unknown_deployment_records=stats.unknown_deployment_records,
            unreferenced_records=stats.unreferenced_records,
            missing_feature_rows=stats.missing_feature_rows,
            feedback_entries=stats.feedback_entries,
            unmatched_feedback_entries=stats.unmatched_feedback_entries,
        )
        response.start_time.FromDatetime(stats.start_time)
        return response

    async def EvaluateNow(
        self, request: monitoring_service_pb2.EvaluateNowRequest, context: Any
    ) -> monitoring_service_pb2.EvaluateNowResponse:
        deployment = _deployment_of(request.deployment, "deployment")
        drift, performance = await self._monitor.evaluate_now(deployment, force=request.force)
        response = monitoring_service_pb2.EvaluateNowResponse(drift_report=drift)
        if performance is not None:
            response.performance_report.CopyFrom(performance)
        return response
