"""Triton model repository writer and config generation (no Triton needed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gyre.common.v1 import schema_pb2, value_pb2
from gyre.runtime.errors import DataLoss
from gyre.services.inference._triton import (
    TritonRepository,
    model_config,
    translate,
    triton_model_name,
)


def _signature() -> schema_pb2.Signature:
    signature = schema_pb2.Signature()
    signature.inputs.add(name="price", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1])
    signature.inputs.add(name="day", data_type=value_pb2.DATA_TYPE_STRING, shape=[-1, 1])
    signature.outputs.add(name="label", data_type=value_pb2.DATA_TYPE_STRING, shape=[-1])
    signature.outputs.add(
        name="probabilities", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 2]
    )
    return signature


def test_config_has_batching_types_and_reshape_for_vector_outputs() -> None:
    config = model_config("m", _signature(), backend="onnxruntime", max_batch_size=64)
    assert 'backend: "onnxruntime"' in config
    assert "max_batch_size: 64" in config
    assert '{ name: "day" data_type: TYPE_STRING dims: [ 1 ] }' in config
    assert '{ name: "label" data_type: TYPE_STRING dims: [ 1 ] reshape: { shape: [ ] } }' in config
    assert '{ name: "probabilities" data_type: TYPE_FP32 dims: [ 2 ] }' in config
    assert "dynamic_batching" in config
    assert 'backend: "python"' in model_config("m", _signature(), backend="python")


def test_repository_writes_after_checking_the_digest(tmp_path: Path) -> None:
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"onnx bytes")
    repository = TritonRepository(tmp_path / "repo")
    with pytest.raises(DataLoss):
        repository.write("m1", onnx, _signature(), backend="python", sha256="0" * 64)
    assert not repository.has("m1")
    assert not (tmp_path / "repo").exists()  # nothing written

    digest = hashlib.sha256(b"onnx bytes").hexdigest()
    path = repository.write("m1", onnx, _signature(), backend="python", sha256=digest)
    assert (path / "1" / "model.onnx").read_bytes() == b"onnx bytes"
    assert "TritonPythonModel" in (path / "1" / "model.py").read_text()
    io = json.loads((path / "1" / "gyre_io.json").read_text())
    assert io["inputs"] == [["price", "numeric"], ["day", "string"]]
    native = repository.write("m2", onnx, _signature(), backend="onnxruntime", sha256=digest)
    assert not (native / "1" / "model.py").exists()
    repository.remove("m1")
    assert not repository.has("m1")
    assert repository.has("m2")


def test_model_names_and_error_translation() -> None:
    from tritonclient.utils import InferenceServerException

    assert triton_model_name("fraud", "models/churn/versions/3") == "fraud.churn.v3"
    unavailable = translate(InferenceServerException("down", status="StatusCode.UNAVAILABLE"))
    assert unavailable.__class__.__name__ == "Unavailable"
    unknown = translate(
        InferenceServerException("Request for unknown model", status="StatusCode.NOT_FOUND")
    )
    assert unknown.__class__.__name__ == "Unavailable"
    assert getattr(unknown, "reason") == "MODEL_NOT_READY"  # noqa: B009
    failed = translate(InferenceServerException("boom", status="StatusCode.INTERNAL"))
    assert failed.__class__.__name__ == "Internal"
