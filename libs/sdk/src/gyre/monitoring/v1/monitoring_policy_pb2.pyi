import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PerformanceThreshold(_message.Message):
    __slots__ = ("metric", "max_absolute_drop", "max_relative_drop", "higher_is_better")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MAX_ABSOLUTE_DROP_FIELD_NUMBER: _ClassVar[int]
    MAX_RELATIVE_DROP_FIELD_NUMBER: _ClassVar[int]
    HIGHER_IS_BETTER_FIELD_NUMBER: _ClassVar[int]
    metric: str
    max_absolute_drop: float
    max_relative_drop: float
    higher_is_better: bool
    def __init__(self, metric: _Optional[str] = ..., max_absolute_drop: _Optional[float] = ..., max_relative_drop: _Optional[float] = ..., higher_is_better: _Optional[bool] = ...) -> None: ...

class MonitoringPolicy(_message.Message):
    __slots__ = ("name", "enabled", "window_rows", "window_duration", "min_window_rows", "evaluation_interval", "psi_threshold", "chi_square_p_value_threshold", "drifted_share_threshold", "prediction_psi_threshold", "performance_thresholds", "min_feedback_rows", "alert_cooldown", "webhook_url", "reference_dataset_version", "features", "update_time", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    WINDOW_ROWS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DURATION_FIELD_NUMBER: _ClassVar[int]
    MIN_WINDOW_ROWS_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    PSI_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CHI_SQUARE_P_VALUE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DRIFTED_SHARE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_PSI_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PERFORMANCE_THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    MIN_FEEDBACK_ROWS_FIELD_NUMBER: _ClassVar[int]
    ALERT_COOLDOWN_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    enabled: bool
    window_rows: int
    window_duration: _duration_pb2.Duration
    min_window_rows: int
    evaluation_interval: _duration_pb2.Duration
    psi_threshold: float
    chi_square_p_value_threshold: float
    drifted_share_threshold: float
    prediction_psi_threshold: float
    performance_thresholds: _containers.RepeatedCompositeFieldContainer[PerformanceThreshold]
    min_feedback_rows: int
    alert_cooldown: _duration_pb2.Duration
    webhook_url: str
    reference_dataset_version: str
    features: _containers.RepeatedScalarFieldContainer[str]
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., enabled: _Optional[bool] = ..., window_rows: _Optional[int] = ..., window_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., min_window_rows: _Optional[int] = ..., evaluation_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., psi_threshold: _Optional[float] = ..., chi_square_p_value_threshold: _Optional[float] = ..., drifted_share_threshold: _Optional[float] = ..., prediction_psi_threshold: _Optional[float] = ..., performance_thresholds: _Optional[_Iterable[_Union[PerformanceThreshold, _Mapping]]] = ..., min_feedback_rows: _Optional[int] = ..., alert_cooldown: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., webhook_url: _Optional[str] = ..., reference_dataset_version: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...
