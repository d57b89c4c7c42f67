"""The metrics the gate computes itself, with scikit-learn, and their directions.

Classification metrics take the true labels, the predicted labels and the class
probabilities (columns in class order); regression metrics take true and predicted
values. Binary precision, recall, F1 and ROC AUC treat the *second* class (in the
model's class order, scikit-learn's ``classes_`` convention) as the positive one;
with more than two classes they are macro averages (ROC AUC one-vs-rest).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from gyre.validation.v1 import validation_policy_pb2 as policy_pb2

__all__ = [
    "ALL_METRICS",
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "Task",
    "classification_metrics",
    "confusion_matrix",
    "higher_is_better",
    "regression_metrics",
    "residual_summary",
]


def _skm() -> Any:
    """scikit-learn's metrics module, imported on first use (it takes seconds to import,
    and the service's startup and policy checks do not need it)."""
    from sklearn import metrics  # type: ignore[import-untyped,unused-ignore]

    return metrics


GE: Final = policy_pb2.COMPARATOR_GE
LE: Final = policy_pb2.COMPARATOR_LE


class Task(Enum):
    """What a model predicts, read from its outputs."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"


# Metric name -> the comparator under which it is better (GE: higher is better).
CLASSIFICATION_METRICS: Final[dict[str, int]] = {
    "accuracy": GE,
    "balanced_accuracy": GE,
    "precision": GE,
    "recall": GE,
    "f1": GE,
    "roc_auc": GE,
    "log_loss": LE,
}
REGRESSION_METRICS: Final[dict[str, int]] = {
    "rmse": LE,
    "mse": LE,
    "mae": LE,
    "r2": GE,
}
ALL_METRICS: Final[dict[str, int]] = {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better.

    Raises:
        KeyError: ``metric`` is not one the gate computes.
    """
    return ALL_METRICS[metric] == GE


def metrics_of(task: Task) -> dict[str, int]:
    """The metrics defined for ``task``."""
    return CLASSIFICATION_METRICS if task is Task.CLASSIFICATION else REGRESSION_METRICS


@dataclass(frozen=True)
class MetricValue:
    """A metric's value, or why it is undefined on these rows."""

    value: float
    undefined_reason: str = ""

    @property
    def defined(self) -> bool:
        return not self.undefined_reason and math.isfinite(self.value)


def _undefined(reason: str) -> MetricValue:
    return MetricValue(math.nan, reason)


def classification_metrics(
    y_true: NDArray[Any],
    y_pred: NDArray[Any],
    probabilities: NDArray[np.floating[Any]] | None,
    classes: Sequence[str],
    *,
    names: Sequence[str] | None = None,
) -> dict[str, MetricValue]:
    """Classification metrics of one model on one set of rows.

    Args:
        y_true, y_pred: labels as strings, shape ``[n]``.
        probabilities: ``[n, len(classes)]`` class probabilities, or None when the
            model has no probability output (ROC AUC and log loss are then undefined).
        classes: class labels in the probability columns' order.
        names: metrics to compute (default: every classification metric).
    """
    # scikit-learn warns about degenerate inputs (one label only, ...); the values it
    # returns then are still the defined ones, and undefined ones raise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _classification_metrics(y_true, y_pred, probabilities, classes, names=names)


def _classification_metrics(
    y_true: NDArray[Any],
    y_pred: NDArray[Any],
    probabilities: NDArray[np.floating[Any]] | None,
    classes: Sequence[str],
    *,
    names: Sequence[str] | None = None,
) -> dict[str, MetricValue]:
    """Classification metrics of one model on one set of rows.

    Args:
        y_true, y_pred: labels as strings, shape ``[n]``.
        probabilities: ``[n, len(classes)]`` class probabilities, or None when the
            model has no probability output (ROC AUC and log loss are then undefined).
        classes: class labels in the probability columns' order.
        names: metrics to compute (default: every classification metric).
    """
    skm = _skm()
    wanted = list(names) if names is not None else list(CLASSIFICATION_METRICS)
    out: dict[str, MetricValue] = {}
    n = len(y_true)
    if n == 0:
        return {name: _undefined("no rows") for name in wanted}
    # Integer codes (class order, then any other label seen): scikit-learn sorts labels
    # many times over, and sorting Python strings costs ~10x sorting integers.
    t, p, _ = encode_labels(y_true, y_pred, classes)
    k = len(classes)
    codes = list(range(k))
    binary = k == 2
    present = set(np.unique(t).tolist())
    for name in wanted:
        try:
            if name == "accuracy":
                out[name] = MetricValue(float(skm.accuracy_score(t, p)))
            elif name == "balanced_accuracy":
                out[name] = MetricValue(float(skm.balanced_accuracy_score(t, p)))
            elif name in ("precision", "recall", "f1"):
                fn = {
                    "precision": skm.precision_score,
                    "recall": skm.recall_score,
                    "f1": skm.f1_score,
                }[name]
                if binary:
                    value = fn(t, p, pos_label=1, average="binary", zero_division=0)
                else:
                    value = fn(t, p, labels=codes, average="macro", zero_division=0)
                out[name] = MetricValue(float(value))
            elif name == "roc_auc":
                if probabilities is None:
                    out[name] = _undefined("the model has no probabilities output")
                elif len(present) < 2:
                    out[name] = _undefined("only one class among the rows")
                elif binary:
                    scores = probabilities[:, 1]
                    out[name] = MetricValue(float(skm.roc_auc_score(t == 1, scores)))
                elif present != set(codes):
                    out[name] = _undefined("not every class occurs among the rows")
                else:
                    out[name] = MetricValue(
                        float(
                            skm.roc_auc_score(
                                t, _normalized(probabilities), multi_class="ovr", labels=codes
                            )
                        )
                    )
            elif name == "log_loss":
                if probabilities is None:
                    out[name] = _undefined("the model has no probabilities output")
                else:
                    out[name] = MetricValue(
                        float(skm.log_loss(t, _normalized(probabilities), labels=codes))
                    )
            else:
                out[name] = _undefined(f"{name} is not a classification metric")
        except ValueError as exc:
            out[name] = _undefined(str(exc))
    return out


