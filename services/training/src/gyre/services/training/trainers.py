"""What a run executes: fit a built-in estimator or call a custom trainer, evaluate, package.

Pure functions over pandas DataFrames, used by the Ray job (:mod:`.worker`) and by
unit tests; nothing here talks to the scheduler or the object store.
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from google.protobuf import struct_pb2

from gyre.common.v1 import value_pb2
from gyre.services.training import packaging
from gyre.training.v1 import run_pb2

__all__ = [
    "MetricSink",
    "TrainOutcome",
    "TrainerError",
    "TrainingContext",
    "TrainingData",
    "evaluate",
    "load_estimator_class",
    "params_from_proto",
    "params_to_proto",
    "train",
]

# At most this many points of a staged (per-iteration) metric history are logged.
MAX_STAGED_POINTS: Final = 50

MetricSink = Callable[[str, float, int], None]
"""``sink(name, value, step)``: where step-wise metrics go while a run trains."""


class TrainerError(Exception):
    """A run failed because of its input (data, spec, params, user code).

    ``retryable`` is False for input that fails the same way every time (an
    estimator that does not exist, params it rejects, a missing column).
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class TrainingData:
    """The splits a run trains and validates on, and which columns play which role."""

    train: pd.DataFrame
    validation: pd.DataFrame
    target: str
    features: list[str]
    categorical: list[str]

    @classmethod
    def from_frames(
        cls,
        train: pd.DataFrame,
        validation: pd.DataFrame,
        *,
        target: str,
        features: Sequence[str] = (),
    ) -> TrainingData:
        """Check the columns and work out the features (default: all but the target).

        Raises:
            TrainerError: the target or a feature column is missing, or a split is empty.
        """
        if target not in train.columns:
            raise TrainerError(
                f"target column {target!r} is not in the dataset (columns: "
                f"{', '.join(map(str, train.columns))})"
            )
        chosen = list(features) or [c for c in train.columns if c != target]
        missing = [c for c in chosen if c not in train.columns]
        if missing:
            raise TrainerError(f"feature columns not in the dataset: {', '.join(missing)}")
        if target in chosen:
            raise TrainerError(f"the target column {target!r} cannot also be a feature")
        if len(train) == 0:
            raise TrainerError("the train split is empty")
        if len(validation) == 0:
            raise TrainerError("the validation split is empty")
        train = train.dropna(subset=[target])
        validation = validation.dropna(subset=[target])
        return cls(
            train=train,
            validation=validation,
            target=target,
            features=chosen,
            categorical=packaging.categorical_columns(train, chosen),
        )

    def x(self, split: str) -> pd.DataFrame:
        frame = self.train if split == "train" else self.validation
        return packaging.prepare_features(frame, self.features, self.categorical)

    def y(self, split: str) -> pd.Series:
        frame = self.train if split == "train" else self.validation
        return frame[self.target]


@dataclass
class TrainingContext:
    """What a custom trainer function receives.

    Attributes:
        train, validation: the splits as DataFrames (raw columns, target included).
        target, features, categorical: column roles (``categorical`` ⊆ ``features``).
        params: trainer parameters (plain Python values).
        seed: the run's seed.
        task: ``gyre.training.v1.Task`` value.
    """

    train: pd.DataFrame
    validation: pd.DataFrame
    target: str
    features: list[str]
    categorical: list[str]
    params: dict[str, Any]
    seed: int
    task: int
    _sink: MetricSink
    _upload: Callable[[str, bytes, str], None] | None = None
    logged_params: dict[str, Any] = field(default_factory=dict)

    def log_metric(self, name: str, value: float, step: int = 0) -> None:
        """Record one value of a step-wise metric (streamed to the scheduler)."""
        self._sink(name, float(value), int(step))

    def log_param(self, name: str, value: Any) -> None:
        """Record a parameter the trainer chose (shown with the run's params)."""
        self.logged_params[name] = value

    def upload_artifact(
        self, name: str, data: bytes | str | Path, *, media_type: str = "application/octet-stream"
    ) -> None:
        """Store an extra file with the run (a plot, feature importances, ...)."""
        if isinstance(data, str | Path):
            data = Path(data).read_bytes()
        if self._upload is None:
            raise RuntimeError("this run cannot store artifacts")
        self._upload(name, data, media_type)

    def pipeline(self, estimator: Any) -> Any:
        """Gyre's preprocessing pipeline around ``estimator`` (see packaging)."""
        numeric = [c for c in self.features if c not in self.categorical]
        return packaging.build_pipeline(estimator, numeric=numeric, categorical=self.categorical)

    def features_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s features typed as the ONNX model sees them."""
        return packaging.prepare_features(frame, self.features, self.categorical)


@dataclass
class TrainOutcome:
    """A fitted, packaged and checked model with its metrics."""

    pipeline: Any
    model: packaging.OnnxModel | None
    onnx_bytes: bytes
    parity: run_pb2.OnnxParityCheck
    val_metrics: dict[str, float]
    train_metrics: dict[str, float]
    params: dict[str, Any]
    fit_seconds: float


# -- params ------------------------------------------------------------------------


def params_from_proto(params: Mapping[str, value_pb2.Value]) -> dict[str, Any]:
    """Typed proto params as plain Python values (null → None)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        kind = value.WhichOneof("kind")
        out[key] = None if kind in (None, "null_value") else getattr(value, kind)
    return out


