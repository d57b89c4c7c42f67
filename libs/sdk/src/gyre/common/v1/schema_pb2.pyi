from gyre.common.v1 import value_pb2 as _value_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogicalType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOGICAL_TYPE_UNSPECIFIED: _ClassVar[LogicalType]
    LOGICAL_TYPE_BOOLEAN: _ClassVar[LogicalType]
    LOGICAL_TYPE_INTEGER: _ClassVar[LogicalType]
    LOGICAL_TYPE_FLOAT: _ClassVar[LogicalType]
    LOGICAL_TYPE_STRING: _ClassVar[LogicalType]
    LOGICAL_TYPE_CATEGORICAL: _ClassVar[LogicalType]
    LOGICAL_TYPE_TIMESTAMP: _ClassVar[LogicalType]
    LOGICAL_TYPE_DATE: _ClassVar[LogicalType]
    LOGICAL_TYPE_BINARY: _ClassVar[LogicalType]
LOGICAL_TYPE_UNSPECIFIED: LogicalType
LOGICAL_TYPE_BOOLEAN: LogicalType
LOGICAL_TYPE_INTEGER: LogicalType
LOGICAL_TYPE_FLOAT: LogicalType
LOGICAL_TYPE_STRING: LogicalType
LOGICAL_TYPE_CATEGORICAL: LogicalType
LOGICAL_TYPE_TIMESTAMP: LogicalType
LOGICAL_TYPE_DATE: LogicalType
LOGICAL_TYPE_BINARY: LogicalType

class ColumnSchema(_message.Message):
    __slots__ = ("name", "logical_type", "nullable", "physical_type", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LOGICAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    NULLABLE_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    logical_type: LogicalType
    nullable: bool
    physical_type: str
    description: str
    def __init__(self, name: _Optional[str] = ..., logical_type: _Optional[_Union[LogicalType, str]] = ..., nullable: _Optional[bool] = ..., physical_type: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class Schema(_message.Message):
    __slots__ = ("columns",)
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[ColumnSchema]
    def __init__(self, columns: _Optional[_Iterable[_Union[ColumnSchema, _Mapping]]] = ...) -> None: ...

class TensorSpec(_message.Message):
    __slots__ = ("name", "data_type", "shape", "categorical", "categories", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    CATEGORICAL_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    data_type: _value_pb2.DataType
    shape: _containers.RepeatedScalarFieldContainer[int]
    categorical: bool
    categories: _containers.RepeatedScalarFieldContainer[str]
    description: str
    def __init__(self, name: _Optional[str] = ..., data_type: _Optional[_Union[_value_pb2.DataType, str]] = ..., shape: _Optional[_Iterable[int]] = ..., categorical: _Optional[bool] = ..., categories: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ...) -> None: ...

class Signature(_message.Message):
    __slots__ = ("inputs", "outputs")
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedCompositeFieldContainer[TensorSpec]
    outputs: _containers.RepeatedCompositeFieldContainer[TensorSpec]
    def __init__(self, inputs: _Optional[_Iterable[_Union[TensorSpec, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[TensorSpec, _Mapping]]] = ...) -> None: ...
