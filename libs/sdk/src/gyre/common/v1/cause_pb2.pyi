import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TriggerKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIGGER_KIND_UNSPECIFIED: _ClassVar[TriggerKind]
    TRIGGER_KIND_NEW_DATA: _ClassVar[TriggerKind]
    TRIGGER_KIND_SCHEDULE: _ClassVar[TriggerKind]
    TRIGGER_KIND_DRIFT: _ClassVar[TriggerKind]
    TRIGGER_KIND_PERFORMANCE_DROP: _ClassVar[TriggerKind]
    TRIGGER_KIND_MANUAL: _ClassVar[TriggerKind]
TRIGGER_KIND_UNSPECIFIED: TriggerKind
TRIGGER_KIND_NEW_DATA: TriggerKind
TRIGGER_KIND_SCHEDULE: TriggerKind
TRIGGER_KIND_DRIFT: TriggerKind
TRIGGER_KIND_PERFORMANCE_DROP: TriggerKind
TRIGGER_KIND_MANUAL: TriggerKind

class TriggerCause(_message.Message):
    __slots__ = ("kind", "trigger", "event_id", "event_type", "subject", "reason", "actor", "time")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    kind: TriggerKind
    trigger: str
    event_id: str
    event_type: str
    subject: str
    reason: str
    actor: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[_Union[TriggerKind, str]] = ..., trigger: _Optional[str] = ..., event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., subject: _Optional[str] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
