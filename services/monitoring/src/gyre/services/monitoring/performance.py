"""Live performance: feedback joined to logged predictions, metrics against the baseline.

The join keeps logged predictions by ``(request id, row index)`` in a bounded,
insertion-ordered buffer: at most ``max_entries`` entries, each kept at most
``retention``; the oldest go first. Feedback may arrive before its prediction log
(the gateway publishes both through its outbox; a client that records feedback right
after predicting races the log): feedback whose key is not there waits in a second
buffer with the same limits and is joined when the prediction arrives. Feedback that
leaves that buffer unjoined (evicted or past ``retention``) is counted as unmatched,
never an error.

Metrics (scikit-learn): classification ``accuracy``, ``f1`` (binary: the positive
class is the last label in sorted order, as scikit-learn orders ``classes_``;
multiclass: macro average) and ``roc_auc`` (binary from the positive class's
probability; multiclass one-vs-rest macro; only when every row has probabilities and
both classes occur); regression ``rmse`` and ``mae``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np

from gyre.monitoring.v1 import monitoring_policy_pb2, report_pb2

__all__ = [
    "DEFAULT_JOIN_MAX_ENTRIES",
    "DEFAULT_JOIN_RETENTION",
    "DEFAULT_PERFORMANCE_THRESHOLDS",
    "METRIC_ALIASES",
    "JoinBuffer",
    "JoinedPrediction",
    "PerformanceWindow",
    "baseline_value",
    "compute_metrics",
    "evaluate_performance",
]

#: Logged predictions kept for the feedback join, and for how long.
DEFAULT_JOIN_MAX_ENTRIES: Final = 200_000
DEFAULT_JOIN_RETENTION: Final = timedelta(days=7)

#: Rules applied when a policy lists none: a metric degrades when it is worse than the
#: baseline by more than 0.05 (accuracy, F1, AUC) or 10 % (RMSE, MAE).
DEFAULT_PERFORMANCE_THRESHOLDS: Final = (
    monitoring_policy_pb2.PerformanceThreshold(
        metric="accuracy", max_absolute_drop=0.05, higher_is_better=True
    ),
    monitoring_policy_pb2.PerformanceThreshold(
        metric="f1", max_absolute_drop=0.05, higher_is_better=True
    ),
    monitoring_policy_pb2.PerformanceThreshold(
        metric="roc_auc", max_absolute_drop=0.05, higher_is_better=True
    ),
    monitoring_policy_pb2.PerformanceThreshold(
        metric="rmse", max_relative_drop=0.10, higher_is_better=False
    ),
    monitoring_policy_pb2.PerformanceThreshold(
        metric="mae", max_relative_drop=0.10, higher_is_better=False
    ),
)

#: Other names a baseline (validation gate, training) may use for a live metric.
METRIC_ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    "accuracy": ("accuracy", "acc"),
    "f1": ("f1", "f1_score", "f1_macro"),
    "roc_auc": ("roc_auc", "auc", "roc_auc_ovr"),
    "rmse": ("rmse", "root_mean_squared_error"),
    "mae": ("mae", "mean_absolute_error"),
}

Label = str | float


@dataclass(frozen=True, slots=True)
class JoinedPrediction:
    """A logged prediction waiting for its feedback.

    Attributes:
        deployment, model_version: who served it.
        prediction: predicted label (str) or value (float).
        probabilities: class label -> probability (may be empty).
        time: when it was served.
    """

    deployment: str
    model_version: str
    prediction: Label
    probabilities: Mapping[str, float]
    time: datetime | None


class JoinBuffer:
    """Bounded, insertion-ordered ``(request id, row index) -> JoinedPrediction``.

    Feedback that arrives first waits in a pending buffer with the same limits
    (:meth:`park`) and is handed back by :meth:`put` when its prediction arrives.
    """

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_JOIN_MAX_ENTRIES,
        retention: timedelta = DEFAULT_JOIN_RETENTION,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self.retention = retention
        self._entries: OrderedDict[tuple[str, int], tuple[datetime, JoinedPrediction]] = (
            OrderedDict()
        )
        self._pending: OrderedDict[tuple[str, int], tuple[datetime, Any]] = OrderedDict()
        self.evicted = 0
        # Pending feedback dropped unjoined, not yet taken by take_expired_feedback().
        self._expired_feedback = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def pending_feedback(self) -> int:
        """Feedback entries waiting for their prediction."""
        return len(self._pending)

    def put(
        self, request_id: str, row_index: int, entry: JoinedPrediction, now: datetime
    ) -> Any | None:
        """Keep ``entry``, or return the feedback already waiting for it.

        When feedback for the key is pending it is removed and returned (the caller
        joins it at once) and ``entry`` is not kept. Otherwise ``entry`` is kept,
        evicting the oldest beyond ``max_entries`` or ``retention``.
        """
        key = (request_id, row_index)
        self.expire(now)
        waiting = self._pending.pop(key, None)
        if waiting is not None:
            return waiting[1]
        self._entries.pop(key, None)
        self._entries[key] = (now, entry)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.evicted += 1
        return None

    def park(self, request_id: str, row_index: int, feedback: Any, now: datetime) -> None:
        """Keep feedback whose prediction has not arrived yet (bounded like the join)."""
        key = (request_id, row_index)
        self._pending.pop(key, None)
        self._pending[key] = (now, feedback)
        while len(self._pending) > self.max_entries:
            self._pending.popitem(last=False)
            self._expired_feedback += 1
        self.expire(now)

    def expire(self, now: datetime) -> None:
        """Drop predictions and pending feedback older than ``retention``."""
        horizon = now - self.retention
        while self._entries:
            stamp, _ = next(iter(self._entries.values()))
            if stamp >= horizon:
                break
            self._entries.popitem(last=False)
            self.evicted += 1
        while self._pending:
            stamp, _ = next(iter(self._pending.values()))
            if stamp >= horizon:
                break
            self._pending.popitem(last=False)
            self._expired_feedback += 1

    def take_expired_feedback(self) -> int:
        """Pending feedback dropped unjoined since the last call."""
        count, self._expired_feedback = self._expired_feedback, 0
        return count

    def pop(self, request_id: str, row_index: int, now: datetime) -> JoinedPrediction | None:
        """The prediction logged under the key (removed), or ``None``."""
        self.expire(now)
        item = self._entries.pop((request_id, row_index), None)
        return None if item is None else item[1]


@dataclass
class PerformanceWindow:
    """Feedback-joined predictions of one deployment version, for one report.

    Memory is bounded by the window size (``window_rows`` of the policy).
    """

    deployment: str
    model_version: str
    opened_at: datetime
    y_true: list[Label] = field(default_factory=list)
    y_pred: list[Label] = field(default_factory=list)
    probabilities: list[Mapping[str, float]] = field(default_factory=list)
    first_time: datetime | None = None
    last_time: datetime | None = None

    def __len__(self) -> int:
        return len(self.y_true)

    def add(self, joined: JoinedPrediction, truth: Label) -> None:
        """Add one prediction with its ground truth."""
        self.y_true.append(truth)
        self.y_pred.append(joined.prediction)
        self.probabilities.append(joined.probabilities)
        if joined.time is not None:
            if self.first_time is None or joined.time < self.first_time:
                self.first_time = joined.time
            if self.last_time is None or joined.time > self.last_time:
                self.last_time = joined.time


def performance_state(window: PerformanceWindow) -> dict[str, Any]:
    """A JSON-able checkpoint of a performance window."""
    return {
        "opened_at": window.opened_at.isoformat(),
        "y_true": list(window.y_true),
        "y_pred": list(window.y_pred),
        "probabilities": [dict(p) for p in window.probabilities],
        "first_time": window.first_time.isoformat() if window.first_time else None,
        "last_time": window.last_time.isoformat() if window.last_time else None,
    }


def performance_from_state(
    deployment: str, model_version: str, state: Mapping[str, Any]
) -> PerformanceWindow:
    """A performance window from :func:`performance_state`'s checkpoint."""
    window = PerformanceWindow(
        deployment, model_version, datetime.fromisoformat(state["opened_at"])
    )
    window.y_true = list(state["y_true"])
    window.y_pred = list(state["y_pred"])
    window.probabilities = [dict(p) for p in state["probabilities"]]
    if len(window.y_pred) != len(window.y_true) or len(window.probabilities) != len(window.y_true):
        raise ValueError("inconsistent performance checkpoint")
    first, last = state.get("first_time"), state.get("last_time")
    window.first_time = datetime.fromisoformat(first) if first else None
    window.last_time = datetime.fromisoformat(last) if last else None
    return window