def _normalized(probabilities: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    """Probabilities as float64 rows summing to 1 (float32 rounding would trip sklearn)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, None)
    sums = p.sum(axis=1, keepdims=True)
    sums[sums == 0] = 1.0
    return np.asarray(p / sums, dtype=np.float64)


def regression_metrics(
    y_true: NDArray[np.floating[Any]],
    y_pred: NDArray[np.floating[Any]],
    *,
    names: Sequence[str] | None = None,
) -> dict[str, MetricValue]:
    """Regression metrics of one model on one set of rows (``[n]`` float arrays)."""
    skm = _skm()
    wanted = list(names) if names is not None else list(REGRESSION_METRICS)
    out: dict[str, MetricValue] = {}
    if len(y_true) == 0:
        return {name: _undefined("no rows") for name in wanted}
    for name in wanted:
        try:
            if name == "mse":
                out[name] = MetricValue(float(skm.mean_squared_error(y_true, y_pred)))
            elif name == "rmse":
                out[name] = MetricValue(math.sqrt(float(skm.mean_squared_error(y_true, y_pred))))
            elif name == "mae":
                out[name] = MetricValue(float(skm.mean_absolute_error(y_true, y_pred)))
            elif name == "r2":
                if len(y_true) < 2:
                    out[name] = _undefined("r2 needs at least two rows")
                else:
                    out[name] = MetricValue(float(skm.r2_score(y_true, y_pred)))
            else:
                out[name] = _undefined(f"{name} is not a regression metric")
        except ValueError as exc:
            out[name] = _undefined(str(exc))
    return out


def encode_labels(
    y_true: NDArray[Any], y_pred: NDArray[Any], classes: Sequence[str]
) -> tuple[NDArray[np.int64], NDArray[np.int64], list[str]]:
    """Integer codes of two label arrays: ``classes`` are 0..k-1 in order, any other
    label seen gets the next codes (sorted). Returns the codes and every label."""
    labels = list(classes)
    index = {label: i for i, label in enumerate(labels)}
    seen = set(y_true.tolist()) | set(y_pred.tolist())
    for label in sorted(str(v) for v in seen - index.keys()):
        index[label] = len(labels)
        labels.append(label)
    t = np.fromiter((index[v] for v in y_true.tolist()), dtype=np.int64, count=len(y_true))
    p = np.fromiter((index[v] for v in y_pred.tolist()), dtype=np.int64, count=len(y_pred))
    return t, p, labels


def confusion_matrix(
    y_true: NDArray[Any], y_pred: NDArray[Any], classes: Sequence[str]
) -> tuple[list[str], list[list[int]]]:
    """Labels (the model's classes, then any other label seen) and counts
    ``[true][predicted]``."""
    t, p, labels = encode_labels(y_true, y_pred, classes)
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(matrix, (t, p), 1)
    return labels, [[int(c) for c in row] for row in matrix]


def residual_summary(
    y_true: NDArray[np.floating[Any]], y_pred: NDArray[np.floating[Any]]
) -> dict[str, float]:
    """Summary of the residuals ``prediction - truth``: count, mean, std, quantiles."""
    residuals = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    if residuals.size == 0:
        return {"count": 0.0}
    q = np.percentile(residuals, [0, 5, 25, 50, 75, 95, 100])
    return {
        "count": float(residuals.size),
        "mean": float(residuals.mean()),
        "std": float(residuals.std()),
        "mean_absolute": float(np.abs(residuals).mean()),
        "min": float(q[0]),
        "p05": float(q[1]),
        "p25": float(q[2]),
        "median": float(q[3]),
        "p75": float(q[4]),
        "p95": float(q[5]),
        "max": float(q[6]),
    }
