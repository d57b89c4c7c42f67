"""Turn a fitted scikit-learn / LightGBM pipeline into Gyre's ONNX model convention.

The convention (shared with validation, inference and monitoring):

- one ONNX input per raw feature column, named exactly as the column, shape
  ``[-1, 1]``, ``tensor(float)`` for numeric columns and ``tensor(string)`` for
  categorical ones; the preprocessing (imputation, scaling, one-hot encoding) is
  inside the graph;
- classifiers output ``label`` (``[-1]``, int64 or string class labels) and
  ``probabilities`` (``[-1, n_classes]`` float, skl2onnx ``zipmap=False``, columns
  in class order); regressors output ``variable`` (``[-1, 1]`` float);
- the signature (``gyre.common.v1.Signature``) lists those inputs and outputs; the
  class labels, in column order, are the ``categories`` of both classifier outputs.

:func:`build_pipeline` makes the preprocessing pipeline that travels with a built-in
estimator; :func:`to_onnx_model` converts a fitted pipeline; :func:`check_parity`
compares the ONNX model's outputs with the native model's on the same rows.
Converters: skl2onnx for scikit-learn, onnxmltools for LightGBM and XGBoost
(registered into skl2onnx on first use).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from gyre.common.v1 import schema_pb2, value_pb2
from gyre.training.v1 import run_pb2

__all__ = [
    "DEFAULT_LABEL_MISMATCH_TOLERANCE",
    "DEFAULT_PROBABILITY_TOLERANCE",
    "LABEL_OUTPUT",
    "PROBABILITIES_OUTPUT",
    "TARGET_OPSET",
    "VARIABLE_OUTPUT",
    "OnnxModel",
    "PackagingError",
    "build_pipeline",
    "categorical_columns",
    "check_parity",
    "onnx_feed",
    "to_onnx_model",
]

LABEL_OUTPUT: Final = "label"
PROBABILITIES_OUTPUT: Final = "probabilities"
VARIABLE_OUTPUT: Final = "variable"
# ONNX opset of the exported graphs (onnxruntime >= 1.14 and Triton 2.51 run it).
TARGET_OPSET: Final = 17
# Parity: largest allowed absolute difference of probabilities / regression outputs,
# relative to the output's scale for regressors, and the largest share of rows whose
# label may differ (float32 inputs can flip a row that sits exactly on a split).
DEFAULT_PROBABILITY_TOLERANCE: Final = 1e-3
DEFAULT_LABEL_MISMATCH_TOLERANCE: Final = 1e-3


class PackagingError(Exception):
    """The model cannot be converted to ONNX (unsupported estimator or options)."""


@dataclass
class OnnxModel:
    """A converted model: its bytes, digest, signature and class labels in order."""

    onnx_bytes: bytes
    signature: schema_pb2.Signature
    feature_columns: list[str]
    categorical_columns: list[str]
    classes: list[Any] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        """Lowercase hex SHA-256 of the ONNX bytes."""
        return hashlib.sha256(self.onnx_bytes).hexdigest()


def categorical_columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The columns of ``frame`` treated as categorical: text, category and boolean dtypes.

    Numbers stay numeric even when they take few values (an integer ``day`` column is
    a number to the model); cast a column to ``str`` to make it categorical.
    """
    found = []
    for column in columns:
        dtype = frame[column].dtype
        if (
            pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_bool_dtype(dtype)
        ):
            found.append(column)
    return found


def prepare_features(
    frame: pd.DataFrame, feature_columns: Sequence[str], categorical: Sequence[str]
) -> pd.DataFrame:
    """``frame``'s features as the model sees them: float32 numbers, str categories.

    Missing categories become the empty string (the ONNX input is a string tensor);
    missing numbers stay NaN (imputed inside the graph).
    """
    cats = set(categorical)
    out = pd.DataFrame(index=frame.index)
    for column in feature_columns:
        values = frame[column]
        if column in cats:
            out[column] = values.astype(object).where(values.notna(), "").astype(str)
        else:
            out[column] = pd.to_numeric(values, errors="coerce").astype(np.float32)
    return out


def onnx_feed(features: pd.DataFrame, categorical: Sequence[str]) -> dict[str, Any]:
    """Prepared features (see :func:`prepare_features`) as the ONNX input feed."""
    cats = set(categorical)
    feed: dict[str, Any] = {}
    for column in features.columns:
        values = features[column].to_numpy()
        if column in cats:
            feed[column] = values.astype(object).reshape(-1, 1)
        else:
            feed[column] = values.astype(np.float32).reshape(-1, 1)
    return feed


