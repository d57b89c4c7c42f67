"""Policy rules: defaults, checks with field violations, update masks, names; list
queries; metrics."""

from __future__ import annotations

import numpy as np
import pytest

from gyre.common.v1 import split_pb2, value_pb2
from gyre.runtime.errors import InvalidArgument
from gyre.services.validation._metrics import classification_metrics, regression_metrics
from gyre.services.validation._policy import (
    DEFAULT_POLICY_NAME,
    apply_update,
    builtin_default_policy,
    check_policy,
    parse_policy_name,
    policy_name_of_model,
)
from gyre.services.validation._store import parse_list_query
from gyre.validation.v1 import validation_pb2 as v_pb2
from gyre.validation.v1 import validation_policy_pb2 as p_pb2


def test_default_policy_is_valid_and_task_neutral() -> None:
    policy = check_policy(builtin_default_policy())
    assert policy.name == DEFAULT_POLICY_NAME
    assert policy.champion_alias == "champion"
    assert policy.leakage_check_enabled
    assert policy.split == split_pb2.SPLIT_TEST
    assert {r.metric for r in policy.non_regression_rules} == {"accuracy", "rmse"}


def test_check_fills_comparators_and_slice_names() -> None:
    policy = p_pb2.ValidationPolicy(
        metric_thresholds=[p_pb2.MetricThreshold(metric="rmse", value=3)],
        slice_rules=[
            p_pb2.SliceRule(
                column="job", equals=value_pb2.Value(string_value="student"), metric="recall"
            ),
            p_pb2.SliceRule(
                column="age", range=p_pb2.NumericRange(min=18, max=30), metric="accuracy"
            ),
        ],
    )
    checked = check_policy(policy)
    assert checked.metric_thresholds[0].comparator == p_pb2.COMPARATOR_LE
    assert checked.slice_rules[0].name == "job=student"
    assert checked.slice_rules[0].comparator == p_pb2.COMPARATOR_GE
    assert checked.slice_rules[1].name == "age in [18, 30)"


def test_malformed_rules_are_reported_per_field() -> None:
    policy = p_pb2.ValidationPolicy(
        metric_thresholds=[p_pb2.MetricThreshold(metric="accurracy", value=0.7)],
        non_regression_rules=[
            p_pb2.NonRegressionRule(metric="accuracy", max_absolute_drop=-0.1),
            p_pb2.NonRegressionRule(metric="rmse", comparator=p_pb2.COMPARATOR_GE),
        ],
        slice_rules=[p_pb2.SliceRule(metric="accuracy", equals=value_pb2.Value(int64_value=1))],
        min_test_rows=-1,
        holdout_dataset_version="elec2",
    )
    with pytest.raises(InvalidArgument) as info:
        check_policy(policy)
    fields = {v.field for v in info.value.field_violations}
    assert fields == {
        "validation_policy.metric_thresholds[0]",
        "validation_policy.non_regression_rules[0].max_absolute_drop",
        "validation_policy.non_regression_rules[1]",
        "validation_policy.slice_rules[0].column",
        "validation_policy.min_test_rows",
        "validation_policy.holdout_dataset_version",
    }
    assert "unknown metric 'accurracy'" in info.value.message


def test_update_mask_replaces_only_named_fields() -> None:
    current = builtin_default_policy()
    update = p_pb2.ValidationPolicy(
        min_test_rows=5, metric_thresholds=[p_pb2.MetricThreshold(metric="accuracy", value=0.8)]
    )
    merged = apply_update(current, update, ["min_test_rows"])
    assert merged.min_test_rows == 5
    assert list(merged.metric_thresholds) == []
    assert len(merged.non_regression_rules) == 2
    everything = apply_update(current, update, ["*"])
    assert list(everything.non_regression_rules) == []
    assert not everything.leakage_check_enabled
    with pytest.raises(InvalidArgument, match="cannot be updated: etag"):
        apply_update(current, update, ["etag"])
    with pytest.raises(InvalidArgument):
        apply_update(current, update, [])


def test_policy_names() -> None:
    assert policy_name_of_model("models/fraud") == "models/fraud/validationPolicy"
    assert parse_policy_name("models/fraud/validationPolicy") == "models/fraud"
    assert parse_policy_name(DEFAULT_POLICY_NAME) is None
    with pytest.raises(InvalidArgument):
        parse_policy_name("models/fraud")


def test_list_query_parsing() -> None:
    query = parse_list_query(
        filter='model_version = "models/m/versions/3" AND verdict = FAILED',
        order_by="create_time asc",
        page_size=0,
        page_token="",
    )
    assert query.conditions == (
        ("model_version", "=", "models/m/versions/3"),
        ("verdict", "=", v_pb2.VALIDATION_VERDICT_FAILED),
    )
    assert not query.descending
    assert query.page_size == 50
    for bad in (
        {"filter": "verdict = MAYBE"},
        {"filter": "color = red"},
        {"order_by": "name"},
        {"page_token": "zzz"},
    ):
        kwargs = {"filter": "", "order_by": "", "page_size": 0, "page_token": ""} | bad
        with pytest.raises(InvalidArgument):
            parse_list_query(**kwargs)  # type: ignore[arg-type]


def test_classification_metrics_binary_and_undefined() -> None:
    y_true = np.asarray(["DOWN", "UP", "UP", "DOWN"], dtype=object)
    y_pred = np.asarray(["DOWN", "UP", "DOWN", "DOWN"], dtype=object)
    proba = np.asarray([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]], dtype=np.float32)
    metrics = classification_metrics(y_true, y_pred, proba, ["DOWN", "UP"])
    assert metrics["accuracy"].value == 0.75
    assert metrics["recall"].value == 0.5  # of the positive class "UP"
    assert metrics["precision"].value == 1.0
    assert metrics["roc_auc"].value == 1.0
    one_class = classification_metrics(y_true[:1], y_pred[:1], proba[:1], ["DOWN", "UP"])
    assert not one_class["roc_auc"].defined
    assert "one class" in one_class["roc_auc"].undefined_reason


def test_regression_metrics() -> None:
    metrics = regression_metrics(np.asarray([1.0, 2.0, 3.0]), np.asarray([1.0, 2.0, 5.0]))
    assert metrics["mae"].value == pytest.approx(2 / 3)
    assert metrics["rmse"].value == pytest.approx((4 / 3) ** 0.5)
