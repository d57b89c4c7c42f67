"""Signature-checked conversion of rows, columns and raw tensors (no servers)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from gyre.common.v1 import schema_pb2, value_pb2
from gyre.inference.v1 import inference_service_pb2 as pb
from gyre.runtime.errors import InvalidArgument
from gyre.services.inference._tensors import CompiledSignature, arrays_to_rows


def _signature() -> schema_pb2.Signature:
    signature = schema_pb2.Signature()
    signature.inputs.add(name="price", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1])
    signature.inputs.add(name="day", data_type=value_pb2.DATA_TYPE_STRING, shape=[-1, 1])
    signature.inputs.add(name="count", data_type=value_pb2.DATA_TYPE_INT64, shape=[-1, 1])
    signature.outputs.add(
        name="label", data_type=value_pb2.DATA_TYPE_STRING, shape=[-1], categories=["DOWN", "UP"]
    )
    signature.outputs.add(
        name="probabilities",
        data_type=value_pb2.DATA_TYPE_FLOAT32,
        shape=[-1, 2],
        categories=["DOWN", "UP"],
    )
    return signature


def _rows(*records: dict[str, value_pb2.Value]) -> list[value_pb2.Row]:
    rows = []
    for record in records:
        row = value_pb2.Row()
        for key, value in record.items():
            row.values[key].CopyFrom(value)
        rows.append(row)
    return rows


def V(**kind: object) -> value_pb2.Value:
    return value_pb2.Value(**kind)  # type: ignore[arg-type]


SIG = CompiledSignature(_signature())


def test_rows_become_typed_batch_arrays() -> None:
    arrays = SIG.rows_to_arrays(
        _rows(
            {"price": V(double_value=0.5), "day": V(string_value="mon"), "count": V(int64_value=3)},
            {"price": V(int64_value=2), "day": V(int64_value=7), "count": V(double_value=4.0)},
            {"price": V(null_value=0), "day": V(string_value="tue"), "count": V(bool_value=True)},
        )
    )
    assert arrays["price"].dtype == np.float32
    assert arrays["price"].shape == (3, 1)
    np.testing.assert_array_equal(arrays["price"][:2, 0], [0.5, 2.0])
    assert np.isnan(arrays["price"][2, 0])
    assert arrays["day"].reshape(-1).tolist() == [b"mon", b"7", b"tue"]
    assert arrays["count"].dtype == np.int64
    assert arrays["count"].reshape(-1).tolist() == [3, 4, 1]


@pytest.mark.parametrize(
    ("record", "fragment", "reason"),
    [
        (
            {"price": V(double_value=1.0), "day": V(string_value="x")},
            "missing column(s) count",
            "MISSING_COLUMN",
        ),
        (
            {
                "price": V(double_value=1.0),
                "day": V(string_value="x"),
                "count": V(int64_value=1),
                "extra": V(int64_value=1),
            },
            "unexpected column(s) extra",
            "UNEXPECTED_COLUMN",
        ),
        (
            {
                "price": V(string_value="cheap"),
                "day": V(string_value="x"),
                "count": V(int64_value=1),
            },
            "column price, row 0: expected FLOAT32, got string",
            "WRONG_DTYPE",
        ),
        (
            {
                "price": V(double_value=1.0),
                "day": V(string_value="x"),
                "count": V(double_value=1.5),
            },
            "column count, row 0: expected INT64, got double",
            "WRONG_DTYPE",
        ),
    ],
)
def test_bad_rows_say_what_the_model_expects(
    record: dict[str, value_pb2.Value], fragment: str, reason: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        SIG.rows_to_arrays(_rows(record))
    assert fragment in caught.value.message
    assert caught.value.reason == reason
    assert "price: FLOAT32 [-1, 1], day: STRING [-1, 1], count: INT64 [-1, 1]" in (
        caught.value.message
    )
    assert caught.value.field_violations


def test_empty_batches_and_ragged_columns_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="no rows"):
        SIG.rows_to_arrays([])
    columns = [
        pb.InputColumn(name="price", values=[V(double_value=1.0), V(double_value=2.0)]),
        pb.InputColumn(name="day", values=[V(string_value="a")]),
        pb.InputColumn(name="count", values=[V(int64_value=1), V(int64_value=2)]),
    ]
    with pytest.raises(InvalidArgument, match="different lengths"):
        SIG.columns_to_arrays(columns)
    with pytest.raises(InvalidArgument, match="given twice"):
        SIG.columns_to_arrays([*columns, columns[0]])


def test_columns_match_rows() -> None:
    columns = [
        pb.InputColumn(name="price", values=[V(double_value=1.0), V(double_value=2.0)]),
        pb.InputColumn(name="day", values=[V(string_value="a"), V(string_value="b")]),
        pb.InputColumn(name="count", values=[V(int64_value=1), V(int64_value=2)]),
    ]
    arrays = SIG.columns_to_arrays(columns)
    assert arrays["price"].reshape(-1).tolist() == [1.0, 2.0]
    assert arrays["day"].reshape(-1).tolist() == [b"a", b"b"]


def _tensor(name: str, data_type: int, shape: list[int]) -> value_pb2.Tensor:
    return value_pb2.Tensor(name=name, data_type=data_type, shape=shape)  # type: ignore[arg-type]


def test_raw_and_typed_tensors_are_checked_against_the_signature() -> None:
    price = _tensor("price", value_pb2.DATA_TYPE_FLOAT32, [2, 1])
    price.raw_contents = np.array([1.5, 2.5], dtype="<f4").tobytes()
    day = _tensor("day", value_pb2.DATA_TYPE_STRING, [2, 1])
    day.raw_contents = b"".join(struct.pack("<I", len(s)) + s for s in (b"mon", b"tuesday"))
    count = _tensor("count", value_pb2.DATA_TYPE_INT64, [2, 1])
    count.contents.int64_contents.extend([5, 6])
    arrays = SIG.tensors_to_arrays([price, day, count])
    assert arrays["price"].reshape(-1).tolist() == [1.5, 2.5]
    assert arrays["day"].reshape(-1).tolist() == [b"mon", b"tuesday"]
    assert arrays["count"].reshape(-1).tolist() == [5, 6]

    wrong_shape = _tensor("count", value_pb2.DATA_TYPE_INT64, [2, 2])
    wrong_shape.contents.int64_contents.extend([1, 2, 3, 4])
    with pytest.raises(InvalidArgument, match=r"expected shape \[-1, 1\], got \[2, 2\]"):
        SIG.tensors_to_arrays([price, day, wrong_shape])
    wrong_type = _tensor("count", value_pb2.DATA_TYPE_INT32, [2, 1])
    with pytest.raises(InvalidArgument, match="expected data type INT64, got INT32"):
        SIG.tensors_to_arrays([price, day, wrong_type])
    short = _tensor("price", value_pb2.DATA_TYPE_FLOAT32, [2, 1])
    short.raw_contents = b"\x00\x00\x00\x00"
    with pytest.raises(InvalidArgument, match="raw_contents holds 4 bytes"):
        SIG.tensors_to_arrays([short, day, count])
    other_batch = _tensor("count", value_pb2.DATA_TYPE_INT64, [3, 1])
    other_batch.contents.int64_contents.extend([1, 2, 3])
    with pytest.raises(InvalidArgument, match="batch dimension 3 differs from 2"):
        SIG.tensors_to_arrays([price, day, other_batch])
    with pytest.raises(InvalidArgument, match="missing tensor"):
        SIG.tensors_to_arrays([price, day])


def test_predictions_map_probabilities_to_class_labels() -> None:
    outputs = {
        "label": np.array([[b"UP"], [b"DOWN"]], dtype=object),
        "probabilities": np.array([[0.25, 0.75], [0.9, 0.1]], dtype=np.float32),
    }
    predictions = SIG.predictions(outputs, 2)
    assert [p.prediction.string_value for p in predictions] == ["UP", "DOWN"]
    assert dict(predictions[0].probabilities) == pytest.approx({"DOWN": 0.25, "UP": 0.75})


def test_logged_rows_keep_features() -> None:
    arrays = {
        "price": np.array([[1.0], [np.nan]], dtype=np.float32),
        "day": np.array([[b"mon"], [b"tue"]], dtype=object),
        "count": np.array([[1], [2]], dtype=np.int64),
    }
    rows = arrays_to_rows(arrays, ["price", "day", "count"])
    assert rows[0].values["price"].double_value == 1.0
    assert rows[1].values["price"].WhichOneof("kind") == "null_value"
    assert rows[1].values["day"].string_value == "tue"
    assert rows[1].values["count"].int64_value == 2
