from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FileFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILE_FORMAT_UNSPECIFIED: _ClassVar[FileFormat]
    FILE_FORMAT_CSV: _ClassVar[FileFormat]
    FILE_FORMAT_PARQUET: _ClassVar[FileFormat]
    FILE_FORMAT_OTHER: _ClassVar[FileFormat]

class ChunkProblemKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHUNK_PROBLEM_KIND_UNSPECIFIED: _ClassVar[ChunkProblemKind]
    CHUNK_PROBLEM_KIND_MISSING: _ClassVar[ChunkProblemKind]
    CHUNK_PROBLEM_KIND_DIGEST_MISMATCH: _ClassVar[ChunkProblemKind]
    CHUNK_PROBLEM_KIND_SIZE_MISMATCH: _ClassVar[ChunkProblemKind]
FILE_FORMAT_UNSPECIFIED: FileFormat
FILE_FORMAT_CSV: FileFormat
FILE_FORMAT_PARQUET: FileFormat
FILE_FORMAT_OTHER: FileFormat
CHUNK_PROBLEM_KIND_UNSPECIFIED: ChunkProblemKind
CHUNK_PROBLEM_KIND_MISSING: ChunkProblemKind
CHUNK_PROBLEM_KIND_DIGEST_MISMATCH: ChunkProblemKind
CHUNK_PROBLEM_KIND_SIZE_MISMATCH: ChunkProblemKind

class ChunkRef(_message.Message):
    __slots__ = ("sha256", "offset", "length")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    offset: int
    length: int
    def __init__(self, sha256: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class ManifestFile(_message.Message):
    __slots__ = ("path", "size_bytes", "sha256", "format", "chunks")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    path: str
    size_bytes: int
    sha256: str
    format: FileFormat
    chunks: _containers.RepeatedCompositeFieldContainer[ChunkRef]
    def __init__(self, path: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., format: _Optional[_Union[FileFormat, str]] = ..., chunks: _Optional[_Iterable[_Union[ChunkRef, _Mapping]]] = ...) -> None: ...

class Manifest(_message.Message):
    __slots__ = ("name", "files")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    name: str
    files: _containers.RepeatedCompositeFieldContainer[ManifestFile]
    def __init__(self, name: _Optional[str] = ..., files: _Optional[_Iterable[_Union[ManifestFile, _Mapping]]] = ...) -> None: ...

class ChunkDescriptor(_message.Message):
    __slots__ = ("sha256", "size_bytes")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size_bytes: int
    def __init__(self, sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class ChunkProblem(_message.Message):
    __slots__ = ("chunk", "kind", "paths")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    chunk: ChunkDescriptor
    kind: ChunkProblemKind
    paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, chunk: _Optional[_Union[ChunkDescriptor, _Mapping]] = ..., kind: _Optional[_Union[ChunkProblemKind, str]] = ..., paths: _Optional[_Iterable[str]] = ...) -> None: ...

class ChunkProblems(_message.Message):
    __slots__ = ("problems",)
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    problems: _containers.RepeatedCompositeFieldContainer[ChunkProblem]
    def __init__(self, problems: _Optional[_Iterable[_Union[ChunkProblem, _Mapping]]] = ...) -> None: ...
