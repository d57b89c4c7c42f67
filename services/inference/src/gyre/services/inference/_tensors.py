"""Signature-checked conversion between Gyre's request messages and numpy tensors.

A :class:`CompiledSignature` is built once per model version (when its route is
cached) and holds, per input, the numpy dtype, the Triton datatype and how to read a
cell; converting a request is then a loop over columns with no lookups besides the
protobuf map access. Every mismatch (missing, extra or mistyped column, wrong shape
or data type of a raw tensor, ragged columns) is an ``InvalidArgument`` whose
message states the expected signature.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from google.protobuf import struct_pb2
from numpy.typing import NDArray

from gyre.common.v1 import schema_pb2, value_pb2
from gyre.inference.v1 import inference_service_pb2, prediction_pb2
from gyre.runtime.errors import FieldViolation, InvalidArgument

__all__ = [
    "CompiledSignature",
    "InputSpec",
    "describe_signature",
]

_NUMPY: Final[dict[int, Any]] = {
    value_pb2.DATA_TYPE_BOOL: np.bool_,
    value_pb2.DATA_TYPE_INT8: np.int8,
    value_pb2.DATA_TYPE_INT16: np.int16,
    value_pb2.DATA_TYPE_INT32: np.int32,
    value_pb2.DATA_TYPE_INT64: np.int64,
    value_pb2.DATA_TYPE_UINT8: np.uint8,
    value_pb2.DATA_TYPE_UINT16: np.uint16,
    value_pb2.DATA_TYPE_UINT32: np.uint32,
    value_pb2.DATA_TYPE_UINT64: np.uint64,
    value_pb2.DATA_TYPE_FLOAT16: np.float16,
    value_pb2.DATA_TYPE_FLOAT32: np.float32,
    value_pb2.DATA_TYPE_FLOAT64: np.float64,
    value_pb2.DATA_TYPE_BFLOAT16: np.float32,
    value_pb2.DATA_TYPE_STRING: np.object_,
    value_pb2.DATA_TYPE_BYTES: np.object_,
}
_TRITON: Final[dict[int, str]] = {
    value_pb2.DATA_TYPE_BOOL: "BOOL",
    value_pb2.DATA_TYPE_INT8: "INT8",
    value_pb2.DATA_TYPE_INT16: "INT16",
    value_pb2.DATA_TYPE_INT32: "INT32",
    value_pb2.DATA_TYPE_INT64: "INT64",
    value_pb2.DATA_TYPE_UINT8: "UINT8",
    value_pb2.DATA_TYPE_UINT16: "UINT16",
    value_pb2.DATA_TYPE_UINT32: "UINT32",
    value_pb2.DATA_TYPE_UINT64: "UINT64",
    value_pb2.DATA_TYPE_FLOAT16: "FP16",
    value_pb2.DATA_TYPE_FLOAT32: "FP32",
    value_pb2.DATA_TYPE_FLOAT64: "FP64",
    value_pb2.DATA_TYPE_BFLOAT16: "BF16",
    value_pb2.DATA_TYPE_STRING: "BYTES",
    value_pb2.DATA_TYPE_BYTES: "BYTES",
}
_FLOATS: Final = frozenset(
    {
        value_pb2.DATA_TYPE_FLOAT16,
        value_pb2.DATA_TYPE_FLOAT32,
        value_pb2.DATA_TYPE_FLOAT64,
        value_pb2.DATA_TYPE_BFLOAT16,
    }
)
_TEXT: Final = frozenset({value_pb2.DATA_TYPE_STRING, value_pb2.DATA_TYPE_BYTES})
# Which TensorContents field holds each data type.
_CONTENTS_FIELD: Final[dict[int, str]] = {
    value_pb2.DATA_TYPE_BOOL: "bool_contents",
    value_pb2.DATA_TYPE_INT8: "int_contents",
    value_pb2.DATA_TYPE_INT16: "int_contents",
    value_pb2.DATA_TYPE_INT32: "int_contents",
    value_pb2.DATA_TYPE_INT64: "int64_contents",
    value_pb2.DATA_TYPE_UINT8: "uint_contents",
    value_pb2.DATA_TYPE_UINT16: "uint_contents",
    value_pb2.DATA_TYPE_UINT32: "uint_contents",
    value_pb2.DATA_TYPE_UINT64: "uint64_contents",
    value_pb2.DATA_TYPE_FLOAT16: "fp32_contents",
    value_pb2.DATA_TYPE_FLOAT32: "fp32_contents",
    value_pb2.DATA_TYPE_FLOAT64: "fp64_contents",
    value_pb2.DATA_TYPE_BFLOAT16: "fp32_contents",
    value_pb2.DATA_TYPE_STRING: "bytes_contents",
    value_pb2.DATA_TYPE_BYTES: "bytes_contents",
}
# Largest number of rows accepted in one request.
MAX_ROWS: Final = 100_000


def type_name(data_type: int) -> str:
    """``"FLOAT32"`` for ``DATA_TYPE_FLOAT32``."""
    return value_pb2.DataType.Name(data_type).removeprefix("DATA_TYPE_")


def describe_signature(signature: schema_pb2.Signature) -> str:
    """``"date: FLOAT32 [-1, 1], day: STRING [-1, 1]"``: the inputs a model expects."""
    return ", ".join(
        f"{spec.name}: {type_name(spec.data_type)} [{', '.join(str(d) for d in spec.shape)}]"
        for spec in signature.inputs
    )


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One model input, precompiled."""

    name: str
    data_type: int
    numpy_dtype: Any
    triton_dtype: str
    trailing: tuple[int, ...]  # dims after the batch dimension ([] for shape [-1])
    is_text: bool
    is_float: bool


