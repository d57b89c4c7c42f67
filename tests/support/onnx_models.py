"""Build small ONNX models the way Gyre's training service packages them (tests only).

Convention (see ``services/README.md`` and the training service's packaging): one ONNX
input per raw feature column, named as the column, shape ``[-1, 1]``, ``tensor(float)``
for numeric columns and ``tensor(string)`` for categorical ones; the preprocessing
(imputation, one-hot encoding) is inside the graph. Classifiers output ``label``
(``[-1]``) and ``probabilities`` (``[-1, n_classes]``, skl2onnx ``zipmap=False``);
the class labels, in column order, are the ``categories`` of both output specs.
Regressors output ``variable`` (``[-1, 1]``).

Tests that need a model without running the training service use
:func:`train_onnx`; it is not product code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.base import BaseEstimator, is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from gyre.common.v1 import schema_pb2, value_pb2


@dataclass(frozen=True)
class OnnxModel:
    """A fitted pipeline, its ONNX bytes and its Gyre signature."""

    pipeline: Pipeline
    onnx_bytes: bytes
    signature: schema_pb2.Signature
    feature_columns: list[str]
    categorical_columns: list[str]
    classes: list[Any]

    def onnx_inputs(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """``frame``'s feature columns as the ONNX model's input feed."""
        feed: dict[str, np.ndarray] = {}
        for column in self.feature_columns:
            if column in self.categorical_columns:
                feed[column] = frame[column].astype(str).to_numpy().reshape(-1, 1)
            else:
                feed[column] = frame[column].astype(np.float32).to_numpy().reshape(-1, 1)
        return feed


def train_onnx(
    frame: pd.DataFrame,
    target: str,
    estimator: BaseEstimator,
    *,
    categorical: list[str] | None = None,
) -> OnnxModel:
    """Fit ``estimator`` on ``frame`` (all columns but ``target``) and convert it to ONNX.

    Columns of object dtype are categorical unless ``categorical`` names them.
    """
    features = [c for c in frame.columns if c != target]
    cats = (
        list(categorical)
        if categorical is not None
        else [c for c in features if frame[c].dtype == object]
    )
    nums = [c for c in features if c not in cats]
    steps = []
    if nums:
        steps.append(("num", SimpleImputer(strategy="median"), nums))
    if cats:
        steps.append(("cat", OneHotEncoder(handle_unknown="ignore"), cats))
    pipeline = Pipeline([("pre", ColumnTransformer(steps)), ("model", estimator)])
    x = frame[features].copy()
    for c in cats:
        x[c] = x[c].astype(str)
    for c in nums:
        x[c] = x[c].astype(np.float32)
    pipeline.fit(x, frame[target])

    initial_types = [
        (c, StringTensorType([None, 1]) if c in cats else FloatTensorType([None, 1]))
        for c in features
    ]
    classifier = is_classifier(estimator)
    options = {id(pipeline): {"zipmap": False}} if classifier else None
    onx = to_onnx(pipeline, initial_types=initial_types, options=options, target_opset=17)
    # skl2onnx names the outputs "label"/"probabilities" (classifiers) and "variable"
    # (regressors) already; the signature mirrors them.
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(pipeline, "classes_", [])]
    signature = schema_pb2.Signature()
    for c in features:
        signature.inputs.add(
            name=c,
            data_type=value_pb2.DATA_TYPE_STRING if c in cats else value_pb2.DATA_TYPE_FLOAT32,
            shape=[-1, 1],
            categorical=c in cats,
        )
    if classifier:
        label_type = (
            value_pb2.DATA_TYPE_STRING
            if classes and isinstance(classes[0], str)
            else value_pb2.DATA_TYPE_INT64
        )
        names = [str(c) for c in classes]
        signature.outputs.add(
            name="label", data_type=label_type, shape=[-1], categorical=True, categories=names
        )
        signature.outputs.add(
            name="probabilities",
            data_type=value_pb2.DATA_TYPE_FLOAT32,
            shape=[-1, len(classes)],
            categories=names,
        )
    else:
        signature.outputs.add(name="variable", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1])
    return OnnxModel(
        pipeline=pipeline,
        onnx_bytes=onx.SerializeToString(),
        signature=signature,
        feature_columns=features,
        categorical_columns=cats,
        classes=classes,
    )
