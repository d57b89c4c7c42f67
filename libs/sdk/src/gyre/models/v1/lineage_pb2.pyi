from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LineageDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LINEAGE_DIRECTION_UNSPECIFIED: _ClassVar[LineageDirection]
    LINEAGE_DIRECTION_UPSTREAM: _ClassVar[LineageDirection]
    LINEAGE_DIRECTION_DOWNSTREAM: _ClassVar[LineageDirection]
    LINEAGE_DIRECTION_BOTH: _ClassVar[LineageDirection]

class LineageRelation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LINEAGE_RELATION_UNSPECIFIED: _ClassVar[LineageRelation]
    LINEAGE_RELATION_DERIVED_FROM: _ClassVar[LineageRelation]
    LINEAGE_RELATION_TRAINED_ON: _ClassVar[LineageRelation]
    LINEAGE_RELATION_TRIGGERED: _ClassVar[LineageRelation]
    LINEAGE_RELATION_TRIAL_OF: _ClassVar[LineageRelation]
    LINEAGE_RELATION_PRODUCED: _ClassVar[LineageRelation]
    LINEAGE_RELATION_VALIDATED_BY: _ClassVar[LineageRelation]
    LINEAGE_RELATION_DEPLOYED_TO: _ClassVar[LineageRelation]
    LINEAGE_RELATION_EVALUATED_ON: _ClassVar[LineageRelation]
LINEAGE_DIRECTION_UNSPECIFIED: LineageDirection
LINEAGE_DIRECTION_UPSTREAM: LineageDirection
LINEAGE_DIRECTION_DOWNSTREAM: LineageDirection
LINEAGE_DIRECTION_BOTH: LineageDirection
LINEAGE_RELATION_UNSPECIFIED: LineageRelation
LINEAGE_RELATION_DERIVED_FROM: LineageRelation
LINEAGE_RELATION_TRAINED_ON: LineageRelation
LINEAGE_RELATION_TRIGGERED: LineageRelation
LINEAGE_RELATION_TRIAL_OF: LineageRelation
LINEAGE_RELATION_PRODUCED: LineageRelation
LINEAGE_RELATION_VALIDATED_BY: LineageRelation
LINEAGE_RELATION_DEPLOYED_TO: LineageRelation
LINEAGE_RELATION_EVALUATED_ON: LineageRelation

class LineageNode(_message.Message):
    __slots__ = ("name", "type", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class LineageEdge(_message.Message):
    __slots__ = ("source", "target", "relation")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    source: str
    target: str
    relation: LineageRelation
    def __init__(self, source: _Optional[str] = ..., target: _Optional[str] = ..., relation: _Optional[_Union[LineageRelation, str]] = ...) -> None: ...