def _trailing(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(d) for d in shape[1:])


class CompiledSignature:
    """A model version's signature, ready for the predict path."""

    def __init__(self, signature: schema_pb2.Signature) -> None:
        self.signature = signature
        self.inputs: tuple[InputSpec, ...] = tuple(
            InputSpec(
                name=spec.name,
                data_type=spec.data_type,
                numpy_dtype=_NUMPY.get(spec.data_type, np.float32),
                triton_dtype=_TRITON.get(spec.data_type, "FP32"),
                trailing=_trailing(spec.shape),
                is_text=spec.data_type in _TEXT,
                is_float=spec.data_type in _FLOATS,
            )
            for spec in signature.inputs
        )
        self.input_names = frozenset(spec.name for spec in self.inputs)
        self._names = tuple(spec.name for spec in self.inputs)
        # Inputs read on the fast path: FLOAT32 scalars per row (most tabular models).
        self._fast_float = [
            spec.data_type == value_pb2.DATA_TYPE_FLOAT32 and spec.trailing in ((), (1,))
            for spec in self.inputs
        ]
        self.by_name = {spec.name: spec for spec in self.inputs}
        self.output_names: tuple[str, ...] = tuple(spec.name for spec in signature.outputs)
        outputs = {spec.name: spec for spec in signature.outputs}
        # The per-row prediction: "label" (classifiers), "variable" (regressors), else
        # the first output.
        self.prediction_output = next(
            (name for name in ("label", "variable") if name in outputs),
            self.output_names[0] if self.output_names else "",
        )
        self.probabilities_output = "probabilities" if "probabilities" in outputs else ""
        categories: list[str] = []
        for name in ("probabilities", "label"):
            if name in outputs and outputs[name].categories:
                categories = list(outputs[name].categories)
                break
        self.classes: tuple[str, ...] = tuple(categories)
        prediction_spec = outputs.get(self.prediction_output)
        self.prediction_type = (
            prediction_spec.data_type if prediction_spec else value_pb2.DATA_TYPE_UNSPECIFIED
        )
        self.expected = describe_signature(signature)

    # ---------------------------------------------------------------- errors
    def _invalid(self, message: str, *, field: str, reason: str) -> InvalidArgument:
        return InvalidArgument(
            f"{message}; the model expects inputs {{{self.expected}}}",
            reason=reason,
            metadata={"expected_inputs": self.expected},
            field_violations=[FieldViolation(field, message)],
        )

    # ---------------------------------------------------------------- rows
    def rows_to_arrays(self, rows: Sequence[value_pb2.Row]) -> dict[str, NDArray[Any]]:
        """Rows (column name -> value) as one ``[n, 1]``-shaped array per input.

        Raises:
            InvalidArgument: no rows, a missing, extra or mistyped column.
        """
        count = len(rows)
        if count == 0:
            raise self._invalid("no rows given", field="rows.rows", reason="EMPTY_BATCH")
        if count > MAX_ROWS:
            raise self._invalid(
                f"{count} rows exceed the limit of {MAX_ROWS}",
                field="rows.rows",
                reason="BATCH_TOO_LARGE",
            )
        specs = self.inputs
        names = self._names
        width = len(names)
        fast = self._fast_float
        cells: list[list[Any]] = [[] for _ in range(width)]
        for index, row in enumerate(rows):
            values = row.values
            if len(values) != width:
                raise self._row_error(index, row)
            for j, name in enumerate(names):
                cell = values.get(name)
                if cell is None:
                    raise self._row_error(index, row)
                if fast[j]:
                    if cell.WhichOneof("kind") == "double_value":
                        cells[j].append(cell.double_value)
                        continue
                    # Anything else (ints, nulls, errors) takes the general path.
                    cells[j] = [_as_value(v) for v in cells[j]]
                    fast = list(fast)
                    fast[j] = False
                cells[j].append(cell)
        arrays: dict[str, NDArray[Any]] = {}
        floats = [j for j in range(width) if fast[j]]
        if floats:
            block = np.array([cells[j] for j in floats], dtype=np.float32)
            for position, j in enumerate(floats):
                shape = (count, 1) if specs[j].trailing else (count,)
                arrays[names[j]] = block[position].reshape(shape)
        for j, spec in enumerate(specs):
            if not fast[j]:
                arrays[spec.name] = self._column(spec, cells[j], field="rows.rows")
        return {spec.name: arrays[spec.name] for spec in specs}

    def _row_error(self, index: int, row: value_pb2.Row) -> InvalidArgument:
        keys = set(row.values.keys())
        missing = sorted(self.input_names.difference(keys))
        extra = sorted(keys.difference(self.input_names))
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(extra)}")
        return self._invalid(
            f"row {index}: {'; '.join(parts)}",
            field=f"rows.rows[{index}]",
            reason="MISSING_COLUMN" if missing else "UNEXPECTED_COLUMN",
        )

    def columns_to_arrays(
        self, columns: Sequence[inference_service_pb2.InputColumn]
    ) -> dict[str, NDArray[Any]]:
        """Typed columns as one ``[n, 1]``-shaped array per input.

        Raises:
            InvalidArgument: a missing, extra, duplicated or mistyped column, or columns
                of different lengths.
        """
        given: dict[str, inference_service_pb2.InputColumn] = {}
        for column in columns:
            if column.name in given:
                raise self._invalid(
                    f"column {column.name} given twice",
                    field="columns.columns",
                    reason="DUPLICATE_COLUMN",
                )
            given[column.name] = column
        missing = sorted(self.input_names.difference(given))
        extra = sorted(set(given).difference(self.input_names))
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing column(s) {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected column(s) {', '.join(extra)}")
            raise self._invalid(
                "; ".join(parts),
                field="columns.columns",
                reason="MISSING_COLUMN" if missing else "UNEXPECTED_COLUMN",
            )
        lengths = {len(column.values) for column in given.values()}
        if len(lengths) != 1:
            raise self._invalid(
                f"columns have different lengths {sorted(lengths)}",
                field="columns.columns",
                reason="RAGGED_COLUMNS",
            )
        (count,) = lengths
        if count == 0:
            raise self._invalid("no rows given", field="columns.columns", reason="EMPTY_BATCH")
        if count > MAX_ROWS:
            raise self._invalid(
                f"{count} rows exceed the limit of {MAX_ROWS}",
                field="columns.columns",
                reason="BATCH_TOO_LARGE",
            )
        return {
            spec.name: self._column(
                spec, given[spec.name].values, field=f"columns.columns[{spec.name}]"
            )
            for spec in self.inputs
        }

    def _column(
        self, spec: InputSpec, cells: Sequence[value_pb2.Value], *, field: str
    ) -> NDArray[Any]:
        if spec.trailing not in ((), (1,)):
            raise self._invalid(
                f"input {spec.name} has shape [-1, {', '.join(map(str, spec.trailing))}]: "
                "send it as a tensor, not as a tabular column",
                field=field,
                reason="NOT_TABULAR",
            )
        shape = (len(cells), 1) if spec.trailing else (len(cells),)
        if spec.is_text:
            out: list[object] = []
            for index, cell in enumerate(cells):
                kind = cell.WhichOneof("kind")
                if kind == "string_value":
                    out.append(cell.string_value.encode())
                elif kind == "bytes_value":
                    out.append(cell.bytes_value)
                elif kind == "int64_value":  # categories given as integers
                    out.append(str(cell.int64_value).encode())
                elif kind == "bool_value":
                    out.append(str(cell.bool_value).encode())
                elif kind in (None, "null_value"):
                    out.append(b"")
                else:
                    raise self._cell_error(spec, index, kind, field)
            return np.array(out, dtype=np.object_).reshape(shape)
        if spec.is_float:
            values: list[float] = []
            for index, cell in enumerate(cells):
                kind = cell.WhichOneof("kind")
                if kind == "double_value":
                    values.append(cell.double_value)
                elif kind == "int64_value":
                    values.append(float(cell.int64_value))
                elif kind == "bool_value":
                    values.append(1.0 if cell.bool_value else 0.0)
                elif kind in (None, "null_value"):
                    values.append(math.nan)
                else:
                    raise self._cell_error(spec, index, kind, field)
            return np.array(values, dtype=spec.numpy_dtype).reshape(shape)
        ints: list[int] = []
        for index, cell in enumerate(cells):
            kind = cell.WhichOneof("kind")
            if kind == "int64_value":
                ints.append(cell.int64_value)
            elif kind == "bool_value":
                ints.append(int(cell.bool_value))
            elif kind == "double_value" and cell.double_value.is_integer():
                ints.append(int(cell.double_value))
            else:
                raise self._cell_error(spec, index, kind, field)
        try:
            return np.array(ints, dtype=spec.numpy_dtype).reshape(shape)
        except OverflowError as exc:
            raise self._invalid(
                f"column {spec.name}: a value is out of range for {type_name(spec.data_type)}",
                field=field,
                reason="VALUE_OUT_OF_RANGE",
            ) from exc

    def _cell_error(self, spec: InputSpec, index: int, kind: str | None, field: str) -> Exception:
        given = (kind or "null_value").removesuffix("_value")
        return self._invalid(
            f"column {spec.name}, row {index}: expected {type_name(spec.data_type)}, got {given}",
            field=field,
            reason="WRONG_DTYPE",
        )

    # ---------------------------------------------------------------- tensors
    def tensors_to_arrays(self, tensors: Sequence[value_pb2.Tensor]) -> dict[str, NDArray[Any]]:
        """Raw named tensors as arrays, checked against the signature.

        Raises:
            InvalidArgument: a missing, extra or duplicated tensor, a data type or shape
                that does not match, contents that do not fill the shape, or batch
                dimensions that differ.
        """
        given: dict[str, value_pb2.Tensor] = {}
        for tensor in tensors:
            if tensor.name in given:
                raise self._invalid(
                    f"tensor {tensor.name} given twice",
                    field="tensors.tensors",
                    reason="DUPLICATE_TENSOR",
                )
            given[tensor.name] = tensor
        missing = sorted(self.input_names.difference(given))
        extra = sorted(set(given).difference(self.input_names))
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing tensor(s) {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected tensor(s) {', '.join(extra)}")
            raise self._invalid(
                "; ".join(parts),
                field="tensors.tensors",
                reason="MISSING_TENSOR" if missing else "UNEXPECTED_TENSOR",
            )
        arrays: dict[str, NDArray[Any]] = {}
        batch: int | None = None
        for spec in self.inputs:
            tensor = given[spec.name]
            field = f"tensors.tensors[{spec.name}]"
            if tensor.data_type != spec.data_type:
                raise self._invalid(
                    f"tensor {spec.name}: expected data type {type_name(spec.data_type)}, "
                    f"got {type_name(tensor.data_type)}",
                    field=field,
                    reason="WRONG_DTYPE",
                )
            shape = tuple(int(d) for d in tensor.shape)
            if len(shape) != 1 + len(spec.trailing) or shape[1:] != spec.trailing or shape[0] < 1:
                want = ", ".join(str(d) for d in (-1, *spec.trailing))
                raise self._invalid(
                    f"tensor {spec.name}: expected shape [{want}], got "
                    f"[{', '.join(str(d) for d in shape)}]",
                    field=field,
                    reason="WRONG_SHAPE",
                )
            if batch is None:
                batch = shape[0]
            elif shape[0] != batch:
                raise self._invalid(
                    f"tensor {spec.name}: batch dimension {shape[0]} differs from {batch}",
                    field=field,
                    reason="RAGGED_TENSORS",
                )
            arrays[spec.name] = self._tensor_array(spec, tensor, shape, field)
        if batch is not None and batch > MAX_ROWS:
            raise self._invalid(
                f"{batch} rows exceed the limit of {MAX_ROWS}",
                field="tensors.tensors",
                reason="BATCH_TOO_LARGE",
            )
        return arrays

    def _tensor_array(
        self, spec: InputSpec, tensor: value_pb2.Tensor, shape: tuple[int, ...], field: str
    ) -> NDArray[Any]:
        count = int(np.prod(shape))
        if tensor.raw_contents:
            if spec.is_text:
                flat: list[object] = _unpack_bytes(tensor.raw_contents)
                array = np.array(flat, dtype=np.object_)
            else:
                dtype = np.dtype(spec.numpy_dtype).newbyteorder("<")
                if len(tensor.raw_contents) != count * dtype.itemsize:
                    raise self._invalid(
                        f"tensor {spec.name}: raw_contents holds "
                        f"{len(tensor.raw_contents)} bytes, shape needs {count * dtype.itemsize}",
                        field=field,
                        reason="WRONG_SIZE",
                    )
                array = np.frombuffer(tensor.raw_contents, dtype=dtype)
        else:
            values = getattr(tensor.contents, _CONTENTS_FIELD[spec.data_type])
            array = np.array(list(values), dtype=spec.numpy_dtype)
        if array.size != count:
            raise self._invalid(
                f"tensor {spec.name}: {array.size} elements given, shape needs {count}",
                field=field,
                reason="WRONG_SIZE",
            )
        return array.reshape(shape)

    # ---------------------------------------------------------------- outputs
    def predictions(
        self, outputs: Mapping[str, NDArray[Any]], count: int
    ) -> list[prediction_pb2.RowPrediction]:
        """One ``RowPrediction`` per row from the model's outputs."""
        label = outputs.get(self.prediction_output)
        probs = outputs.get(self.probabilities_output) if self.probabilities_output else None
        result: list[prediction_pb2.RowPrediction] = []
        labels = _cells(label, count) if label is not None else [None] * count
        classes = self.classes
        for index in range(count):
            prediction = prediction_pb2.RowPrediction()
            cell = labels[index]
            if cell is not None:
                set_value(prediction.prediction, cell)
            if probs is not None and classes and probs.ndim == 2:
                row = probs[index]
                prediction.probabilities.update(
                    {classes[j]: float(row[j]) for j in range(min(len(classes), row.shape[0]))}
                )
            result.append(prediction)
        return result


def _as_value(number: float) -> value_pb2.Value:
    return value_pb2.Value(double_value=number)


def _cells(array: NDArray[Any], count: int) -> list[Any]:
    flat = array.reshape(count, -1)[:, 0] if array.size else array.reshape(-1)
    return flat.tolist()  # type: ignore[no-any-return]


def set_value(target: value_pb2.Value, cell: Any) -> None:
    """Store a Python/numpy scalar in a ``Value``."""
    if isinstance(cell, bytes):
        try:
            target.string_value = cell.decode()
        except UnicodeDecodeError:
            target.bytes_value = cell
    elif isinstance(cell, str):
        target.string_value = cell
    elif isinstance(cell, bool):
        target.bool_value = cell
    elif isinstance(cell, int):
        target.int64_value = cell
    elif isinstance(cell, float):
        target.double_value = cell
    elif cell is None:
        target.null_value = struct_pb2.NULL_VALUE  # type: ignore[assignment]
    else:
        target.string_value = str(cell)


def value_of(value: value_pb2.Value) -> Any:
    """The Python scalar a ``Value`` holds (``None`` for null)."""
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    return getattr(value, kind)


def _unpack_bytes(raw: bytes) -> list[object]:
    out: list[object] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidArgument("raw_contents of a string tensor is truncated")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        out.append(raw[offset : offset + length])
        offset += length
    return out


def array_to_tensor(name: str, array: NDArray[Any], data_type: int) -> value_pb2.Tensor:
    """A ``Tensor`` message holding ``array``."""
    tensor = value_pb2.Tensor(name=name, data_type=data_type, shape=list(array.shape))  # type: ignore[arg-type]
    flat = array.reshape(-1)
    if array.dtype == np.object_:
        tensor.contents.bytes_contents.extend(
            v if isinstance(v, bytes) else str(v).encode() for v in flat.tolist()
        )
    else:
        field = _CONTENTS_FIELD.get(data_type, "fp32_contents")
        getattr(tensor.contents, field).extend(flat.tolist())
    return tensor


def arrays_to_rows(arrays: Mapping[str, NDArray[Any]], names: Iterable[str]) -> list[value_pb2.Row]:
    """Per-row ``Row`` messages from ``[n, 1]`` arrays (for prediction logging)."""
    columns = {
        name: arrays[name].reshape(arrays[name].shape[0], -1)[:, 0].tolist() for name in names
    }
    count = len(next(iter(columns.values()))) if columns else 0
    rows = []
    for index in range(count):
        row = value_pb2.Row()
        for name, values in columns.items():
            cell = values[index]
            if isinstance(cell, float) and math.isnan(cell):
                row.values[name].null_value = struct_pb2.NULL_VALUE  # type: ignore[assignment]
            else:
                set_value(row.values[name], cell)
        rows.append(row)
    return rows
