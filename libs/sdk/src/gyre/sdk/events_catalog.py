"""The catalog of Gyre lifecycle event types.

Every event is a ``gyre.events.v1.Event`` envelope whose ``payload`` oneof
holds exactly one typed message. This module maps each event type string to
the name of its payload field and to the NATS subject it is published on. It
mirrors the ``(gyre.events.v1.event_type)`` field option in
``protos/gyre/events/v1/event.proto``; a unit test keeps the two identical.

Naming conventions (checked by the same test):

- type: ``<domain>.<resource>.<verb>`` (``validation.completed`` has no
  resource segment), e.g. ``data.version.committed``;
- payload field: the type with ``.`` replaced by ``_``;
- payload message: the type in PascalCase, e.g. ``DataVersionCommitted``;
- NATS subject: ``gyre.v1.`` + type.

This module deliberately imports no generated code, so it is cheap to import.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "EVENT_TYPES",
    "STREAM_SUBJECTS",
    "SUBJECT_PREFIX",
    "event_type_for_subject",
    "payload_field_for",
    "subject_for",
]

#: Prefix of every event subject (the envelope's major version).
SUBJECT_PREFIX: Final = "gyre.v1"

#: Wildcard subject covering every event, for the JetStream stream config.
STREAM_SUBJECTS: Final = f"{SUBJECT_PREFIX}.>"

#: Event type string -> name of the ``Event.payload`` oneof field carrying it.
EVENT_TYPES: Final[dict[str, str]] = {
    "data.version.committed": "data_version_committed",
    "training.run.queued": "training_run_queued",
    "training.run.started": "training_run_started",
    "training.run.succeeded": "training_run_succeeded",
    "training.run.failed": "training_run_failed",
    "training.run.cancelled": "training_run_cancelled",
    "training.trigger.fired": "training_trigger_fired",
    "models.version.registered": "models_version_registered",
    "models.version.status_changed": "models_version_status_changed",
    "models.version.archived": "models_version_archived",
    "models.alias.changed": "models_alias_changed",
    "validation.completed": "validation_completed",
    "inference.deployment.created": "inference_deployment_created",
    "inference.deployment.updated": "inference_deployment_updated",
    "inference.deployment.deleted": "inference_deployment_deleted",
    "inference.deployment.rollout_started": "inference_deployment_rollout_started",
    "inference.deployment.promoted": "inference_deployment_promoted",
    "inference.deployment.rolled_back": "inference_deployment_rolled_back",
    "inference.prediction.logged": "inference_prediction_logged",
    "inference.feedback.recorded": "inference_feedback_recorded",
    "monitoring.drift.detected": "monitoring_drift_detected",
    "monitoring.performance.degraded": "monitoring_performance_degraded",
    "monitoring.alert.raised": "monitoring_alert_raised",
}

_TYPES_BY_SUBJECT: Final[dict[str, str]] = {
    f"{SUBJECT_PREFIX}.{event_type}": event_type for event_type in EVENT_TYPES
}


def _require_known(event_type: str) -> None:
    if event_type not in EVENT_TYPES:
        raise KeyError(f"unknown event type {event_type!r}")


def subject_for(event_type: str) -> str:
    """Return the NATS subject of an event type.

    Example: ``subject_for("data.version.committed")`` returns
    ``"gyre.v1.data.version.committed"``.

    Raises:
        KeyError: if ``event_type`` is not in the catalog.
    """
    _require_known(event_type)
    return f"{SUBJECT_PREFIX}.{event_type}"


def payload_field_for(event_type: str) -> str:
    """Return the ``Event.payload`` oneof field name of an event type.

    Raises:
        KeyError: if ``event_type`` is not in the catalog.
    """
    _require_known(event_type)
    return EVENT_TYPES[event_type]


def event_type_for_subject(subject: str) -> str:
    """Return the event type published on a NATS subject (inverse of
    :func:`subject_for`).

    Raises:
        KeyError: if ``subject`` is not the subject of a cataloged event type.
    """
    try:
        return _TYPES_BY_SUBJECT[subject]
    except KeyError:
        raise KeyError(f"no event type is published on subject {subject!r}") from None
