from gyre.inference.v1 import deployment_pb2 as _deployment_pb2
from gyre.inference.v1 import prediction_pb2 as _prediction_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InferenceDeploymentCreated(_message.Message):
    __slots__ = ("deployment",)
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    deployment: _deployment_pb2.Deployment
    def __init__(self, deployment: _Optional[_Union[_deployment_pb2.Deployment, _Mapping]] = ...) -> None: ...

class InferenceDeploymentUpdated(_message.Message):
    __slots__ = ("deployment", "updated_fields")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    deployment: _deployment_pb2.Deployment
    updated_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deployment: _Optional[_Union[_deployment_pb2.Deployment, _Mapping]] = ..., updated_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class InferenceDeploymentDeleted(_message.Message):
    __slots__ = ("deployment", "registered_model")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    registered_model: str
    def __init__(self, deployment: _Optional[str] = ..., registered_model: _Optional[str] = ...) -> None: ...

class InferenceDeploymentRolloutStarted(_message.Message):
    __slots__ = ("deployment", "registered_model", "model_version", "role", "weight", "champion_version", "reason", "automatic")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    registered_model: str
    model_version: str
    role: _deployment_pb2.RouteRole
    weight: int
    champion_version: str
    reason: str
    automatic: bool
    def __init__(self, deployment: _Optional[str] = ..., registered_model: _Optional[str] = ..., model_version: _Optional[str] = ..., role: _Optional[_Union[_deployment_pb2.RouteRole, str]] = ..., weight: _Optional[int] = ..., champion_version: _Optional[str] = ..., reason: _Optional[str] = ..., automatic: _Optional[bool] = ...) -> None: ...

class InferenceDeploymentPromoted(_message.Message):
    __slots__ = ("deployment", "registered_model", "model_version", "previous_version", "reason", "automatic")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    registered_model: str
    model_version: str
    previous_version: str
    reason: str
    automatic: bool
    def __init__(self, deployment: _Optional[str] = ..., registered_model: _Optional[str] = ..., model_version: _Optional[str] = ..., previous_version: _Optional[str] = ..., reason: _Optional[str] = ..., automatic: _Optional[bool] = ...) -> None: ...

class InferenceDeploymentRolledBack(_message.Message):
    __slots__ = ("deployment", "registered_model", "model_version", "champion_version", "reason", "automatic", "rollout", "reverted_promotion")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    REVERTED_PROMOTION_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    registered_model: str
    model_version: str
    champion_version: str
    reason: str
    automatic: bool
    rollout: _deployment_pb2.RolloutStatus
    reverted_promotion: bool
    def __init__(self, deployment: _Optional[str] = ..., registered_model: _Optional[str] = ..., model_version: _Optional[str] = ..., champion_version: _Optional[str] = ..., reason: _Optional[str] = ..., automatic: _Optional[bool] = ..., rollout: _Optional[_Union[_deployment_pb2.RolloutStatus, _Mapping]] = ..., reverted_promotion: _Optional[bool] = ...) -> None: ...

class InferencePredictionLogged(_message.Message):
    __slots__ = ("deployment", "records", "sample_rate")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    records: _containers.RepeatedCompositeFieldContainer[_prediction_pb2.PredictionRecord]
    sample_rate: float
    def __init__(self, deployment: _Optional[str] = ..., records: _Optional[_Iterable[_Union[_prediction_pb2.PredictionRecord, _Mapping]]] = ..., sample_rate: _Optional[float] = ...) -> None: ...

class InferenceFeedbackRecorded(_message.Message):
    __slots__ = ("deployment", "feedback")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    feedback: _containers.RepeatedCompositeFieldContainer[_prediction_pb2.Feedback]
    def __init__(self, deployment: _Optional[str] = ..., feedback: _Optional[_Iterable[_Union[_prediction_pb2.Feedback, _Mapping]]] = ...) -> None: ...
