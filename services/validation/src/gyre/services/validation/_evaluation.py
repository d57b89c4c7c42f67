"""The check engine: score the candidate (and the champion, on exactly the same rows)
batch by batch, compute metrics, and decide every check of a policy.

Pure computation on Arrow batches and loaded models: no network, no database, so
it runs in a worker thread and in unit tests alike. Memory: features are read one
batch at a time; what is kept per row is the label, the predictions of both models,
the key hash (leakage check) and one bit per slice rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]
from numpy.typing import NDArray

from gyre.common.v1 import schema_pb2
from gyre.services.validation import _metrics
from gyre.services.validation._metrics import MetricValue, Task
from gyre.services.validation._onnx import (
    ArtifactError,
    LoadedModel,
    Predictions,
    signature_incompatibilities,
)
from gyre.services.validation._policy import (
    DEFAULT_LATENCY_BATCH_SIZE,
    DEFAULT_SLICE_MIN_ROWS,
)
from gyre.validation.v1 import validation_pb2 as v_pb2
from gyre.validation.v1 import validation_policy_pb2 as policy_pb2

__all__ = [
    "ROW_KEY_COLUMN",
    "EvaluationCancelled",
    "EvaluationError",
    "EvaluationInputs",
    "EvaluationResult",
    "LatencySettings",
    "error_result",
    "evaluate",
    "overall_verdict",
]

# Column the data registry adds with the row's key hash (the one its splits use).
ROW_KEY_COLUMN: Final = "_gyre_row_key"
# Values compared with this slack (float metrics that are "equal").
_EPSILON: Final = 1e-12

GE: Final = policy_pb2.COMPARATOR_GE
LE: Final = policy_pb2.COMPARATOR_LE
PASSED: Final = v_pb2.CHECK_VERDICT_PASSED
FAILED: Final = v_pb2.CHECK_VERDICT_FAILED
SKIPPED: Final = v_pb2.CHECK_VERDICT_SKIPPED
ERROR: Final = v_pb2.CHECK_VERDICT_ERROR


class EvaluationError(Exception):
    """The validation cannot be carried out; the verdict is ERROR.

    ``kind`` is the check the failure is reported under (e.g. ARTIFACT).
    """

    def __init__(
        self, message: str, *, kind: int = v_pb2.CHECK_KIND_ARTIFACT, name: str = "artifact"
    ):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name


class EvaluationCancelled(Exception):
    """The evaluation was asked to stop (timeout or shutdown)."""


@dataclass(frozen=True)
class LatencySettings:
    """How the latency budget is measured."""

    # Timed single-row calls (cycling over distinct rows) after the warm-up calls.
    single_row_runs: int = 200
    single_row_warmup: int = 20
    # Timed batch calls after the warm-up calls.
    batch_runs: int = 20
    batch_warmup: int = 3


@dataclass
class EvaluationInputs:
    """Everything but the models and the rows."""

    policy: policy_pb2.ValidationPolicy
    target_column: str
    candidate_signature: schema_pb2.Signature
    champion_version: str = ""
    champion_signature: schema_pb2.Signature | None = None
    # Why there is no champion to compare with (recorded on skipped checks).
    no_champion_reason: str = ""
    # Why the champion, though there is one, cannot be scored (non-regression ERROR).
    champion_error: str = ""
    # Sorted distinct key hashes of the rows the candidate trained on; None when not
    # known (the leakage check is then skipped with ``leakage_skip_reason``).
    training_keys: NDArray[np.uint64] | None = None
    training_rows_source: str = ""
    leakage_skip_reason: str = ""
    latency: LatencySettings = field(default_factory=LatencySettings)


@dataclass
class EvaluationResult:
    """Checks, metrics and report material of one evaluation."""

    checks: list[v_pb2.ValidationCheck]
    candidate_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] = field(default_factory=dict)
    test_row_count: int = 0
    error_message: str = ""
    # Report material: confusion matrices / residual summaries, slices, latency.
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> int:
        return overall_verdict(self.checks, error=bool(self.error_message))

    def failed_checks(self) -> list[v_pb2.ValidationCheck]:
        return [c for c in self.checks if c.verdict in (FAILED, ERROR)]


def overall_verdict(checks: Sequence[v_pb2.ValidationCheck], *, error: bool = False) -> int:
    """ERROR if the validation could not be carried out or a check errored, FAILED if a
    check failed, else PASSED (skipped checks do not block)."""
    if error or any(c.verdict == ERROR for c in checks):
        return int(v_pb2.VALIDATION_VERDICT_ERROR)
    if any(c.verdict == FAILED for c in checks):
        return int(v_pb2.VALIDATION_VERDICT_FAILED)
    return int(v_pb2.VALIDATION_VERDICT_PASSED)


def error_result(
    error: EvaluationError, *, checks: Sequence[v_pb2.ValidationCheck] = ()
) -> EvaluationResult:
    """The result of a validation that could not be carried out."""
    failing = v_pb2.ValidationCheck(
        name=error.name,
        kind=error.kind,  # type: ignore[arg-type]
        verdict=ERROR,
        message=error.message,
    )
    return EvaluationResult(checks=[*checks, failing], error_message=error.message)


def _check(
    name: str,
    kind: int,
    verdict: int,
    message: str,
    *,
    observed: float | None = None,
    threshold: float | None = None,
    comparator: int = policy_pb2.COMPARATOR_UNSPECIFIED,
) -> v_pb2.ValidationCheck:
    check = v_pb2.ValidationCheck(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        verdict=verdict,  # type: ignore[arg-type]
        message=message,
    )
    if observed is not None and math.isfinite(observed):
        check.observed_value = observed
    if threshold is not None and math.isfinite(threshold):
        check.threshold = threshold
    check.comparator = comparator  # type: ignore[assignment]
    return check


def _passes(observed: float, threshold: float, comparator: int) -> bool:
    if comparator == LE:
        return observed <= threshold + _EPSILON
    return observed >= threshold - _EPSILON


def _op(comparator: int) -> str:
    return "<=" if comparator == LE else ">="


def _fmt(value: float) -> str:
    if value != value:
        return "undefined"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


# ---------------------------------------------------------------------------- data


def labels_of(column: pa.ChunkedArray | pa.Array) -> NDArray[Any]:
    """A label column as strings (integral floats as integers: 1.0 -> "1")."""
    if pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False)
        if np.all(np.mod(values, 1) == 0):
            return np.asarray([str(int(v)) for v in values], dtype=object)
        return np.asarray([str(v) for v in values], dtype=object)
    if pa.types.is_boolean(column.type):
        return np.asarray(["1" if v else "0" for v in column.to_pylist()], dtype=object)
    return np.asarray([str(v) for v in pc.cast(column, pa.string()).to_pylist()], dtype=object)


def _slice_mask(batch: pa.RecordBatch, rule: policy_pb2.SliceRule) -> NDArray[np.bool_]:
    if rule.column not in batch.schema.names:
        raise _SliceError(f"slice column {rule.column!r} is not a column of the data")
    column = batch.column(rule.column)
    if rule.WhichOneof("selector") == "range":
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise _SliceError(f"slice column {rule.column!r} ({column.type}) is not numeric")
        values = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False))
        mask = ~np.isnan(values)
        if rule.range.HasField("min"):
            mask &= values >= rule.range.min
        if rule.range.HasField("max"):
            mask &= values < rule.range.max
        in_range: NDArray[np.bool_] = mask
        return in_range
    kind = rule.equals.WhichOneof("kind")
    wanted = getattr(rule.equals, kind) if kind else None
    if isinstance(wanted, bool):
        if not pa.types.is_boolean(column.type):
            return np.asarray([str(v).lower() == str(wanted).lower() for v in column.to_pylist()])
        return np.asarray([v is wanted for v in column.to_pylist()])
    if isinstance(wanted, int | float) and (
        pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
    ):
        values = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False))
        equal: NDArray[np.bool_] = np.asarray(values == float(wanted))
        return equal
    text = str(wanted)
    if isinstance(wanted, float) and wanted == int(wanted):
        text = str(int(wanted))
    return np.asarray([v is not None and str(v) == text for v in column.to_pylist()])


class _SliceError(Exception):
    pass


@dataclass
class _Scores:
    """Predictions of one model over every batch so far."""

    labels: list[NDArray[Any]] = field(default_factory=list)
    probabilities: list[NDArray[np.float32]] = field(default_factory=list)
    values: list[NDArray[np.float64]] = field(default_factory=list)

    def add(self, predictions: Predictions) -> None:
        if predictions.labels is not None:
            self.labels.append(predictions.labels)
        if predictions.probabilities is not None:
            self.probabilities.append(predictions.probabilities)
        if predictions.values is not None:
            self.values.append(predictions.values)

    def finish(self) -> Predictions:
        return Predictions(
            labels=np.concatenate(self.labels) if self.labels else None,
            probabilities=np.concatenate(self.probabilities) if self.probabilities else None,
            values=np.concatenate(self.values) if self.values else None,
        )


def _metrics_for(
    model: LoadedModel,
    predictions: Predictions,
    y_true: NDArray[Any],
    mask: NDArray[np.bool_] | None = None,
    *,
    names: Sequence[str] | None = None,
    classes: Sequence[str] = (),
) -> dict[str, MetricValue]:
    if model.task is Task.CLASSIFICATION:
        assert predictions.labels is not None
        labels, probabilities, truth = predictions.labels, predictions.probabilities, y_true
        if mask is not None:
            labels, truth = labels[mask], truth[mask]
            probabilities = probabilities[mask] if probabilities is not None else None
        if probabilities is not None and probabilities.shape[1] != len(classes):
            probabilities = None  # no class order to read the columns by
        return _metrics.classification_metrics(truth, labels, probabilities, classes, names=names)
    assert predictions.values is not None
    values, truth = predictions.values, y_true
    if mask is not None:
        values, truth = values[mask], truth[mask]
    return _metrics.regression_metrics(truth.astype(np.float64), values, names=names)


# ---------------------------------------------------------------------------- engine


def evaluate(
    candidate: LoadedModel,
    champion: LoadedModel | None,
    batches: Iterable[pa.RecordBatch | pa.Table],
    inputs: EvaluationInputs,
    *,
    cancelled: Callable[[], bool] = lambda: False,
) -> EvaluationResult:
    """Score the rows and decide every check of ``inputs.policy``.

    Checks, in order: artifact, sample size, leakage (if enabled), signature,
    absolute thresholds, non-regression rules, slices, latency (if budgeted).

    Raises:
        EvaluationError: the rows cannot be scored (missing target column, a column
            that does not convert to its input type, ONNX Runtime failing).
        EvaluationCancelled: ``cancelled()`` became true between batches.
    """
    policy = inputs.policy
    target = inputs.target_column
    y_true_parts: list[NDArray[Any]] = []
    key_parts: list[NDArray[np.uint64]] = []
    cand_scores, champ_scores = _Scores(), _Scores()
    slice_masks: list[list[NDArray[np.bool_]]] = [[] for _ in policy.slice_rules]
    slice_errors: dict[int, str] = {}
    champion_error = inputs.champion_error
    latency_rows: list[pa.RecordBatch] = []
    latency_rows_wanted = _latency_rows_wanted(policy)
    latency_rows_kept = 0
    unlabeled = 0
    want_keys = policy.leakage_check_enabled and inputs.training_keys is not None
    for part in batches:
        if cancelled():
            raise EvaluationCancelled("the evaluation was cancelled")
        for batch in part.to_batches() if isinstance(part, pa.Table) else [part]:
            if batch.num_rows == 0:
                continue
            if target not in batch.schema.names:
                raise EvaluationError(
                    f"target column {target!r} is not a column of the evaluation data",
                    kind=v_pb2.CHECK_KIND_ARTIFACT,
                    name="data",
                )
            labelled = pc.is_valid(batch.column(target))
            if pc.sum(labelled).as_py() != batch.num_rows:
                unlabeled += batch.num_rows - int(pc.sum(labelled).as_py() or 0)
                batch = batch.filter(labelled)
                if batch.num_rows == 0:
                    continue
            try:
                cand_scores.add(candidate.predict(candidate.feed(batch)))
            except ArtifactError as exc:
                raise EvaluationError(str(exc)) from exc
            if champion is not None and not champion_error:
                try:
                    champ_scores.add(champion.predict(champion.feed(batch)))
                except ArtifactError as exc:
                    champion_error = f"the champion cannot be scored on these rows: {exc}"
            column = batch.column(target)
            if candidate.task is Task.CLASSIFICATION:
                y_true_parts.append(labels_of(column))
            else:
                try:
                    y_true_parts.append(
                        np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False))
                    )
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise EvaluationError(
                        f"target column {target!r} ({column.type}) is not numeric, but the "
                        "model is a regressor",
                        name="data",
                    ) from exc
            if want_keys:
                if ROW_KEY_COLUMN not in batch.schema.names:
                    raise EvaluationError(
                        "the evaluation rows carry no key hashes for the leakage check",
                        kind=v_pb2.CHECK_KIND_LEAKAGE,
                        name="leakage",
                    )
                key_parts.append(
                    np.asarray(
                        pc.cast(batch.column(ROW_KEY_COLUMN), pa.uint64()).to_numpy(
                            zero_copy_only=False
                        ),
                        dtype=np.uint64,
                    )
                )
            for i, rule in enumerate(policy.slice_rules):
                if i in slice_errors:
                    continue
                try:
                    slice_masks[i].append(_slice_mask(batch, rule))
                except _SliceError as exc:
                    slice_errors[i] = str(exc)
            if latency_rows_kept < latency_rows_wanted:
                take = batch.slice(0, latency_rows_wanted - latency_rows_kept)
                latency_rows.append(take)
                latency_rows_kept += take.num_rows

    y_true = np.concatenate(y_true_parts) if y_true_parts else np.asarray([], dtype=object)
    n = len(y_true)
    cand = cand_scores.finish()
    classes = list(candidate.classes)
    if candidate.task is Task.CLASSIFICATION and not classes:
        predicted = cand.labels.tolist() if cand.labels is not None else []
        seen = set(y_true.tolist()) | set(predicted)
        classes = sorted(str(v) for v in seen)
    if candidate.task is Task.CLASSIFICATION and n and candidate.classes:
        labels_seen = set(y_true.tolist())
        if not labels_seen & set(classes):
            raise EvaluationError(
                f"the model's classes {sorted(classes)[:10]} and the labels of "
                f"{target!r} {sorted(labels_seen)[:10]} have nothing in common",
                name="data",
            )
    champ: Predictions | None = None
    champ_classes: list[str] = []
    if champion is not None and not champion_error:
        if champion.task is not candidate.task:
            champion_error = (
                f"the champion is a {champion.task.value} model, the candidate a "
                f"{candidate.task.value} model"
            )
        else:
            champ = champ_scores.finish()
            champ_classes = list(champion.classes) or classes

    result = EvaluationResult(checks=[], test_row_count=n)
    result.extras["task"] = candidate.task.value
    result.extras["unlabeled_rows"] = unlabeled
    cand_metrics = _metrics_for(candidate, cand, y_true, classes=classes) if n else {}
    champ_metrics = (
        _metrics_for(champion, champ, y_true, classes=champ_classes)
        if champion is not None and champ is not None and n
        else {}
    )
    result.candidate_metrics = {k: v.value for k, v in cand_metrics.items() if v.defined}
    result.champion_metrics = {k: v.value for k, v in champ_metrics.items() if v.defined}
    if n and candidate.task is Task.CLASSIFICATION and cand.labels is not None:
        labels, matrix = _metrics.confusion_matrix(y_true, cand.labels, classes)
        result.extras["classes"] = classes
        result.extras["confusion_matrix"] = {"labels": labels, "counts": matrix}
        if champ is not None and champ.labels is not None:
            labels, matrix = _metrics.confusion_matrix(y_true, champ.labels, champ_classes)
            result.extras["champion_confusion_matrix"] = {"labels": labels, "counts": matrix}
    elif n and cand.values is not None:
        result.extras["residuals"] = _metrics.residual_summary(
            y_true.astype(np.float64), cand.values
        )
        if champ is not None and champ.values is not None:
            result.extras["champion_residuals"] = _metrics.residual_summary(
                y_true.astype(np.float64), champ.values
            )

    checks = result.checks
    checks.append(
        _check(
            "artifact",
            v_pb2.CHECK_KIND_ARTIFACT,
            PASSED,
            "sha256 verified; loads in ONNX Runtime; inputs match the signature and the "
            f"data; scored {n} rows",
        )
    )
    # Sample size.
    minimum = float(policy.min_test_rows)
    sample_ok = n >= policy.min_test_rows and n > 0
    sample_message = f"{n} evaluation rows {'>=' if sample_ok else '<'} {policy.min_test_rows}"
    if n == 0:
        sample_message = "no labelled evaluation rows"
    if unlabeled:
        sample_message += f" ({unlabeled} rows without a label left out)"
    checks.append(
        _check(
            "sample_size",
            v_pb2.CHECK_KIND_SAMPLE_SIZE,
            PASSED if sample_ok else FAILED,
            sample_message,
            observed=float(n),
            threshold=minimum,
            comparator=GE,
        )
    )
    # Leakage.
    if policy.leakage_check_enabled:
        checks.append(_leakage_check(inputs, key_parts, n))
    # Signature compatibility with the champion.
    checks.append(_signature_check(inputs))
    # Absolute thresholds.
    applicable = _metrics.metrics_of(candidate.task)
    for threshold in policy.metric_thresholds:
        name = f"threshold:{threshold.metric}"
        comparator = threshold.comparator or applicable.get(threshold.metric, GE)
        if threshold.metric not in applicable:
            checks.append(
                _check(
                    name,
                    v_pb2.CHECK_KIND_METRIC_THRESHOLD,
                    SKIPPED,
                    f"{threshold.metric} does not apply to a {candidate.task.value} model",
                    threshold=threshold.value,
                    comparator=comparator,
                )
            )
            continue
        value = cand_metrics.get(threshold.metric, MetricValue(math.nan, "no rows"))
        if not value.defined:
            checks.append(
                _check(
                    name,
                    v_pb2.CHECK_KIND_METRIC_THRESHOLD,
                    ERROR,
                    f"{threshold.metric} is undefined: {value.undefined_reason or 'not finite'}",
                    threshold=threshold.value,
                    comparator=comparator,
                )
            )
            continue
        ok = _passes(value.value, threshold.value, comparator)
        checks.append(
            _check(
                name,
                v_pb2.CHECK_KIND_METRIC_THRESHOLD,
                PASSED if ok else FAILED,
                f"{threshold.metric} {_fmt(value.value)} "
                f"{_op(comparator) if ok else _negated(comparator)} {_fmt(threshold.value)}",
                observed=value.value,
                threshold=threshold.value,
                comparator=comparator,
            )
        )
    # Non-regression against the champion.
    for nr_rule in policy.non_regression_rules:
        checks.append(
            _non_regression_check(
                nr_rule,
                candidate.task,
                cand_metrics,
                champ_metrics,
                inputs,
                champion,
                champion_error,
            )
        )
    # Slices.
    slices_report: list[dict[str, Any]] = []
    for i, rule in enumerate(policy.slice_rules):
        checks.append(
            _slice_check(
                i,
                rule,
                candidate,
                cand,
                y_true,
                slice_masks[i],
                slice_errors.get(i),
                classes,
                champion if champ is not None else None,
                champ,
                champ_classes,
                slices_report,
            )
        )
    if slices_report:
        result.extras["slices"] = slices_report
    # Latency.
    if latency_rows_wanted and policy.HasField("latency_budget"):
        checks.extend(_latency_checks(candidate, latency_rows, policy, inputs.latency, result))
    return result


def _negated(comparator: int) -> str:
    return ">" if comparator == LE else "<"


def _latency_rows_wanted(policy: policy_pb2.ValidationPolicy) -> int:
    if not policy.HasField("latency_budget"):
        return 0
    budget = policy.latency_budget
    if budget.p95_single_row_ms <= 0 and budget.p95_batch_ms <= 0:
        return 0
    return max(budget.batch_size or DEFAULT_LATENCY_BATCH_SIZE, 1)


def _leakage_check(
    inputs: EvaluationInputs, key_parts: list[NDArray[np.uint64]], n: int
) -> v_pb2.ValidationCheck:
    if inputs.training_keys is None:
        return _check(
            "leakage",
            v_pb2.CHECK_KIND_LEAKAGE,
            SKIPPED,
            inputs.leakage_skip_reason or "the candidate's training rows are not known",
        )
    keys = np.concatenate(key_parts) if key_parts else np.asarray([], dtype=np.uint64)
    training = np.asarray(inputs.training_keys, dtype=np.uint64)
    overlap = int(np.isin(keys, training, assume_unique=False).sum()) if keys.size else 0
    source = inputs.training_rows_source or "the training rows"
    if overlap:
        message = (
            f"{overlap} of {n} evaluation rows have keys of {source}: the candidate was "
            "trained on rows it is evaluated on"
        )
    else:
        message = f"none of the {n} evaluation rows is among {source}"
    return _check(
        "leakage",
        v_pb2.CHECK_KIND_LEAKAGE,
        FAILED if overlap else PASSED,
        message,
        observed=float(overlap),
        threshold=0.0,
        comparator=LE,
    )


def _signature_check(inputs: EvaluationInputs) -> v_pb2.ValidationCheck:
    if inputs.champion_signature is None:
        return _check(
            "signature",
            v_pb2.CHECK_KIND_SIGNATURE,
            SKIPPED,
            inputs.no_champion_reason or "no champion to compare with",
        )
    problems = signature_incompatibilities(inputs.champion_signature, inputs.candidate_signature)
    if not problems:
        verdict, message = PASSED, f"compatible with the champion {inputs.champion_version}"
    elif inputs.policy.allow_breaking_signature_change:
        verdict = PASSED
        message = "breaking change allowed by the policy: " + "; ".join(problems)
    else:
        verdict = FAILED
        message = f"incompatible with the champion {inputs.champion_version}: " + "; ".join(
            problems
        )
    return _check(
        "signature",
        v_pb2.CHECK_KIND_SIGNATURE,
        verdict,
        message,
        observed=float(len(problems)),
        threshold=0.0,
        comparator=LE,
    )


def allowed_threshold(champion_value: float, rule: policy_pb2.NonRegressionRule) -> float:
    """The worst candidate value a non-regression rule accepts.

    The candidate may be worse than the champion by at most ``max_absolute_drop``
    and at most ``max_relative_drop`` x |champion| (0 means that allowance is not
    used when the other one is set; both 0 means no worsening at all).
    """
    allowances = []
    if rule.max_absolute_drop > 0 or rule.max_relative_drop <= 0:
        allowances.append(rule.max_absolute_drop)
    if rule.max_relative_drop > 0:
        allowances.append(rule.max_relative_drop * abs(champion_value))
    allowance = min(allowances)
    if rule.comparator == LE:
        return champion_value + allowance
    return champion_value - allowance


def _non_regression_check(
    rule: policy_pb2.NonRegressionRule,
    task: Task,
    cand_metrics: dict[str, MetricValue],
    champ_metrics: dict[str, MetricValue],
    inputs: EvaluationInputs,
    champion: LoadedModel | None,
    champion_error: str,
) -> v_pb2.ValidationCheck:
    name = f"non_regression:{rule.metric}"
    kind = v_pb2.CHECK_KIND_NON_REGRESSION
    comparator = rule.comparator or _metrics.ALL_METRICS.get(rule.metric, GE)
    if rule.metric not in _metrics.metrics_of(task):
        return _check(
            name,
            kind,
            SKIPPED,
            f"{rule.metric} does not apply to a {task.value} model",
            comparator=comparator,
        )
    if inputs.champion_signature is None and champion is None:
        return _check(
            name,
            kind,
            SKIPPED,
            inputs.no_champion_reason or "no champion to compare with",
            comparator=comparator,
        )
    if champion_error or champion is None:
        reason = champion_error or "the champion could not be loaded"
        if inputs.policy.allow_breaking_signature_change:
            return _check(
                name,
                kind,
                SKIPPED,
                f"{reason} (breaking changes are allowed by the policy)",
                comparator=comparator,
            )
        return _check(name, kind, ERROR, reason, comparator=comparator)
    cand = cand_metrics.get(rule.metric, MetricValue(math.nan, "no rows"))
    champ = champ_metrics.get(rule.metric, MetricValue(math.nan, "no rows"))
    if not cand.defined or not champ.defined:
        which = "candidate" if not cand.defined else "champion"
        reason = (cand if not cand.defined else champ).undefined_reason or "not finite"
        return _check(
            name,
            kind,
            ERROR,
            f"{rule.metric} of the {which} is undefined: {reason}",
            comparator=comparator,
        )
    threshold = allowed_threshold(champ.value, rule)
    ok = _passes(cand.value, threshold, comparator)
    worse_by = (champ.value - cand.value) if comparator == GE else (cand.value - champ.value)
    message = (
        f"{rule.metric} {_fmt(cand.value)} vs champion {inputs.champion_version} "
        f"{_fmt(champ.value)} on the same rows: "
        + (
            f"worse by {_fmt(worse_by)}, more than allowed (threshold {_fmt(threshold)})"
            if not ok
            else (
                f"worse by {_fmt(worse_by)}, within the allowance (threshold {_fmt(threshold)})"
                if worse_by > 0
                else f"no worse (threshold {_fmt(threshold)})"
            )
        )
    )
    return _check(
        name,
        kind,
        PASSED if ok else FAILED,
        message,
        observed=cand.value,
        threshold=threshold,
        comparator=comparator,
    )


def _slice_check(
    index: int,
    rule: policy_pb2.SliceRule,
    candidate: LoadedModel,
    cand: Predictions,
    y_true: NDArray[Any],
    masks: list[NDArray[np.bool_]],
    error: str | None,
    classes: Sequence[str],
    champion: LoadedModel | None,
    champ: Predictions | None,
    champ_classes: Sequence[str],
    report: list[dict[str, Any]],
) -> v_pb2.ValidationCheck:
    name = f"slice:{rule.name}:{rule.metric}"
    kind = v_pb2.CHECK_KIND_SLICE
    comparator = rule.comparator or _metrics.ALL_METRICS.get(rule.metric, GE)
    if error:
        return _check(name, kind, ERROR, error, threshold=rule.threshold, comparator=comparator)
    if rule.metric not in _metrics.metrics_of(candidate.task):
        return _check(
            name,
            kind,
            SKIPPED,
            f"{rule.metric} does not apply to a {candidate.task.value} model",
            threshold=rule.threshold,
            comparator=comparator,
        )
    mask = np.concatenate(masks) if masks else np.zeros(len(y_true), dtype=bool)
    rows = int(mask.sum())
    minimum = rule.min_rows or DEFAULT_SLICE_MIN_ROWS
    entry: dict[str, Any] = {"name": rule.name, "metric": rule.metric, "rows": rows}
    report.append(entry)
    if rows < minimum:
        return _check(
            name,
            kind,
            SKIPPED,
            f"slice has {rows} rows, fewer than {minimum}",
            threshold=rule.threshold,
            comparator=comparator,
        )
    value = _metrics_for(candidate, cand, y_true, mask, names=[rule.metric], classes=classes)[
        rule.metric
    ]
    if champion is not None and champ is not None:
        champ_value = _metrics_for(
            champion, champ, y_true, mask, names=[rule.metric], classes=champ_classes
        )[rule.metric]
        if champ_value.defined:
            entry["champion"] = champ_value.value
    if not value.defined:
        return _check(
            name,
            kind,
            SKIPPED,
            f"{rule.metric} is undefined on the slice ({rows} rows): {value.undefined_reason}",
            threshold=rule.threshold,
            comparator=comparator,
        )
    entry["candidate"] = value.value
    ok = _passes(value.value, rule.threshold, comparator)
    return _check(
        name,
        kind,
        PASSED if ok else FAILED,
        f"{rule.metric} {_fmt(value.value)} "
        f"{_op(comparator) if ok else _negated(comparator)} {_fmt(rule.threshold)} "
        f"on {rows} rows where {rule.name}",
        observed=value.value,
        threshold=rule.threshold,
        comparator=comparator,
    )


def _latency_checks(
    model: LoadedModel,
    rows: list[pa.RecordBatch],
    policy: policy_pb2.ValidationPolicy,
    settings: LatencySettings,
    result: EvaluationResult,
) -> list[v_pb2.ValidationCheck]:
    budget = policy.latency_budget
    kind = v_pb2.CHECK_KIND_LATENCY
    checks: list[v_pb2.ValidationCheck] = []
    if not rows:
        for attr, name in (
            ("p95_single_row_ms", "latency:p95_single_row_ms"),
            ("p95_batch_ms", "latency:p95_batch_ms"),
        ):
            if getattr(budget, attr) > 0:
                checks.append(_check(name, kind, SKIPPED, "no rows to time the model on"))
        return checks
    table = pa.Table.from_batches(rows).combine_chunks()
    latency: dict[str, Any] = {}
    try:
        if budget.p95_single_row_ms > 0:
            singles = [model.feed(table.slice(i, 1)) for i in range(min(table.num_rows, 100))]
            for i in range(settings.single_row_warmup):
                model.measure_latency(singles[i % len(singles)], runs=0, warmup=1)
            times: list[float] = []
            for i in range(settings.single_row_runs):
                times += model.measure_latency(singles[i % len(singles)], runs=1, warmup=0)
            p95 = float(np.percentile(times, 95))
            latency["single_row"] = {
                "runs": len(times),
                "p50_ms": float(np.percentile(times, 50)),
                "p95_ms": p95,
            }
            ok = p95 <= budget.p95_single_row_ms
            checks.append(
                _check(
                    "latency:p95_single_row_ms",
                    kind,
                    PASSED if ok else FAILED,
                    f"p95 of {len(times)} single-row predictions {p95:.3f} ms "
                    f"{'<=' if ok else '>'} {budget.p95_single_row_ms:g} ms (ONNX Runtime, "
                    f"{model.session.get_session_options().intra_op_num_threads} thread)",
                    observed=p95,
                    threshold=budget.p95_single_row_ms,
                    comparator=LE,
                )
            )
        if budget.p95_batch_ms > 0:
            size = budget.batch_size or DEFAULT_LATENCY_BATCH_SIZE
            if table.num_rows < size:
                repeats = -(-size // table.num_rows)
                table = pa.concat_tables([table] * repeats).slice(0, size)
            feed = model.feed(table.slice(0, size))
            times = model.measure_latency(
                feed, runs=settings.batch_runs, warmup=settings.batch_warmup
            )
            p95 = float(np.percentile(times, 95))
            latency["batch"] = {
                "rows": size,
                "runs": len(times),
                "p50_ms": float(np.percentile(times, 50)),
                "p95_ms": p95,
            }
            ok = p95 <= budget.p95_batch_ms
            checks.append(
                _check(
                    "latency:p95_batch_ms",
                    kind,
                    PASSED if ok else FAILED,
                    f"p95 of {len(times)} predictions of {size} rows {p95:.3f} ms "
                    f"{'<=' if ok else '>'} {budget.p95_batch_ms:g} ms (ONNX Runtime)",
                    observed=p95,
                    threshold=budget.p95_batch_ms,
                    comparator=LE,
                )
            )
    except ArtifactError as exc:
        checks.append(_check("latency", kind, ERROR, f"could not time the model: {exc}"))
    except Exception as exc:  # ONNX Runtime errors during timing
        checks.append(_check("latency", kind, ERROR, f"could not time the model: {exc}"))
    result.extras["latency"] = latency
    return checks
