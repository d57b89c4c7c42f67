import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RouteRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROUTE_ROLE_UNSPECIFIED: _ClassVar[RouteRole]
    ROUTE_ROLE_CHAMPION: _ClassVar[RouteRole]
    ROUTE_ROLE_CANARY: _ClassVar[RouteRole]
    ROUTE_ROLE_SHADOW: _ClassVar[RouteRole]

class DeploymentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPLOYMENT_STATE_UNSPECIFIED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_CREATING: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_SERVING: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_ROLLING_OUT: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_DEGRADED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_FAILED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_DELETING: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_AWAITING_VERSION: _ClassVar[DeploymentState]

class DeploymentAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPLOYMENT_ACTION_UNSPECIFIED: _ClassVar[DeploymentAction]
    DEPLOYMENT_ACTION_CREATED: _ClassVar[DeploymentAction]
    DEPLOYMENT_ACTION_UPDATED: _ClassVar[DeploymentAction]
    DEPLOYMENT_ACTION_ROLLOUT_STARTED: _ClassVar[DeploymentAction]
    DEPLOYMENT_ACTION_PROMOTED: _ClassVar[DeploymentAction]
    DEPLOYMENT_ACTION_ROLLED_BACK: _ClassVar[DeploymentAction]
    DEPLOYMENT_ACTION_DELETED: _ClassVar[DeploymentAction]
ROUTE_ROLE_UNSPECIFIED: RouteRole
ROUTE_ROLE_CHAMPION: RouteRole
ROUTE_ROLE_CANARY: RouteRole
ROUTE_ROLE_SHADOW: RouteRole
DEPLOYMENT_STATE_UNSPECIFIED: DeploymentState
DEPLOYMENT_STATE_CREATING: DeploymentState
DEPLOYMENT_STATE_SERVING: DeploymentState
DEPLOYMENT_STATE_ROLLING_OUT: DeploymentState
DEPLOYMENT_STATE_DEGRADED: DeploymentState
DEPLOYMENT_STATE_FAILED: DeploymentState
DEPLOYMENT_STATE_DELETING: DeploymentState
DEPLOYMENT_STATE_AWAITING_VERSION: DeploymentState
DEPLOYMENT_ACTION_UNSPECIFIED: DeploymentAction
DEPLOYMENT_ACTION_CREATED: DeploymentAction
DEPLOYMENT_ACTION_UPDATED: DeploymentAction
DEPLOYMENT_ACTION_ROLLOUT_STARTED: DeploymentAction
DEPLOYMENT_ACTION_PROMOTED: DeploymentAction
DEPLOYMENT_ACTION_ROLLED_BACK: DeploymentAction
DEPLOYMENT_ACTION_DELETED: DeploymentAction

class Route(_message.Message):
    __slots__ = ("model_version", "weight", "role", "triton_model", "ready")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TRITON_MODEL_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    weight: int
    role: RouteRole
    triton_model: str
    ready: bool
    def __init__(self, model_version: _Optional[str] = ..., weight: _Optional[int] = ..., role: _Optional[_Union[RouteRole, str]] = ..., triton_model: _Optional[str] = ..., ready: _Optional[bool] = ...) -> None: ...

class RolloutPolicy(_message.Message):
    __slots__ = ("canary_weight", "min_requests", "max_error_rate", "max_p99_latency_ms", "live_metric", "max_live_metric_drop", "judge_interval", "auto_promote", "auto_rollback", "auto_rollout_on_validation", "max_duration")
    CANARY_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    MIN_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MAX_ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_P99_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    LIVE_METRIC_FIELD_NUMBER: _ClassVar[int]
    MAX_LIVE_METRIC_DROP_FIELD_NUMBER: _ClassVar[int]
    JUDGE_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    AUTO_PROMOTE_FIELD_NUMBER: _ClassVar[int]
    AUTO_ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    AUTO_ROLLOUT_ON_VALIDATION_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_FIELD_NUMBER: _ClassVar[int]
    canary_weight: int
    min_requests: int
    max_error_rate: float
    max_p99_latency_ms: float
    live_metric: str
    max_live_metric_drop: float
    judge_interval: _duration_pb2.Duration
    auto_promote: bool
    auto_rollback: bool
    auto_rollout_on_validation: bool
    max_duration: _duration_pb2.Duration
    def __init__(self, canary_weight: _Optional[int] = ..., min_requests: _Optional[int] = ..., max_error_rate: _Optional[float] = ..., max_p99_latency_ms: _Optional[float] = ..., live_metric: _Optional[str] = ..., max_live_metric_drop: _Optional[float] = ..., judge_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., auto_promote: _Optional[bool] = ..., auto_rollback: _Optional[bool] = ..., auto_rollout_on_validation: _Optional[bool] = ..., max_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RolloutStatus(_message.Message):
    __slots__ = ("model_version", "start_time", "canary_requests", "canary_error_rate", "canary_p99_latency_ms", "champion_p99_latency_ms", "canary_live_metric", "champion_live_metric", "last_judge_time", "message")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    CANARY_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CANARY_ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    CANARY_P99_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_P99_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    CANARY_LIVE_METRIC_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_LIVE_METRIC_FIELD_NUMBER: _ClassVar[int]
    LAST_JUDGE_TIME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    start_time: _timestamp_pb2.Timestamp
    canary_requests: int
    canary_error_rate: float
    canary_p99_latency_ms: float
    champion_p99_latency_ms: float
    canary_live_metric: float
    champion_live_metric: float
    last_judge_time: _timestamp_pb2.Timestamp
    message: str
    def __init__(self, model_version: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., canary_requests: _Optional[int] = ..., canary_error_rate: _Optional[float] = ..., canary_p99_latency_ms: _Optional[float] = ..., champion_p99_latency_ms: _Optional[float] = ..., canary_live_metric: _Optional[float] = ..., champion_live_metric: _Optional[float] = ..., last_judge_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class Deployment(_message.Message):
    __slots__ = ("name", "display_name", "description", "registered_model", "routes", "rollout_policy", "prediction_log_sample_rate", "state", "state_message", "rollout", "labels", "create_time", "update_time", "etag", "previous_champion")
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
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_POLICY_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_LOG_SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_CHAMPION_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    registered_model: str
    routes: _containers.RepeatedCompositeFieldContainer[Route]
    rollout_policy: RolloutPolicy
    prediction_log_sample_rate: float
    state: DeploymentState
    state_message: str
    rollout: RolloutStatus
    labels: _containers.ScalarMap[str, str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    previous_champion: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., registered_model: _Optional[str] = ..., routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ..., rollout_policy: _Optional[_Union[RolloutPolicy, _Mapping]] = ..., prediction_log_sample_rate: _Optional[float] = ..., state: _Optional[_Union[DeploymentState, str]] = ..., state_message: _Optional[str] = ..., rollout: _Optional[_Union[RolloutStatus, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., previous_champion: _Optional[str] = ...) -> None: ...

class DeploymentHistoryEntry(_message.Message):
    __slots__ = ("time", "action", "from_routes", "to_routes", "reason", "actor", "automatic", "event_id")
    TIME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FROM_ROUTES_FIELD_NUMBER: _ClassVar[int]
    TO_ROUTES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    action: DeploymentAction
    from_routes: _containers.RepeatedCompositeFieldContainer[Route]
    to_routes: _containers.RepeatedCompositeFieldContainer[Route]
    reason: str
    actor: str
    automatic: bool
    event_id: str
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., action: _Optional[_Union[DeploymentAction, str]] = ..., from_routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ..., to_routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., automatic: _Optional[bool] = ..., event_id: _Optional[str] = ...) -> None: ...
