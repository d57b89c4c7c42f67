import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import interval_pb2 as _interval_pb2
from gyre.common.v1 import profile_pb2 as _profile_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeatureKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEATURE_KIND_UNSPECIFIED: _ClassVar[FeatureKind]
    FEATURE_KIND_NUMERIC: _ClassVar[FeatureKind]
    FEATURE_KIND_CATEGORICAL: _ClassVar[FeatureKind]
FEATURE_KIND_UNSPECIFIED: FeatureKind
FEATURE_KIND_NUMERIC: FeatureKind
FEATURE_KIND_CATEGORICAL: FeatureKind

class FeatureDrift(_message.Message):
    __slots__ = ("feature", "kind", "psi", "chi_square_statistic", "chi_square_p_value", "drifted", "reference", "current", "reference_null_rate", "current_null_rate")
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PSI_FIELD_NUMBER: _ClassVar[int]
    CHI_SQUARE_STATISTIC_FIELD_NUMBER: _ClassVar[int]
    CHI_SQUARE_P_VALUE_FIELD_NUMBER: _ClassVar[int]
    DRIFTED_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_NULL_RATE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_NULL_RATE_FIELD_NUMBER: _ClassVar[int]
    feature: str
    kind: FeatureKind
    psi: float
    chi_square_statistic: float
    chi_square_p_value: float
    drifted: bool
    reference: _profile_pb2.Histogram
    current: _profile_pb2.Histogram
    reference_null_rate: float
    current_null_rate: float
    def __init__(self, feature: _Optional[str] = ..., kind: _Optional[_Union[FeatureKind, str]] = ..., psi: _Optional[float] = ..., chi_square_statistic: _Optional[float] = ..., chi_square_p_value: _Optional[float] = ..., drifted: _Optional[bool] = ..., reference: _Optional[_Union[_profile_pb2.Histogram, _Mapping]] = ..., current: _Optional[_Union[_profile_pb2.Histogram, _Mapping]] = ..., reference_null_rate: _Optional[float] = ..., current_null_rate: _Optional[float] = ...) -> None: ...

class DriftReport(_message.Message):
    __slots__ = ("name", "window", "model_version", "reference_dataset_version", "row_count", "features", "prediction_drift", "drifted_share", "drifted", "create_time", "missing_feature_counts", "unreferenced_column_counts")
    class MissingFeatureCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class UnreferencedColumnCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_DRIFT_FIELD_NUMBER: _ClassVar[int]
    DRIFTED_SHARE_FIELD_NUMBER: _ClassVar[int]
    DRIFTED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    MISSING_FEATURE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    UNREFERENCED_COLUMN_COUNTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    window: _interval_pb2.Interval
    model_version: str
    reference_dataset_version: str
    row_count: int
    features: _containers.RepeatedCompositeFieldContainer[FeatureDrift]
    prediction_drift: FeatureDrift
    drifted_share: float
    drifted: bool
    create_time: _timestamp_pb2.Timestamp
    missing_feature_counts: _containers.ScalarMap[str, int]
    unreferenced_column_counts: _containers.ScalarMap[str, int]
    def __init__(self, name: _Optional[str] = ..., window: _Optional[_Union[_interval_pb2.Interval, _Mapping]] = ..., model_version: _Optional[str] = ..., reference_dataset_version: _Optional[str] = ..., row_count: _Optional[int] = ..., features: _Optional[_Iterable[_Union[FeatureDrift, _Mapping]]] = ..., prediction_drift: _Optional[_Union[FeatureDrift, _Mapping]] = ..., drifted_share: _Optional[float] = ..., drifted: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., missing_feature_counts: _Optional[_Mapping[str, int]] = ..., unreferenced_column_counts: _Optional[_Mapping[str, int]] = ...) -> None: ...

class PerformanceMetric(_message.Message):
    __slots__ = ("metric", "live_value", "baseline_value", "absolute_drop", "relative_drop", "degraded")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    LIVE_VALUE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_VALUE_FIELD_NUMBER: _ClassVar[int]
    ABSOLUTE_DROP_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_DROP_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    metric: str
    live_value: float
    baseline_value: float
    absolute_drop: float
    relative_drop: float
    degraded: bool
    def __init__(self, metric: _Optional[str] = ..., live_value: _Optional[float] = ..., baseline_value: _Optional[float] = ..., absolute_drop: _Optional[float] = ..., relative_drop: _Optional[float] = ..., degraded: _Optional[bool] = ...) -> None: ...

class PerformanceReport(_message.Message):
    __slots__ = ("name", "window", "model_version", "sample_count", "metrics", "degraded", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    window: _interval_pb2.Interval
    model_version: str
    sample_count: int
    metrics: _containers.RepeatedCompositeFieldContainer[PerformanceMetric]
    degraded: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., window: _Optional[_Union[_interval_pb2.Interval, _Mapping]] = ..., model_version: _Optional[str] = ..., sample_count: _Optional[int] = ..., metrics: _Optional[_Iterable[_Union[PerformanceMetric, _Mapping]]] = ..., degraded: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
