import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gyre.common.v1 import artifact_pb2 as _artifact_pb2
from gyre.common.v1 import cause_pb2 as _cause_pb2
from gyre.common.v1 import compute_pb2 as _compute_pb2
from gyre.common.v1 import metric_pb2 as _metric_pb2
from gyre.common.v1 import schema_pb2 as _schema_pb2
from gyre.common.v1 import value_pb2 as _value_pb2
from gyre.training.v1 import run_pb2 as _run_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrainingRunQueued(_message.Message):
    __slots__ = ("run", "experiment", "dataset_version", "priority", "cause", "parent_run", "registered_model")
    RUN_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    run: str
    experiment: str
    dataset_version: str
    priority: int
    cause: _cause_pb2.TriggerCause
    parent_run: str
    registered_model: str
    def __init__(self, run: _Optional[str] = ..., experiment: _Optional[str] = ..., dataset_version: _Optional[str] = ..., priority: _Optional[int] = ..., cause: _Optional[_Union[_cause_pb2.TriggerCause, _Mapping]] = ..., parent_run: _Optional[str] = ..., registered_model: _Optional[str] = ...) -> None: ...

class TrainingRunStarted(_message.Message):
    __slots__ = ("run", "experiment", "attempt", "ray_job_id", "start_time")
    RUN_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    RAY_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    run: str
    experiment: str
    attempt: int
    ray_job_id: str
    start_time: _timestamp_pb2.Timestamp
    def __init__(self, run: _Optional[str] = ..., experiment: _Optional[str] = ..., attempt: _Optional[int] = ..., ray_job_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TrainingRunSucceeded(_message.Message):
    __slots__ = ("run", "experiment", "registered_model", "dataset_version", "dataset_digest", "model_artifact", "signature", "params", "metrics", "cause", "code_version", "task", "target_column", "feature_columns", "parent_run", "resource_usage", "end_time")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _value_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_value_pb2.Value, _Mapping]] = ...) -> None: ...
    RUN_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    MODEL_ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    CODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    TARGET_COLUMN_FIELD_NUMBER: _ClassVar[int]
    FEATURE_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_USAGE_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    run: str
    experiment: str
    registered_model: str
    dataset_version: str
    dataset_digest: str
    model_artifact: _artifact_pb2.ArtifactRef
    signature: _schema_pb2.Signature
    params: _containers.MessageMap[str, _value_pb2.Value]
    metrics: _containers.RepeatedCompositeFieldContainer[_metric_pb2.Metric]
    cause: _cause_pb2.TriggerCause
    code_version: _run_pb2.CodeVersion
    task: _run_pb2.Task
    target_column: str
    feature_columns: _containers.RepeatedScalarFieldContainer[str]
    parent_run: str
    resource_usage: _compute_pb2.ResourceUsage
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, run: _Optional[str] = ..., experiment: _Optional[str] = ..., registered_model: _Optional[str] = ..., dataset_version: _Optional[str] = ..., dataset_digest: _Optional[str] = ..., model_artifact: _Optional[_Union[_artifact_pb2.ArtifactRef, _Mapping]] = ..., signature: _Optional[_Union[_schema_pb2.Signature, _Mapping]] = ..., params: _Optional[_Mapping[str, _value_pb2.Value]] = ..., metrics: _Optional[_Iterable[_Union[_metric_pb2.Metric, _Mapping]]] = ..., cause: _Optional[_Union[_cause_pb2.TriggerCause, _Mapping]] = ..., code_version: _Optional[_Union[_run_pb2.CodeVersion, _Mapping]] = ..., task: _Optional[_Union[_run_pb2.Task, str]] = ..., target_column: _Optional[str] = ..., feature_columns: _Optional[_Iterable[str]] = ..., parent_run: _Optional[str] = ..., resource_usage: _Optional[_Union[_compute_pb2.ResourceUsage, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TrainingRunFailed(_message.Message):
    __slots__ = ("run", "experiment", "reason", "attempt_count", "cause", "parent_run")
    RUN_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_FIELD_NUMBER: _ClassVar[int]
    run: str
    experiment: str
    reason: str
    attempt_count: int
    cause: _cause_pb2.TriggerCause
    parent_run: str
    def __init__(self, run: _Optional[str] = ..., experiment: _Optional[str] = ..., reason: _Optional[str] = ..., attempt_count: _Optional[int] = ..., cause: _Optional[_Union[_cause_pb2.TriggerCause, _Mapping]] = ..., parent_run: _Optional[str] = ...) -> None: ...

class TrainingRunCancelled(_message.Message):
    __slots__ = ("run", "experiment", "reason", "actor")
    RUN_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    run: str
    experiment: str
    reason: str
    actor: str
    def __init__(self, run: _Optional[str] = ..., experiment: _Optional[str] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class TrainingTriggerFired(_message.Message):
    __slots__ = ("trigger", "cause", "run")
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    trigger: str
    cause: _cause_pb2.TriggerCause
    run: str
    def __init__(self, trigger: _Optional[str] = ..., cause: _Optional[_Union[_cause_pb2.TriggerCause, _Mapping]] = ..., run: _Optional[str] = ...) -> None: ...
