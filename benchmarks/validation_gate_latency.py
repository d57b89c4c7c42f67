"""Validation gate: registration -> verdict latency, against the evaluation alone.

Starts real ``nats-server`` and SeaweedFS (S3) on free ports in a temp dir, runs the
data registry, the model registry and the validation gate in-process (SQLite), pushes
Elec2 (all 45,312 rows; test split ~6,800 rows), trains a random forest on the train
split, makes one version champion, then registers ``--versions`` candidates one after
the other and measures, per candidate, in the same run:

- G: from ``register_onnx`` returning to ``validation.completed`` arriving on NATS —
  the gate's whole contribution to the CT loop (consume the event, download the
  candidate and the champion, stream the test split with key hashes, the training
  split's key list, score both, every check, the report to S3, the outbox relay);
- E: ``evaluate()`` alone on the same rows, already in memory, with both models loaded
  (what the gate cannot avoid).

Reported: p50 / max of G and E, and G - E (the service's overhead). The blueprint's aim
for the CT loop is "from data commit to a new champion serving, everything but the
training itself, <= 10 s" — G is the validation share of it.

    .venv/bin/python benchmarks/validation_gate_latency.py [--versions 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from support.datasets import ELECTRICITY, datasets_dir  # noqa: E402
from support.gyre_services import running_service, service_settings  # noqa: E402
from support.onnx_models import train_onnx  # noqa: E402
from support.servers import NatsServer, SeaweedS3  # noqa: E402

from gyre.runtime.events import connect_nats, event_subject, tail_events  # noqa: E402
from gyre.runtime.logging import configure_logging  # noqa: E402
from gyre.runtime.settings import LoggingSettings, NatsSettings  # noqa: E402
from gyre.sdk import AsyncGyreClient, GyreClient  # noqa: E402
from gyre.sdk import data as data_sdk  # noqa: E402
from gyre.sdk import models as models_sdk  # noqa: E402
from gyre.services.validation._evaluation import EvaluationInputs, evaluate  # noqa: E402
from gyre.services.validation._onnx import load_model  # noqa: E402
from gyre.services.validation._policy import builtin_default_policy, check_policy  # noqa: E402


async def run(versions: int, base: Path) -> None:
    configure_logging(LoggingSettings(level="WARNING"))
    source = datasets_dir()
    if source is None:
        raise SystemExit("shared datasets not found (set GYRE_DATASETS_DIR)")
    with NatsServer.running(base) as nats_server, SeaweedS3.running(base) as s3_server:
        nats = NatsSettings(url=nats_server.url)
        targets: dict[str, str] = {}
        async with AsyncExitStack() as stack:
            for key in ("data_registry", "model_registry", "validation"):
                settings = service_settings(
                    key, base / key, nats=nats_server, s3=s3_server, peers=dict(targets)
                )
                server = await stack.enter_async_context(running_service(key, settings))
                targets[key] = server.target
            client = await stack.enter_async_context(AsyncGyreClient(addresses=targets))

            def push() -> tuple[Any, pd.DataFrame, pa.Table]:
                with GyreClient(addresses=targets) as gyre:
                    version = data_sdk.push(
                        gyre, source / ELECTRICITY, dataset="elec2", target="class"
                    )
                    train = data_sdk.read_pandas(gyre, version.name, split="train")
                    test = data_sdk.read_table(gyre, version.name, split="test")
                return version, train, test

            dataset, train, test = await asyncio.to_thread(push)
            model = train_onnx(
                train,
                "class",
                RandomForestClassifier(n_estimators=50, max_depth=12, random_state=0),
            )
            nc = await connect_nats(nats)
            stack.push_async_callback(nc.close)
            events = tail_events(nc, nats, subject=event_subject(nats, "validation.completed"))
            stack.push_async_callback(events.aclose)

            async def register_and_wait() -> tuple[str, float]:
                version = await models_sdk.register_onnx(
                    client,
                    "elec2",
                    model.onnx_bytes,
                    signature=model.signature,
                    dataset_version=dataset.name,
                    request_id=str(uuid.uuid4()),
                )
                start = time.perf_counter()
                async for event in events:
                    if event.validation_completed.model_version == version.name:
                        return version.name, time.perf_counter() - start
                raise AssertionError("the event stream ended")

            champion, _ = await register_and_wait()
            await models_sdk.set_alias(
                client,
                "elec2",
                "champion",
                int(champion.rsplit("/", 1)[1]),
                override_protection=True,
                reason="benchmark",
            )
            candidate = load_model(model.onnx_bytes, signature=model.signature)
            policy = check_policy(builtin_default_policy())
            gate_times, engine_times = [], []
            for _ in range(versions):
                _, elapsed = await register_and_wait()
                gate_times.append(elapsed)
                start = time.perf_counter()
                evaluate(
                    candidate,
                    load_model(model.onnx_bytes, signature=model.signature),
                    test.to_batches(max_chunksize=8192),
                    EvaluationInputs(
                        policy=policy,
                        target_column="class",
                        candidate_signature=model.signature,
                        champion_version=champion,
                        champion_signature=model.signature,
                    ),
                )
                engine_times.append(time.perf_counter() - start)
            g50, e50 = statistics.median(gate_times), statistics.median(engine_times)
            print(f"rows: {test.num_rows} test rows of {dataset.row_count}; versions: {versions}")
            g_max, e_max = max(gate_times), max(engine_times)
            print(f"G registration -> validation.completed: p50 {g50:.2f} s, max {g_max:.2f} s")
            print(f"E evaluate() alone, same rows:           p50 {e50:.2f} s, max {e_max:.2f} s")
            print(f"G - E (service overhead) p50: {g50 - e50:.2f} s; G / E: {g50 / e50:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gyre-bench-validation-") as tmp:
        asyncio.run(run(args.versions, Path(tmp)))


if __name__ == "__main__":
    main()
