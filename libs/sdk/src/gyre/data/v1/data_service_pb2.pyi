import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gyre.common.v1 import schema_pb2 as _schema_pb2
from gyre.common.v1 import split_pb2 as _split_pb2
from gyre.data.v1 import dataset_pb2 as _dataset_pb2
from gyre.data.v1 import manifest_pb2 as _manifest_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FileChangeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILE_CHANGE_KIND_UNSPECIFIED: _ClassVar[FileChangeKind]
    FILE_CHANGE_KIND_ADDED: _ClassVar[FileChangeKind]
    FILE_CHANGE_KIND_REMOVED: _ClassVar[FileChangeKind]
    FILE_CHANGE_KIND_MODIFIED: _ClassVar[FileChangeKind]

class ColumnChangeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLUMN_CHANGE_KIND_UNSPECIFIED: _ClassVar[ColumnChangeKind]
    COLUMN_CHANGE_KIND_ADDED: _ClassVar[ColumnChangeKind]
    COLUMN_CHANGE_KIND_REMOVED: _ClassVar[ColumnChangeKind]
    COLUMN_CHANGE_KIND_TYPE_CHANGED: _ClassVar[ColumnChangeKind]
    COLUMN_CHANGE_KIND_NULLABILITY_CHANGED: _ClassVar[ColumnChangeKind]
FILE_CHANGE_KIND_UNSPECIFIED: FileChangeKind
FILE_CHANGE_KIND_ADDED: FileChangeKind
FILE_CHANGE_KIND_REMOVED: FileChangeKind
FILE_CHANGE_KIND_MODIFIED: FileChangeKind
COLUMN_CHANGE_KIND_UNSPECIFIED: ColumnChangeKind
COLUMN_CHANGE_KIND_ADDED: ColumnChangeKind
COLUMN_CHANGE_KIND_REMOVED: ColumnChangeKind
COLUMN_CHANGE_KIND_TYPE_CHANGED: ColumnChangeKind
COLUMN_CHANGE_KIND_NULLABILITY_CHANGED: ColumnChangeKind

class CreateDatasetRequest(_message.Message):
    __slots__ = ("dataset_id", "dataset")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    dataset: _dataset_pb2.Dataset
    def __init__(self, dataset_id: _Optional[str] = ..., dataset: _Optional[_Union[_dataset_pb2.Dataset, _Mapping]] = ...) -> None: ...

class CreateDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: _dataset_pb2.Dataset
    def __init__(self, dataset: _Optional[_Union[_dataset_pb2.Dataset, _Mapping]] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: _dataset_pb2.Dataset
    def __init__(self, dataset: _Optional[_Union[_dataset_pb2.Dataset, _Mapping]] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter", "order_by")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: str
    order_by: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets", "next_page_token", "total_size")
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[_dataset_pb2.Dataset]
    next_page_token: str
    total_size: int
    def __init__(self, datasets: _Optional[_Iterable[_Union[_dataset_pb2.Dataset, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateDatasetRequest(_message.Message):
    __slots__ = ("dataset", "update_mask")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    dataset: _dataset_pb2.Dataset
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, dataset: _Optional[_Union[_dataset_pb2.Dataset, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: _dataset_pb2.Dataset
    def __init__(self, dataset: _Optional[_Union[_dataset_pb2.Dataset, _Mapping]] = ...) -> None: ...

class DeleteDatasetRequest(_message.Message):
    __slots__ = ("name", "etag", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    force: bool
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class DeleteDatasetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FindMissingChunksRequest(_message.Message):
    __slots__ = ("dataset", "chunks")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    chunks: _containers.RepeatedCompositeFieldContainer[_manifest_pb2.ChunkDescriptor]
    def __init__(self, dataset: _Optional[str] = ..., chunks: _Optional[_Iterable[_Union[_manifest_pb2.ChunkDescriptor, _Mapping]]] = ...) -> None: ...

class FindMissingChunksResponse(_message.Message):
    __slots__ = ("missing_chunks",)
    MISSING_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    missing_chunks: _containers.RepeatedCompositeFieldContainer[_manifest_pb2.ChunkDescriptor]
    def __init__(self, missing_chunks: _Optional[_Iterable[_Union[_manifest_pb2.ChunkDescriptor, _Mapping]]] = ...) -> None: ...

class CreateUploadUrlsRequest(_message.Message):
    __slots__ = ("dataset", "chunks")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    chunks: _containers.RepeatedCompositeFieldContainer[_manifest_pb2.ChunkDescriptor]
    def __init__(self, dataset: _Optional[str] = ..., chunks: _Optional[_Iterable[_Union[_manifest_pb2.ChunkDescriptor, _Mapping]]] = ...) -> None: ...

class ChunkUrl(_message.Message):
    __slots__ = ("sha256", "url", "method", "headers", "expire_time")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SHA256_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    url: str
    method: str
    headers: _containers.ScalarMap[str, str]
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, sha256: _Optional[str] = ..., url: _Optional[str] = ..., method: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateUploadUrlsResponse(_message.Message):
    __slots__ = ("urls",)
    URLS_FIELD_NUMBER: _ClassVar[int]
    urls: _containers.RepeatedCompositeFieldContainer[ChunkUrl]
    def __init__(self, urls: _Optional[_Iterable[_Union[ChunkUrl, _Mapping]]] = ...) -> None: ...

class CommitDatasetVersionRequest(_message.Message):
    __slots__ = ("dataset", "manifest", "parent_versions", "no_parents", "split_spec", "target_column", "description", "labels", "request_id")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DATASET_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    PARENT_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NO_PARENTS_FIELD_NUMBER: _ClassVar[int]
    SPLIT_SPEC_FIELD_NUMBER: _ClassVar[int]
    TARGET_COLUMN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    manifest: _manifest_pb2.Manifest
    parent_versions: _containers.RepeatedScalarFieldContainer[str]
    no_parents: bool
    split_spec: _dataset_pb2.SplitSpec
    target_column: str
    description: str
    labels: _containers.ScalarMap[str, str]
    request_id: str
    def __init__(self, dataset: _Optional[str] = ..., manifest: _Optional[_Union[_manifest_pb2.Manifest, _Mapping]] = ..., parent_versions: _Optional[_Iterable[str]] = ..., no_parents: _Optional[bool] = ..., split_spec: _Optional[_Union[_dataset_pb2.SplitSpec, _Mapping]] = ..., target_column: _Optional[str] = ..., description: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CommitDatasetVersionResponse(_message.Message):
    __slots__ = ("dataset_version", "created")
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    dataset_version: _dataset_pb2.DatasetVersion
    created: bool
    def __init__(self, dataset_version: _Optional[_Union[_dataset_pb2.DatasetVersion, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetDatasetVersionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetDatasetVersionResponse(_message.Message):
    __slots__ = ("dataset_version",)
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    dataset_version: _dataset_pb2.DatasetVersion
    def __init__(self, dataset_version: _Optional[_Union[_dataset_pb2.DatasetVersion, _Mapping]] = ...) -> None: ...

class ListDatasetVersionsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "filter", "order_by")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    filter: str
    order_by: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListDatasetVersionsResponse(_message.Message):
    __slots__ = ("dataset_versions", "next_page_token", "total_size")
    DATASET_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    dataset_versions: _containers.RepeatedCompositeFieldContainer[_dataset_pb2.DatasetVersion]
    next_page_token: str
    total_size: int
    def __init__(self, dataset_versions: _Optional[_Iterable[_Union[_dataset_pb2.DatasetVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetManifestRequest(_message.Message):
    __slots__ = ("name", "page_size", "page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetManifestResponse(_message.Message):
    __slots__ = ("manifest", "next_page_token")
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    manifest: _manifest_pb2.Manifest
    next_page_token: str
    def __init__(self, manifest: _Optional[_Union[_manifest_pb2.Manifest, _Mapping]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateDownloadUrlsRequest(_message.Message):
    __slots__ = ("dataset_version", "chunk_sha256s")
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SHA256S_FIELD_NUMBER: _ClassVar[int]
    dataset_version: str
    chunk_sha256s: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dataset_version: _Optional[str] = ..., chunk_sha256s: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateDownloadUrlsResponse(_message.Message):
    __slots__ = ("urls",)
    URLS_FIELD_NUMBER: _ClassVar[int]
    urls: _containers.RepeatedCompositeFieldContainer[ChunkUrl]
    def __init__(self, urls: _Optional[_Iterable[_Union[ChunkUrl, _Mapping]]] = ...) -> None: ...

class DiffDatasetVersionsRequest(_message.Message):
    __slots__ = ("base_version", "target_version", "include_distribution")
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGET_VERSION_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    base_version: str
    target_version: str
    include_distribution: bool
    def __init__(self, base_version: _Optional[str] = ..., target_version: _Optional[str] = ..., include_distribution: _Optional[bool] = ...) -> None: ...

class FileChange(_message.Message):
    __slots__ = ("path", "kind", "base_sha256", "target_sha256", "base_size_bytes", "target_size_bytes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BASE_SHA256_FIELD_NUMBER: _ClassVar[int]
    TARGET_SHA256_FIELD_NUMBER: _ClassVar[int]
    BASE_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    TARGET_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    path: str
    kind: FileChangeKind
    base_sha256: str
    target_sha256: str
    base_size_bytes: int
    target_size_bytes: int
    def __init__(self, path: _Optional[str] = ..., kind: _Optional[_Union[FileChangeKind, str]] = ..., base_sha256: _Optional[str] = ..., target_sha256: _Optional[str] = ..., base_size_bytes: _Optional[int] = ..., target_size_bytes: _Optional[int] = ...) -> None: ...

class ColumnChange(_message.Message):
    __slots__ = ("column", "kind", "base", "target")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    column: str
    kind: ColumnChangeKind
    base: _schema_pb2.ColumnSchema
    target: _schema_pb2.ColumnSchema
    def __init__(self, column: _Optional[str] = ..., kind: _Optional[_Union[ColumnChangeKind, str]] = ..., base: _Optional[_Union[_schema_pb2.ColumnSchema, _Mapping]] = ..., target: _Optional[_Union[_schema_pb2.ColumnSchema, _Mapping]] = ...) -> None: ...

class ColumnDrift(_message.Message):
    __slots__ = ("column", "psi", "base_null_rate", "target_null_rate")
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    PSI_FIELD_NUMBER: _ClassVar[int]
    BASE_NULL_RATE_FIELD_NUMBER: _ClassVar[int]
    TARGET_NULL_RATE_FIELD_NUMBER: _ClassVar[int]
    column: str
    psi: float
    base_null_rate: float
    target_null_rate: float
    def __init__(self, column: _Optional[str] = ..., psi: _Optional[float] = ..., base_null_rate: _Optional[float] = ..., target_null_rate: _Optional[float] = ...) -> None: ...

class DiffDatasetVersionsResponse(_message.Message):
    __slots__ = ("file_changes", "column_changes", "base_row_count", "target_row_count", "row_count_delta", "column_drifts", "new_chunk_bytes")
    FILE_CHANGES_FIELD_NUMBER: _ClassVar[int]
    COLUMN_CHANGES_FIELD_NUMBER: _ClassVar[int]
    BASE_ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    TARGET_ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_DELTA_FIELD_NUMBER: _ClassVar[int]
    COLUMN_DRIFTS_FIELD_NUMBER: _ClassVar[int]
    NEW_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    file_changes: _containers.RepeatedCompositeFieldContainer[FileChange]
    column_changes: _containers.RepeatedCompositeFieldContainer[ColumnChange]
    base_row_count: int
    target_row_count: int
    row_count_delta: int
    column_drifts: _containers.RepeatedCompositeFieldContainer[ColumnDrift]
    new_chunk_bytes: int
    def __init__(self, file_changes: _Optional[_Iterable[_Union[FileChange, _Mapping]]] = ..., column_changes: _Optional[_Iterable[_Union[ColumnChange, _Mapping]]] = ..., base_row_count: _Optional[int] = ..., target_row_count: _Optional[int] = ..., row_count_delta: _Optional[int] = ..., column_drifts: _Optional[_Iterable[_Union[ColumnDrift, _Mapping]]] = ..., new_chunk_bytes: _Optional[int] = ...) -> None: ...

class GetSplitRequest(_message.Message):
    __slots__ = ("dataset_version", "split", "include_urls")
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_URLS_FIELD_NUMBER: _ClassVar[int]
    dataset_version: str
    split: _split_pb2.Split
    include_urls: bool
    def __init__(self, dataset_version: _Optional[str] = ..., split: _Optional[_Union[_split_pb2.Split, str]] = ..., include_urls: _Optional[bool] = ...) -> None: ...

class ObjectUrl(_message.Message):
    __slots__ = ("url", "sha256", "size_bytes", "media_type", "expire_time")
    URL_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    url: str
    sha256: str
    size_bytes: int
    media_type: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, url: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., media_type: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetSplitResponse(_message.Message):
    __slots__ = ("stats", "split_spec", "key_hashes", "row_files")
    STATS_FIELD_NUMBER: _ClassVar[int]
    SPLIT_SPEC_FIELD_NUMBER: _ClassVar[int]
    KEY_HASHES_FIELD_NUMBER: _ClassVar[int]
    ROW_FILES_FIELD_NUMBER: _ClassVar[int]
    stats: _dataset_pb2.SplitStats
    split_spec: _dataset_pb2.SplitSpec
    key_hashes: ObjectUrl
    row_files: _containers.RepeatedCompositeFieldContainer[ObjectUrl]
    def __init__(self, stats: _Optional[_Union[_dataset_pb2.SplitStats, _Mapping]] = ..., split_spec: _Optional[_Union[_dataset_pb2.SplitSpec, _Mapping]] = ..., key_hashes: _Optional[_Union[ObjectUrl, _Mapping]] = ..., row_files: _Optional[_Iterable[_Union[ObjectUrl, _Mapping]]] = ...) -> None: ...
