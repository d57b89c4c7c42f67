"""Real Triton (the nvidia-pytriton wheel's ``tritonserver``) serving Python-backend models.

Each test writes its own model into the session's repository, loads it through
``tritonclient`` (explicit model control, as the stack runs Triton), infers and
unloads it — so a green run proves the inference gateway's path: model repository,
Python backend stub, this environment's packages inside the stub, gRPC inference.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from support.servers import TritonServer
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.integration

_DOUBLE_CONFIG = """
name: "{name}"
backend: "python"
max_batch_size: 8
input [ {{ name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] }} ]
output [ {{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] }} ]
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
"""

_DOUBLE_MODEL = """
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            y = np.multiply(x, 2, dtype=np.float32)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", y)]))
        return responses
"""

_ENV_CONFIG = """
name: "{name}"
backend: "python"
max_batch_size: 0
input [ {{ name: "DUMMY" data_type: TYPE_FP32 dims: [ 1 ] }} ]
output [ {{ name: "ENV" data_type: TYPE_STRING dims: [ 2 ] }} ]
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
"""

_ENV_MODEL = """
import sys

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        env = np.array([sys.prefix.encode(), np.__file__.encode()], dtype=np.object_)
        return [pb_utils.InferenceResponse([pb_utils.Tensor("ENV", env)]) for _ in requests]
"""

# Python-backend model serving an ONNX graph with onnxruntime: the way the blueprint
# says ONNX models run on the wheel's Triton, which has no native onnxruntime backend.
_ONNX_MODEL = """
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        path = Path(__file__).with_name("model.onnx")
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            (y,) = self.session.run(["OUTPUT0"], {"INPUT0": x.astype(np.float32)})
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", y)]))
        return responses
"""


def _write_model(repository: Path, name: str, config: str, model_py: str) -> Path:
    version = repository / name / "1"
    version.mkdir(parents=True)
    (repository / name / "config.pbtxt").write_text(textwrap.dedent(config.format(name=name)))
    (version / "model.py").write_text(textwrap.dedent(model_py))
    return version


@pytest.fixture
def client(triton_server: TritonServer) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(triton_server.grpc_url)


def _infer_fp32(
    client: grpcclient.InferenceServerClient, model: str, batch: np.ndarray
) -> np.ndarray:
    tensor = grpcclient.InferInput("INPUT0", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    result = client.infer(model, [tensor], outputs=[grpcclient.InferRequestedOutput("OUTPUT0")])
    output = result.as_numpy("OUTPUT0")
    assert output is not None
    return output


def test_python_backend_model_loads_infers_and_unloads(
    triton_server: TritonServer, client: grpcclient.InferenceServerClient
) -> None:
    _write_model(triton_server.model_repository, "double", _DOUBLE_CONFIG, _DOUBLE_MODEL)
    assert not client.is_model_ready("double")  # explicit mode: nothing loads by itself

    client.load_model("double")
    try:
        assert client.is_model_ready("double")
        batch = np.array([[1.0, 2.0, 3.0, 4.0], [-0.5, 0.0, 1.25, 1e6]], dtype=np.float32)
        output = _infer_fp32(client, "double", batch)
        assert output.dtype == np.float32
        np.testing.assert_array_equal(
            output, np.array([[2.0, 4.0, 6.0, 8.0], [-1.0, 0.0, 2.5, 2e6]], dtype=np.float32)
        )
    finally:
        client.unload_model("double")

    assert not client.is_model_ready("double")
    with pytest.raises(InferenceServerException):
        _infer_fp32(client, "double", np.ones((1, 4), dtype=np.float32))


def test_python_backend_stub_runs_in_this_environment(
    triton_server: TritonServer, client: grpcclient.InferenceServerClient
) -> None:
    """The stub's interpreter is this venv: models import the packages installed here."""
    _write_model(triton_server.model_repository, "env_probe", _ENV_CONFIG, _ENV_MODEL)
    client.load_model("env_probe")
    try:
        dummy = grpcclient.InferInput("DUMMY", [1], "FP32")
        dummy.set_data_from_numpy(np.zeros(1, dtype=np.float32))
        env = client.infer("env_probe", [dummy]).as_numpy("ENV")
    finally:
        client.unload_model("env_probe")
    assert env is not None
    prefix, numpy_file = (item.decode() for item in env)
    assert prefix == sys.prefix
    assert Path(numpy_file).resolve() == Path(np.__file__).resolve()


def _tiny_onnx_graph(path: Path) -> None:
    """``OUTPUT0 = INPUT0 * 3 + 1`` over ``[batch, 4]`` float32, built with ``onnx.helper``."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["INPUT0", "three"], ["scaled"]),
            helper.make_node("Add", ["scaled", "one"], ["OUTPUT0"]),
        ],
        "affine",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, ["batch", 4])],
        initializer=[
            helper.make_tensor("three", TensorProto.FLOAT, [], [3.0]),
            helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime since 1.10
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_onnx_model_served_by_python_backend_with_onnxruntime(
    triton_server: TritonServer, client: grpcclient.InferenceServerClient
) -> None:
    version = _write_model(
        triton_server.model_repository, "onnx_affine", _DOUBLE_CONFIG, _ONNX_MODEL
    )
    _tiny_onnx_graph(version / "model.onnx")

    client.load_model("onnx_affine")
    try:
        assert client.is_model_ready("onnx_affine")
        batch = np.array([[0.0, 1.0, 2.0, -1.0]], dtype=np.float32)
        output = _infer_fp32(client, "onnx_affine", batch)
        np.testing.assert_array_equal(output, np.array([[1.0, 4.0, 7.0, -2.0]], dtype=np.float32))
    finally:
        client.unload_model("onnx_affine")
    assert not client.is_model_ready("onnx_affine")
