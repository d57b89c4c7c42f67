"""The check engine on in-memory Elec2 tables with real ONNX models (no services)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier
from support.datasets import BANK_MARKETING, ELECTRICITY, dataset_path
from support.onnx_models import OnnxModel, train_onnx

from gyre.common.v1 import value_pb2
from gyre.services.validation._evaluation import (
    ROW_KEY_COLUMN,
    EvaluationCancelled,
    EvaluationError,
    EvaluationInputs,
    LatencySettings,
    allowed_threshold,
    evaluate,
)
from gyre.services.validation._onnx import ArtifactError, LoadedModel, load_model
from gyre.services.validation._policy import builtin_default_policy, check_policy
from gyre.services.validation._report import render_html, render_markdown
from gyre.validation.v1 import validation_pb2 as v_pb2
from gyre.validation.v1 import validation_policy_pb2 as p_pb2

PASSED = v_pb2.CHECK_VERDICT_PASSED
FAILED = v_pb2.CHECK_VERDICT_FAILED
SKIPPED = v_pb2.CHECK_VERDICT_SKIPPED
ERROR = v_pb2.CHECK_VERDICT_ERROR
TARGET = "class"
FAST_LATENCY = LatencySettings(
    single_row_runs=20, single_row_warmup=2, batch_runs=5, batch_warmup=1
)


@pytest.fixture(scope="module")
def elec2() -> pd.DataFrame:
    frame = pd.read_csv(dataset_path(ELECTRICITY))
    return frame.sample(n=6000, random_state=7).reset_index(drop=True)


@pytest.fixture(scope="module")
def split(elec2: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return elec2.iloc[:3500].reset_index(drop=True), elec2.iloc[3500:].reset_index(drop=True)


@pytest.fixture(scope="module")
def strong(split: tuple[pd.DataFrame, pd.DataFrame]) -> OnnxModel:
    train, _ = split
    return train_onnx(
        train, TARGET, RandomForestClassifier(n_estimators=20, max_depth=10, random_state=0)
    )


@pytest.fixture(scope="module")
def weak(split: tuple[pd.DataFrame, pd.DataFrame]) -> OnnxModel:
    train, _ = split
    return train_onnx(train, TARGET, DecisionTreeClassifier(max_depth=1, random_state=0))


def _loaded(model: OnnxModel) -> LoadedModel:
    return load_model(model.onnx_bytes, signature=model.signature)


def _batches(
    frame: pd.DataFrame, *, size: int = 700, keys: np.ndarray | None = None
) -> Iterator[pa.RecordBatch]:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if keys is not None:
        table = table.append_column(ROW_KEY_COLUMN, pa.array(keys, pa.uint64()))
    yield from table.to_batches(max_chunksize=size)


def _inputs(policy: p_pb2.ValidationPolicy, candidate: OnnxModel, **kw: Any) -> EvaluationInputs:
    return EvaluationInputs(
        policy=check_policy(policy),
        target_column=TARGET,
        candidate_signature=candidate.signature,
        latency=FAST_LATENCY,
        **kw,
    )


def _by_name(checks: list[v_pb2.ValidationCheck]) -> dict[str, v_pb2.ValidationCheck]:
    return {c.name: c for c in checks}


def test_good_candidate_passes_absolute_thresholds_without_champion(
    split: tuple[pd.DataFrame, pd.DataFrame], strong: OnnxModel
) -> None:
    _, test = split
    policy = builtin_default_policy()
    policy.metric_thresholds.add(metric="accuracy", value=0.75)
    policy.metric_thresholds.add(metric="roc_auc", value=0.8)
    policy.leakage_check_enabled = False
    result = evaluate(
        _loaded(strong),
        None,
        _batches(test),
        _inputs(policy, strong, no_champion_reason="no champion yet"),
    )
    checks = _by_name(result.checks)
    assert result.verdict == v_pb2.VALIDATION_VERDICT_PASSED
    assert result.test_row_count == len(test)
    assert checks["threshold:accuracy"].verdict == PASSED
    assert checks["threshold:accuracy"].observed_value == pytest.approx(
        result.candidate_metrics["accuracy"]
    )
    assert checks["threshold:accuracy"].threshold == 0.75
    assert checks["threshold:roc_auc"].verdict == PASSED
    assert checks["non_regression:accuracy"].verdict == SKIPPED
    assert "no champion yet" in checks["non_regression:accuracy"].message
    assert checks["non_regression:rmse"].verdict == SKIPPED
    assert checks["signature"].verdict == SKIPPED
    assert checks["sample_size"].observed_value == len(test)
    assert result.extras["confusion_matrix"]["labels"] == ["DOWN", "UP"]
    assert sum(map(sum, result.extras["confusion_matrix"]["counts"])) == len(test)


def test_weak_candidate_fails_non_regression_on_the_same_rows(
    split: tuple[pd.DataFrame, pd.DataFrame], strong: OnnxModel, weak: OnnxModel
) -> None:
    _, test = split
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    policy.non_regression_rules.add(metric="roc_auc", max_relative_drop=0.02)
    result = evaluate(
        _loaded(weak),
        _loaded(strong),
        _batches(test),
        _inputs(
            policy,
            weak,
            champion_version="models/m/versions/1",
            champion_signature=strong.signature,
        ),
    )
    checks = _by_name(result.checks)
    assert result.verdict == v_pb2.VALIDATION_VERDICT_FAILED
    accuracy = checks["non_regression:accuracy"]
    assert accuracy.verdict == FAILED
    assert accuracy.observed_value == pytest.approx(result.candidate_metrics["accuracy"])
    assert accuracy.threshold == pytest.approx(result.champion_metrics["accuracy"] - 0.02)
    assert result.champion_metrics["accuracy"] > result.candidate_metrics["accuracy"]
    assert checks["non_regression:roc_auc"].verdict == FAILED
    assert checks["signature"].verdict == PASSED
    assert {c.name for c in result.failed_checks()} == {
        "non_regression:accuracy",
        "non_regression:roc_auc",
    }


def test_candidate_equal_to_champion_passes_non_regression(
    split: tuple[pd.DataFrame, pd.DataFrame], strong: OnnxModel
) -> None:
    _, test = split
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    result = evaluate(
        _loaded(strong),
        _loaded(strong),
        _batches(test),
        _inputs(
            policy,
            strong,
            champion_version="models/m/versions/1",
            champion_signature=strong.signature,
        ),
    )
    check = _by_name(result.checks)["non_regression:accuracy"]
    assert check.verdict == PASSED
    assert result.candidate_metrics == result.champion_metrics


def test_per_slice_minimum_fails_on_one_slice_and_skips_a_tiny_one(
    split: tuple[pd.DataFrame, pd.DataFrame], weak: OnnxModel
) -> None:
    _, test = split
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    policy.slice_rules.add(
        name="weekend",
        column="day",
        range=p_pb2.NumericRange(min=6),
        metric="accuracy",
        threshold=0.95,
    )
    policy.slice_rules.add(
        column="day", equals=value_pb2.Value(int64_value=1), metric="accuracy", threshold=0.1
    )
    policy.slice_rules.add(
        name="tiny",
        column="nswprice",
        range=p_pb2.NumericRange(min=0.9),
        metric="accuracy",
        threshold=0.5,
    )
    result = evaluate(_loaded(weak), None, _batches(test), _inputs(policy, weak))
    checks = _by_name(result.checks)
    weekend = checks["slice:weekend:accuracy"]
    assert weekend.verdict == FAILED
    assert weekend.threshold == 0.95
    assert 0 < weekend.observed_value < 0.95
    assert "rows where weekend" in weekend.message
    assert checks["slice:day=1:accuracy"].verdict == PASSED
    assert checks["slice:tiny:accuracy"].verdict == SKIPPED
    assert result.verdict == v_pb2.VALIDATION_VERDICT_FAILED
    rows = {s["name"]: s["rows"] for s in result.extras["slices"]}
    assert rows["weekend"] == int((test["day"] >= 6).sum())


def test_slice_on_a_missing_column_errors(
    split: tuple[pd.DataFrame, pd.DataFrame], weak: OnnxModel
) -> None:
    _, test = split
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    policy.slice_rules.add(
        column="nope", equals=value_pb2.Value(string_value="x"), metric="accuracy", threshold=0.1
    )
    result = evaluate(_loaded(weak), None, _batches(test), _inputs(policy, weak))
    check = _by_name(result.checks)["slice:nope=x:accuracy"]
    assert check.verdict == ERROR
    assert "not a column" in check.message
    assert result.verdict == v_pb2.VALIDATION_VERDICT_ERROR


def test_signature_change_is_refused_unless_the_policy_allows_it(
    split: tuple[pd.DataFrame, pd.DataFrame], strong: OnnxModel
) -> None:
    train, test = split
    narrower = train_onnx(
        train.drop(columns=["transfer"]),
        TARGET,
        RandomForestClassifier(n_estimators=5, random_state=0),
    )
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    policy.ClearField("non_regression_rules")
    kwargs = {"champion_version": "models/m/versions/1", "champion_signature": strong.signature}
    result = evaluate(
        _loaded(narrower), _loaded(strong), _batches(test), _inputs(policy, narrower, **kwargs)
    )
    check = _by_name(result.checks)["signature"]
    assert check.verdict == FAILED
    assert check.observed_value == 1
    assert "input 'transfer' was removed" in check.message
    assert result.verdict == v_pb2.VALIDATION_VERDICT_FAILED

    policy.allow_breaking_signature_change = True
    result = evaluate(
        _loaded(narrower), _loaded(strong), _batches(test), _inputs(policy, narrower, **kwargs)
    )
    assert _by_name(result.checks)["signature"].verdict == PASSED
    assert result.verdict == v_pb2.VALIDATION_VERDICT_PASSED


def test_leakage_counts_evaluation_rows_among_the_training_keys(
    split: tuple[pd.DataFrame, pd.DataFrame], strong: OnnxModel
) -> None:
    _, test = split
    keys = np.arange(len(test), dtype=np.uint64) * np.uint64(7919) + np.uint64(11)
    policy = builtin_default_policy()
    disjoint = np.asarray([np.uint64(3)], dtype=np.uint64)
    result = evaluate(
        _loaded(strong),
        None,
        _batches(test, keys=keys),
        _inputs(policy, strong, training_keys=disjoint, training_rows_source="the train split"),
    )
    assert _by_name(result.checks)["leakage"].verdict == PASSED
    assert _by_name(result.checks)["leakage"].observed_value == 0

    leaked = np.sort(keys[:100])
    result = evaluate(
        _loaded(strong),
        None,
        _batches(test, keys=keys),
        _inputs(policy, strong, training_keys=leaked, training_rows_source="the train split"),
    )
    check = _by_name(result.checks)["leakage"]
    assert check.verdict == FAILED
    assert check.observed_value == 100
    assert check.threshold == 0
    assert "100 of 2500 evaluation rows" in check.message

    result = evaluate(
        _loaded(strong),
        None,
        _batches(test),
        _inputs(policy, strong, leakage_skip_reason="no training dataset version"),
    )
    assert _by_name(result.checks)["leakage"].verdict == SKIPPED


def test_sample_size_minimum(split: tuple[pd.DataFrame, pd.DataFrame], strong: OnnxModel) -> None:
    _, test = split
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    policy.min_test_rows = 10_000
    result = evaluate(_loaded(strong), None, _batches(test), _inputs(policy, strong))
    check = _by_name(result.checks)["sample_size"]
    assert check.verdict == FAILED
    assert (check.observed_value, check.threshold) == (len(test), 10_000)


def test_latency_budget_is_measured_and_compared(
    split: tuple[pd.DataFrame, pd.DataFrame], weak: OnnxModel
) -> None:
    _, test = split
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    policy.latency_budget.p95_single_row_ms = 10_000
    policy.latency_budget.p95_batch_ms = 1e-9
    policy.latency_budget.batch_size = 64
    result = evaluate(_loaded(weak), None, _batches(test), _inputs(policy, weak))
    checks = _by_name(result.checks)
    single, batch = checks["latency:p95_single_row_ms"], checks["latency:p95_batch_ms"]
    assert single.verdict == PASSED
    assert single.observed_value > 0
    assert batch.verdict == FAILED  # nothing runs in a nanosecond
    assert result.extras["latency"]["batch"]["rows"] == 64


def test_rows_that_do_not_fit_the_inputs_are_an_error(
    split: tuple[pd.DataFrame, pd.DataFrame], strong: OnnxModel
) -> None:
    _, test = split
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    broken = test.assign(nswprice="not a number")
    with pytest.raises(EvaluationError, match="nswprice"):
        evaluate(_loaded(strong), None, _batches(broken), _inputs(policy, strong))
    with pytest.raises(EvaluationError, match="not a column"):
        evaluate(
            _loaded(strong), None, _batches(test.drop(columns=["day"])), _inputs(policy, strong)
        )


def test_cancellation_stops_between_batches(
    split: tuple[pd.DataFrame, pd.DataFrame], strong: OnnxModel
) -> None:
    _, test = split
    policy = builtin_default_policy()
    with pytest.raises(EvaluationCancelled):
        evaluate(
            _loaded(strong), None, _batches(test), _inputs(policy, strong), cancelled=lambda: True
        )


def test_not_onnx_and_mismatched_signature_are_artifact_errors(strong: OnnxModel) -> None:
    with pytest.raises(ArtifactError, match="not a valid ONNX model"):
        load_model(b"definitely not onnx")
    wrong = type(strong.signature)()
    wrong.CopyFrom(strong.signature)
    wrong.inputs[0].name = "renamed"
    with pytest.raises(ArtifactError, match="does not match its registered signature"):
        load_model(strong.onnx_bytes, signature=wrong)


def test_regression_model_gets_residuals_and_rmse(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = split
    target = "nswdemand"
    columns = ["nswprice", "vicprice", "period", target]
    model = train_onnx(train[columns], target, LinearRegression())
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    policy.metric_thresholds.add(metric="rmse", value=0.5)
    policy.metric_thresholds.add(metric="accuracy", value=0.5)
    loaded = load_model(model.onnx_bytes, signature=model.signature)
    inputs = EvaluationInputs(
        policy=check_policy(policy), target_column=target, candidate_signature=model.signature
    )
    result = evaluate(loaded, loaded, _batches(test[columns]), inputs)
    checks = _by_name(result.checks)
    assert checks["threshold:rmse"].verdict == PASSED
    assert checks["threshold:accuracy"].verdict == SKIPPED
    assert result.extras["residuals"]["count"] == len(test)
    assert set(result.candidate_metrics) == {"rmse", "mse", "mae", "r2"}


def test_allowed_threshold_takes_the_stricter_allowance() -> None:
    ge = p_pb2.NonRegressionRule(metric="accuracy", comparator=p_pb2.COMPARATOR_GE)
    assert allowed_threshold(0.9, ge) == 0.9
    ge.max_absolute_drop = 0.05
    assert allowed_threshold(0.9, ge) == pytest.approx(0.85)
    ge.max_relative_drop = 0.01
    assert allowed_threshold(0.9, ge) == pytest.approx(0.891)
    ge.max_absolute_drop = 0
    assert allowed_threshold(0.9, ge) == pytest.approx(0.891)
    le = p_pb2.NonRegressionRule(
        metric="rmse", comparator=p_pb2.COMPARATOR_LE, max_relative_drop=0.1
    )
    assert allowed_threshold(2.0, le) == pytest.approx(2.2)


def test_report_lists_every_check_with_observed_value_threshold_and_verdict(
    split: tuple[pd.DataFrame, pd.DataFrame], strong: OnnxModel, weak: OnnxModel
) -> None:
    _, test = split
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    policy.metric_thresholds.add(metric="accuracy", value=0.7)
    result = evaluate(
        _loaded(weak),
        _loaded(strong),
        _batches(test),
        _inputs(
            policy,
            weak,
            champion_version="models/m/versions/1",
            champion_signature=strong.signature,
        ),
    )
    validation = v_pb2.Validation(
        name="validations/abc",
        model_version="models/m/versions/2",
        champion_version="models/m/versions/1",
        verdict=result.verdict,  # type: ignore[arg-type]
        checks=result.checks,
        test_row_count=result.test_row_count,
    )
    for name, value in result.candidate_metrics.items():
        validation.candidate_metrics.add(name=name, value=value)
    markdown = render_markdown(validation, result.extras)
    assert "| check | kind | observed | comparator | threshold | verdict | detail |" in markdown
    for check in result.checks:
        row = next(line for line in markdown.splitlines() if line.startswith(f"| {check.name} |"))
        assert v_pb2.CheckVerdict.Name(check.verdict).removeprefix("CHECK_VERDICT_") in row
        if check.HasField("observed_value"):
            assert f"{check.observed_value:.4f}" in row or str(int(check.observed_value)) in row
        if check.HasField("threshold"):
            assert f"{check.threshold:.4f}" in row or str(int(check.threshold)) in row
    assert "Confusion matrix" in markdown
    assert "| DOWN |" in markdown
    page = render_html(validation, result.extras)
    assert page.startswith("<!doctype html>")
    assert "non_regression:accuracy" in page


def test_categorical_inputs_and_integer_labels_on_bank_marketing() -> None:
    frame = pd.read_csv(dataset_path(BANK_MARKETING)).sample(n=4000, random_state=5)
    train, test = frame.iloc[:3000], frame.iloc[3000:]
    model = train_onnx(train, "Class", RandomForestClassifier(n_estimators=10, random_state=0))
    assert model.categorical_columns  # job, marital, ... are string inputs
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    policy.metric_thresholds.add(metric="roc_auc", value=0.7)
    policy.slice_rules.add(
        column="V2",
        equals=value_pb2.Value(string_value="student"),
        metric="accuracy",
        threshold=0.5,
        min_rows=5,
    )
    loaded = load_model(model.onnx_bytes, signature=model.signature)
    inputs = EvaluationInputs(
        policy=check_policy(policy), target_column="Class", candidate_signature=model.signature
    )
    result = evaluate(loaded, None, _batches(test), inputs)
    checks = _by_name(result.checks)
    assert loaded.classes == ["1", "2"]
    assert result.extras["confusion_matrix"]["labels"] == ["1", "2"]
    assert checks["threshold:roc_auc"].verdict == PASSED
    assert checks["slice:V2=student:accuracy"].verdict in (PASSED, FAILED)
    assert result.verdict != v_pb2.VALIDATION_VERDICT_ERROR


def test_multiclass_metrics_on_iris() -> None:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame.sample(frac=1.0, random_state=0)
    # skl2onnx renames inputs like "petal length (cm)"; the convention needs plain names.
    iris.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in iris.columns]
    train, test = iris.iloc[:100], iris.iloc[100:]
    model = train_onnx(train, "target", DecisionTreeClassifier(max_depth=3, random_state=0))
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    policy.metric_thresholds.add(metric="f1", value=0.8)
    policy.metric_thresholds.add(metric="roc_auc", value=0.8)
    loaded = load_model(model.onnx_bytes, signature=model.signature)
    inputs = EvaluationInputs(
        policy=check_policy(policy), target_column="target", candidate_signature=model.signature
    )
    result = evaluate(loaded, loaded, _batches(test), inputs)
    checks = _by_name(result.checks)
    assert loaded.classes == ["0", "1", "2"]
    assert result.test_row_count == 50
    assert checks["sample_size"].verdict == PASSED  # 50 >= the default 20
    assert checks["threshold:f1"].verdict == PASSED
    assert checks["threshold:roc_auc"].verdict == PASSED
    assert len(result.extras["confusion_matrix"]["counts"]) == 3


def test_labels_the_model_does_not_know_are_an_error(
    split: tuple[pd.DataFrame, pd.DataFrame], strong: OnnxModel
) -> None:
    _, test = split
    policy = builtin_default_policy()
    policy.leakage_check_enabled = False
    recoded = test.assign(**{TARGET: test[TARGET].map({"UP": 1, "DOWN": 0})})
    with pytest.raises(EvaluationError, match="have nothing in common"):
        evaluate(_loaded(strong), None, _batches(recoded), _inputs(policy, strong))
