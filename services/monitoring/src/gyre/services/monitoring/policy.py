"""Monitoring policies: the defaults, validation, and the effective values in force."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlparse

from google.protobuf import field_mask_pb2

from gyre.monitoring.v1 import monitoring_policy_pb2
from gyre.runtime.errors import FieldViolation, InvalidArgument
from gyre.services.monitoring.performance import DEFAULT_PERFORMANCE_THRESHOLDS

__all__ = [
    "DEFAULT_ALERT_COOLDOWN",
    "DEFAULT_CHI_SQUARE_P_VALUE",
    "DEFAULT_DRIFTED_SHARE",
    "DEFAULT_EVALUATION_INTERVAL",
    "DEFAULT_MIN_FEEDBACK_ROWS",
    "DEFAULT_MIN_WINDOW_ROWS",
    "DEFAULT_PREDICTION_PSI",
    "DEFAULT_PSI_THRESHOLD",
    "DEFAULT_WINDOW_DURATION",
    "DEFAULT_WINDOW_ROWS",
    "UPDATABLE_FIELDS",
    "EffectivePolicy",
    "apply_update",
    "default_policy",
    "policy_etag",
    "validate_policy",
]

DEFAULT_WINDOW_ROWS: Final = 1000
DEFAULT_WINDOW_DURATION: Final = timedelta(hours=1)
DEFAULT_MIN_WINDOW_ROWS: Final = 100
DEFAULT_EVALUATION_INTERVAL: Final = timedelta(seconds=30)
DEFAULT_PSI_THRESHOLD: Final = 0.2
DEFAULT_CHI_SQUARE_P_VALUE: Final = 0.01
DEFAULT_DRIFTED_SHARE: Final = 0.3
DEFAULT_PREDICTION_PSI: Final = 0.2
DEFAULT_MIN_FEEDBACK_ROWS: Final = 100
DEFAULT_ALERT_COOLDOWN: Final = timedelta(hours=1)
# Upper bound of window_rows: the performance window keeps one entry per joined row.
MAX_WINDOW_ROWS: Final = 1_000_000

#: Field paths UpdateMonitoringPolicy accepts in its update mask.
UPDATABLE_FIELDS: Final = frozenset(
    {
        "enabled",
        "window_rows",
        "window_duration",
        "min_window_rows",
        "evaluation_interval",
        "psi_threshold",
        "chi_square_p_value_threshold",
        "drifted_share_threshold",
        "prediction_psi_threshold",
        "performance_thresholds",
        "min_feedback_rows",
        "alert_cooldown",
        "webhook_url",
        "reference_dataset_version",
        "features",
    }
)


def default_policy(deployment: str) -> monitoring_policy_pb2.MonitoringPolicy:
    """The policy of a deployment that has none: monitoring on, every default."""
    return monitoring_policy_pb2.MonitoringPolicy(
        name=f"{deployment}/monitoringPolicy", enabled=True
    )


def policy_etag(policy: monitoring_policy_pb2.MonitoringPolicy) -> str:
    """A checksum of the policy's content (etag and update time excluded)."""
    copy = monitoring_policy_pb2.MonitoringPolicy()
    copy.CopyFrom(policy)
    copy.ClearField("etag")
    copy.ClearField("update_time")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()[:16]


def _duration(value: object, default: timedelta) -> timedelta:
    seconds = getattr(value, "seconds", 0) + getattr(value, "nanos", 0) / 1e9
    return timedelta(seconds=seconds) if seconds > 0 else default


def validate_policy(policy: monitoring_policy_pb2.MonitoringPolicy) -> None:
    """Check ranges and the webhook URL.

    Raises:
        InvalidArgument: with one ``FieldViolation`` per bad field.
    """
    violations: list[FieldViolation] = []

    def bad(path: str, why: str) -> None:
        violations.append(FieldViolation(f"monitoring_policy.{path}", why))

    if policy.window_rows < 0 or policy.window_rows > MAX_WINDOW_ROWS:
        bad("window_rows", f"must be between 0 and {MAX_WINDOW_ROWS}")
    if policy.min_window_rows < 0:
        bad("min_window_rows", "must be >= 0")
    if policy.min_feedback_rows < 0:
        bad("min_feedback_rows", "must be >= 0")
    for name in ("window_duration", "evaluation_interval", "alert_cooldown"):
        value = getattr(policy, name)
        if value.seconds < 0 or value.nanos < 0:
            bad(name, "must not be negative")
    if not 0 <= policy.psi_threshold <= 100:
        bad("psi_threshold", "must be between 0 and 100")
    if not 0 <= policy.prediction_psi_threshold <= 100:
        bad("prediction_psi_threshold", "must be between 0 and 100")
    if not 0 <= policy.chi_square_p_value_threshold < 1:
        bad("chi_square_p_value_threshold", "must be in [0, 1)")
    if not 0 <= policy.drifted_share_threshold < 1:
        bad("drifted_share_threshold", "must be in [0, 1)")
    for i, rule in enumerate(policy.performance_thresholds):
        if not rule.metric:
            bad(f"performance_thresholds[{i}].metric", "must not be empty")
        if rule.max_absolute_drop < 0 or rule.max_relative_drop < 0:
            bad(f"performance_thresholds[{i}]", "allowed drops must be >= 0")
    if policy.webhook_url:
        parsed = urlparse(policy.webhook_url)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            bad("webhook_url", "must be an absolute http(s) URL")
    ref = policy.reference_dataset_version
    if ref:
        parts = ref.split("/")
        if len(parts) != 4 or parts[0] != "datasets" or parts[2] != "versions" or not all(parts):
            bad("reference_dataset_version", "must be 'datasets/{dataset}/versions/{version}'")
    if any(not f for f in policy.features) or len(set(policy.features)) != len(policy.features):
        bad("features", "must be distinct, non-empty column names")
    if violations:
        raise InvalidArgument(
            "invalid monitoring policy: "
            + "; ".join(f"{v.field}: {v.description}" for v in violations),
            reason="INVALID_MONITORING_POLICY",
            field_violations=violations,
        )


