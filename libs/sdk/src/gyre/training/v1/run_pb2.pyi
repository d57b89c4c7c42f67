import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gyre.common.v1 import artifact_pb2 as _artifact_pb2
from gyre.common.v1 import cause_pb2 as _cause_pb2
from gyre.common.v1 import compute_pb2 as _compute_pb2
from gyre.common.v1 import metric_pb2 as _metric_pb2
from gyre.common.v1 import schema_pb2 as _schema_pb2
from gyre.common.v1 import value_pb2 as _value_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATE_UNSPECIFIED: _ClassVar[RunState]
    RUN_STATE_QUEUED: _ClassVar[RunState]
    RUN_STATE_RUNNING: _ClassVar[RunState]
    RUN_STATE_SUCCEEDED: _ClassVar[RunState]
    RUN_STATE_FAILED: _ClassVar[RunState]
    RUN_STATE_CANCELLED: _ClassVar[RunState]

class Task(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_UNSPECIFIED: _ClassVar[Task]
    TASK_CLASSIFICATION: _ClassVar[Task]
    TASK_REGRESSION: _ClassVar[Task]

class OptimizationMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPTIMIZATION_MODE_UNSPECIFIED: _ClassVar[OptimizationMode]
    OPTIMIZATION_MODE_MIN: _ClassVar[OptimizationMode]
    OPTIMIZATION_MODE_MAX: _ClassVar[OptimizationMode]

class SearchAlgorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_ALGORITHM_UNSPECIFIED: _ClassVar[SearchAlgorithm]
    SEARCH_ALGORITHM_RANDOM: _ClassVar[SearchAlgorithm]
    SEARCH_ALGORITHM_GRID: _ClassVar[SearchAlgorithm]
RUN_STATE_UNSPECIFIED: RunState
RUN_STATE_QUEUED: RunState
RUN_STATE_RUNNING: RunState
RUN_STATE_SUCCEEDED: RunState
RUN_STATE_FAILED: RunState
RUN_STATE_CANCELLED: RunState
TASK_UNSPECIFIED: Task
TASK_CLASSIFICATION: Task
TASK_REGRESSION: Task
OPTIMIZATION_MODE_UNSPECIFIED: OptimizationMode
OPTIMIZATION_MODE_MIN: OptimizationMode
OPTIMIZATION_MODE_MAX: OptimizationMode
SEARCH_ALGORITHM_UNSPECIFIED: SearchAlgorithm
SEARCH_ALGORITHM_RANDOM: SearchAlgorithm
SEARCH_ALGORITHM_GRID: SearchAlgorithm

class BuiltinTrainer(_message.Message):
    __slots__ = ("estimator",)
    ESTIMATOR_FIELD_NUMBER: _ClassVar[int]
    estimator: str
    def __init__(self, estimator: _Optional[str] = ...) -> None: ...

class CustomTrainer(_message.Message):
    __slots__ = ("entrypoint", "code", "pip_requirements")
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    PIP_REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    entrypoint: str
    code: _artifact_pb2.ArtifactRef
    pip_requirements: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, entrypoint: _Optional[str] = ..., code: _Optional[_Union[_artifact_pb2.ArtifactRef, _Mapping]] = ..., pip_requirements: _Optional[_Iterable[str]] = ...) -> None: ...

class TrainerSpec(_message.Message):
    __slots__ = ("builtin", "custom")
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_NUMBER: _ClassVar[int]
    builtin: BuiltinTrainer
    custom: CustomTrainer
    def __init__(self, builtin: _Optional[_Union[BuiltinTrainer, _Mapping]] = ..., custom: _Optional[_Union[CustomTrainer, _Mapping]] = ...) -> None: ...

