import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gyre.common.v1 import artifact_pb2 as _artifact_pb2
from gyre.common.v1 import cause_pb2 as _cause_pb2
from gyre.common.v1 import metric_pb2 as _metric_pb2
from gyre.common.v1 import schema_pb2 as _schema_pb2
from gyre.common.v1 import value_pb2 as _value_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_FORMAT_UNSPECIFIED: _ClassVar[ModelFormat]
    MODEL_FORMAT_ONNX: _ClassVar[ModelFormat]

class ModelVersionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_VERSION_STATUS_UNSPECIFIED: _ClassVar[ModelVersionStatus]
    MODEL_VERSION_STATUS_PENDING_VALIDATION: _ClassVar[ModelVersionStatus]
    MODEL_VERSION_STATUS_VALIDATED: _ClassVar[ModelVersionStatus]
    MODEL_VERSION_STATUS_REJECTED: _ClassVar[ModelVersionStatus]
    MODEL_VERSION_STATUS_ARCHIVED: _ClassVar[ModelVersionStatus]
MODEL_FORMAT_UNSPECIFIED: ModelFormat
MODEL_FORMAT_ONNX: ModelFormat
MODEL_VERSION_STATUS_UNSPECIFIED: ModelVersionStatus
MODEL_VERSION_STATUS_PENDING_VALIDATION: ModelVersionStatus
MODEL_VERSION_STATUS_VALIDATED: ModelVersionStatus
MODEL_VERSION_STATUS_REJECTED: ModelVersionStatus
MODEL_VERSION_STATUS_ARCHIVED: ModelVersionStatus

class ModelVersion(_message.Message):
    __slots__ = ("name", "version", "source_run", "dataset_version", "dataset_digest", "artifact", "model_format", "signature", "params", "metrics", "cause", "status", "status_message", "validation", "aliases", "description", "labels", "creator", "create_time", "update_time", "etag")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _value_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_value_pb2.Value, _Mapping]] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RUN_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FORMAT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    source_run: str
    dataset_version: str
    dataset_digest: str
    artifact: _artifact_pb2.ArtifactRef
    model_format: ModelFormat
    signature: _schema_pb2.Signature
    params: _containers.MessageMap[str, _value_pb2.Value]
    metrics: _containers.RepeatedCompositeFieldContainer[_metric_pb2.Metric]
    cause: _cause_pb2.TriggerCause
    status: ModelVersionStatus
    status_message: str
    validation: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    description: str
    labels: _containers.ScalarMap[str, str]
    creator: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., source_run: _Optional[str] = ..., dataset_version: _Optional[str] = ..., dataset_digest: _Optional[str] = ..., artifact: _Optional[_Union[_artifact_pb2.ArtifactRef, _Mapping]] = ..., model_format: _Optional[_Union[ModelFormat, str]] = ..., signature: _Optional[_Union[_schema_pb2.Signature, _Mapping]] = ..., params: _Optional[_Mapping[str, _value_pb2.Value]] = ..., metrics: _Optional[_Iterable[_Union[_metric_pb2.Metric, _Mapping]]] = ..., cause: _Optional[_Union[_cause_pb2.TriggerCause, _Mapping]] = ..., status: _Optional[_Union[ModelVersionStatus, str]] = ..., status_message: _Optional[str] = ..., validation: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., creator: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...
