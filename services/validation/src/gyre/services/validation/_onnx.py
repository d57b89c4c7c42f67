"""ONNX artifacts in ONNX Runtime: loading, input feeds from Arrow data, predictions,
latency.

The packaging convention (see ``services/README.md``): one input per raw feature
column, named as the column, shape ``[-1, 1]``, ``tensor(float)`` for numeric and
``tensor(string)`` for categorical columns; classifiers output ``label`` and
``probabilities`` (class order = the ``categories`` of those outputs' specs in the
signature), regressors output ``variable``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import onnx  # type: ignore[import-untyped,unused-ignore]
import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]
import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped,unused-ignore]
from numpy.typing import NDArray

from gyre.common.v1 import schema_pb2, value_pb2
from gyre.services.validation._metrics import Task

__all__ = [
    "ArtifactError",
    "LoadedModel",
    "Predictions",
    "load_model",
    "signature_incompatibilities",
]

# ONNX element type string -> Gyre DataType.
_ONNX_TYPES: Final[dict[str, int]] = {
    "tensor(float)": value_pb2.DATA_TYPE_FLOAT32,
    "tensor(double)": value_pb2.DATA_TYPE_FLOAT64,
    "tensor(float16)": value_pb2.DATA_TYPE_FLOAT16,
    "tensor(string)": value_pb2.DATA_TYPE_STRING,
    "tensor(int64)": value_pb2.DATA_TYPE_INT64,
    "tensor(int32)": value_pb2.DATA_TYPE_INT32,
    "tensor(int16)": value_pb2.DATA_TYPE_INT16,
    "tensor(int8)": value_pb2.DATA_TYPE_INT8,
    "tensor(uint8)": value_pb2.DATA_TYPE_UINT8,
    "tensor(bool)": value_pb2.DATA_TYPE_BOOL,
}
_NUMPY_OF: Final[dict[int, Any]] = {
    value_pb2.DATA_TYPE_FLOAT32: np.float32,
    value_pb2.DATA_TYPE_FLOAT64: np.float64,
    value_pb2.DATA_TYPE_FLOAT16: np.float16,
    value_pb2.DATA_TYPE_INT64: np.int64,
    value_pb2.DATA_TYPE_INT32: np.int32,
    value_pb2.DATA_TYPE_INT16: np.int16,
    value_pb2.DATA_TYPE_INT8: np.int8,
    value_pb2.DATA_TYPE_UINT8: np.uint8,
    value_pb2.DATA_TYPE_BOOL: np.bool_,
}
LABEL_OUTPUT: Final = "label"
PROBABILITIES_OUTPUT: Final = "probabilities"
REGRESSION_OUTPUT: Final = "variable"
# Attributes of ONNX-ML classifier nodes that hold the class labels in column order.
_CLASS_LABEL_ATTRS: Final = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")


class ArtifactError(Exception):
    """The artifact cannot be used: not ONNX, does not load, does not match its
    signature or the data. The message says why, for a person."""


def dtype_name(data_type: int) -> str:
    """``"FLOAT32"`` for ``DATA_TYPE_FLOAT32``."""
    return value_pb2.DataType.Name(data_type).removeprefix("DATA_TYPE_")


@dataclass(frozen=True)
class InputSpec:
    """One graph input: its name, Gyre type and rank."""

    name: str
    data_type: int
    rank: int


@dataclass
class Predictions:
    """One batch of predictions: labels (classification, as strings), probabilities
    ``[n, classes]`` (when the model has them) or values (regression)."""

    labels: NDArray[Any] | None = None
    probabilities: NDArray[np.float32] | None = None
    values: NDArray[np.float64] | None = None


@dataclass
class LoadedModel:
    """A model loaded into an ONNX Runtime session."""

    session: ort.InferenceSession
    inputs: list[InputSpec]
    task: Task
    classes: list[str] = field(default_factory=list)
    label_output: str = LABEL_OUTPUT
    probabilities_output: str | None = None
    value_output: str = REGRESSION_OUTPUT

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    def feed(self, batch: pa.RecordBatch | pa.Table) -> dict[str, NDArray[Any]]:
        """The input feed for ``batch`` (one column per input, converted to its type).

        Raises:
            ArtifactError: a column is missing or cannot be converted.
        """
        feed: dict[str, NDArray[Any]] = {}
        names = set(batch.schema.names)
        for spec in self.inputs:
            if spec.name not in names:
                raise ArtifactError(f"model input {spec.name!r} is not a column of the data")
            column = batch.column(spec.name)
            array = _to_numpy(column, spec)
            feed[spec.name] = array.reshape(-1, 1) if spec.rank == 2 else array.reshape(-1)
        return feed

    def predict(self, feed: Mapping[str, NDArray[Any]]) -> Predictions:
        """Run the model on a feed.

        Raises:
            ArtifactError: ONNX Runtime refused the feed or failed.
        """
        try:
            if self.task is Task.CLASSIFICATION:
                wanted = [self.label_output]
                if self.probabilities_output:
                    wanted.append(self.probabilities_output)
                outputs = self.session.run(wanted, dict(feed))
                labels = _labels_as_strings(np.asarray(outputs[0]).reshape(-1))
                probabilities = (
                    np.asarray(outputs[1], dtype=np.float32) if len(outputs) > 1 else None
                )
                if probabilities is not None and probabilities.ndim != 2:
                    raise ArtifactError(
                        f"output {self.probabilities_output!r} has shape {probabilities.shape}, "
                        "expected [n, classes]"
                    )
                return Predictions(labels=labels, probabilities=probabilities)
            (values,) = self.session.run([self.value_output], dict(feed))
            return Predictions(values=np.asarray(values, dtype=np.float64).reshape(-1))
        except ArtifactError:
            raise
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ArtifactError(f"ONNX Runtime failed to run the model: {_short(exc)}") from exc

    def measure_latency(
        self, feed: Mapping[str, NDArray[Any]], *, runs: int, warmup: int
    ) -> list[float]:
        """Wall-clock milliseconds of ``runs`` calls on ``feed`` after ``warmup`` calls."""
        inputs = dict(feed)
        outputs = [o.name for o in self.session.get_outputs()]
        for _ in range(warmup):
            self.session.run(outputs, inputs)
        times: list[float] = []
        for _ in range(runs):
            start = time.perf_counter()
            self.session.run(outputs, inputs)
            times.append((time.perf_counter() - start) * 1000.0)
        return times


def _short(exc: BaseException, limit: int = 400) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _labels_as_strings(labels: NDArray[Any]) -> NDArray[Any]:
    if labels.dtype.kind in "OUS":
        return np.asarray([str(v) for v in labels], dtype=object)
    if labels.dtype.kind == "f" and np.all(np.mod(labels, 1) == 0):
        labels = labels.astype(np.int64)
    return labels.astype(str).astype(object)


def _to_numpy(column: pa.ChunkedArray | pa.Array, spec: InputSpec) -> NDArray[Any]:
    try:
        if spec.data_type == value_pb2.DATA_TYPE_STRING:
            if pa.types.is_floating(column.type):
                # Categorical codes read as numbers: 1.0 -> "1" (as pandas' astype(str)
                # of an integer column would give at training time); other numbers as
                # they print.
                with contextlib.suppress(pa.ArrowInvalid):
                    column = pc.cast(column, pa.int64(), safe=True)
            strings = pc.fill_null(pc.cast(column, pa.string()), "")
            return np.asarray(strings.to_pylist(), dtype=object)
        target = _NUMPY_OF.get(spec.data_type)
        if target is None:
            raise ArtifactError(
                f"model input {spec.name!r} has type {dtype_name(spec.data_type)}, which the gate "
                "cannot feed"
            )
        if np.issubdtype(target, np.floating):
            floats = pc.cast(column, pa.float64())
            array = np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)
            return array.astype(target)
        if column.null_count:
            raise ArtifactError(f"column {spec.name!r} has nulls; input is {spec.data_type}")
        return np.asarray(column.to_numpy(zero_copy_only=False)).astype(target)
    except ArtifactError:
        raise
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError) as exc:
        raise ArtifactError(
            f"column {spec.name!r} ({column.type}) cannot be fed to input of type "
            f"{dtype_name(spec.data_type)}: {_short(exc)}"
        ) from exc


def _session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


def _graph_classes(model: onnx.ModelProto) -> list[str]:
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.name in _CLASS_LABEL_ATTRS:
                values = onnx.helper.get_attribute_value(attr)
                if values:
                    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    return []


def load_model(
    data: bytes, *, signature: schema_pb2.Signature | None = None, threads: int = 1
) -> LoadedModel:
    """Parse, check and load an ONNX artifact; read its task and class order.

    Class labels come from the graph's classifier node (its ``classlabels_*``), else
    from the signature's ``label``/``probabilities`` output categories, else they stay
    empty (the
    caller then uses the sorted labels seen).

    Raises:
        ArtifactError: not valid ONNX, ONNX Runtime cannot load it, its outputs follow
            no known convention, or it contradicts ``signature``.
    """
    try:
        proto = onnx.load_model_from_string(data)
        onnx.checker.check_model(proto)
    except Exception as exc:
        raise ArtifactError(f"the artifact is not a valid ONNX model: {_short(exc)}") from exc
    try:
        session = ort.InferenceSession(
            data, sess_options=_session_options(threads), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ArtifactError(f"ONNX Runtime cannot load the model: {_short(exc)}") from exc
    inputs = []
    for node_arg in session.get_inputs():
        data_type = _ONNX_TYPES.get(node_arg.type)
        if data_type is None:
            raise ArtifactError(
                f"model input {node_arg.name!r} has unsupported type {node_arg.type}"
            )
        rank = len(node_arg.shape) if node_arg.shape is not None else 2
        if rank not in (1, 2):
            raise ArtifactError(
                f"model input {node_arg.name!r} has rank {rank}; the gate feeds one column "
                "per input ([-1, 1] or [-1])"
            )
        inputs.append(InputSpec(node_arg.name, data_type, rank))
    output_names = [o.name for o in session.get_outputs()]
    model = LoadedModel(session=session, inputs=inputs, task=Task.REGRESSION)
    if LABEL_OUTPUT in output_names:
        model.task = Task.CLASSIFICATION
        if PROBABILITIES_OUTPUT in output_names:
            model.probabilities_output = PROBABILITIES_OUTPUT
    elif REGRESSION_OUTPUT in output_names:
        model.task = Task.REGRESSION
    elif len(output_names) == 1:
        model.value_output = output_names[0]
    else:
        raise ArtifactError(
            "model outputs follow no known convention (classifiers: 'label' and "
            f"'probabilities'; regressors: 'variable'); found {output_names}"
        )
    if model.task is Task.CLASSIFICATION:
        # The graph's classifier node decides the probability columns; the signature's
        # categories are the fallback for graphs without one.
        declared: list[str] = []
        if signature is not None:
            for output in signature.outputs:
                if output.name in (LABEL_OUTPUT, PROBABILITIES_OUTPUT) and output.categories:
                    declared = list(output.categories)
                    break
        model.classes = _graph_classes(proto) or declared
    if signature is not None and signature.inputs:
        problems = _declared_vs_graph(signature, inputs)
        if problems:
            raise ArtifactError(
                "the artifact does not match its registered signature: " + "; ".join(problems)
            )
    return model


def _declared_vs_graph(signature: schema_pb2.Signature, inputs: Sequence[InputSpec]) -> list[str]:
    graph = {spec.name: spec for spec in inputs}
    declared = {spec.name: spec for spec in signature.inputs}
    problems = [
        f"graph input {name!r} is not in the signature" for name in graph.keys() - declared.keys()
    ]
    problems += [
        f"signature input {name!r} is not in the graph" for name in declared.keys() - graph.keys()
    ]
    for name in graph.keys() & declared.keys():
        want = declared[name].data_type
        if want != value_pb2.DATA_TYPE_UNSPECIFIED and want != graph[name].data_type:
            problems.append(
                f"input {name!r} is {dtype_name(graph[name].data_type)} in the graph but "
                f"{dtype_name(want)} in the signature"
            )
    return sorted(problems)


def signature_incompatibilities(
    champion: schema_pb2.Signature, candidate: schema_pb2.Signature
) -> list[str]:
    """Why ``candidate`` cannot replace ``champion`` for callers (empty: compatible).

    Compatible means the same input names with the same types and compatible shapes
    (a new input breaks callers that do not send it, a removed one breaks those that
    do), and every output of the champion still there with the same type.
    """
    problems: list[str] = []
    old_inputs = {spec.name: spec for spec in champion.inputs}
    new_inputs = {spec.name: spec for spec in candidate.inputs}
    for name in sorted(old_inputs.keys() - new_inputs.keys()):
        problems.append(f"input {name!r} was removed")
    for name in sorted(new_inputs.keys() - old_inputs.keys()):
        problems.append(f"input {name!r} was added")
    for name in sorted(old_inputs.keys() & new_inputs.keys()):
        old, new = old_inputs[name], new_inputs[name]
        if old.data_type != new.data_type:
            problems.append(
                f"input {name!r} changed type {dtype_name(old.data_type)} -> "
                f"{dtype_name(new.data_type)}"
            )
        elif not _shapes_compatible(old.shape, new.shape):
            problems.append(f"input {name!r} changed shape {list(old.shape)} -> {list(new.shape)}")
    new_outputs = {spec.name: spec for spec in candidate.outputs}
    for spec in champion.outputs:
        if spec.name not in new_outputs:
            problems.append(f"output {spec.name!r} was removed")
        elif spec.data_type != new_outputs[spec.name].data_type:
            problems.append(
                f"output {spec.name!r} changed type {dtype_name(spec.data_type)} -> "
                f"{dtype_name(new_outputs[spec.name].data_type)}"
            )
    return problems


def _shapes_compatible(old: Sequence[int], new: Sequence[int]) -> bool:
    if not old or not new:
        return True
    if len(old) != len(new):
        return False
    return all(a == b or a == -1 or b == -1 for a, b in zip(old, new, strict=True))
