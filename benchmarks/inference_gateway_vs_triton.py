"""The inference gateway against calling Triton directly, measured in one run.

Starts a real ``tritonserver`` (the nvidia-pytriton wheel's, Python backend running
ONNX Runtime) and ``nats-server``, trains an Elec2 logistic regression, converts it
to ONNX, and runs the gateway as its own process (as in production; the model comes
from a local file instead of the registry). Then, for client concurrency 1, 8 and 32,
it sends the same one-row request

D. directly to Triton with ``tritonclient.grpc.aio`` (8 named FP32 inputs),
G. through the gateway (``InferenceService.Predict`` with one typed row), and
E. to a bare ``grpc.aio`` echo server in its own process (the same request bytes back):
   the cost of one Python gRPC hop, the floor of what any Python gateway adds,

interleaved in blocks so drift on the machine hits both alike, and reports p50 / p99
latency, throughput and the ratios G/D. The gateway's prediction logging runs at a
10 % sample rate, as it would in production.

    .venv/bin/python benchmarks/inference_gateway_vs_triton.py              # ~1-2 min
    .venv/bin/python benchmarks/inference_gateway_vs_triton.py --json
    .venv/bin/python benchmarks/inference_gateway_vs_triton.py --profile out.txt  # pyinstrument

Blueprint aims (informational; the exit status does not depend on them): added latency
≤ 0.5 ms p50 and ≤ 1 ms p99 at concurrency 1; gateway throughput ≥ 50 % of direct
Triton at concurrency 8.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # real-server launchers and the ONNX test helper

import grpc  # noqa: E402
import numpy as np  # noqa: E402

CONCURRENCY = (1, 8, 32)
MODEL = "models/elec2-bench/versions/1"
DEPLOYMENT = "deployments/bench"


# --------------------------------------------------------------------------- gateway process
class _FileSource:
    """The model registry stand-in of the benchmark: one version from a local file."""

    def __init__(self, onnx: Path, signature_bytes: bytes) -> None:
        from gyre.common.v1 import schema_pb2
        from gyre.models.v1 import model_version_pb2

        self._onnx = onnx
        signature = schema_pb2.Signature.FromString(signature_bytes)
        self._version = model_version_pb2.ModelVersion(
            name=MODEL,
            status=model_version_pb2.MODEL_VERSION_STATUS_VALIDATED,
            signature=signature,
        )
        self._version.artifact.sha256 = hashlib.sha256(onnx.read_bytes()).hexdigest()

    async def get_version(self, name: str) -> Any:
        return self._version

    async def download(self, version: Any, dest: Path) -> None:
        await asyncio.to_thread(dest.write_bytes, self._onnx.read_bytes())


def serve_gateway(config_path: str) -> None:
    """Child process: run the gateway until SIGTERM (optionally under pyinstrument)."""
    import logging

    from gyre.runtime.logging import configure_logging
    from gyre.services.inference._settings import InferenceSettings
    from gyre.services.inference.app import running

    config = json.loads(Path(config_path).read_text())
    settings = InferenceSettings(**config["settings"])
    configure_logging(settings.logging, service_name=settings.service_name)
    logging.disable(logging.INFO)
    source = _FileSource(Path(config["onnx"]), bytes.fromhex(config["signature"]))
    profiler = None
    if config.get("profile"):
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled", interval=0.0005)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, lambda: profiler and profiler.start())
        async with running(settings, model_source=source) as server:
            await asyncio.to_thread(Path(config["ready"]).write_text, server.target)
            await stop.wait()

    asyncio.run(main())
    if profiler is not None and profiler.is_running:
        profiler.stop()
        Path(config["profile"]).write_text(profiler.output_text(unicode=True, show_all=False))


def serve_echo(ready_path: str) -> None:
    """Child process: a bare ``grpc.aio`` server echoing bytes (one Python gRPC hop)."""

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    async def main() -> None:
        server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(
            "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
        )
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await asyncio.to_thread(Path(ready_path).write_text, f"127.0.0.1:{port}")
        await stop.wait()
        await server.stop(None)

    asyncio.run(main())


# --------------------------------------------------------------------------- load
async def run_block(
    call: Callable[[], Awaitable[Any]], *, concurrency: int, count: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd
    import tritonclient.grpc.aio as triton_aio
    from sklearn.linear_model import LogisticRegression
    from support.datasets import ELECTRICITY, datasets_dir
    from support.onnx_models import train_onnx
    from support.servers import NatsServer, TritonServer
    from tritonclient.grpc import InferInput, InferRequestedOutput

    from gyre.inference.v1 import deployment_pb2
    from gyre.inference.v1 import inference_service_pb2 as pb
    from gyre.inference.v1.inference_service_pb2_grpc import InferenceServiceStub

    base = datasets_dir()
    if base is None:
        raise SystemExit("shared datasets not found (set GYRE_DATASETS_DIR)")
    frame = pd.read_csv(base / ELECTRICITY, nrows=5000)
    model = train_onnx(frame, "class", LogisticRegression(max_iter=300))
    row = frame.iloc[[123]]

    with tempfile.TemporaryDirectory(prefix="gyre-bench-") as tmp:
        root = Path(tmp)
        (root / "nats").mkdir()
        nats = NatsServer(store_dir=root / "nats")
        nats.start()
        gateway_proc: subprocess.Popen[bytes] | None = None
        try:
            with TritonServer.running(root) as triton:
                onnx = root / "model.onnx"
                onnx.write_bytes(model.onnx_bytes)
                ready = root / "ready"
                config = {
                    "onnx": str(onnx),
                    "signature": model.signature.SerializeToString().hex(),
                    "ready": str(ready),
                    "profile": args.profile or "",
                    "settings": {
                        "service_name": "inference",
                        "home": str(root / "home"),
                        "nats": {"url": nats.url},
                        "triton": {
                            "grpc_url": triton.grpc_url,
                            "http_url": triton.http_url,
                            "model_repository": str(triton.model_repository),
                        },
                        "server": {"host": "127.0.0.1", "port": 0},
                        "gateway": {"batch_in_flight": args.batch_in_flight},
                    },
                }
                (root / "config.json").write_text(json.dumps(config))
                gateway_proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before timing
                    [sys.executable, __file__, "--serve-gateway", str(root / "config.json")],
                    env={**os.environ, "PYTHONPATH": str(REPO / "tests")},
                )
                deadline = time.monotonic() + 120
                while not ready.exists():
                    if gateway_proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("the gateway did not start")
                    await asyncio.sleep(0.1)
                target = ready.read_text()
                echo_ready = root / "echo-ready"
                echo_proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before timing
                    [sys.executable, __file__, "--serve-echo", str(echo_ready)]
                )
                while not echo_ready.exists():
                    if echo_proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("the echo server did not start")
                    await asyncio.sleep(0.1)
                echo_channel = grpc.aio.insecure_channel(echo_ready.read_text())
                echo_rpc = echo_channel.unary_unary("/bench.Echo/Echo")
                channel = grpc.aio.insecure_channel(target)
                stub = InferenceServiceStub(channel)
                await stub.CreateDeployment(
                    pb.CreateDeploymentRequest(
                        deployment_id="bench",
                        deployment=deployment_pb2.Deployment(
                            registered_model="models/elec2-bench",
                            routes=[deployment_pb2.Route(model_version=MODEL, weight=100, role=1)],
                            prediction_log_sample_rate=args.sample_rate,
                        ),
                    )
                )
                triton_model = "bench.elec2-bench.v1"
                request = pb.PredictRequest(deployment=DEPLOYMENT)
                cells = request.rows.rows.add()
                for column in model.feature_columns:
                    cells.values[column].double_value = float(row[column].iloc[0])

                direct = triton_aio.InferenceServerClient(triton.grpc_url)
                feed = model.onnx_inputs(row)
                outputs = [InferRequestedOutput("label"), InferRequestedOutput("probabilities")]

                async def call_direct() -> None:
                    inputs = []
                    for spec in model.signature.inputs:
                        tensor = InferInput(spec.name, [1, 1], "FP32")
                        tensor.set_data_from_numpy(feed[spec.name])
                        inputs.append(tensor)
                    result = await direct.infer(triton_model, inputs, outputs=outputs)
                    result.as_numpy("label")
                    result.as_numpy("probabilities")

                async def call_gateway() -> None:
                    await stub.Predict(request)

                request_bytes = request.SerializeToString()

                async def call_echo() -> None:
                    await echo_rpc(request_bytes)

                # Same answer both ways.
                answer = await stub.Predict(request)
                reference = await direct.infer(
                    triton_model,
                    [
                        _input(InferInput, spec.name, feed[spec.name])
                        for spec in model.signature.inputs
                    ],
                    outputs=outputs,
                )
                label = reference.as_numpy("label")
                assert label is not None
                assert (
                    answer.predictions[0].prediction.string_value == label.reshape(-1)[0].decode()
                )

                for _ in range(200):  # warm-up
                    await call_direct()
                    await call_gateway()
                    await call_echo()
                results: dict[str, Any] = {}
                for concurrency in CONCURRENCY:
                    spy = None
                    if args.py_spy and concurrency == 8:
                        spy = subprocess.Popen(  # noqa: ASYNC220 - profiler, before timing
                            [
                                str(Path(sys.executable).parent / "py-spy"),
                                "record",
                                "--pid",
                                str(gateway_proc.pid),
                                "--format",
                                "raw",
                                "--rate",
                                "250",
                                "--output",
                                args.py_spy,
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                        await asyncio.sleep(1.0)
                    per: dict[str, tuple[list[float], float, int]] = {
                        "direct": ([], 0.0, 0),
                        "gateway": ([], 0.0, 0),
                        "echo": ([], 0.0, 0),
                    }
                    block = args.block * max(1, concurrency // 4)
                    for round_ in range(args.rounds):
                        calls = [
                            ("direct", call_direct),
                            ("gateway", call_gateway),
                            ("echo", call_echo),
                        ]
                        shift = round_ % len(calls)
                        for name, call in calls[shift:] + calls[:shift]:
                            if args.profile and name == "gateway" and concurrency == 8:
                                gateway_proc.send_signal(signal.SIGUSR1)
                            latencies, wall = await run_block(
                                call, concurrency=concurrency, count=block
                            )
                            lat, total_wall, total = per[name]
                            per[name] = (lat + latencies, total_wall + wall, total + block)
                    level: dict[str, Any] = {}
                    for name, (lat, wall, total) in per.items():
                        level[name] = {
                            "p50_ms": _percentile(lat, 0.50),
                            "p99_ms": _percentile(lat, 0.99),
                            "mean_ms": statistics.fmean(lat) * 1000.0,
                            "throughput_rps": total / wall,
                            "requests": total,
                        }
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)
                        await asyncio.to_thread(spy.wait, 30)
                    d, g = level["direct"], level["gateway"]
                    level["added_p50_ms"] = g["p50_ms"] - d["p50_ms"]
                    level["added_p99_ms"] = g["p99_ms"] - d["p99_ms"]
                    level["p50_ratio"] = g["p50_ms"] / d["p50_ms"]
                    level["p99_ratio"] = g["p99_ms"] / d["p99_ms"]
                    level["throughput_ratio"] = g["throughput_rps"] / d["throughput_rps"]
                    results[str(concurrency)] = level
                await direct.close()
                await channel.close()
                await echo_channel.close()
                echo_proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(echo_proc.wait, 30)
        finally:
            if gateway_proc is not None:
                gateway_proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    gateway_proc.wait(timeout=30)
                if gateway_proc.poll() is None:
                    gateway_proc.kill()
            nats.stop()
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "sample_rate": args.sample_rate,
        "batch_in_flight": args.batch_in_flight,
        "levels": results,
    }


def _input(cls: Any, name: str, array: np.ndarray[Any, Any]) -> Any:
    tensor = cls(name, list(array.shape), "FP32")
    tensor.set_data_from_numpy(array)
    return tensor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve-gateway", help=argparse.SUPPRESS)
    parser.add_argument("--serve-echo", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per level")
    parser.add_argument("--block", type=int, default=250, help="requests per block at c<=4")
    parser.add_argument("--sample-rate", type=float, default=0.1, help="prediction logging")
    parser.add_argument(
        "--batch-in-flight",
        type=int,
        default=2,
        help="gateway calls per model in flight before merging requests (0: no batching)",
    )
    parser.add_argument("--profile", help="write a pyinstrument profile of the gateway here")
    parser.add_argument(
        "--py-spy", help="record the gateway with py-spy during concurrency 8 (raw stacks)"
    )
    args = parser.parse_args()
    if args.serve_gateway:
        serve_gateway(args.serve_gateway)
        return
    if args.serve_echo:
        serve_echo(args.serve_echo)
        return
    report = asyncio.run(measure(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"machine: {report['machine']}; prediction log sample rate {report['sample_rate']}; "
        f"batch in flight {report['batch_in_flight']}"
    )
    header = (
        f"{'conc':>4} | {'direct p50/p99 ms':>18} | {'gateway p50/p99 ms':>18} | "
        f"{'added p50/p99 ms':>16} | {'direct rps':>10} | {'gateway rps':>11} | "
        f"{'G/D p50':>7} | {'G/D p99':>7} | {'G/D rps':>7} | {'bare hop p50/p99 ms':>19}"
    )
    print(header)
    print("-" * len(header))
    for concurrency, level in report["levels"].items():
        d, g = level["direct"], level["gateway"]
        print(
            f"{concurrency:>4} | {d['p50_ms']:8.3f} / {d['p99_ms']:7.3f} | "
            f"{g['p50_ms']:8.3f} / {g['p99_ms']:7.3f} | "
            f"{level['added_p50_ms']:+7.3f} / {level['added_p99_ms']:+6.3f} | "
            f"{d['throughput_rps']:10.0f} | {g['throughput_rps']:11.0f} | "
            f"{level['p50_ratio']:6.2f}x | {level['p99_ratio']:6.2f}x | "
            f"{level['throughput_ratio']:6.2f}x | "
            f"{level['echo']['p50_ms']:8.3f} / {level['echo']['p99_ms']:7.3f}"
        )


if __name__ == "__main__":
    main()
