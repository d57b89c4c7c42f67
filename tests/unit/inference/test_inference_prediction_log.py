"""The prediction logger: bounded, never blocking, drops counted, batches published."""

from __future__ import annotations

from typing import Any

import numpy as np

from gyre.common.v1 import schema_pb2, value_pb2
from gyre.events.v1 import event_pb2
from gyre.runtime.settings import NatsSettings
from gyre.services.inference._prediction_log import LogEntry, PredictionLogger
from gyre.services.inference._tensors import CompiledSignature


class _JetStream:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []
        self.fail = fail

    async def publish(self, subject: str, data: bytes, headers: dict[str, str]) -> None:
        if self.fail:
            raise TimeoutError("nats timeout")
        self.published.append((subject, data, headers))


class _Nats:
    def __init__(self, js: _JetStream) -> None:
        self._js = js

    def jetstream(self, **_: Any) -> _JetStream:
        return self._js


def _entry(request_id: str, rows: int = 2) -> LogEntry:
    signature = schema_pb2.Signature()
    signature.inputs.add(name="x", data_type=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 1])
    signature.outputs.add(name="label", data_type=value_pb2.DATA_TYPE_INT64, shape=[-1])
    return LogEntry(
        deployment="deployments/d",
        model_version="models/m/versions/1",
        role=1,
        request_id=request_id,
        signature=CompiledSignature(signature),
        inputs={"x": np.arange(rows, dtype=np.float32).reshape(rows, 1)},
        outputs={"label": np.arange(rows, dtype=np.int64).reshape(rows, 1)},
        latency_s=0.001,
        time_s=1_700_000_000.0,
        sample_rate=0.5,
    )


async def test_full_queue_drops_and_counts_without_blocking() -> None:
    js = _JetStream()
    logger = PredictionLogger(_Nats(js), NatsSettings(), source="inference", queue_size=3)  # type: ignore[arg-type]
    accepted = [logger.offer(_entry(f"r{i}")) for i in range(5)]
    assert accepted == [True, True, True, False, False]
    assert logger.dropped == 2
    assert await logger.flush() == 6  # 3 requests x 2 rows
    ((subject, data, headers),) = js.published
    assert subject == "gyre.v1.inference.prediction.logged"
    event = event_pb2.Event.FromString(data)
    assert headers["Nats-Msg-Id"] == event.id
    payload = event.inference_prediction_logged
    assert payload.deployment == "deployments/d"
    assert payload.sample_rate == 0.5
    assert [(r.request_id, r.row_index) for r in payload.records] == [
        ("r0", 0),
        ("r0", 1),
        ("r1", 0),
        ("r1", 1),
        ("r2", 0),
        ("r2", 1),
    ]
    assert payload.records[3].features.values["x"].double_value == 1.0
    assert payload.records[3].prediction.prediction.int64_value == 1
    assert payload.records[0].model_version == "models/m/versions/1"


async def test_batches_are_split_and_nats_failures_count_as_drops() -> None:
    js = _JetStream()
    logger = PredictionLogger(
        _Nats(js),
        NatsSettings(),
        source="inference",
        records_per_event=4,  # type: ignore[arg-type]
    )
    for index in range(5):
        logger.offer(_entry(f"r{index}"))
    assert await logger.flush() == 10
    assert [
        len(event_pb2.Event.FromString(d).inference_prediction_logged.records)
        for _, d, _ in js.published
    ] == [4, 4, 2]
    failing = PredictionLogger(_Nats(_JetStream(fail=True)), NatsSettings(), source="i")  # type: ignore[arg-type]
    failing.offer(_entry("x"))
    assert await failing.flush() == 0
    assert failing.dropped == 2
