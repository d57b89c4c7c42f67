"""The gate's worker over fake registries and a fake object store (real SQLite, real
outbox rows): every way an evaluation can go wrong ends as a completed validation with a
reason, or a retry, never a crash."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from prometheus_client import REGISTRY
from sklearn.ensemble import RandomForestClassifier
from sqlalchemy import select
from support.datasets import ELECTRICITY, dataset_path
from support.onnx_models import OnnxModel, train_onnx

from gyre.common.v1 import split_pb2
from gyre.data.v1 import dataset_pb2
from gyre.events.v1 import event_pb2
from gyre.models.v1 import model_version_pb2
from gyre.runtime.db import RUNTIME_MIGRATIONS, Database, OutboxRecord, migrate, utcnow
from gyre.runtime.errors import DataLoss, FailedPrecondition, NotFound, Unavailable
from gyre.runtime.events import Outbox
from gyre.services.validation._evaluation import ROW_KEY_COLUMN
from gyre.services.validation._gate import GateSettings, ValidationGate
from gyre.services.validation._migrations import VALIDATION_MIGRATIONS
from gyre.services.validation._tables import ValidationRecord
from gyre.validation.v1 import validation_pb2
from gyre.validation.v1 import validation_policy_pb2 as p_pb2

DATASET = "datasets/elec2/versions/1"
PASSED = validation_pb2.VALIDATION_VERDICT_PASSED
ERROR = validation_pb2.VALIDATION_VERDICT_ERROR


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return (
        pd.read_csv(dataset_path(ELECTRICITY)).sample(n=3000, random_state=3).reset_index(drop=True)
    )


@pytest.fixture(scope="module")
def model(frame: pd.DataFrame) -> OnnxModel:
    return train_onnx(
        frame.iloc[:2000], "class", RandomForestClassifier(n_estimators=5, random_state=0)
    )


class FakeStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def uri(self, key: str) -> str:
        return f"s3://fake/{key}"

    async def put_bytes(self, key: str, data: bytes, **_: Any) -> None:
        self.objects[key] = data

    async def get_bytes(self, key: str) -> bytes:
        return self.objects[key]


class FakePeers:
    """Registries in memory; each failure is switched on by a test."""

    def __init__(self, frame: pd.DataFrame, model: OnnxModel) -> None:
        self.frame = frame
        self.artifacts: dict[str, bytes] = {}
        self.versions: dict[str, model_version_pb2.ModelVersion] = {}
        self.aliases: dict[str, str] = {}
        self.dataset = dataset_pb2.DatasetVersion(
            name=DATASET,
            state=dataset_pb2.DATASET_VERSION_STATE_READY,
            target_column="class",
            split_stats=[
                dataset_pb2.SplitStats(split=split_pb2.SPLIT_TRAIN, row_count=2000),
                dataset_pb2.SplitStats(split=split_pb2.SPLIT_TEST, row_count=1000),
            ],
        )
        for column in frame.columns:
            self.dataset.schema.columns.add(name=column)
        self.unavailable = 0
        self.block: threading.Event | None = None
        self.add("models/m/versions/1", model.onnx_bytes, model)

    def add(self, name: str, data: bytes, model: OnnxModel) -> model_version_pb2.ModelVersion:
        version = model_version_pb2.ModelVersion(name=name, dataset_version=DATASET)
        version.signature.CopyFrom(model.signature)
        self.versions[name] = version
        self.artifacts[name] = data
        return version

    def get_model_version(self, name: str) -> model_version_pb2.ModelVersion:
        if name not in self.versions:
            raise NotFound(f"{name} does not exist")
        return self.versions[name]

    def check_registered_model(self, name: str) -> None:
        if not any(v.startswith(name + "/") for v in self.versions):
            raise NotFound(f"{name} does not exist")

    def resolve_alias(self, model: str, alias: str) -> model_version_pb2.ModelVersion | None:
        target = self.aliases.get(f"{model}/{alias}")
        return self.versions[target] if target else None

    def download_artifact(self, version: model_version_pb2.ModelVersion) -> bytes:
        if self.unavailable:
            self.unavailable -= 1
            raise Unavailable("model registry away")
        data = self.artifacts[version.name]
        if data == b"corrupt":
            raise DataLoss("sha256 mismatch")
        return data

    def get_dataset_version(self, name: str) -> dataset_pb2.DatasetVersion:
        if name != DATASET:
            raise NotFound(f"{name} does not exist")
        return self.dataset

    def iter_split(
        self,
        dataset_version: str,
        split: int,
        *,
        columns: Sequence[str],
        with_row_keys: bool,
        batch_rows: int,
    ) -> Iterator[pa.RecordBatch]:
        rows = self.frame.iloc[:2000] if split == split_pb2.SPLIT_TRAIN else self.frame.iloc[2000:]
        table = pa.Table.from_pandas(rows[list(columns)], preserve_index=False)
        if with_row_keys:
            table = table.append_column(ROW_KEY_COLUMN, pa.array(self._keys(rows), pa.uint64()))
        for batch in table.to_batches(max_chunksize=batch_rows):
            if self.block is not None:
                self.block.wait(30)
            yield batch

    @staticmethod
    def _keys(rows: pd.DataFrame) -> np.ndarray:
        return np.asarray(rows.index, dtype=np.uint64) + np.uint64(1000)

    def split_keys(self, dataset_version: str, split: int) -> np.ndarray:
        return np.sort(self._keys(self.frame.iloc[:2000]))

    def close(self) -> None:
        pass


@pytest.fixture
async def gate(
    tmp_path: Path, frame: pd.DataFrame, model: OnnxModel
) -> AsyncIterator[tuple[ValidationGate, FakePeers, Database]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}"
    await migrate(url, chains=[RUNTIME_MIGRATIONS, VALIDATION_MIGRATIONS])
    db = Database(url)
    peers = FakePeers(frame, model)
    gate = ValidationGate(
        db=db,
        outbox=Outbox(source="validation"),
        store=FakeStore(),  # type: ignore[arg-type]
        peers=peers,
        settings=GateSettings(latency_single_row_runs=5, latency_batch_runs=2, batch_rows=500),
    )
    try:
        yield gate, peers, db
    finally:
        await db.dispose()


async def _run(
    gate: ValidationGate, name: str = "models/m/versions/1"
) -> validation_pb2.Validation:
    started = await gate.request_validation(name)
    assert await gate.run_next()
    return await gate.get_validation(started.name)


async def _events(db: Database) -> list[event_pb2.Event]:
    async with db.transaction() as session:
        rows = (await session.scalars(select(OutboxRecord))).all()
    events = []
    for row in rows:
        event = event_pb2.Event()
        event.ParseFromString(row.payload)
        events.append(event)
    return events


async def test_a_good_version_passes_and_announces_it(gate: Any) -> None:
    gate_, _, db = gate
    passed_before = (
        REGISTRY.get_sample_value("gyre_validations_completed_total", {"verdict": "PASSED"}) or 0.0
    )
    done = await _run(gate_)
    assert (
        REGISTRY.get_sample_value("gyre_validations_completed_total", {"verdict": "PASSED"})
        == passed_before + 1
    )
    assert done.verdict == PASSED, done
    assert done.test_row_count == 1000
    assert done.report.uri.startswith("s3://fake/validations/")
    (event,) = await _events(db)
    assert event.type == "validation.completed"
    assert event.validation_completed.verdict == PASSED
    assert event.validation_completed.validation == done.name
    content, media_type, _ = await gate_.get_report(done.name, 0)
    assert media_type == "text/markdown"
    assert content.startswith(f"# Validation {done.name}")


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("not-onnx", "not a valid ONNX model"),
        ("corrupt", "the artifact is corrupt"),
        ("failed-data", "is FAILED, not READY"),
        ("no-target", "has no target column"),
        ("no-split", "has no test split"),
        ("missing-column", "signature does not match the data's columns"),
    ],
)
async def test_bad_inputs_end_as_error_with_the_reason(
    gate: Any, model: OnnxModel, breakage: str, reason: str
) -> None:
    gate_, peers, db = gate
    name = "models/m/versions/1"
    if breakage == "not-onnx":
        peers.artifacts[name] = b"\x01\x02 garbage"
    elif breakage == "corrupt":
        peers.artifacts[name] = b"corrupt"
    elif breakage == "failed-data":
        peers.dataset.state = dataset_pb2.DATASET_VERSION_STATE_FAILED
    elif breakage == "no-target":
        peers.dataset.target_column = ""
    elif breakage == "no-split":
        peers.dataset = dataset_pb2.DatasetVersion(
            name=DATASET,
            state=dataset_pb2.DATASET_VERSION_STATE_PROFILING,
            target_column="class",
            split_stats=[dataset_pb2.SplitStats(split=split_pb2.SPLIT_TRAIN, row_count=3000)],
        )
        started = await gate_.request_validation(name)
        peers.dataset.state = dataset_pb2.DATASET_VERSION_STATE_READY
        assert await gate_.run_next()
        done = await gate_.get_validation(started.name)
        assert done.verdict == ERROR
        assert reason in done.error_message
        return
    elif breakage == "missing-column":
        del peers.dataset.schema.columns[1]
    done = await _run(gate_)
    assert done.verdict == ERROR
    assert reason in done.error_message
    assert done.state == validation_pb2.VALIDATION_STATE_COMPLETED
    (event,) = await _events(db)
    assert event.validation_completed.verdict == ERROR
    assert reason in event.validation_completed.error_message


async def test_a_corrupt_champion_makes_non_regression_error(gate: Any, model: OnnxModel) -> None:
    gate_, peers, _ = gate
    peers.add("models/m/versions/2", b"corrupt", model)
    peers.aliases["models/m/champion"] = "models/m/versions/2"
    done = await _run(gate_)
    assert done.verdict == ERROR
    check = next(c for c in done.checks if c.name == "non_regression:accuracy")
    assert check.verdict == validation_pb2.CHECK_VERDICT_ERROR
    assert "cannot be loaded" in check.message
    assert done.champion_version == "models/m/versions/2"


async def test_an_unreachable_registry_defers_then_gives_up(gate: Any) -> None:
    gate_, peers, _ = gate
    gate_.settings = GateSettings(max_attempts=2, latency_single_row_runs=5, latency_batch_runs=2)
    peers.unavailable = 10
    started = await gate_.request_validation("models/m/versions/1")
    assert await gate_.run_next()
    deferred = await gate_.get_validation(started.name)
    assert deferred.state == validation_pb2.VALIDATION_STATE_PENDING
    assert not await gate_.run_next()  # not before its retry time
    async with gate_.db.transaction() as session:
        record = await session.get(ValidationRecord, started.name.split("/")[1])
        record.lease_until = utcnow() - timedelta(seconds=1)
    assert await gate_.run_next()
    done = await gate_.get_validation(started.name)
    assert done.verdict == ERROR
    assert "unreachable over 2 attempts" in done.error_message


async def test_an_evaluation_past_its_timeout_ends_as_error(gate: Any) -> None:
    gate_, peers, _ = gate
    gate_.settings = GateSettings(evaluation_timeout_s=0.5, batch_rows=100)
    peers.block = threading.Event()
    try:
        done = await _run(gate_)
    finally:
        peers.block.set()
    assert done.verdict == ERROR
    assert "did not finish within 0.5 s" in done.error_message


async def test_unknown_versions_and_archived_ones_are_refused(gate: Any, model: OnnxModel) -> None:
    gate_, peers, _ = gate
    with pytest.raises(NotFound):
        await gate_.request_validation("models/m/versions/9")
    archived = peers.add("models/m/versions/3", model.onnx_bytes, model)
    archived.status = model_version_pb2.MODEL_VERSION_STATUS_ARCHIVED
    with pytest.raises(FailedPrecondition):
        await gate_.request_validation("models/m/versions/3")
    with pytest.raises(NotFound):
        await gate_.request_validation(
            "models/m/versions/1", dataset_version="datasets/x/versions/1"
        )


async def test_stopping_hands_the_validation_in_progress_back(gate: Any) -> None:
    gate_, peers, _ = gate
    peers.block = threading.Event()
    started = await gate_.request_validation("models/m/versions/1")
    gate_.start()
    try:
        for _ in range(300):
            if (
                await gate_.get_validation(started.name)
            ).state == validation_pb2.VALIDATION_STATE_RUNNING:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the worker never started the validation")
        await gate_.stop()
    finally:
        peers.block.set()
    async with gate_.db.transaction() as session:
        record = await session.get(ValidationRecord, started.name.split("/")[1])
        assert record is not None
        assert record.state == int(validation_pb2.VALIDATION_STATE_PENDING)
        assert record.lease_owner is None
        assert record.attempts == 0
    pending = await gate_.get_validation(started.name)
    assert pending.state == validation_pb2.VALIDATION_STATE_PENDING
    # The next worker resumes it at once.
    assert await gate_.run_next()
    assert (await gate_.get_validation(started.name)).verdict == PASSED


async def test_a_policy_hold_out_dataset_version_is_evaluated_on(gate: Any) -> None:
    gate_, peers, _ = gate
    peers.versions["models/m/versions/1"].dataset_version = "datasets/elsewhere/versions/4"
    update = p_pb2.ValidationPolicy(
        name="models/m/validationPolicy", holdout_dataset_version=DATASET
    )
    policy = await gate_.update_policy(update, ["holdout_dataset_version"], allow_missing=True)
    assert policy.holdout_dataset_version == DATASET
    done = await _run(gate_)
    assert done.dataset_version == DATASET
    assert done.policy.name == "models/m/validationPolicy"
    assert done.verdict == PASSED


async def test_data_still_being_profiled_is_waited_for(gate: Any) -> None:
    gate_, peers, _ = gate
    peers.dataset.state = dataset_pb2.DATASET_VERSION_STATE_PROFILING
    started = await gate_.request_validation("models/m/versions/1")
    ident = started.name.split("/")[1]
    for _ in range(2):  # looked at, put back, looked at again: attempts do not pile up
        assert await gate_.run_next()
        async with gate_.db.transaction() as session:
            record = await session.get(ValidationRecord, ident)
            assert record.state == int(validation_pb2.VALIDATION_STATE_PENDING)
            assert record.attempts == 0
            record.lease_until = utcnow() - timedelta(seconds=1)
    peers.dataset.state = dataset_pb2.DATASET_VERSION_STATE_READY
    assert await gate_.run_next()
    assert (await gate_.get_validation(started.name)).verdict == PASSED

    # Profiling that never ends: given up after evaluation_timeout_s from the request.
    peers.dataset.state = dataset_pb2.DATASET_VERSION_STATE_PROFILING
    again = await gate_.request_validation("models/m/versions/1")
    async with gate_.db.transaction() as session:
        record = await session.get(ValidationRecord, again.name.split("/")[1])
        record.create_time = utcnow() - timedelta(hours=1)
    assert await gate_.run_next()
    done = await gate_.get_validation(again.name)
    assert done.verdict == ERROR
    assert "still being profiled and split after" in done.error_message