def build_pipeline(estimator: Any, *, numeric: Sequence[str], categorical: Sequence[str]) -> Any:
    """The preprocessing + estimator pipeline a built-in trainer fits.

    Numeric columns: median imputation, then standard scaling for estimators that
    are not tree models (trees split on raw values: scaling in float64 natively and in
    float32 in ONNX would move values across split thresholds); categorical columns:
    one-hot encoding (unknown categories ignored). Everything converts to ONNX.
    """
    from sklearn.compose import ColumnTransformer  # type: ignore[import-untyped]
    from sklearn.impute import SimpleImputer  # type: ignore[import-untyped]
    from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import (  # type: ignore[import-untyped]
        OneHotEncoder,
        StandardScaler,
    )

    steps: list[tuple[str, Any, list[str]]] = []
    if numeric:
        steps.append(
            (
                "numeric",
                (
                    SimpleImputer(strategy="median")
                    if _is_tree_model(estimator)
                    else Pipeline(
                        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                    )
                ),
                list(numeric),
            )
        )
    if categorical:
        steps.append(
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                list(categorical),
            )
        )
    if not steps:
        raise PackagingError("the model needs at least one feature column")
    return Pipeline(
        [("preprocess", ColumnTransformer(steps, sparse_threshold=0.0)), ("model", estimator)]
    )


_TREE_MODULES: Final = ("sklearn.ensemble", "sklearn.tree", "lightgbm", "xgboost")


def _is_tree_model(estimator: Any) -> bool:
    module = type(estimator).__module__
    return any(module.startswith(prefix) for prefix in _TREE_MODULES)


_registered = False


def _register_converters() -> None:
    """Register onnxmltools' LightGBM / XGBoost converters into skl2onnx (once)."""
    global _registered
    if _registered:
        return
    _registered = True
    from skl2onnx import update_registered_converter  # type: ignore[import-untyped]
    from skl2onnx.common.shape_calculator import (  # type: ignore[import-untyped]
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import (  # type: ignore[import-untyped]
            convert_lightgbm,
        )
    except ImportError:
        pass
    else:
        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
        )
        update_registered_converter(
            LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
            options={"split": None},
        )
    try:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import (  # type: ignore[import-untyped]
            convert_xgboost,
        )
        from xgboost import XGBClassifier, XGBRegressor  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        update_registered_converter(
            XGBClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
        )
        update_registered_converter(
            XGBRegressor,
            "XGBoostXGBRegressor",
            calculate_linear_regressor_output_shapes,
            convert_xgboost,
        )


def _python_scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def to_onnx_model(
    pipeline: Any,
    *,
    feature_columns: Sequence[str],
    categorical: Sequence[str],
    task: int,
) -> OnnxModel:
    """Convert a fitted pipeline that takes the raw feature columns to Gyre's ONNX model.

    Args:
        pipeline: a fitted scikit-learn pipeline (or estimator) whose ``predict``
            accepts a DataFrame of the feature columns (see :func:`prepare_features`).
        feature_columns: the raw feature columns, in input order.
        categorical: which of them are categorical (string inputs).
        task: ``gyre.training.v1.Task`` value.

    Raises:
        PackagingError: the converter does not support the model, or the graph does
            not have the conventional outputs.
    """
    _register_converters()
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import (  # type: ignore[import-untyped]
        FloatTensorType,
        StringTensorType,
    )

    cats = set(categorical)
    initial_types = [
        (c, StringTensorType([None, 1]) if c in cats else FloatTensorType([None, 1]))
        for c in feature_columns
    ]
    classifier = task == run_pb2.TASK_CLASSIFICATION
    options = {"zipmap": False} if classifier else None
    try:
        onx = to_onnx(
            pipeline,
            initial_types=initial_types,
            options=options,
            target_opset={"": TARGET_OPSET, "ai.onnx.ml": 3},
        )
    except Exception as exc:
        raise PackagingError(f"cannot convert {type(pipeline).__name__} to ONNX: {exc}") from exc
    outputs = [o.name for o in onx.graph.output]
    expected = [LABEL_OUTPUT, PROBABILITIES_OUTPUT] if classifier else [VARIABLE_OUTPUT]
    if outputs != expected:
        raise PackagingError(f"the ONNX graph has outputs {outputs}, expected {expected}")
    inputs = [i.name for i in onx.graph.input]
    if inputs != list(feature_columns):
        raise PackagingError(f"the ONNX graph has inputs {inputs}, expected {feature_columns}")
    classes = [_python_scalar(c) for c in getattr(pipeline, "classes_", [])]
    signature = schema_pb2.Signature()
    category_lists = _input_categories(pipeline)
    for c in feature_columns:
        signature.inputs.add(
            name=c,
            data_type=value_pb2.DATA_TYPE_STRING if c in cats else value_pb2.DATA_TYPE_FLOAT32,
            shape=[-1, 1],
            categorical=c in cats,
            categories=category_lists.get(c, []),
        )
    if classifier:
        label_type = (
            value_pb2.DATA_TYPE_STRING
            if classes and isinstance(classes[0], str)
            else value_pb2.DATA_TYPE_INT64
        )
        names = [str(c) for c in classes]
        signature.outputs.add(
            name=LABEL_OUTPUT, data_type=label_type, shape=[-1], categorical=True, categories=names
        )
        signature.outputs.add(
            name=PROBABILITIES_OUTPUT,
            data_type=value_pb2.DATA_TYPE_FLOAT32,
            shape=[-1, len(classes)],
            categories=names,
        )
    else:
        signature.outputs.add(
            name=VARIABLE_OUTPUT, data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1]
        )
    return OnnxModel(
        onnx_bytes=onx.SerializeToString(),
        signature=signature,
        feature_columns=list(feature_columns),
        categorical_columns=[c for c in feature_columns if c in cats],
        classes=classes,
    )


