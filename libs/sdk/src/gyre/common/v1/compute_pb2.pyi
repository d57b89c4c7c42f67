from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ComputeResources(_message.Message):
    __slots__ = ("cpus", "gpus", "memory_bytes")
    CPUS_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    cpus: float
    gpus: float
    memory_bytes: int
    def __init__(self, cpus: _Optional[float] = ..., gpus: _Optional[float] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class ResourceUsage(_message.Message):
    __slots__ = ("wall_seconds", "cpu_seconds", "peak_memory_bytes", "gpus", "gpu_seconds")
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PEAK_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    GPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    wall_seconds: float
    cpu_seconds: float
    peak_memory_bytes: int
    gpus: float
    gpu_seconds: float
    def __init__(self, wall_seconds: _Optional[float] = ..., cpu_seconds: _Optional[float] = ..., peak_memory_bytes: _Optional[int] = ..., gpus: _Optional[float] = ..., gpu_seconds: _Optional[float] = ...) -> None: ...
