"""Packaging: fitted pipelines become ONNX models in Gyre's convention, checked for parity."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from support.datasets import BANK_MARKETING, ELECTRICITY, dataset_path

from gyre.common.v1 import value_pb2
from gyre.services.training import packaging, trainers
from gyre.training.v1 import run_pb2

ROWS = 3000


def _data(name: str, target: str) -> trainers.TrainingData:
    frame = pd.read_csv(dataset_path(name), nrows=ROWS)
    return trainers.TrainingData.from_frames(
        frame.iloc[: ROWS * 2 // 3], frame.iloc[ROWS * 2 // 3 :], target=target
    )


def _spec(estimator: str, task: int = run_pb2.TASK_CLASSIFICATION) -> run_pb2.RunSpec:
    spec = run_pb2.RunSpec(task=task, seed=7)  # type: ignore[arg-type]
    spec.trainer.builtin.estimator = estimator
    return spec


def _sink(name: str, value: float, step: int) -> None:
    pass


def test_elec2_classifier_follows_the_onnx_convention() -> None:
    data = _data(ELECTRICITY, "class")
    outcome = trainers.train(
        _spec("sklearn.ensemble.HistGradientBoostingClassifier"),
        data,
        params={"max_iter": 30},
        sink=_sink,
    )
    assert outcome.model is not None
    assert outcome.parity.passed, outcome.parity.message
    signature = outcome.model.signature
    assert [i.name for i in signature.inputs] == data.features
    assert all(i.data_type == value_pb2.DATA_TYPE_FLOAT32 for i in signature.inputs)
    assert all(list(i.shape) == [-1, 1] for i in signature.inputs)
    label, probabilities = signature.outputs
    assert (label.name, list(label.shape), label.data_type) == (
        "label",
        [-1],
        value_pb2.DATA_TYPE_STRING,
    )
    assert list(label.categories) == ["DOWN", "UP"]
    assert probabilities.name == "probabilities"
    assert list(probabilities.shape) == [-1, 2]
    session = ort.InferenceSession(outcome.onnx_bytes, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == data.features
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    assert outcome.val_metrics["accuracy"] > 0.7


def test_bank_marketing_categoricals_are_string_inputs_one_hot_inside_the_graph() -> None:
    data = _data(BANK_MARKETING, "Class")
    assert "V2" in data.categorical
    outcome = trainers.train(
        _spec("sklearn.ensemble.HistGradientBoostingClassifier"),
        data,
        params={"max_iter": 20},
        sink=_sink,
    )
    assert outcome.model is not None
    assert outcome.parity.passed, outcome.parity.message
    inputs = {i.name: i for i in outcome.model.signature.inputs}
    assert inputs["V2"].data_type == value_pb2.DATA_TYPE_STRING
    assert inputs["V2"].categorical
    assert "management" in inputs["V2"].categories
    assert inputs["V1"].data_type == value_pb2.DATA_TYPE_FLOAT32
    label = outcome.model.signature.outputs[0]
    assert label.data_type == value_pb2.DATA_TYPE_INT64
    assert list(label.categories) == ["1", "2"]
    # An unseen category is ignored by the one-hot encoder, not an error.
    x = data.x("validation").head(5).copy()
    x["V2"] = "astronaut"
    session = ort.InferenceSession(outcome.onnx_bytes, providers=["CPUExecutionProvider"])
    _, probabilities = session.run(None, packaging.onnx_feed(x, data.categorical))
    assert probabilities.shape == (5, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_lightgbm_and_linear_models_convert_with_matching_predictions() -> None:
    data = _data(ELECTRICITY, "class")
    for estimator, params in (
        ("lightgbm.LGBMClassifier", {"n_estimators": 20}),
        ("sklearn.linear_model.LogisticRegression", {"max_iter": 200}),
    ):
        points: list[tuple[str, float, int]] = []
        outcome = trainers.train(
            _spec(estimator),
            data,
            params=params,
            sink=lambda n, v, s, points=points: points.append((n, v, s)),  # type: ignore[misc]
        )
        assert outcome.parity.passed, (estimator, outcome.parity.message)
        if estimator.startswith("lightgbm"):
            # LightGBM streams each boosting round's validation metric.
            assert len({s for n, _, s in points if n.startswith("val/")}) == 20


def test_regressor_outputs_variable() -> None:
    frame = pd.read_csv(dataset_path(ELECTRICITY), nrows=2000).drop(columns=["class"])
    data = trainers.TrainingData.from_frames(
        frame.iloc[:1500], frame.iloc[1500:], target="nswprice"
    )
    outcome = trainers.train(
        _spec("sklearn.ensemble.HistGradientBoostingRegressor", run_pb2.TASK_REGRESSION),
        data,
        params={"max_iter": 20},
        sink=_sink,
    )
    assert outcome.model is not None
    assert outcome.parity.passed, outcome.parity.message
    assert [o.name for o in outcome.model.signature.outputs] == ["variable"]
    assert "rmse" in outcome.val_metrics


@pytest.mark.parametrize(
    ("estimator", "params", "message"),
    [
        ("sklearn.ensemble.NoSuchForest", {}, "has no class"),
        ("nosuchpackage.Model", {}, "cannot import"),
        ("sklearn.ensemble.HistGradientBoostingClassifier", {"max_depthh": 3}, "max_depthh"),
        ("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": -4}, "max_iter"),
    ],
)
def test_bad_trainer_input_fails_with_the_reason(
    estimator: str, params: dict[str, object], message: str
) -> None:
    data = _data(ELECTRICITY, "class")
    with pytest.raises(trainers.TrainerError, match=message) as info:
        trainers.train(_spec(estimator), data, params=params, sink=_sink)
    assert not info.value.retryable


def test_unknown_target_column_is_a_clear_error() -> None:
    frame = pd.read_csv(dataset_path(ELECTRICITY), nrows=100)
    with pytest.raises(trainers.TrainerError, match="target column 'klass'"):
        trainers.TrainingData.from_frames(frame, frame, target="klass")
