import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gyre.common.v1 import split_pb2 as _split_pb2
from gyre.common.v1 import value_pb2 as _value_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Comparator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPARATOR_UNSPECIFIED: _ClassVar[Comparator]
    COMPARATOR_GE: _ClassVar[Comparator]
    COMPARATOR_LE: _ClassVar[Comparator]
COMPARATOR_UNSPECIFIED: Comparator
COMPARATOR_GE: Comparator
COMPARATOR_LE: Comparator

class MetricThreshold(_message.Message):
    __slots__ = ("metric", "comparator", "value")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    COMPARATOR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    metric: str
    comparator: Comparator
    value: float
    def __init__(self, metric: _Optional[str] = ..., comparator: _Optional[_Union[Comparator, str]] = ..., value: _Optional[float] = ...) -> None: ...

class NonRegressionRule(_message.Message):
    __slots__ = ("metric", "comparator", "max_absolute_drop", "max_relative_drop")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    COMPARATOR_FIELD_NUMBER: _ClassVar[int]
    MAX_ABSOLUTE_DROP_FIELD_NUMBER: _ClassVar[int]
    MAX_RELATIVE_DROP_FIELD_NUMBER: _ClassVar[int]
    metric: str
    comparator: Comparator
    max_absolute_drop: float
    max_relative_drop: float
    def __init__(self, metric: _Optional[str] = ..., comparator: _Optional[_Union[Comparator, str]] = ..., max_absolute_drop: _Optional[float] = ..., max_relative_drop: _Optional[float] = ...) -> None: ...

class NumericRange(_message.Message):
    __slots__ = ("min", "max")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class SliceRule(_message.Message):
    __slots__ = ("name", "column", "equals", "range", "metric", "comparator", "threshold", "min_rows")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    EQUALS_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    COMPARATOR_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_ROWS_FIELD_NUMBER: _ClassVar[int]
    name: str
    column: str
    equals: _value_pb2.Value
    range: NumericRange
    metric: str
    comparator: Comparator
    threshold: float
    min_rows: int
    def __init__(self, name: _Optional[str] = ..., column: _Optional[str] = ..., equals: _Optional[_Union[_value_pb2.Value, _Mapping]] = ..., range: _Optional[_Union[NumericRange, _Mapping]] = ..., metric: _Optional[str] = ..., comparator: _Optional[_Union[Comparator, str]] = ..., threshold: _Optional[float] = ..., min_rows: _Optional[int] = ...) -> None: ...

class LatencyBudget(_message.Message):
    __slots__ = ("p95_single_row_ms", "p95_batch_ms", "batch_size")
    P95_SINGLE_ROW_MS_FIELD_NUMBER: _ClassVar[int]
    P95_BATCH_MS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    p95_single_row_ms: float
    p95_batch_ms: float
    batch_size: int
    def __init__(self, p95_single_row_ms: _Optional[float] = ..., p95_batch_ms: _Optional[float] = ..., batch_size: _Optional[int] = ...) -> None: ...

class ValidationPolicy(_message.Message):
    __slots__ = ("name", "metric_thresholds", "non_regression_rules", "champion_alias", "slice_rules", "allow_breaking_signature_change", "latency_budget", "leakage_check_enabled", "min_test_rows", "holdout_dataset_version", "split", "update_time", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    METRIC_THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    NON_REGRESSION_RULES_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_ALIAS_FIELD_NUMBER: _ClassVar[int]
    SLICE_RULES_FIELD_NUMBER: _ClassVar[int]
    ALLOW_BREAKING_SIGNATURE_CHANGE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BUDGET_FIELD_NUMBER: _ClassVar[int]
    LEAKAGE_CHECK_ENABLED_FIELD_NUMBER: _ClassVar[int]
    MIN_TEST_ROWS_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    metric_thresholds: _containers.RepeatedCompositeFieldContainer[MetricThreshold]
    non_regression_rules: _containers.RepeatedCompositeFieldContainer[NonRegressionRule]
    champion_alias: str
    slice_rules: _containers.RepeatedCompositeFieldContainer[SliceRule]
    allow_breaking_signature_change: bool
    latency_budget: LatencyBudget
    leakage_check_enabled: bool
    min_test_rows: int
    holdout_dataset_version: str
    split: _split_pb2.Split
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., metric_thresholds: _Optional[_Iterable[_Union[MetricThreshold, _Mapping]]] = ..., non_regression_rules: _Optional[_Iterable[_Union[NonRegressionRule, _Mapping]]] = ..., champion_alias: _Optional[str] = ..., slice_rules: _Optional[_Iterable[_Union[SliceRule, _Mapping]]] = ..., allow_breaking_signature_change: _Optional[bool] = ..., latency_budget: _Optional[_Union[LatencyBudget, _Mapping]] = ..., leakage_check_enabled: _Optional[bool] = ..., min_test_rows: _Optional[int] = ..., holdout_dataset_version: _Optional[str] = ..., split: _Optional[_Union[_split_pb2.Split, str]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...
