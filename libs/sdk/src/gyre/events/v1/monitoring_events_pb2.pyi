from gyre.monitoring.v1 import alert_pb2 as _alert_pb2
from gyre.monitoring.v1 import report_pb2 as _report_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MonitoringDriftDetected(_message.Message):
    __slots__ = ("deployment", "model_version", "report")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    model_version: str
    report: _report_pb2.DriftReport
    def __init__(self, deployment: _Optional[str] = ..., model_version: _Optional[str] = ..., report: _Optional[_Union[_report_pb2.DriftReport, _Mapping]] = ...) -> None: ...

class MonitoringPerformanceDegraded(_message.Message):
    __slots__ = ("deployment", "model_version", "report")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    model_version: str
    report: _report_pb2.PerformanceReport
    def __init__(self, deployment: _Optional[str] = ..., model_version: _Optional[str] = ..., report: _Optional[_Union[_report_pb2.PerformanceReport, _Mapping]] = ...) -> None: ...

class MonitoringAlertRaised(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: _alert_pb2.Alert
    def __init__(self, alert: _Optional[_Union[_alert_pb2.Alert, _Mapping]] = ...) -> None: ...