def _input_categories(pipeline: Any) -> dict[str, list[str]]:
    """Categories the pipeline's one-hot encoder learned, per categorical input column."""
    found: dict[str, list[str]] = {}
    steps = getattr(pipeline, "named_steps", {})
    transformer = steps.get("preprocess") if isinstance(steps, dict) else None
    for _name, step, columns in getattr(transformer, "transformers_", []):
        categories = getattr(step, "categories_", None)
        if categories is None or not isinstance(columns, list):
            continue
        for column, values in zip(columns, categories, strict=False):
            found[column] = [str(v) for v in values]
    return found


def check_parity(
    pipeline: Any,
    model: OnnxModel,
    features: pd.DataFrame,
    *,
    task: int,
    tolerance: float = DEFAULT_PROBABILITY_TOLERANCE,
    label_tolerance: float = DEFAULT_LABEL_MISMATCH_TOLERANCE,
) -> run_pb2.OnnxParityCheck:
    """Compare the ONNX model with the native pipeline on ``features`` (prepared rows).

    Classifiers: labels must agree on all but ``label_tolerance`` of the rows and
    probabilities within ``tolerance``; regressors: predictions within ``tolerance``
    times ``max(1, |prediction|)``. Runs onnxruntime on CPU.
    """
    import onnxruntime as ort  # type: ignore[import-untyped]

    check = run_pb2.OnnxParityCheck(rows_compared=len(features), tolerance=tolerance)
    if len(features) == 0:
        check.passed = False
        check.message = "no rows to compare"
        return check
    session = ort.InferenceSession(model.onnx_bytes, providers=["CPUExecutionProvider"])
    outputs = session.run(None, onnx_feed(features, model.categorical_columns))
    if task == run_pb2.TASK_CLASSIFICATION:
        onnx_labels = np.asarray(outputs[0]).reshape(-1)
        onnx_proba = np.asarray(outputs[1], dtype=np.float64)
        native_labels = np.asarray(pipeline.predict(features)).reshape(-1)
        native_proba = np.asarray(pipeline.predict_proba(features), dtype=np.float64)
        mismatch = float(np.mean(onnx_labels.astype(str) != native_labels.astype(str)))
        diff = float(np.max(np.abs(onnx_proba - native_proba))) if onnx_proba.size else 0.0
        check.label_mismatch_rate = mismatch
        check.max_abs_diff = diff
        problems = []
        if mismatch > label_tolerance:
            problems.append(f"labels differ on {mismatch:.4%} of rows (> {label_tolerance:.4%})")
        # A probability may differ more on the rare rows whose float32 input flips a
        # split; require the 99.9th percentile within tolerance and every row's label.
        per_row = np.max(np.abs(onnx_proba - native_proba), axis=1)
        if float(np.quantile(per_row, 0.999)) > tolerance:
            problems.append(f"probabilities differ by up to {diff:.3g} (> {tolerance:g})")
    else:
        onnx_pred = np.asarray(outputs[0], dtype=np.float64).reshape(-1)
        native_pred = np.asarray(pipeline.predict(features), dtype=np.float64).reshape(-1)
        scale = np.maximum(1.0, np.abs(native_pred))
        rel = np.abs(onnx_pred - native_pred) / scale
        check.max_abs_diff = float(np.max(np.abs(onnx_pred - native_pred)))
        problems = []
        if float(np.quantile(rel, 0.999)) > tolerance:
            problems.append(f"predictions differ by up to {check.max_abs_diff:.3g}")
    check.passed = not problems
    check.message = "; ".join(problems)
    return check