def _is_regression(values: Iterable[Label]) -> bool:
    return all(isinstance(v, float) for v in values)


def compute_metrics(
    y_true: Sequence[Label],
    y_pred: Sequence[Label],
    probabilities: Sequence[Mapping[str, float]] = (),
) -> dict[str, float]:
    """Live metrics of predictions against ground truth (see the module docstring).

    Regression when every prediction is a float; classification otherwise (labels
    compared as strings).

    Returns:
        metric name -> value; empty for no rows.
    """
    if not y_true:
        return {}
    # Imported here: scikit-learn takes seconds to import on a loaded machine, and only
    # performance windows need it.
    from sklearn.metrics import (  # type: ignore[import-untyped]
        accuracy_score,
        f1_score,
        mean_absolute_error,
        mean_squared_error,
        roc_auc_score,
    )

    if _is_regression(y_pred):
        truth = np.asarray([float(v) for v in y_true])
        pred = np.asarray([float(v) for v in y_pred])
        return {
            "rmse": float(math.sqrt(mean_squared_error(truth, pred))),
            "mae": float(mean_absolute_error(truth, pred)),
        }
    true_labels = [str(v) for v in y_true]
    pred_labels = [str(v) for v in y_pred]
    classes = sorted(set(true_labels) | set(pred_labels) | {k for p in probabilities for k in p})
    metrics = {"accuracy": float(accuracy_score(true_labels, pred_labels))}
    if len(classes) == 2:
        metrics["f1"] = float(
            f1_score(true_labels, pred_labels, pos_label=classes[1], average="binary")
        )
    else:
        metrics["f1"] = float(f1_score(true_labels, pred_labels, average="macro"))
    have_probabilities = len(probabilities) == len(true_labels) and all(probabilities)
    if have_probabilities and len(set(true_labels)) >= 2:
        if len(classes) == 2:
            positive = classes[1]
            scores = [p.get(positive, 0.0) for p in probabilities]
            metrics["roc_auc"] = float(roc_auc_score([t == positive for t in true_labels], scores))
        elif set(true_labels) == set(classes):
            matrix = np.asarray([[p.get(c, 0.0) for c in classes] for p in probabilities])
            matrix = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1e-12, None)
            metrics["roc_auc"] = float(
                roc_auc_score(true_labels, matrix, multi_class="ovr", labels=classes)
            )
    return metrics


