import datetime

from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gyre.common.v1 import value_pb2 as _value_pb2
from gyre.inference.v1 import deployment_pb2 as _deployment_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RowPrediction(_message.Message):
    __slots__ = ("prediction", "probabilities")
    class ProbabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    prediction: _value_pb2.Value
    probabilities: _containers.ScalarMap[str, float]
    def __init__(self, prediction: _Optional[_Union[_value_pb2.Value, _Mapping]] = ..., probabilities: _Optional[_Mapping[str, float]] = ...) -> None: ...

class PredictionRecord(_message.Message):
    __slots__ = ("request_id", "row_index", "deployment", "model_version", "role", "features", "prediction", "latency", "time")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ROW_INDEX_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    row_index: int
    deployment: str
    model_version: str
    role: _deployment_pb2.RouteRole
    features: _value_pb2.Row
    prediction: RowPrediction
    latency: _duration_pb2.Duration
    time: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., row_index: _Optional[int] = ..., deployment: _Optional[str] = ..., model_version: _Optional[str] = ..., role: _Optional[_Union[_deployment_pb2.RouteRole, str]] = ..., features: _Optional[_Union[_value_pb2.Row, _Mapping]] = ..., prediction: _Optional[_Union[RowPrediction, _Mapping]] = ..., latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Feedback(_message.Message):
    __slots__ = ("request_id", "row_index", "ground_truth", "event_time")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ROW_INDEX_FIELD_NUMBER: _ClassVar[int]
    GROUND_TRUTH_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    row_index: int
    ground_truth: _value_pb2.Value
    event_time: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., row_index: _Optional[int] = ..., ground_truth: _Optional[_Union[_value_pb2.Value, _Mapping]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