class ChoiceDomain(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[_value_pb2.Value]
    def __init__(self, values: _Optional[_Iterable[_Union[_value_pb2.Value, _Mapping]]] = ...) -> None: ...

class FloatRange(_message.Message):
    __slots__ = ("min", "max")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class IntRange(_message.Message):
    __slots__ = ("min", "max", "step")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    min: int
    max: int
    step: int
    def __init__(self, min: _Optional[int] = ..., max: _Optional[int] = ..., step: _Optional[int] = ...) -> None: ...

class SearchDimension(_message.Message):
    __slots__ = ("param", "choice", "uniform", "loguniform", "int_range")
    PARAM_FIELD_NUMBER: _ClassVar[int]
    CHOICE_FIELD_NUMBER: _ClassVar[int]
    UNIFORM_FIELD_NUMBER: _ClassVar[int]
    LOGUNIFORM_FIELD_NUMBER: _ClassVar[int]
    INT_RANGE_FIELD_NUMBER: _ClassVar[int]
    param: str
    choice: ChoiceDomain
    uniform: FloatRange
    loguniform: FloatRange
    int_range: IntRange
    def __init__(self, param: _Optional[str] = ..., choice: _Optional[_Union[ChoiceDomain, _Mapping]] = ..., uniform: _Optional[_Union[FloatRange, _Mapping]] = ..., loguniform: _Optional[_Union[FloatRange, _Mapping]] = ..., int_range: _Optional[_Union[IntRange, _Mapping]] = ...) -> None: ...

class SweepSpec(_message.Message):
    __slots__ = ("dimensions", "num_trials", "metric", "mode", "max_concurrent_trials", "algorithm")
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    NUM_TRIALS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_TRIALS_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    dimensions: _containers.RepeatedCompositeFieldContainer[SearchDimension]
    num_trials: int
    metric: str
    mode: OptimizationMode
    max_concurrent_trials: int
    algorithm: SearchAlgorithm
    def __init__(self, dimensions: _Optional[_Iterable[_Union[SearchDimension, _Mapping]]] = ..., num_trials: _Optional[int] = ..., metric: _Optional[str] = ..., mode: _Optional[_Union[OptimizationMode, str]] = ..., max_concurrent_trials: _Optional[int] = ..., algorithm: _Optional[_Union[SearchAlgorithm, str]] = ...) -> None: ...

class RunSpec(_message.Message):
    __slots__ = ("dataset_version", "target_column", "feature_columns", "task", "trainer", "params", "seed", "resources", "priority", "max_retries", "timeout", "sweep", "registered_model")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _value_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_value_pb2.Value, _Mapping]] = ...) -> None: ...
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGET_COLUMN_FIELD_NUMBER: _ClassVar[int]
    FEATURE_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    TRAINER_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    SWEEP_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    dataset_version: str
    target_column: str
    feature_columns: _containers.RepeatedScalarFieldContainer[str]
    task: Task
    trainer: TrainerSpec
    params: _containers.MessageMap[str, _value_pb2.Value]
    seed: int
    resources: _compute_pb2.ComputeResources
    priority: int
    max_retries: int
    timeout: _duration_pb2.Duration
    sweep: SweepSpec
    registered_model: str
    def __init__(self, dataset_version: _Optional[str] = ..., target_column: _Optional[str] = ..., feature_columns: _Optional[_Iterable[str]] = ..., task: _Optional[_Union[Task, str]] = ..., trainer: _Optional[_Union[TrainerSpec, _Mapping]] = ..., params: _Optional[_Mapping[str, _value_pb2.Value]] = ..., seed: _Optional[int] = ..., resources: _Optional[_Union[_compute_pb2.ComputeResources, _Mapping]] = ..., priority: _Optional[int] = ..., max_retries: _Optional[int] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., sweep: _Optional[_Union[SweepSpec, _Mapping]] = ..., registered_model: _Optional[str] = ...) -> None: ...

