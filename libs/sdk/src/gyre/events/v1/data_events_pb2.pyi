from gyre.common.v1 import schema_pb2 as _schema_pb2
from gyre.data.v1 import dataset_pb2 as _dataset_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DataVersionCommitted(_message.Message):
    __slots__ = ("dataset", "dataset_version", "version", "digest", "parent_versions", "row_count", "target_column", "manifest_summary", "state", "labels", "schema", "split_spec", "split_stats")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    PARENT_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    TARGET_COLUMN_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SPLIT_SPEC_FIELD_NUMBER: _ClassVar[int]
    SPLIT_STATS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    dataset_version: str
    version: int
    digest: str
    parent_versions: _containers.RepeatedScalarFieldContainer[str]
    row_count: int
    target_column: str
    manifest_summary: _dataset_pb2.ManifestSummary
    state: _dataset_pb2.DatasetVersionState
    labels: _containers.ScalarMap[str, str]
    schema: _schema_pb2.Schema
    split_spec: _dataset_pb2.SplitSpec
    split_stats: _containers.RepeatedCompositeFieldContainer[_dataset_pb2.SplitStats]
    def __init__(self, dataset: _Optional[str] = ..., dataset_version: _Optional[str] = ..., version: _Optional[int] = ..., digest: _Optional[str] = ..., parent_versions: _Optional[_Iterable[str]] = ..., row_count: _Optional[int] = ..., target_column: _Optional[str] = ..., manifest_summary: _Optional[_Union[_dataset_pb2.ManifestSummary, _Mapping]] = ..., state: _Optional[_Union[_dataset_pb2.DatasetVersionState, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., schema: _Optional[_Union[_schema_pb2.Schema, _Mapping]] = ..., split_spec: _Optional[_Union[_dataset_pb2.SplitSpec, _Mapping]] = ..., split_stats: _Optional[_Iterable[_Union[_dataset_pb2.SplitStats, _Mapping]]] = ...) -> None: ...
