from gyre.common.v1 import metric_pb2 as _metric_pb2
from gyre.validation.v1 import validation_pb2 as _validation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ValidationCompleted(_message.Message):
    __slots__ = ("validation", "model_version", "registered_model", "champion_version", "dataset_version", "verdict", "failed_checks", "candidate_metrics", "report_uri", "error_message")
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    FAILED_CHECKS_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_METRICS_FIELD_NUMBER: _ClassVar[int]
    REPORT_URI_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    validation: str
    model_version: str
    registered_model: str
    champion_version: str
    dataset_version: str
    verdict: _validation_pb2.ValidationVerdict
    failed_checks: _containers.RepeatedCompositeFieldContainer[_validation_pb2.ValidationCheck]
    candidate_metrics: _containers.RepeatedCompositeFieldContainer[_metric_pb2.Metric]
    report_uri: str
    error_message: str
    def __init__(self, validation: _Optional[str] = ..., model_version: _Optional[str] = ..., registered_model: _Optional[str] = ..., champion_version: _Optional[str] = ..., dataset_version: _Optional[str] = ..., verdict: _Optional[_Union[_validation_pb2.ValidationVerdict, str]] = ..., failed_checks: _Optional[_Iterable[_Union[_validation_pb2.ValidationCheck, _Mapping]]] = ..., candidate_metrics: _Optional[_Iterable[_Union[_metric_pb2.Metric, _Mapping]]] = ..., report_uri: _Optional[str] = ..., error_message: _Optional[str] = ...) -> None: ...
