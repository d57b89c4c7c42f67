import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gyre.common.v1 import profile_pb2 as _profile_pb2
from gyre.common.v1 import schema_pb2 as _schema_pb2
from gyre.common.v1 import split_pb2 as _split_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DatasetVersionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATASET_VERSION_STATE_UNSPECIFIED: _ClassVar[DatasetVersionState]
    DATASET_VERSION_STATE_PROFILING: _ClassVar[DatasetVersionState]
    DATASET_VERSION_STATE_READY: _ClassVar[DatasetVersionState]
    DATASET_VERSION_STATE_FAILED: _ClassVar[DatasetVersionState]

class SplitKeySource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPLIT_KEY_SOURCE_UNSPECIFIED: _ClassVar[SplitKeySource]
    SPLIT_KEY_SOURCE_COLUMN: _ClassVar[SplitKeySource]
    SPLIT_KEY_SOURCE_ROW_CONTENT: _ClassVar[SplitKeySource]
DATASET_VERSION_STATE_UNSPECIFIED: DatasetVersionState
DATASET_VERSION_STATE_PROFILING: DatasetVersionState
DATASET_VERSION_STATE_READY: DatasetVersionState
DATASET_VERSION_STATE_FAILED: DatasetVersionState
SPLIT_KEY_SOURCE_UNSPECIFIED: SplitKeySource
SPLIT_KEY_SOURCE_COLUMN: SplitKeySource
SPLIT_KEY_SOURCE_ROW_CONTENT: SplitKeySource

class Dataset(_message.Message):
    __slots__ = ("name", "display_name", "description", "labels", "owner", "source", "preprocessing_notes", "latest_version", "version_count", "create_time", "update_time", "etag")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PREPROCESSING_NOTES_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    labels: _containers.ScalarMap[str, str]
    owner: str
    source: str
    preprocessing_notes: str
    latest_version: str
    version_count: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., owner: _Optional[str] = ..., source: _Optional[str] = ..., preprocessing_notes: _Optional[str] = ..., latest_version: _Optional[str] = ..., version_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class SplitSpec(_message.Message):
    __slots__ = ("train_fraction", "validation_fraction", "test_fraction", "key_source", "key_column", "seed")
    TRAIN_FRACTION_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FRACTION_FIELD_NUMBER: _ClassVar[int]
    TEST_FRACTION_FIELD_NUMBER: _ClassVar[int]
    KEY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    KEY_COLUMN_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    train_fraction: float
    validation_fraction: float
    test_fraction: float
    key_source: SplitKeySource
    key_column: str
    seed: int
    def __init__(self, train_fraction: _Optional[float] = ..., validation_fraction: _Optional[float] = ..., test_fraction: _Optional[float] = ..., key_source: _Optional[_Union[SplitKeySource, str]] = ..., key_column: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class SplitStats(_message.Message):
    __slots__ = ("split", "row_count", "key_count", "key_digest")
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    KEY_COUNT_FIELD_NUMBER: _ClassVar[int]
    KEY_DIGEST_FIELD_NUMBER: _ClassVar[int]
    split: _split_pb2.Split
    row_count: int
    key_count: int
    key_digest: str
    def __init__(self, split: _Optional[_Union[_split_pb2.Split, str]] = ..., row_count: _Optional[int] = ..., key_count: _Optional[int] = ..., key_digest: _Optional[str] = ...) -> None: ...

class ManifestSummary(_message.Message):
    __slots__ = ("file_count", "total_bytes", "chunk_count", "unique_chunk_count")
    FILE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    file_count: int
    total_bytes: int
    chunk_count: int
    unique_chunk_count: int
    def __init__(self, file_count: _Optional[int] = ..., total_bytes: _Optional[int] = ..., chunk_count: _Optional[int] = ..., unique_chunk_count: _Optional[int] = ...) -> None: ...

class DatasetVersion(_message.Message):
    __slots__ = ("name", "version", "digest", "parent_versions", "manifest_summary", "schema", "row_count", "column_profiles", "split_spec", "split_stats", "target_column", "state", "state_message", "description", "labels", "creator", "create_time")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    PARENT_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    COLUMN_PROFILES_FIELD_NUMBER: _ClassVar[int]
    SPLIT_SPEC_FIELD_NUMBER: _ClassVar[int]
    SPLIT_STATS_FIELD_NUMBER: _ClassVar[int]
    TARGET_COLUMN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    digest: str
    parent_versions: _containers.RepeatedScalarFieldContainer[str]
    manifest_summary: ManifestSummary
    schema: _schema_pb2.Schema
    row_count: int
    column_profiles: _containers.RepeatedCompositeFieldContainer[_profile_pb2.ColumnProfile]
    split_spec: SplitSpec
    split_stats: _containers.RepeatedCompositeFieldContainer[SplitStats]
    target_column: str
    state: DatasetVersionState
    state_message: str
    description: str
    labels: _containers.ScalarMap[str, str]
    creator: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., digest: _Optional[str] = ..., parent_versions: _Optional[_Iterable[str]] = ..., manifest_summary: _Optional[_Union[ManifestSummary, _Mapping]] = ..., schema: _Optional[_Union[_schema_pb2.Schema, _Mapping]] = ..., row_count: _Optional[int] = ..., column_profiles: _Optional[_Iterable[_Union[_profile_pb2.ColumnProfile, _Mapping]]] = ..., split_spec: _Optional[_Union[SplitSpec, _Mapping]] = ..., split_stats: _Optional[_Iterable[_Union[SplitStats, _Mapping]]] = ..., target_column: _Optional[str] = ..., state: _Optional[_Union[DatasetVersionState, str]] = ..., state_message: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., creator: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