def baseline_value(baseline: Mapping[str, float], metric: str) -> float | None:
    """The baseline's value of ``metric``, accepting its aliases and a ``"val/"``-style
    prefix (``"val/accuracy"``, ``"test/roc_auc"``)."""
    names = METRIC_ALIASES.get(metric, (metric,))
    for key, value in baseline.items():
        bare = key.rsplit("/", 1)[-1].lower()
        if bare in names or key == metric:
            return value
    return None


def evaluate_performance(
    window: PerformanceWindow,
    baseline: Mapping[str, float],
    thresholds: Sequence[monitoring_policy_pb2.PerformanceThreshold],
) -> report_pb2.PerformanceReport:
    """The window's ``PerformanceReport`` (without name and create time).

    Every threshold whose metric has both a live value and a baseline is checked:
    ``absolute_drop = baseline - live`` (``live - baseline`` when lower is better),
    ``relative_drop = absolute_drop / |baseline|``; the metric degrades when either
    exceeds its allowance (a zero allowance is not used, unless both are zero, which
    allows no drop at all). Live metrics without a rule or baseline are reported with
    ``degraded = false``.
    """
    live = compute_metrics(window.y_true, window.y_pred, window.probabilities)
    report = report_pb2.PerformanceReport(
        model_version=window.model_version, sample_count=len(window)
    )
    rules = {t.metric: t for t in thresholds}
    for metric, value in sorted(live.items()):
        base = baseline_value(baseline, metric)
        entry = report_pb2.PerformanceMetric(metric=metric, live_value=value)
        rule = rules.get(metric)
        if base is not None:
            higher_is_better = (
                rule.higher_is_better
                if rule is not None
                else metric
                not in {
                    "rmse",
                    "mae",
                }
            )
            drop = (base - value) if higher_is_better else (value - base)
            entry.baseline_value = base
            entry.absolute_drop = drop
            entry.relative_drop = drop / abs(base) if base else 0.0
            if rule is not None:
                absolute, relative = rule.max_absolute_drop, rule.max_relative_drop
                if absolute == 0 and relative == 0:
                    entry.degraded = drop > 0
                else:
                    entry.degraded = (absolute > 0 and drop > absolute) or (
                        relative > 0 and base != 0 and drop / abs(base) > relative
                    )
        report.metrics.append(entry)
    report.degraded = any(m.degraded for m in report.metrics)
    if window.first_time is not None and window.last_time is not None:
        report.window.start_time.FromDatetime(window.first_time)
        report.window.end_time.FromDatetime(window.last_time)
    return report


def performance_summary(report: report_pb2.PerformanceReport) -> str:
    """One line for an alert, e.g. ``"accuracy 0.71 vs baseline 0.85 (-0.14)"``."""
    degraded = [m for m in report.metrics if m.degraded] or list(report.metrics)
    parts = [
        f"{m.metric} {m.live_value:.3f} vs baseline {m.baseline_value:.3f} "
        f"({-m.absolute_drop:+.3f})"
        for m in degraded
    ]
    return "; ".join(parts) or "no metrics"


__all__ += ["performance_from_state", "performance_state", "performance_summary"]