class MetricSummary(_message.Message):
    __slots__ = ("name", "last", "min", "max", "last_step", "count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    LAST_STEP_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    last: float
    min: float
    max: float
    last_step: int
    count: int
    def __init__(self, name: _Optional[str] = ..., last: _Optional[float] = ..., min: _Optional[float] = ..., max: _Optional[float] = ..., last_step: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class OnnxParityCheck(_message.Message):
    __slots__ = ("passed", "rows_compared", "max_abs_diff", "tolerance", "label_mismatch_rate", "message")
    PASSED_FIELD_NUMBER: _ClassVar[int]
    ROWS_COMPARED_FIELD_NUMBER: _ClassVar[int]
    MAX_ABS_DIFF_FIELD_NUMBER: _ClassVar[int]
    TOLERANCE_FIELD_NUMBER: _ClassVar[int]
    LABEL_MISMATCH_RATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    passed: bool
    rows_compared: int
    max_abs_diff: float
    tolerance: float
    label_mismatch_rate: float
    message: str
    def __init__(self, passed: _Optional[bool] = ..., rows_compared: _Optional[int] = ..., max_abs_diff: _Optional[float] = ..., tolerance: _Optional[float] = ..., label_mismatch_rate: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...

class Environment(_message.Message):
    __slots__ = ("python_version", "packages", "platform", "ray_version")
    class PackagesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    RAY_VERSION_FIELD_NUMBER: _ClassVar[int]
    python_version: str
    packages: _containers.ScalarMap[str, str]
    platform: str
    ray_version: str
    def __init__(self, python_version: _Optional[str] = ..., packages: _Optional[_Mapping[str, str]] = ..., platform: _Optional[str] = ..., ray_version: _Optional[str] = ...) -> None: ...

class CodeVersion(_message.Message):
    __slots__ = ("git_commit", "git_dirty", "source_sha256")
    GIT_COMMIT_FIELD_NUMBER: _ClassVar[int]
    GIT_DIRTY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SHA256_FIELD_NUMBER: _ClassVar[int]
    git_commit: str
    git_dirty: bool
    source_sha256: str
    def __init__(self, git_commit: _Optional[str] = ..., git_dirty: _Optional[bool] = ..., source_sha256: _Optional[str] = ...) -> None: ...

class RunResult(_message.Message):
    __slots__ = ("params", "final_metrics", "metric_summaries", "model_artifact", "signature", "onnx_parity", "resource_usage", "environment", "code_version", "data_digest", "best_trial", "model_version", "train_metrics", "artifacts")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _value_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_value_pb2.Value, _Mapping]] = ...) -> None: ...
    class ArtifactsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _artifact_pb2.ArtifactRef
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_artifact_pb2.ArtifactRef, _Mapping]] = ...) -> None: ...
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    FINAL_METRICS_FIELD_NUMBER: _ClassVar[int]
    METRIC_SUMMARIES_FIELD_NUMBER: _ClassVar[int]
    MODEL_ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ONNX_PARITY_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_USAGE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    CODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATA_DIGEST_FIELD_NUMBER: _ClassVar[int]
    BEST_TRIAL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRAIN_METRICS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    params: _containers.MessageMap[str, _value_pb2.Value]
    final_metrics: _containers.RepeatedCompositeFieldContainer[_metric_pb2.Metric]
    metric_summaries: _containers.RepeatedCompositeFieldContainer[MetricSummary]
    model_artifact: _artifact_pb2.ArtifactRef
    signature: _schema_pb2.Signature
    onnx_parity: OnnxParityCheck
    resource_usage: _compute_pb2.ResourceUsage
    environment: Environment
    code_version: CodeVersion
    data_digest: str
    best_trial: str
    model_version: str
    train_metrics: _containers.RepeatedCompositeFieldContainer[_metric_pb2.Metric]
    artifacts: _containers.MessageMap[str, _artifact_pb2.ArtifactRef]
    def __init__(self, params: _Optional[_Mapping[str, _value_pb2.Value]] = ..., final_metrics: _Optional[_Iterable[_Union[_metric_pb2.Metric, _Mapping]]] = ..., metric_summaries: _Optional[_Iterable[_Union[MetricSummary, _Mapping]]] = ..., model_artifact: _Optional[_Union[_artifact_pb2.ArtifactRef, _Mapping]] = ..., signature: _Optional[_Union[_schema_pb2.Signature, _Mapping]] = ..., onnx_parity: _Optional[_Union[OnnxParityCheck, _Mapping]] = ..., resource_usage: _Optional[_Union[_compute_pb2.ResourceUsage, _Mapping]] = ..., environment: _Optional[_Union[Environment, _Mapping]] = ..., code_version: _Optional[_Union[CodeVersion, _Mapping]] = ..., data_digest: _Optional[str] = ..., best_trial: _Optional[str] = ..., model_version: _Optional[str] = ..., train_metrics: _Optional[_Iterable[_Union[_metric_pb2.Metric, _Mapping]]] = ..., artifacts: _Optional[_Mapping[str, _artifact_pb2.ArtifactRef]] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("name", "experiment", "display_name", "spec", "state", "result", "parent_run", "cause", "attempt_count", "failure_reason", "ray_job_id", "labels", "creator", "create_time", "start_time", "end_time", "update_time")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    RAY_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    experiment: str
    display_name: str
    spec: RunSpec
    state: RunState
    result: RunResult
    parent_run: str
    cause: _cause_pb2.TriggerCause
    attempt_count: int
    failure_reason: str
    ray_job_id: str
    labels: _containers.ScalarMap[str, str]
    creator: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., experiment: _Optional[str] = ..., display_name: _Optional[str] = ..., spec: _Optional[_Union[RunSpec, _Mapping]] = ..., state: _Optional[_Union[RunState, str]] = ..., result: _Optional[_Union[RunResult, _Mapping]] = ..., parent_run: _Optional[str] = ..., cause: _Optional[_Union[_cause_pb2.TriggerCause, _Mapping]] = ..., attempt_count: _Optional[int] = ..., failure_reason: _Optional[str] = ..., ray_job_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., creator: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
