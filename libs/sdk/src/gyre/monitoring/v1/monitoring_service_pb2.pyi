import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gyre.monitoring.v1 import alert_pb2 as _alert_pb2
from gyre.monitoring.v1 import monitoring_policy_pb2 as _monitoring_policy_pb2
from gyre.monitoring.v1 import report_pb2 as _report_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetMonitoringPolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetMonitoringPolicyResponse(_message.Message):
    __slots__ = ("monitoring_policy", "is_default")
    MONITORING_POLICY_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    monitoring_policy: _monitoring_policy_pb2.MonitoringPolicy
    is_default: bool
    def __init__(self, monitoring_policy: _Optional[_Union[_monitoring_policy_pb2.MonitoringPolicy, _Mapping]] = ..., is_default: _Optional[bool] = ...) -> None: ...

class UpdateMonitoringPolicyRequest(_message.Message):
    __slots__ = ("monitoring_policy", "update_mask", "allow_missing")
    MONITORING_POLICY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MISSING_FIELD_NUMBER: _ClassVar[int]
    monitoring_policy: _monitoring_policy_pb2.MonitoringPolicy
    update_mask: _field_mask_pb2.FieldMask
    allow_missing: bool
    def __init__(self, monitoring_policy: _Optional[_Union[_monitoring_policy_pb2.MonitoringPolicy, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., allow_missing: _Optional[bool] = ...) -> None: ...

class UpdateMonitoringPolicyResponse(_message.Message):
    __slots__ = ("monitoring_policy",)
    MONITORING_POLICY_FIELD_NUMBER: _ClassVar[int]
    monitoring_policy: _monitoring_policy_pb2.MonitoringPolicy
    def __init__(self, monitoring_policy: _Optional[_Union[_monitoring_policy_pb2.MonitoringPolicy, _Mapping]] = ...) -> None: ...

class GetDriftReportRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetDriftReportResponse(_message.Message):
    __slots__ = ("drift_report",)
    DRIFT_REPORT_FIELD_NUMBER: _ClassVar[int]
    drift_report: _report_pb2.DriftReport
    def __init__(self, drift_report: _Optional[_Union[_report_pb2.DriftReport, _Mapping]] = ...) -> None: ...

class ListDriftReportsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "filter", "order_by")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    filter: str
    order_by: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListDriftReportsResponse(_message.Message):
    __slots__ = ("drift_reports", "next_page_token", "total_size")
    DRIFT_REPORTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    drift_reports: _containers.RepeatedCompositeFieldContainer[_report_pb2.DriftReport]
    next_page_token: str
    total_size: int
    def __init__(self, drift_reports: _Optional[_Iterable[_Union[_report_pb2.DriftReport, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetPerformanceReportRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetPerformanceReportResponse(_message.Message):
    __slots__ = ("performance_report",)
    PERFORMANCE_REPORT_FIELD_NUMBER: _ClassVar[int]
    performance_report: _report_pb2.PerformanceReport
    def __init__(self, performance_report: _Optional[_Union[_report_pb2.PerformanceReport, _Mapping]] = ...) -> None: ...

class ListPerformanceReportsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "filter", "order_by")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    filter: str
    order_by: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListPerformanceReportsResponse(_message.Message):
    __slots__ = ("performance_reports", "next_page_token", "total_size")
    PERFORMANCE_REPORTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    performance_reports: _containers.RepeatedCompositeFieldContainer[_report_pb2.PerformanceReport]
    next_page_token: str
    total_size: int
    def __init__(self, performance_reports: _Optional[_Iterable[_Union[_report_pb2.PerformanceReport, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetAlertRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: _alert_pb2.Alert
    def __init__(self, alert: _Optional[_Union[_alert_pb2.Alert, _Mapping]] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter", "order_by")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: str
    order_by: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token", "total_size")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[_alert_pb2.Alert]
    next_page_token: str
    total_size: int
    def __init__(self, alerts: _Optional[_Iterable[_Union[_alert_pb2.Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("name", "note")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    name: str
    note: str
    def __init__(self, name: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: _alert_pb2.Alert
    def __init__(self, alert: _Optional[_Union[_alert_pb2.Alert, _Mapping]] = ...) -> None: ...

class EvaluateNowRequest(_message.Message):
    __slots__ = ("deployment", "force")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    force: bool
    def __init__(self, deployment: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class EvaluateNowResponse(_message.Message):
    __slots__ = ("drift_report", "performance_report")
    DRIFT_REPORT_FIELD_NUMBER: _ClassVar[int]
    PERFORMANCE_REPORT_FIELD_NUMBER: _ClassVar[int]
    drift_report: _report_pb2.DriftReport
    performance_report: _report_pb2.PerformanceReport
    def __init__(self, drift_report: _Optional[_Union[_report_pb2.DriftReport, _Mapping]] = ..., performance_report: _Optional[_Union[_report_pb2.PerformanceReport, _Mapping]] = ...) -> None: ...

class GetIngestionStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetIngestionStatsResponse(_message.Message):
    __slots__ = ("start_time", "prediction_records", "unknown_deployment_records", "unreferenced_records", "missing_feature_rows", "feedback_entries", "unmatched_feedback_entries")
    class UnknownDeploymentRecordsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class UnreferencedRecordsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_RECORDS_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_DEPLOYMENT_RECORDS_FIELD_NUMBER: _ClassVar[int]
    UNREFERENCED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FEATURE_ROWS_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_FEEDBACK_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    prediction_records: int
    unknown_deployment_records: _containers.ScalarMap[str, int]
    unreferenced_records: _containers.ScalarMap[str, int]
    missing_feature_rows: int
    feedback_entries: int
    unmatched_feedback_entries: int
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., prediction_records: _Optional[int] = ..., unknown_deployment_records: _Optional[_Mapping[str, int]] = ..., unreferenced_records: _Optional[_Mapping[str, int]] = ..., missing_feature_rows: _Optional[int] = ..., feedback_entries: _Optional[int] = ..., unmatched_feedback_entries: _Optional[int] = ...) -> None: ...
