from gyre.models.v1 import alias_pb2 as _alias_pb2
from gyre.models.v1 import model_version_pb2 as _model_version_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelsVersionRegistered(_message.Message):
    __slots__ = ("model_version",)
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: _model_version_pb2.ModelVersion
    def __init__(self, model_version: _Optional[_Union[_model_version_pb2.ModelVersion, _Mapping]] = ...) -> None: ...

class ModelsVersionStatusChanged(_message.Message):
    __slots__ = ("model_version", "registered_model", "from_status", "to_status", "reason", "validation")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    registered_model: str
    from_status: _model_version_pb2.ModelVersionStatus
    to_status: _model_version_pb2.ModelVersionStatus
    reason: str
    validation: str
    def __init__(self, model_version: _Optional[str] = ..., registered_model: _Optional[str] = ..., from_status: _Optional[_Union[_model_version_pb2.ModelVersionStatus, str]] = ..., to_status: _Optional[_Union[_model_version_pb2.ModelVersionStatus, str]] = ..., reason: _Optional[str] = ..., validation: _Optional[str] = ...) -> None: ...

class ModelsVersionArchived(_message.Message):
    __slots__ = ("model_version", "registered_model", "reason", "actor")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    registered_model: str
    reason: str
    actor: str
    def __init__(self, model_version: _Optional[str] = ..., registered_model: _Optional[str] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class ModelsAliasChanged(_message.Message):
    __slots__ = ("registered_model", "change")
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    registered_model: str
    change: _alias_pb2.AliasChange
    def __init__(self, registered_model: _Optional[str] = ..., change: _Optional[_Union[_alias_pb2.AliasChange, _Mapping]] = ...) -> None: ...
