"""Validation policies: names, the platform default, rule checks and update masks.

A model's own policy (``models/{model}/validationPolicy``) replaces the default
policy (``validationPolicies/default``) as a whole. The default policy may be edited;
until it is, :func:`builtin_default_policy` applies.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Final

from gyre.common.v1 import split_pb2
from gyre.runtime.errors import FieldViolation, InvalidArgument
from gyre.services.validation._metrics import ALL_METRICS
from gyre.validation.v1 import validation_policy_pb2 as policy_pb2

__all__ = [
    "DEFAULT_CHAMPION_ALIAS",
    "DEFAULT_LATENCY_BATCH_SIZE",
    "DEFAULT_POLICY_NAME",
    "DEFAULT_SLICE_MIN_ROWS",
    "apply_update",
    "builtin_default_policy",
    "check_policy",
    "model_of_policy",
    "parse_policy_name",
    "policy_etag",
    "policy_name_of_model",
]

DEFAULT_POLICY_NAME: Final = "validationPolicies/default"
DEFAULT_CHAMPION_ALIAS: Final = "champion"
# Minimum evaluation rows of the built-in default policy.
DEFAULT_MIN_TEST_ROWS: Final = 20
# Slices with fewer rows are skipped when the rule says 0.
DEFAULT_SLICE_MIN_ROWS: Final = 30
# Rows per batch in the batch latency measurement when the budget says 0.
DEFAULT_LATENCY_BATCH_SIZE: Final = 256
# Largest batch the latency measurement accepts.
MAX_LATENCY_BATCH_SIZE: Final = 65_536

_MODEL_ID: Final = r"[a-z0-9][a-z0-9-]{0,62}"
_MODEL_POLICY: Final = re.compile(rf"^models/({_MODEL_ID})/validationPolicy$")
_DATASET_VERSION: Final = re.compile(
    r"^datasets/[A-Za-z0-9][A-Za-z0-9_.-]{0,62}/versions/(\d+|latest)$"
)
_ALIAS: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

# Top-level fields an update mask may name ("*" means all of them).
UPDATABLE_FIELDS: Final = (
    "metric_thresholds",
    "non_regression_rules",
    "champion_alias",
    "slice_rules",
    "allow_breaking_signature_change",
    "latency_budget",
    "leakage_check_enabled",
    "min_test_rows",
    "holdout_dataset_version",
    "split",
)


def policy_name_of_model(model: str) -> str:
    """``"models/{model}/validationPolicy"`` for ``"models/{model}"`` or a bare id."""
    model_id = model.removeprefix("models/").split("/")[0]
    return f"models/{model_id}/validationPolicy"


def parse_policy_name(name: str) -> str | None:
    """The registered model (``"models/{model}"``) a policy name belongs to, or None for
    the default policy.

    Raises:
        InvalidArgument: ``name`` is neither form.
    """
    if name == DEFAULT_POLICY_NAME:
        return None
    match = _MODEL_POLICY.match(name)
    if match is None:
        raise InvalidArgument(
            f"policy name {name!r} must be 'models/{{model}}/validationPolicy' or "
            f"{DEFAULT_POLICY_NAME!r}",
            reason="INVALID_POLICY_NAME",
            field_violations=[FieldViolation("name", "malformed policy name")],
        )
    return f"models/{match.group(1)}"


def model_of_policy(name: str) -> str | None:
    """Alias of :func:`parse_policy_name`."""
    return parse_policy_name(name)


def builtin_default_policy() -> policy_pb2.ValidationPolicy:
    """The platform default until someone edits ``validationPolicies/default``.

    Task-neutral: no absolute thresholds (they depend on the problem); no worse than
    the champion by more than 0.02 accuracy (classifiers) or 5 % RMSE (regressors) on
    the same rows; the signature may not break; rows the candidate trained on may not
    be evaluated; at least 20 test rows (small enough for the test splits of
    scikit-learn's bundled datasets: iris's holds ~22 rows). A rule whose metric does
    not apply to the model's task is skipped with that reason.
    """
    return policy_pb2.ValidationPolicy(
        name=DEFAULT_POLICY_NAME,
        non_regression_rules=[
            policy_pb2.NonRegressionRule(
                metric="accuracy", comparator=policy_pb2.COMPARATOR_GE, max_absolute_drop=0.02
            ),
            policy_pb2.NonRegressionRule(
                metric="rmse", comparator=policy_pb2.COMPARATOR_LE, max_relative_drop=0.05
            ),
        ],
        champion_alias=DEFAULT_CHAMPION_ALIAS,
        allow_breaking_signature_change=False,
        leakage_check_enabled=True,
        min_test_rows=DEFAULT_MIN_TEST_ROWS,
        split=split_pb2.SPLIT_TEST,
    )


def _violation(field: str, description: str) -> FieldViolation:
    return FieldViolation(f"validation_policy.{field}", description)


def _check_metric(
    field: str, metric: str, comparator: int, violations: list[FieldViolation], *, strict: bool
) -> int:
    """The comparator to store (inferred from the metric when unspecified)."""
    if metric not in ALL_METRICS:
        violations.append(
            _violation(field, f"unknown metric {metric!r}; known: {', '.join(sorted(ALL_METRICS))}")
        )
        return comparator
    natural = ALL_METRICS[metric]
    if comparator == policy_pb2.COMPARATOR_UNSPECIFIED:
        return natural
    if comparator not in (policy_pb2.COMPARATOR_GE, policy_pb2.COMPARATOR_LE):
        violations.append(_violation(field, f"unknown comparator {comparator}"))
        return comparator
    if strict and comparator != natural:
        better = "higher" if natural == policy_pb2.COMPARATOR_GE else "lower"
        violations.append(_violation(field, f"{metric} is better when {better}"))
    return comparator


def check_policy(policy: policy_pb2.ValidationPolicy) -> policy_pb2.ValidationPolicy:
    """A copy of ``policy`` with defaults filled in (comparators from the metric's
    direction, the champion alias, the split), after checking every rule.

    Raises:
        InvalidArgument: with one field violation per malformed rule (unknown metric,
            empty slice column, negative allowance, ...).
    """
    out = policy_pb2.ValidationPolicy()
    out.CopyFrom(policy)
    violations: list[FieldViolation] = []
    for i, threshold in enumerate(out.metric_thresholds):
        field = f"metric_thresholds[{i}]"
        threshold.comparator = _check_metric(  # type: ignore[assignment]
            field, threshold.metric, threshold.comparator, violations, strict=False
        )
        if not _finite(threshold.value):
            violations.append(_violation(f"{field}.value", "must be a finite number"))
    for i, nr_rule in enumerate(out.non_regression_rules):
        field = f"non_regression_rules[{i}]"
        nr_rule.comparator = _check_metric(  # type: ignore[assignment]
            field, nr_rule.metric, nr_rule.comparator, violations, strict=True
        )
        if not _finite(nr_rule.max_absolute_drop) or nr_rule.max_absolute_drop < 0:
            violations.append(_violation(f"{field}.max_absolute_drop", "must be >= 0"))
        if not _finite(nr_rule.max_relative_drop) or nr_rule.max_relative_drop < 0:
            violations.append(_violation(f"{field}.max_relative_drop", "must be >= 0"))
    names: set[str] = set()
    for i, rule in enumerate(out.slice_rules):
        field = f"slice_rules[{i}]"
        if not rule.column:
            violations.append(_violation(f"{field}.column", "a slice needs a column"))
        rule.comparator = _check_metric(  # type: ignore[assignment]
            field, rule.metric, rule.comparator, violations, strict=False
        )
        selector = rule.WhichOneof("selector")
        if selector is None:
            violations.append(_violation(field, "a slice needs 'equals' or 'range'"))
        elif selector == "equals":
            kind = rule.equals.WhichOneof("kind")
            if kind in (None, "null_value", "bytes_value"):
                violations.append(
                    _violation(f"{field}.equals", "must be a bool, integer, number or string")
                )
        else:
            has_min, has_max = rule.range.HasField("min"), rule.range.HasField("max")
            if not has_min and not has_max:
                violations.append(_violation(f"{field}.range", "needs min, max or both"))
            elif has_min and has_max and not rule.range.min < rule.range.max:
                violations.append(_violation(f"{field}.range", "min must be below max"))
        if not _finite(rule.threshold):
            violations.append(_violation(f"{field}.threshold", "must be a finite number"))
        if rule.min_rows < 0:
            violations.append(_violation(f"{field}.min_rows", "must be >= 0"))
        if not rule.name:
            rule.name = _slice_name(rule)
        if rule.name in names:
            violations.append(_violation(f"{field}.name", f"duplicate slice name {rule.name!r}"))
        names.add(rule.name)
    if out.champion_alias and not _ALIAS.match(out.champion_alias):
        violations.append(_violation("champion_alias", "must match [a-z0-9][a-z0-9-]{0,62}"))
    if not out.champion_alias:
        out.champion_alias = DEFAULT_CHAMPION_ALIAS
    if out.HasField("latency_budget"):
        budget = out.latency_budget
        for attr in ("p95_single_row_ms", "p95_batch_ms"):
            value = getattr(budget, attr)
            if not _finite(value) or value < 0:
                violations.append(_violation(f"latency_budget.{attr}", "must be >= 0"))
        if not 0 <= budget.batch_size <= MAX_LATENCY_BATCH_SIZE:
            violations.append(
                _violation("latency_budget.batch_size", f"must be in [0, {MAX_LATENCY_BATCH_SIZE}]")
            )
    if out.min_test_rows < 0:
        violations.append(_violation("min_test_rows", "must be >= 0"))
    if out.holdout_dataset_version and not _DATASET_VERSION.match(out.holdout_dataset_version):
        violations.append(
            _violation(
                "holdout_dataset_version",
                "must be 'datasets/{dataset}/versions/{version}' (or .../versions/latest)",
            )
        )
    if out.split not in split_pb2.Split.values():
        violations.append(_violation("split", f"unknown split {out.split}"))
    elif out.split == split_pb2.SPLIT_UNSPECIFIED:
        out.split = split_pb2.SPLIT_TEST
    if violations:
        raise InvalidArgument(
            "the validation policy is malformed: "
            + "; ".join(f"{v.field}: {v.description}" for v in violations),
            reason="INVALID_VALIDATION_POLICY",
            field_violations=violations,
        )
    return out


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))


def _slice_name(rule: policy_pb2.SliceRule) -> str:
    if rule.WhichOneof("selector") == "equals":
        kind = rule.equals.WhichOneof("kind")
        value = getattr(rule.equals, kind) if kind else None
        return f"{rule.column}={value}"
    low = f"{rule.range.min:g}" if rule.range.HasField("min") else "-inf"
    high = f"{rule.range.max:g}" if rule.range.HasField("max") else "inf"
    return f"{rule.column} in [{low}, {high})"


def apply_update(
    current: policy_pb2.ValidationPolicy,
    update: policy_pb2.ValidationPolicy,
    paths: Iterable[str],
) -> policy_pb2.ValidationPolicy:
    """``current`` with the masked top-level fields taken from ``update``.

    Raises:
        InvalidArgument: the mask is empty or names an unknown or output-only field.
    """
    fields = list(paths)
    if not fields:
        raise InvalidArgument(
            "update_mask must name the fields to update (or '*')",
            reason="EMPTY_UPDATE_MASK",
            field_violations=[FieldViolation("update_mask", "empty")],
        )
    if "*" in fields:
        fields = list(UPDATABLE_FIELDS)
    bad = [f for f in fields if f not in UPDATABLE_FIELDS]
    if bad:
        raise InvalidArgument(
            f"update_mask names fields that cannot be updated: {', '.join(bad)}; "
            f"updatable: {', '.join(UPDATABLE_FIELDS)}",
            reason="INVALID_UPDATE_MASK",
            field_violations=[FieldViolation("update_mask", f"cannot update {f!r}") for f in bad],
        )
    out = policy_pb2.ValidationPolicy()
    out.CopyFrom(current)
    for field in fields:
        descriptor = policy_pb2.ValidationPolicy.DESCRIPTOR.fields_by_name[field]
        if descriptor.is_repeated:
            target = getattr(out, field)
            del target[:]
            target.extend(getattr(update, field))
        elif descriptor.message_type is not None:
            if update.HasField(field):
                getattr(out, field).CopyFrom(getattr(update, field))
            else:
                out.ClearField(field)
        else:
            setattr(out, field, getattr(update, field))
    return out


def policy_etag(policy: policy_pb2.ValidationPolicy) -> str:
    """A checksum of the policy's rules (name, etag and update time excluded)."""
    rules = policy_pb2.ValidationPolicy()
    rules.CopyFrom(policy)
    rules.ClearField("name")
    rules.ClearField("etag")
    rules.ClearField("update_time")
    return hashlib.sha256(rules.SerializeToString(deterministic=True)).hexdigest()[:32]
