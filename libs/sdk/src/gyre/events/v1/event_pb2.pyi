import datetime

from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from gyre.events.v1 import data_events_pb2 as _data_events_pb2
from gyre.events.v1 import inference_events_pb2 as _inference_events_pb2
from gyre.events.v1 import models_events_pb2 as _models_events_pb2
from gyre.events.v1 import monitoring_events_pb2 as _monitoring_events_pb2
from gyre.events.v1 import training_events_pb2 as _training_events_pb2
from gyre.events.v1 import validation_events_pb2 as _validation_events_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
event_type: _descriptor.FieldDescriptor

class Event(_message.Message):
    __slots__ = ("id", "type", "source", "subject", "time", "correlation_id", "causation_id", "traceparent", "tracestate", "spec_version", "data_version_committed", "training_run_queued", "training_run_started", "training_run_succeeded", "training_run_failed", "training_run_cancelled", "training_trigger_fired", "models_version_registered", "models_version_status_changed", "models_version_archived", "models_alias_changed", "validation_completed", "inference_deployment_created", "inference_deployment_updated", "inference_deployment_deleted", "inference_deployment_rollout_started", "inference_deployment_promoted", "inference_deployment_rolled_back", "inference_prediction_logged", "inference_feedback_recorded", "monitoring_drift_detected", "monitoring_performance_degraded", "monitoring_alert_raised")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSATION_ID_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    TRACESTATE_FIELD_NUMBER: _ClassVar[int]
    SPEC_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATA_VERSION_COMMITTED_FIELD_NUMBER: _ClassVar[int]
    TRAINING_RUN_QUEUED_FIELD_NUMBER: _ClassVar[int]
    TRAINING_RUN_STARTED_FIELD_NUMBER: _ClassVar[int]
    TRAINING_RUN_SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    TRAINING_RUN_FAILED_FIELD_NUMBER: _ClassVar[int]
    TRAINING_RUN_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    TRAINING_TRIGGER_FIRED_FIELD_NUMBER: _ClassVar[int]
    MODELS_VERSION_REGISTERED_FIELD_NUMBER: _ClassVar[int]
    MODELS_VERSION_STATUS_CHANGED_FIELD_NUMBER: _ClassVar[int]
    MODELS_VERSION_ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    MODELS_ALIAS_CHANGED_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_DEPLOYMENT_CREATED_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_DEPLOYMENT_UPDATED_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_DEPLOYMENT_DELETED_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_DEPLOYMENT_ROLLOUT_STARTED_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_DEPLOYMENT_PROMOTED_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_DEPLOYMENT_ROLLED_BACK_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_PREDICTION_LOGGED_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_FEEDBACK_RECORDED_FIELD_NUMBER: _ClassVar[int]
    MONITORING_DRIFT_DETECTED_FIELD_NUMBER: _ClassVar[int]
    MONITORING_PERFORMANCE_DEGRADED_FIELD_NUMBER: _ClassVar[int]
    MONITORING_ALERT_RAISED_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    source: str
    subject: str
    time: _timestamp_pb2.Timestamp
    correlation_id: str
    causation_id: str
    traceparent: str
    tracestate: str
    spec_version: str
    data_version_committed: _data_events_pb2.DataVersionCommitted
    training_run_queued: _training_events_pb2.TrainingRunQueued
    training_run_started: _training_events_pb2.TrainingRunStarted
    training_run_succeeded: _training_events_pb2.TrainingRunSucceeded
    training_run_failed: _training_events_pb2.TrainingRunFailed
    training_run_cancelled: _training_events_pb2.TrainingRunCancelled
    training_trigger_fired: _training_events_pb2.TrainingTriggerFired
    models_version_registered: _models_events_pb2.ModelsVersionRegistered
    models_version_status_changed: _models_events_pb2.ModelsVersionStatusChanged
    models_version_archived: _models_events_pb2.ModelsVersionArchived
    models_alias_changed: _models_events_pb2.ModelsAliasChanged
    validation_completed: _validation_events_pb2.ValidationCompleted
    inference_deployment_created: _inference_events_pb2.InferenceDeploymentCreated
    inference_deployment_updated: _inference_events_pb2.InferenceDeploymentUpdated
    inference_deployment_deleted: _inference_events_pb2.InferenceDeploymentDeleted
    inference_deployment_rollout_started: _inference_events_pb2.InferenceDeploymentRolloutStarted
    inference_deployment_promoted: _inference_events_pb2.InferenceDeploymentPromoted
    inference_deployment_rolled_back: _inference_events_pb2.InferenceDeploymentRolledBack
    inference_prediction_logged: _inference_events_pb2.InferencePredictionLogged
    inference_feedback_recorded: _inference_events_pb2.InferenceFeedbackRecorded
    monitoring_drift_detected: _monitoring_events_pb2.MonitoringDriftDetected
    monitoring_performance_degraded: _monitoring_events_pb2.MonitoringPerformanceDegraded
    monitoring_alert_raised: _monitoring_events_pb2.MonitoringAlertRaised
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., source: _Optional[str] = ..., subject: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., correlation_id: _Optional[str] = ..., causation_id: _Optional[str] = ..., traceparent: _Optional[str] = ..., tracestate: _Optional[str] = ..., spec_version: _Optional[str] = ..., data_version_committed: _Optional[_Union[_data_events_pb2.DataVersionCommitted, _Mapping]] = ..., training_run_queued: _Optional[_Union[_training_events_pb2.TrainingRunQueued, _Mapping]] = ..., training_run_started: _Optional[_Union[_training_events_pb2.TrainingRunStarted, _Mapping]] = ..., training_run_succeeded: _Optional[_Union[_training_events_pb2.TrainingRunSucceeded, _Mapping]] = ..., training_run_failed: _Optional[_Union[_training_events_pb2.TrainingRunFailed, _Mapping]] = ..., training_run_cancelled: _Optional[_Union[_training_events_pb2.TrainingRunCancelled, _Mapping]] = ..., training_trigger_fired: _Optional[_Union[_training_events_pb2.TrainingTriggerFired, _Mapping]] = ..., models_version_registered: _Optional[_Union[_models_events_pb2.ModelsVersionRegistered, _Mapping]] = ..., models_version_status_changed: _Optional[_Union[_models_events_pb2.ModelsVersionStatusChanged, _Mapping]] = ..., models_version_archived: _Optional[_Union[_models_events_pb2.ModelsVersionArchived, _Mapping]] = ..., models_alias_changed: _Optional[_Union[_models_events_pb2.ModelsAliasChanged, _Mapping]] = ..., validation_completed: _Optional[_Union[_validation_events_pb2.ValidationCompleted, _Mapping]] = ..., inference_deployment_created: _Optional[_Union[_inference_events_pb2.InferenceDeploymentCreated, _Mapping]] = ..., inference_deployment_updated: _Optional[_Union[_inference_events_pb2.InferenceDeploymentUpdated, _Mapping]] = ..., inference_deployment_deleted: _Optional[_Union[_inference_events_pb2.InferenceDeploymentDeleted, _Mapping]] = ..., inference_deployment_rollout_started: _Optional[_Union[_inference_events_pb2.InferenceDeploymentRolloutStarted, _Mapping]] = ..., inference_deployment_promoted: _Optional[_Union[_inference_events_pb2.InferenceDeploymentPromoted, _Mapping]] = ..., inference_deployment_rolled_back: _Optional[_Union[_inference_events_pb2.InferenceDeploymentRolledBack, _Mapping]] = ..., inference_prediction_logged: _Optional[_Union[_inference_events_pb2.InferencePredictionLogged, _Mapping]] = ..., inference_feedback_recorded: _Optional[_Union[_inference_events_pb2.InferenceFeedbackRecorded, _Mapping]] = ..., monitoring_drift_detected: _Optional[_Union[_monitoring_events_pb2.MonitoringDriftDetected, _Mapping]] = ..., monitoring_performance_degraded: _Optional[_Union[_monitoring_events_pb2.MonitoringPerformanceDegraded, _Mapping]] = ..., monitoring_alert_raised: _Optional[_Union[_monitoring_events_pb2.MonitoringAlertRaised, _Mapping]] = ...) -> None: ...