def apply_update(
    current: monitoring_policy_pb2.MonitoringPolicy,
    update: monitoring_policy_pb2.MonitoringPolicy,
    mask: field_mask_pb2.FieldMask,
) -> monitoring_policy_pb2.MonitoringPolicy:
    """``current`` with the masked fields taken from ``update`` (``"*"``: all).

    Raises:
        InvalidArgument: the mask is empty or names a field that cannot be updated.
    """
    paths = list(mask.paths)
    if not paths:
        raise InvalidArgument(
            "update_mask must name the fields to update ('*' for all)",
            reason="EMPTY_UPDATE_MASK",
            field_violations=[FieldViolation("update_mask", "empty")],
        )
    if paths == ["*"]:
        paths = sorted(UPDATABLE_FIELDS)
    unknown = [p for p in paths if p not in UPDATABLE_FIELDS]
    if unknown:
        raise InvalidArgument(
            f"update_mask names fields that cannot be updated: {', '.join(unknown)}",
            reason="BAD_UPDATE_MASK",
            field_violations=[
                FieldViolation("update_mask", f"unknown path {p!r}") for p in unknown
            ],
        )
    result = monitoring_policy_pb2.MonitoringPolicy()
    result.CopyFrom(current)
    for path in paths:
        field = result.DESCRIPTOR.fields_by_name[path]
        if _is_repeated(field):
            result.ClearField(path)
            getattr(result, path).extend(getattr(update, path))
        elif field.message_type is not None:
            result.ClearField(path)
            if update.HasField(path):
                getattr(result, path).CopyFrom(getattr(update, path))
        else:
            setattr(result, path, getattr(update, path))
    return result


def _is_repeated(field: Any) -> bool:
    flag = getattr(field, "is_repeated", None)
    if flag is not None:
        return bool(flag() if callable(flag) else flag)
    return bool(field.label == 3)  # LABEL_REPEATED on older protobuf


@dataclass(frozen=True)
class EffectivePolicy:
    """A policy with every default filled in."""

    enabled: bool
    window_rows: int
    window_duration: timedelta
    min_window_rows: int
    evaluation_interval: timedelta
    psi_threshold: float
    chi_square_p_value_threshold: float
    drifted_share_threshold: float
    prediction_psi_threshold: float
    performance_thresholds: tuple[monitoring_policy_pb2.PerformanceThreshold, ...]
    min_feedback_rows: int
    alert_cooldown: timedelta
    webhook_url: str
    reference_dataset_version: str
    features: tuple[str, ...]

    @classmethod
    def of(cls, policy: monitoring_policy_pb2.MonitoringPolicy) -> EffectivePolicy:
        """The values in force for ``policy`` (zero fields take their defaults)."""
        window_rows = policy.window_rows or DEFAULT_WINDOW_ROWS
        return cls(
            enabled=policy.enabled,
            window_rows=window_rows,
            window_duration=_duration(policy.window_duration, DEFAULT_WINDOW_DURATION),
            min_window_rows=min(policy.min_window_rows or DEFAULT_MIN_WINDOW_ROWS, window_rows),
            evaluation_interval=_duration(policy.evaluation_interval, DEFAULT_EVALUATION_INTERVAL),
            psi_threshold=policy.psi_threshold or DEFAULT_PSI_THRESHOLD,
            chi_square_p_value_threshold=policy.chi_square_p_value_threshold
            or DEFAULT_CHI_SQUARE_P_VALUE,
            drifted_share_threshold=policy.drifted_share_threshold or DEFAULT_DRIFTED_SHARE,
            prediction_psi_threshold=policy.prediction_psi_threshold or DEFAULT_PREDICTION_PSI,
            performance_thresholds=tuple(policy.performance_thresholds)
            or DEFAULT_PERFORMANCE_THRESHOLDS,
            min_feedback_rows=min(
                policy.min_feedback_rows or DEFAULT_MIN_FEEDBACK_ROWS, window_rows
            ),
            alert_cooldown=_duration(policy.alert_cooldown, DEFAULT_ALERT_COOLDOWN),
            webhook_url=policy.webhook_url,
            reference_dataset_version=policy.reference_dataset_version,
            features=tuple(policy.features),
        )
