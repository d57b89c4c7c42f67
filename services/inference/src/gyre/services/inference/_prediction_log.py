"""Sampled prediction logging: a bounded in-memory queue flushed to NATS in batches.

The predict path only appends a tuple of references (request, arrays, outputs) to a
deque after a sampling draw; when the queue is full the record is dropped and counted
(``gyre_inference_prediction_log_dropped_total``): logging never blocks nor slows a
prediction. A background task turns queued entries into
``gyre.inference.v1.PredictionRecord`` messages (one per row) and publishes them as
``inference.prediction.logged`` events, one event per deployment and batch, straight
to JetStream (``Nats-Msg-Id`` = event id). These events are telemetry, not state
changes: they bypass the transactional outbox, and a batch NATS refuses is dropped
and counted rather than retried forever.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from google.protobuf.message import Message
from nats.aio.client import Client
from numpy.typing import NDArray

from gyre.events.v1 import event_pb2, inference_events_pb2
from gyre.inference.v1 import prediction_pb2
from gyre.runtime.events import build_event, event_subject
from gyre.runtime.settings import NatsSettings
from gyre.services.inference import _metrics
from gyre.services.inference._tensors import CompiledSignature, arrays_to_rows

__all__ = ["LogEntry", "PredictionLogger"]

_log = logging.getLogger(__name__)

EVENT_TYPE: Final = "inference.prediction.logged"
# Records per published event (keeps events well under NATS's 1 MiB default).
DEFAULT_RECORDS_PER_EVENT: Final = 500
DEFAULT_QUEUE_SIZE: Final = 10_000
DEFAULT_FLUSH_INTERVAL_S: Final = 0.5


@dataclass(slots=True)
class LogEntry:
    """One served request waiting to be logged."""

    deployment: str
    model_version: str
    role: int
    request_id: str
    signature: CompiledSignature
    inputs: Mapping[str, NDArray[Any]]
    outputs: Mapping[str, NDArray[Any]]
    latency_s: float
    time_s: float
    sample_rate: float


class PredictionLogger:
    """Bounded queue of sampled predictions, published to NATS in batches.

    Args:
        nc: connected NATS client.
        nats: subject prefix and publish timeout.
        source: the envelope's ``source``.
        queue_size: entries (requests) held at most; beyond, new ones are dropped.
        flush_interval_s: longest time an entry waits before being published.
        records_per_event: rows per ``inference.prediction.logged`` event.
    """

    def __init__(
        self,
        nc: Client | None,
        nats: NatsSettings,
        *,
        source: str,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        records_per_event: int = DEFAULT_RECORDS_PER_EVENT,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=nats.publish_timeout_s) if nc is not None else None
        self._nats = nats
        self._source = source
        self._queue: collections.deque[LogEntry] = collections.deque()
        self._queue_size = queue_size
        self._flush_interval_s = flush_interval_s
        self._records_per_event = records_per_event
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.dropped = 0
        self.published = 0
        self._dropped_children: dict[str, Any] = {}

    def offer(self, entry: LogEntry) -> bool:
        """Queue ``entry`` unless the queue is full (then count a drop). Never blocks."""
        if len(self._queue) >= self._queue_size:
            self._drop(entry.deployment, 1)
            return False
        self._queue.append(entry)
        if len(self._queue) >= self._records_per_event:
            self._wakeup.set()
        return True

    def _drop(self, deployment: str, count: int) -> None:
        self.dropped += count
        child = self._dropped_children.get(deployment)
        if child is None:
            child = _metrics.LOG_DROPPED.labels(deployment)
            self._dropped_children[deployment] = child
        child.inc(count)

    @property
    def pending(self) -> int:
        """Entries waiting to be published."""
        return len(self._queue)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gyre-prediction-log")

    async def stop(self, *, timeout_s: float = 5.0) -> None:
        """Publish what is queued (within ``timeout_s``) and stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wakeup.set()
        try:
            await asyncio.wait_for(task, timeout=timeout_s)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._flush_interval_s)
            self._wakeup.clear()
            try:
                await self.flush()
            except Exception:  # never let the logger die
                _log.exception("prediction log flush failed")
            if self._stopping and not self._queue:
                return

    async def flush(self) -> int:
        """Publish every queued entry now; returns the records published."""
        published = 0
        while self._queue:
            batch: dict[str, list[prediction_pb2.PredictionRecord]] = {}
            rates: dict[str, float] = {}
            taken = 0
            while self._queue and taken < self._records_per_event:
                entry = self._queue.popleft()
                records = _records(entry)
                batch.setdefault(entry.deployment, []).extend(records)
                rates[entry.deployment] = entry.sample_rate
                taken += len(records)
            for deployment, records in batch.items():
                for start in range(0, len(records), self._records_per_event):
                    chunk = records[start : start + self._records_per_event]
                    if await self._publish(deployment, chunk, rates[deployment]):
                        published += len(chunk)
                    else:
                        self._drop(deployment, len(chunk))
        return published

    async def _publish(
        self, deployment: str, records: list[prediction_pb2.PredictionRecord], rate: float
    ) -> bool:
        if self._js is None:
            return False
        payload = inference_events_pb2.InferencePredictionLogged(
            deployment=deployment, records=records, sample_rate=rate
        )
        event: Message = build_event(
            event_pb2.Event,
            type=EVENT_TYPE,
            source=self._source,
            subject=deployment,
            payload=payload,
        )
        try:
            await self._js.publish(
                event_subject(self._nats, EVENT_TYPE),
                event.SerializeToString(),
                headers={"Nats-Msg-Id": str(getattr(event, "id"))},  # noqa: B009
            )
        except Exception as exc:
            _log.warning("prediction log batch dropped (%d records): %s", len(records), exc)
            return False
        self.published += len(records)
        _metrics.LOG_PUBLISHED.labels(deployment).inc(len(records))
        return True


def _records(entry: LogEntry) -> list[prediction_pb2.PredictionRecord]:
    signature = entry.signature
    count = next(iter(entry.inputs.values())).shape[0] if entry.inputs else 0
    try:
        rows = arrays_to_rows(entry.inputs, [spec.name for spec in signature.inputs])
    except Exception:  # raw tensors that are not tabular: log outputs only
        rows = []
    predictions = signature.predictions(entry.outputs, count)
    when = datetime.fromtimestamp(entry.time_s, UTC)
    out = []
    for index in range(count):
        record = prediction_pb2.PredictionRecord(
            request_id=entry.request_id,
            row_index=index,
            deployment=entry.deployment,
            model_version=entry.model_version,
            role=entry.role,  # type: ignore[arg-type]
            prediction=predictions[index],
        )
        if index < len(rows):
            record.features.CopyFrom(rows[index])
        record.latency.FromNanoseconds(int(entry.latency_s * 1e9))
        record.time.FromDatetime(when)
        out.append(record)
    return out
