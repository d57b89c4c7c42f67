import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gyre.common.v1 import artifact_pb2 as _artifact_pb2
from gyre.common.v1 import metric_pb2 as _metric_pb2
from gyre.common.v1 import split_pb2 as _split_pb2
from gyre.validation.v1 import validation_policy_pb2 as _validation_policy_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK_KIND_UNSPECIFIED: _ClassVar[CheckKind]
    CHECK_KIND_METRIC_THRESHOLD: _ClassVar[CheckKind]
    CHECK_KIND_NON_REGRESSION: _ClassVar[CheckKind]
    CHECK_KIND_SLICE: _ClassVar[CheckKind]
    CHECK_KIND_SIGNATURE: _ClassVar[CheckKind]
    CHECK_KIND_LATENCY: _ClassVar[CheckKind]
    CHECK_KIND_LEAKAGE: _ClassVar[CheckKind]
    CHECK_KIND_SAMPLE_SIZE: _ClassVar[CheckKind]
    CHECK_KIND_ARTIFACT: _ClassVar[CheckKind]

class CheckVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK_VERDICT_UNSPECIFIED: _ClassVar[CheckVerdict]
    CHECK_VERDICT_PASSED: _ClassVar[CheckVerdict]
    CHECK_VERDICT_FAILED: _ClassVar[CheckVerdict]
    CHECK_VERDICT_SKIPPED: _ClassVar[CheckVerdict]
    CHECK_VERDICT_ERROR: _ClassVar[CheckVerdict]

class ValidationVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALIDATION_VERDICT_UNSPECIFIED: _ClassVar[ValidationVerdict]
    VALIDATION_VERDICT_PASSED: _ClassVar[ValidationVerdict]
    VALIDATION_VERDICT_FAILED: _ClassVar[ValidationVerdict]
    VALIDATION_VERDICT_ERROR: _ClassVar[ValidationVerdict]

class ValidationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALIDATION_STATE_UNSPECIFIED: _ClassVar[ValidationState]
    VALIDATION_STATE_PENDING: _ClassVar[ValidationState]
    VALIDATION_STATE_RUNNING: _ClassVar[ValidationState]
    VALIDATION_STATE_COMPLETED: _ClassVar[ValidationState]
CHECK_KIND_UNSPECIFIED: CheckKind
CHECK_KIND_METRIC_THRESHOLD: CheckKind
CHECK_KIND_NON_REGRESSION: CheckKind
CHECK_KIND_SLICE: CheckKind
CHECK_KIND_SIGNATURE: CheckKind
CHECK_KIND_LATENCY: CheckKind
CHECK_KIND_LEAKAGE: CheckKind
CHECK_KIND_SAMPLE_SIZE: CheckKind
CHECK_KIND_ARTIFACT: CheckKind
CHECK_VERDICT_UNSPECIFIED: CheckVerdict
CHECK_VERDICT_PASSED: CheckVerdict
CHECK_VERDICT_FAILED: CheckVerdict
CHECK_VERDICT_SKIPPED: CheckVerdict
CHECK_VERDICT_ERROR: CheckVerdict
VALIDATION_VERDICT_UNSPECIFIED: ValidationVerdict
VALIDATION_VERDICT_PASSED: ValidationVerdict
VALIDATION_VERDICT_FAILED: ValidationVerdict
VALIDATION_VERDICT_ERROR: ValidationVerdict
VALIDATION_STATE_UNSPECIFIED: ValidationState
VALIDATION_STATE_PENDING: ValidationState
VALIDATION_STATE_RUNNING: ValidationState
VALIDATION_STATE_COMPLETED: ValidationState

class ValidationCheck(_message.Message):
    __slots__ = ("name", "kind", "observed_value", "threshold", "comparator", "verdict", "message")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    COMPARATOR_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: CheckKind
    observed_value: float
    threshold: float
    comparator: _validation_policy_pb2.Comparator
    verdict: CheckVerdict
    message: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[CheckKind, str]] = ..., observed_value: _Optional[float] = ..., threshold: _Optional[float] = ..., comparator: _Optional[_Union[_validation_policy_pb2.Comparator, str]] = ..., verdict: _Optional[_Union[CheckVerdict, str]] = ..., message: _Optional[str] = ...) -> None: ...

class Validation(_message.Message):
    __slots__ = ("name", "model_version", "champion_version", "dataset_version", "split", "policy", "checks", "candidate_metrics", "champion_metrics", "test_row_count", "state", "verdict", "error_message", "report", "cause", "creator", "duration", "create_time", "start_time", "end_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_METRICS_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_METRICS_FIELD_NUMBER: _ClassVar[int]
    TEST_ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    model_version: str
    champion_version: str
    dataset_version: str
    split: _split_pb2.Split
    policy: _validation_policy_pb2.ValidationPolicy
    checks: _containers.RepeatedCompositeFieldContainer[ValidationCheck]
    candidate_metrics: _containers.RepeatedCompositeFieldContainer[_metric_pb2.Metric]
    champion_metrics: _containers.RepeatedCompositeFieldContainer[_metric_pb2.Metric]
    test_row_count: int
    state: ValidationState
    verdict: ValidationVerdict
    error_message: str
    report: _artifact_pb2.ArtifactRef
    cause: str
    creator: str
    duration: _duration_pb2.Duration
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., model_version: _Optional[str] = ..., champion_version: _Optional[str] = ..., dataset_version: _Optional[str] = ..., split: _Optional[_Union[_split_pb2.Split, str]] = ..., policy: _Optional[_Union[_validation_policy_pb2.ValidationPolicy, _Mapping]] = ..., checks: _Optional[_Iterable[_Union[ValidationCheck, _Mapping]]] = ..., candidate_metrics: _Optional[_Iterable[_Union[_metric_pb2.Metric, _Mapping]]] = ..., champion_metrics: _Optional[_Iterable[_Union[_metric_pb2.Metric, _Mapping]]] = ..., test_row_count: _Optional[int] = ..., state: _Optional[_Union[ValidationState, str]] = ..., verdict: _Optional[_Union[ValidationVerdict, str]] = ..., error_message: _Optional[str] = ..., report: _Optional[_Union[_artifact_pb2.ArtifactRef, _Mapping]] = ..., cause: _Optional[str] = ..., creator: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
