import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gyre.common.v1 import cause_pb2 as _cause_pb2
from gyre.training.v1 import run_pb2 as _run_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NewDataCondition(_message.Message):
    __slots__ = ("dataset", "min_new_rows")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    MIN_NEW_ROWS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    min_new_rows: int
    def __init__(self, dataset: _Optional[str] = ..., min_new_rows: _Optional[int] = ...) -> None: ...

class ScheduleCondition(_message.Message):
    __slots__ = ("cron", "time_zone")
    CRON_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    cron: str
    time_zone: str
    def __init__(self, cron: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class MonitorCondition(_message.Message):
    __slots__ = ("deployment", "registered_model", "metrics")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    registered_model: str
    metrics: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deployment: _Optional[str] = ..., registered_model: _Optional[str] = ..., metrics: _Optional[_Iterable[str]] = ...) -> None: ...

class Trigger(_message.Message):
    __slots__ = ("name", "display_name", "description", "kind", "new_data", "schedule", "monitor", "experiment", "run_template", "cooldown", "max_concurrent_runs", "enabled", "last_fire_time", "last_run", "fire_count", "labels", "create_time", "update_time", "etag")
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
    KIND_FIELD_NUMBER: _ClassVar[int]
    NEW_DATA_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    MONITOR_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    RUN_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_RUNS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    LAST_FIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_FIELD_NUMBER: _ClassVar[int]
    FIRE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    kind: _cause_pb2.TriggerKind
    new_data: NewDataCondition
    schedule: ScheduleCondition
    monitor: MonitorCondition
    experiment: str
    run_template: _run_pb2.RunSpec
    cooldown: _duration_pb2.Duration
    max_concurrent_runs: int
    enabled: bool
    last_fire_time: _timestamp_pb2.Timestamp
    last_run: str
    fire_count: int
    labels: _containers.ScalarMap[str, str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., kind: _Optional[_Union[_cause_pb2.TriggerKind, str]] = ..., new_data: _Optional[_Union[NewDataCondition, _Mapping]] = ..., schedule: _Optional[_Union[ScheduleCondition, _Mapping]] = ..., monitor: _Optional[_Union[MonitorCondition, _Mapping]] = ..., experiment: _Optional[str] = ..., run_template: _Optional[_Union[_run_pb2.RunSpec, _Mapping]] = ..., cooldown: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_concurrent_runs: _Optional[int] = ..., enabled: _Optional[bool] = ..., last_fire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_run: _Optional[str] = ..., fire_count: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...
