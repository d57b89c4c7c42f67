"""Watching the lifecycle events of one demo loop, from NATS JetStream.

The demo never calls a service to make the next stage happen: it waits for the event
that the previous stage's service publishes. :class:`EventRecorder` subscribes to every
Gyre event (an ephemeral ordered JetStream consumer,
:func:`gyre.runtime.events.tail_events`, as ``gyre events tail`` does) in a thread of its
own before the loop starts, keeps the ones that concern the loop's resources, and lets
the loop block until a matching event arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from google.protobuf import json_format

from gyre.runtime.events import connect_nats, tail_events
from gyre.runtime.settings import NatsSettings

__all__ = ["EventRecorder", "RecordedEvent", "StageFailed", "StageTimeout"]

# High-volume event types: counted, only the first few kept for the timeline.
_VOLUME_TYPES: Final = frozenset({"inference.prediction.logged", "inference.feedback.recorded"})
_KEEP_PER_VOLUME_TYPE: Final = 1


class StageTimeout(RuntimeError):
    """A stage did not see the event it waits for in time."""


class StageFailed(RuntimeError):
    """A stage saw an event that ends the loop (a failed run, an errored validation)."""


@dataclass(frozen=True)
class RecordedEvent:
    """One lifecycle event that concerns the demo's resources.

    Attributes:
        type: Event type, e.g. ``training.run.succeeded``.
        subject: The resource it is about (``runs/abc``).
        id, causation_id: Envelope ids (causation: the event that led to this one).
        source: Publishing service.
        time: Event time, seconds since the epoch.
        payload: The typed payload as a JSON-style dict (proto field names).
    """

    type: str
    subject: str
    id: str
    causation_id: str
    source: str
    time: float
    payload: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """The timeline entry: type, subject, time (ISO 8601), id and causation id."""
        return {
            "type": self.type,
            "subject": self.subject,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time)),
            "id": self.id,
            "causation_id": self.causation_id,
            "source": self.source,
        }


class EventRecorder:
    """Record the events mentioning any of ``names`` (and names added later).

    Use as a context manager: entering connects and subscribes (new events only), leaving
    unsubscribes and stops the thread.

    Raises (on enter):
        ConnectionError: NATS is unreachable within ``connect_timeout_s``.
    """

    def __init__(self, nats: NatsSettings, names: set[str], *, connect_timeout_s: float = 10.0):
        self._nats = nats
        self._names = set(names)
        self._connect_timeout_s = connect_timeout_s
        self._events: list[RecordedEvent] = []
        self._counts: Counter[str] = Counter()
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Future[None] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> EventRecorder:
        self._thread = threading.Thread(target=self._run, name="gyre-demo-events", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._connect_timeout_s + 5) or self._error is not None:
            self.__exit__(None, None, None)
            raise ConnectionError(
                f"cannot subscribe to NATS at {self._nats.url}: {self._error or 'timed out'}"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self._consume())
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
        except BaseException as exc:  # reported to the waiting thread
            self._error = exc
        finally:
            self._ready.set()
            loop.close()
            with self._cond:
                self._cond.notify_all()

    async def _consume(self) -> None:
        nc = await connect_nats(
            self._nats, name="gyre-demo", initial_timeout_s=self._connect_timeout_s
        )
        try:
            async for event in tail_events(nc, self._nats, on_subscribed=self._ready.set):
                self._add(event)
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    # -- recording ---------------------------------------------------------------------
    def watch(self, name: str) -> None:
        """Also record events mentioning ``name`` from now on."""
        with self._cond:
            self._names.add(name)

    def _add(self, event: Any) -> None:
        payload_field = event.WhichOneof("payload")
        payload = getattr(event, payload_field) if payload_field else None
        text = event.subject + (str(payload) if payload is not None else "")
        with self._cond:
            if not any(name in text for name in self._names):
                return
            # A run started for one of ours is ours: its later events name only the run.
            run = getattr(payload, "run", "") if payload is not None else ""
            if isinstance(run, str) and run.startswith("runs/"):
                self._names.add(run)
            self._counts[event.type] += 1
            if event.type in _VOLUME_TYPES and self._counts[event.type] > _KEEP_PER_VOLUME_TYPE:
                self._cond.notify_all()
                return
            self._events.append(
                RecordedEvent(
                    type=event.type,
                    subject=event.subject,
                    id=event.id,
                    causation_id=event.causation_id,
                    source=event.source,
                    time=event.time.ToDatetime().timestamp() if event.HasField("time") else 0.0,
                    payload=json_format.MessageToDict(payload, preserving_proto_field_name=True)
                    if payload is not None
                    else {},
                )
            )
            self._cond.notify_all()

    @property
    def events(self) -> list[RecordedEvent]:
        """Every recorded event so far, in arrival order."""
        with self._cond:
            return list(self._events)

    @property
    def counts(self) -> dict[str, int]:
        """How many events of each type concerned the loop (volume types included)."""
        with self._cond:
            return dict(self._counts)

    def wait_for(
        self,
        event_type: str | tuple[str, ...],
        match: Callable[[RecordedEvent], bool] = lambda _e: True,
        *,
        timeout_s: float,
        what: str,
        fail_on: dict[str, Callable[[RecordedEvent], str | None]] | None = None,
        while_waiting: Callable[[], None] | None = None,
        poll_s: float = 0.5,
    ) -> RecordedEvent:
        """Block until an event of ``event_type`` (one type or several) satisfying
        ``match`` is recorded.

        Args:
            what: The stage, for the timeout message.
            fail_on: ``{event type: check}``; a recorded event whose check returns a
                message ends the wait with :class:`StageFailed` (e.g. a run failing).
            while_waiting: Called about every ``poll_s`` while waiting (sending traffic).

        Raises:
            StageTimeout: nothing matched within ``timeout_s``.
            StageFailed: a ``fail_on`` check fired.
            ConnectionError: the subscription died.
        """
        types = (event_type,) if isinstance(event_type, str) else event_type
        deadline = time.monotonic() + timeout_s
        seen = 0
        while True:
            with self._cond:
                events = self._events
                for item in events[seen:]:
                    if item.type in types and match(item):
                        return item
                    check = (fail_on or {}).get(item.type)
                    message = check(item) if check is not None else None
                    if message:
                        raise StageFailed(message)
                seen = len(events)
                if self._thread is not None and not self._thread.is_alive():
                    raise ConnectionError(f"the NATS subscription ended: {self._error}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StageTimeout(f"{what}: no {' / '.join(types)} within {timeout_s:.0f}s")
                if while_waiting is None:
                    self._cond.wait(min(left, poll_s))
            if while_waiting is not None:
                while_waiting()