def value_of(item: Any) -> value_pb2.Value:
    """A Python scalar as a ``gyre.common.v1.Value``."""
    value = value_pb2.Value()
    if item is None:
        value.null_value = struct_pb2.NULL_VALUE  # type: ignore[assignment]
    elif isinstance(item, bool | np.bool_):
        value.bool_value = bool(item)
    elif isinstance(item, int | np.integer):
        value.int64_value = int(item)
    elif isinstance(item, float | np.floating):
        value.double_value = float(item)
    elif isinstance(item, bytes):
        value.bytes_value = item
    else:
        value.string_value = str(item)
    return value


def params_to_proto(params: Mapping[str, Any]) -> dict[str, value_pb2.Value]:
    """Plain params as typed proto values."""
    return {key: value_of(item) for key, item in params.items()}


# -- estimators ----------------------------------------------------------------------


def load_estimator_class(path: str) -> type[Any]:
    """The class named by an import path (``sklearn.ensemble.RandomForestClassifier`` or
    ``package.module:Class``).

    Raises:
        TrainerError: the module or class does not exist, or is not an estimator.
    """
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    if not module_name or not attr:
        raise TrainerError(f"estimator {path!r} is not an import path like 'package.module.Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainerError(f"estimator {path!r}: cannot import {module_name!r}: {exc}") from exc
    cls = getattr(module, attr, None)
    if not inspect.isclass(cls):
        raise TrainerError(f"estimator {path!r}: {module_name!r} has no class {attr!r}")
    if not (hasattr(cls, "fit") and hasattr(cls, "predict")):
        raise TrainerError(f"estimator {path!r} is not an estimator (no fit/predict)")
    return cls


def make_estimator(path: str, params: Mapping[str, Any], seed: int) -> Any:
    """Instantiate the estimator with ``params`` (and ``random_state=seed`` if it has one).

    Raises:
        TrainerError: unknown estimator, or params its constructor rejects.
    """
    cls = load_estimator_class(path)
    kwargs = dict(params)
    accepted: Mapping[str, inspect.Parameter]
    try:
        accepted = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        accepted = {}
    if "random_state" in accepted and "random_state" not in kwargs:
        kwargs["random_state"] = seed
    if cls.__module__.startswith("lightgbm") and "verbose" not in kwargs:
        kwargs["verbose"] = -1
    unknown = [k for k in kwargs if accepted and k not in accepted]
    has_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    if unknown and not has_var_kw:
        raise TrainerError(f"{path} does not accept the parameter(s) {', '.join(sorted(unknown))}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise TrainerError(f"{path} rejected its parameters: {exc}") from exc


# -- metrics -------------------------------------------------------------------------


def evaluate(pipeline: Any, x: pd.DataFrame, y: pd.Series, *, task: int) -> dict[str, float]:
    """Metrics of ``pipeline`` on ``(x, y)``.

    Classification: ``accuracy``, ``f1_macro``, ``log_loss`` and ``roc_auc``
    (binary: on the second class; multiclass: one-vs-rest macro). Regression:
    ``rmse``, ``mae``, ``r2``. Metrics that cannot be computed are left out.
    """
    from sklearn import metrics as skm  # type: ignore[import-untyped]

    out: dict[str, float] = {}
    if task == run_pb2.TASK_CLASSIFICATION:
        predicted = pipeline.predict(x)
        out["accuracy"] = float(skm.accuracy_score(y, predicted))
        out["f1_macro"] = float(skm.f1_score(y, predicted, average="macro"))
        if hasattr(pipeline, "predict_proba"):
            proba = pipeline.predict_proba(x)
            classes = list(pipeline.classes_)
            try:
                out["log_loss"] = float(skm.log_loss(y, proba, labels=classes))
                if len(classes) == 2:
                    out["roc_auc"] = float(
                        skm.roc_auc_score((np.asarray(y) == classes[1]).astype(int), proba[:, 1])
                    )
                else:
                    out["roc_auc"] = float(
                        skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
                    )
            except ValueError:
                pass
    else:
        predicted = np.asarray(pipeline.predict(x), dtype=np.float64).reshape(-1)
        truth = np.asarray(y, dtype=np.float64)
        out["rmse"] = float(math.sqrt(skm.mean_squared_error(truth, predicted)))
        out["mae"] = float(skm.mean_absolute_error(truth, predicted))
        out["r2"] = float(skm.r2_score(truth, predicted))
    return {k: v for k, v in out.items() if math.isfinite(v)}


def _log_staged(pipeline: Any, data: TrainingData, task: int, sink: MetricSink) -> None:
    """Per-iteration validation metrics of boosted models (``staged_predict*``)."""
    model = pipeline.named_steps.get("model") if hasattr(pipeline, "named_steps") else None
    if model is None:
        return
    staged = getattr(model, "staged_predict_proba", None)
    if task != run_pb2.TASK_CLASSIFICATION:
        staged = getattr(model, "staged_predict", None)
    if staged is None:
        return
    from sklearn import metrics as skm

    try:
        xv = pipeline.named_steps["preprocess"].transform(data.x("validation"))
        y = data.y("validation")
        stages = list(staged(xv))
    except Exception:  # staged predictions are a bonus; never fail a run on them
        return
    every = max(1, math.ceil(len(stages) / MAX_STAGED_POINTS))
    for i, out in enumerate(stages, start=1):
        if i % every and i != len(stages):
            continue
        if task == run_pb2.TASK_CLASSIFICATION:
            value = skm.log_loss(y, out, labels=list(model.classes_))
            sink("val/log_loss", float(value), i)
        else:
            sink("val/rmse", float(math.sqrt(skm.mean_squared_error(y, out))), i)


class _LightgbmLogger:
    """A LightGBM callback streaming each iteration's evaluation results."""

    def __init__(self, sink: MetricSink) -> None:
        self._sink = sink
        self.order = 20

    def __call__(self, env: Any) -> None:
        for _data_name, metric, value, _bigger in env.evaluation_result_list or []:
            self._sink(f"val/{metric}", float(value), int(env.iteration) + 1)


def _fit_builtin(
    estimator_path: str,
    params: Mapping[str, Any],
    data: TrainingData,
    *,
    seed: int,
    task: int,
    sink: MetricSink,
) -> Any:
    estimator = make_estimator(estimator_path, params, seed)
    numeric = [c for c in data.features if c not in data.categorical]
    pipeline = packaging.build_pipeline(estimator, numeric=numeric, categorical=data.categorical)
    x, y = data.x("train"), data.y("train")
    fit_params: dict[str, Any] = {}
    if type(estimator).__module__.startswith("lightgbm"):
        # Streamed live: the preprocessor is fitted first so LightGBM can evaluate the
        # validation split after every boosting round.
        preprocess = pipeline.named_steps["preprocess"]
        try:
            preprocess.fit(x, y)
            xv = preprocess.transform(data.x("validation"))
        except Exception as exc:
            raise TrainerError(f"preprocessing failed: {exc}") from exc
        fit_params = {
            "model__eval_set": [(xv, data.y("validation"))],
            "model__callbacks": [_LightgbmLogger(sink)],
        }
    try:
        pipeline.fit(x, y, **fit_params)
    except (TypeError, ValueError) as exc:
        raise TrainerError(f"{estimator_path} failed to fit: {exc}") from exc
    if not fit_params:
        _log_staged(pipeline, data, task, sink)
    return pipeline


def _call_custom(
    entrypoint: str,
    context: TrainingContext,
    *,
    code_dir: Path | None,
) -> Any:
    module_name, _, function_name = entrypoint.partition(":")
    if not module_name or not function_name:
        raise TrainerError(f"entrypoint {entrypoint!r} is not 'module:function'")
    if code_dir is not None and str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainerError(f"entrypoint {entrypoint!r}: cannot import: {exc}") from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise TrainerError(f"entrypoint {entrypoint!r}: {module_name} has no function")
    try:
        return function(context)
    except TrainerError:
        raise
    except Exception as exc:
        raise TrainerError(
            f"the trainer {entrypoint} raised {type(exc).__name__}: {exc}", retryable=True
        ) from exc


def train(
    spec: run_pb2.RunSpec,
    data: TrainingData,
    *,
    params: Mapping[str, Any],
    sink: MetricSink,
    upload: Callable[[str, bytes, str], None] | None = None,
    code_dir: Path | None = None,
) -> TrainOutcome:
    """Fit the spec's trainer on ``data``, evaluate, convert to ONNX, check parity.

    Raises:
        TrainerError: bad input or a failing trainer; packaging failures too.
    """
    task = spec.task or run_pb2.TASK_CLASSIFICATION
    started = time.perf_counter()
    used_params = dict(params)
    trainer = spec.trainer.WhichOneof("trainer")
    if trainer == "builtin":
        pipeline = _fit_builtin(
            spec.trainer.builtin.estimator, params, data, seed=spec.seed, task=task, sink=sink
        )
        model_params = pipeline.named_steps["model"].get_params(deep=False)
        for key in params:
            if key in model_params:
                used_params[key] = model_params[key]
    elif trainer == "custom":
        context = TrainingContext(
            train=data.train,
            validation=data.validation,
            target=data.target,
            features=data.features,
            categorical=data.categorical,
            params=dict(params),
            seed=spec.seed,
            task=task,
            _sink=sink,
            _upload=upload,
        )
        pipeline = _call_custom(spec.trainer.custom.entrypoint, context, code_dir=code_dir)
        used_params.update(context.logged_params)
    else:
        raise TrainerError("the run spec names no trainer")
    fit_seconds = time.perf_counter() - started
    sink("fit_seconds", fit_seconds, 0)

    if isinstance(pipeline, bytes | bytearray) or type(pipeline).__name__ == "ModelProto":
        # A custom trainer that returned ONNX itself: no native model to compare.
        onnx_bytes = (
            bytes(pipeline)
            if isinstance(pipeline, bytes | bytearray)
            else (pipeline.SerializeToString())
        )
        parity = run_pb2.OnnxParityCheck(
            passed=True, message="the trainer returned ONNX; no native model to compare"
        )
        return TrainOutcome(
            pipeline=None,
            model=None,
            onnx_bytes=onnx_bytes,
            parity=parity,
            val_metrics={},
            train_metrics={},
            params=used_params,
            fit_seconds=fit_seconds,
        )
    if not hasattr(pipeline, "predict"):
        raise TrainerError(
            f"the trainer returned {type(pipeline).__name__}, not a fitted model or ONNX"
        )
    try:
        val_metrics = evaluate(pipeline, data.x("validation"), data.y("validation"), task=task)
        train_metrics = evaluate(pipeline, data.x("train"), data.y("train"), task=task)
    except Exception as exc:
        raise TrainerError(f"evaluating the model failed: {exc}") from exc
    try:
        model = packaging.to_onnx_model(
            pipeline, feature_columns=data.features, categorical=data.categorical, task=task
        )
    except packaging.PackagingError as exc:
        raise TrainerError(str(exc)) from exc
    parity = packaging.check_parity(pipeline, model, data.x("validation"), task=task)
    return TrainOutcome(
        pipeline=pipeline,
        model=model,
        onnx_bytes=model.onnx_bytes,
        parity=parity,
        val_metrics=val_metrics,
        train_metrics=train_metrics,
        params=used_params,
        fit_seconds=fit_seconds,
    )
