"""The worker's side of an attempt (over an in-memory object store, no scheduler)."""

from __future__ import annotations

import hashlib
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from support.datasets import ELECTRICITY, dataset_path

from gyre.services.training import trainers, worker
from gyre.training.v1 import run_pb2


@dataclass
class MemoryStore:
    objects: dict[str, bytes] = field(default_factory=dict)

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "") -> None:
        self.objects[key] = data

    def get_bytes(self, key: str) -> bytes:
        return self.objects[key]

    def uri(self, key: str) -> str:
        return f"s3://test/{key}"


def _data() -> trainers.TrainingData:
    frame = pd.read_csv(dataset_path(ELECTRICITY), nrows=1500)
    return trainers.TrainingData.from_frames(frame.iloc[:1000], frame.iloc[1000:], target="class")


def test_custom_trainer_logs_params_metrics_and_artifacts(tmp_path: Path) -> None:
    (tmp_path / "my_trainer.py").write_text(
        textwrap.dedent(
            """
            from sklearn.linear_model import LogisticRegression

            def train(ctx):
                ctx.log_param("C", 0.5)
                for step in range(3):
                    ctx.log_metric("loss", 1.0 / (step + 1), step=step)
                ctx.upload_artifact("notes.txt", b"hello", media_type="text/plain")
                model = ctx.pipeline(LogisticRegression(C=0.5, max_iter=200))
                return model.fit(ctx.features_frame(ctx.train), ctx.train[ctx.target])
            """
        )
    )
    spec = run_pb2.RunSpec(task=run_pb2.TASK_CLASSIFICATION, seed=1)
    spec.trainer.custom.entrypoint = "my_trainer:train"
    store = MemoryStore()
    outcome = worker.Worker(store, None).train_one(
        run="runs/r1",
        spec=spec,
        params={},
        data=_data(),
        artifact_prefix="training/runs/r1/a1/",
        dataset_digest="sha256:" + "0" * 64,
        code_dir=tmp_path,
        code_version=run_pb2.CodeVersion(source_sha256="1" * 64),
    )
    assert outcome.status == "succeeded", outcome.reason
    result = outcome.result
    assert result.params["C"].double_value == 0.5
    assert [m.name for m in result.metric_summaries if m.name == "loss"] == ["loss"]
    loss = next(m for m in result.metric_summaries if m.name == "loss")
    assert (loss.count, loss.last, loss.last_step) == (3, 1.0 / 3, 2)
    assert store.objects["training/runs/r1/a1/artifacts/notes.txt"] == b"hello"
    assert result.artifacts["notes.txt"].sha256 == hashlib.sha256(b"hello").hexdigest()
    model = store.objects["training/runs/r1/a1/model.onnx"]
    assert result.model_artifact.sha256 == hashlib.sha256(model).hexdigest()
    assert result.model_artifact.uri == "s3://test/training/runs/r1/a1/model.onnx"
    assert result.onnx_parity.passed
    assert result.data_digest == "sha256:" + "0" * 64
    assert result.code_version.source_sha256 == "1" * 64
    # The outcome round-trips through its JSON form (what the scheduler reads).
    again = worker.Outcome.from_json(outcome.to_json())
    assert again.result == result
    assert ("loss", 1.0, 0) in [(n, v, s) for n, v, s, _ in again.metrics]


def test_a_raising_custom_trainer_is_a_retryable_failure(tmp_path: Path) -> None:
    (tmp_path / "bad_trainer.py").write_text("def train(ctx):\n    raise KeyError('nope')\n")
    spec = run_pb2.RunSpec(task=run_pb2.TASK_CLASSIFICATION)
    spec.trainer.custom.entrypoint = "bad_trainer:train"
    outcome = worker.Worker(MemoryStore(), None).train_one(
        run="runs/r2",
        spec=spec,
        params={},
        data=_data(),
        artifact_prefix="p/",
        dataset_digest="",
        code_dir=tmp_path,
        code_version=run_pb2.CodeVersion(),
    )
    assert outcome.status == "failed"
    assert outcome.retryable
    assert "KeyError" in outcome.reason
    assert json.loads(outcome.to_json())["status"] == "failed"


def test_job_spec_round_trips() -> None:
    spec = run_pb2.RunSpec(dataset_version="datasets/a/versions/1")
    job = worker.JobSpec(
        run="runs/x",
        attempt=2,
        spec=spec,
        params={"max_depth": 3, "lr": 0.1},
        dataset_digest="sha256:ab",
        outcome_key="k",
        artifact_prefix="p/",
        trials=[{"run": "runs/x-t0", "params": {"a": 1}}],
    )
    again = worker.JobSpec.from_json(job.to_json())
    assert again == job
