from gyre.common.v1 import schema_pb2 as _schema_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Histogram(_message.Message):
    __slots__ = ("edges", "categories", "counts")
    EDGES_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    edges: _containers.RepeatedScalarFieldContainer[float]
    categories: _containers.RepeatedScalarFieldContainer[str]
    counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, edges: _Optional[_Iterable[float]] = ..., categories: _Optional[_Iterable[str]] = ..., counts: _Optional[_Iterable[int]] = ...) -> None: ...

class NumericProfile(_message.Message):
    __slots__ = ("min", "max", "mean", "std", "histogram")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    mean: float
    std: float
    histogram: Histogram
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ..., mean: _Optional[float] = ..., std: _Optional[float] = ..., histogram: _Optional[_Union[Histogram, _Mapping]] = ...) -> None: ...

class CategoryCount(_message.Message):
    __slots__ = ("value", "count")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    value: str
    count: int
    def __init__(self, value: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class CategoricalProfile(_message.Message):
    __slots__ = ("top_categories", "other_count", "distinct_estimate")
    TOP_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    OTHER_COUNT_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    top_categories: _containers.RepeatedCompositeFieldContainer[CategoryCount]
    other_count: int
    distinct_estimate: int
    def __init__(self, top_categories: _Optional[_Iterable[_Union[CategoryCount, _Mapping]]] = ..., other_count: _Optional[int] = ..., distinct_estimate: _Optional[int] = ...) -> None: ...

class ColumnProfile(_message.Message):
    __slots__ = ("column", "logical_type", "count", "null_count", "numeric", "categorical")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    LOGICAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    NULL_COUNT_FIELD_NUMBER: _ClassVar[int]
    NUMERIC_FIELD_NUMBER: _ClassVar[int]
    CATEGORICAL_FIELD_NUMBER: _ClassVar[int]
    column: str
    logical_type: _schema_pb2.LogicalType
    count: int
    null_count: int
    numeric: NumericProfile
    categorical: CategoricalProfile
    def __init__(self, column: _Optional[str] = ..., logical_type: _Optional[_Union[_schema_pb2.LogicalType, str]] = ..., count: _Optional[int] = ..., null_count: _Optional[int] = ..., numeric: _Optional[_Union[NumericProfile, _Mapping]] = ..., categorical: _Optional[_Union[CategoricalProfile, _Mapping]] = ...) -> None: ...
