"""Durable, idempotent JetStream consumers and an ordered tail for tooling.

:class:`EventConsumer` applies each event at most once per consumer: the handler runs
inside a database transaction that also records ``(consumer, event id)`` in the
processed-events table, and the message is acknowledged only after that commit. A
redelivery of an already recorded event is acknowledged without calling the handler.
Failed handlers are retried with the backoff list (``nak(delay=...)``); after
``max_deliver`` deliveries, or at once for an undecodable payload, the original
message goes to the dead-letter subject with headers saying why.

Transactions and locking: the claim (the processed-events insert) and the handler run
in one database transaction. On SQLite that is a write transaction from the claim to
the commit, so a long-running handler holds SQLite's single write lock for its whole
duration and every other writer of the file (the service's own requests, the outbox
relay, other consumers) waits for it, up to the busy timeout; keep handlers short on
SQLite, or do slow work outside and record only the result. On PostgreSQL the claim
locks one processed-events row, so replicas sharing a durable consumer (each message
is delivered to one of them) run their handlers concurrently and block each other
only on a redelivered event whose claim another replica holds.

Every retry path waits: a failed subscribe or fetch (NATS away, the consumer or stream
deleted) backs off from 0.25 s doubling to 5 s and binds the subscription afresh (so a
deleted durable consumer is created again), and a fetch that comes back empty long
before its timeout is treated the same way, so no error can make the loop spin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Final

import nats.errors
from google.protobuf.message import Message
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.runtime.db import Database, DeadLetterRecord, ProcessedEventRecord
from gyre.runtime.events._envelope import (
    MalformedEvent,
    decode_event,
    event_id,
    load_event_class,
)
from gyre.runtime.events._nats import dead_letter_subject
from gyre.runtime.events._outbox import MSG_ID_HEADER
from gyre.runtime.settings import NatsSettings

__all__ = [
    "DEAD_LETTER_CONSUMER_HEADER",
    "DEAD_LETTER_DELIVERIES_HEADER",
    "DEAD_LETTER_ERROR_HEADER",
    "DEAD_LETTER_SEQUENCE_HEADER",
    "DEAD_LETTER_SUBJECT_HEADER",
    "DEFAULT_ACK_WAIT_S",
    "DEFAULT_BACKOFF_S",
    "DEFAULT_FETCH_BATCH",
    "DEFAULT_FETCH_TIMEOUT_S",
    "DEFAULT_MAX_DELIVER",
    "EventConsumer",
    "EventHandler",
    "tail_events",
]

_log = logging.getLogger(__name__)

EventHandler = Callable[[Any, AsyncSession], Awaitable[None]]
"""``async def handler(event, session)``: apply one event inside the given transaction."""

# Deliveries (first one included) before a failing event is dead-lettered.
DEFAULT_MAX_DELIVER: Final = 5
# Seconds JetStream waits for an ack before redelivering (a crashed or stuck handler).
DEFAULT_ACK_WAIT_S: Final = 30.0
# Redelivery delays after the 1st, 2nd, ... failure (the last one repeats), seconds.
DEFAULT_BACKOFF_S: Final = (1.0, 5.0, 30.0)
# Messages requested per pull, and how long a pull waits for them (seconds).
DEFAULT_FETCH_BATCH: Final = 32
DEFAULT_FETCH_TIMEOUT_S: Final = 1.0
# Seconds between retries of a dead-letter publish, and the first wait after a failed
# subscribe or fetch (doubling up to _RETRY_MAX_S while the failures go on).
_RETRY_WAIT_S: Final = 0.25
_RETRY_MAX_S: Final = 5.0
# A fetch that ends with nothing before this fraction of its timeout did not wait for
# messages (an error status from the server): back off instead of fetching again.
_EARLY_FETCH_FRACTION: Final = 0.5
_DEAD_LETTER_ATTEMPTS: Final = 5
# Longest error text put in a header or the dead-letter record.
_MAX_ERROR_CHARS: Final = 1000
# Consumer names are durable names and a subject token: letters, digits, - and _.
_CONSUMER_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Headers added to a dead-lettered message.
DEAD_LETTER_SUBJECT_HEADER: Final = "Gyre-Original-Subject"
DEAD_LETTER_CONSUMER_HEADER: Final = "Gyre-Consumer"
DEAD_LETTER_ERROR_HEADER: Final = "Gyre-Error"
DEAD_LETTER_DELIVERIES_HEADER: Final = "Gyre-Delivery-Count"
DEAD_LETTER_SEQUENCE_HEADER: Final = "Gyre-Stream-Sequence"


async def _claim(session: AsyncSession, consumer: str, eid: str) -> bool:
    """Record ``(consumer, eid)`` as processed; False when it already was."""
    values = {"consumer": consumer, "event_id": eid}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(ProcessedEventRecord)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(ProcessedEventRecord.event_id)
    )
    result = await session.execute(statement)
    return result.first() is not None


class EventConsumer:
    """A durable pull consumer that applies events idempotently in DB transactions.

    Args:
        db: the service database (holds the processed-events table).
        nc: a connected client (see :func:`connect_nats`).
        nats: stream and dead-letter names.
        name: durable consumer name, e.g. ``"validation-gate"``; also the
            processed-events key and a dead-letter subject token.
        subjects: filter subjects, e.g. ``["gyre.v1.models.version.registered"]``.
        handler: ``async def handler(event, session)``; runs in the transaction that
            records the event; may emit events via the outbox (``caused_by=event``).
        event_class: the envelope class; ``gyre.events.v1.Event`` by default.
        max_deliver: deliveries before an event is dead-lettered.
        ack_wait_s: seconds before JetStream redelivers an unacknowledged message.
        backoff_s: delays of the redeliveries after handler failures.
        batch_size, fetch_timeout_s: messages per pull and how long a pull waits.

    The JetStream consumer is created with ``max_deliver + 1``: the spare delivery
    lets a failed dead-letter publish be retried instead of losing the message.
    """

    def __init__(
        self,
        db: Database,
        nc: Client,
        nats: NatsSettings,
        *,
        name: str,
        subjects: Sequence[str],
        handler: EventHandler,
        event_class: type[Message] | None = None,
        max_deliver: int = DEFAULT_MAX_DELIVER,
        ack_wait_s: float = DEFAULT_ACK_WAIT_S,
        backoff_s: Sequence[float] = DEFAULT_BACKOFF_S,
        batch_size: int = DEFAULT_FETCH_BATCH,
        fetch_timeout_s: float = DEFAULT_FETCH_TIMEOUT_S,
    ) -> None:
        if not _CONSUMER_NAME.match(name):
            raise ValueError(f"consumer name must match {_CONSUMER_NAME.pattern}: {name!r}")
        if not subjects:
            raise ValueError("a consumer needs at least one subject")
        if max_deliver < 1 or not backoff_s:
            raise ValueError("max_deliver must be >= 1 and backoff_s non-empty")
        if batch_size < 1 or fetch_timeout_s <= 0:
            raise ValueError("batch_size must be >= 1 and fetch_timeout_s > 0")
        self.name = name
        self.subjects = list(subjects)
        self._db = db
        self._nc = nc
        self._js = nc.jetstream(timeout=nats.publish_timeout_s)
        self._nats = nats
        self._handler = handler
        self._event_class = event_class
        self._max_deliver = max_deliver
        self._ack_wait_s = ack_wait_s
        self._backoff_s = tuple(backoff_s)
        self._batch_size = batch_size
        self._fetch_timeout_s = fetch_timeout_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._subscription: Any = None

    @property
    def event_class(self) -> type[Message]:
        if self._event_class is None:
            self._event_class = load_event_class()
        return self._event_class

    def consumer_config(self) -> ConsumerConfig:
        """The JetStream consumer configuration this runner creates or updates."""
        config = ConsumerConfig(
            durable_name=self.name,
            name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=self._max_deliver + 1,
            ack_wait=self._ack_wait_s,
            max_ack_pending=max(self._batch_size * 4, 256),
        )
        if len(self.subjects) == 1:
            config.filter_subject = self.subjects[0]
        else:
            config.filter_subjects = self.subjects
        return config

    async def subscribe(self) -> None:
        """Create (or update) the durable consumer and bind a pull subscription."""
        await self._js.add_consumer(self._nats.stream, config=self.consumer_config())
        self._subscription = await self._js.pull_subscribe_bind(
            durable=self.name, stream=self._nats.stream
        )

    def start(self) -> None:
        """Consume in a background task (the consumer is created there, retrying)."""
        if self._task is not None:
            raise RuntimeError("the consumer is already running")
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"gyre-consumer-{self.name}")

    async def stop(self, *, timeout_s: float = DEFAULT_FETCH_TIMEOUT_S * 5) -> None:
        """Finish the message in hand and stop; unacknowledged ones are redelivered."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=timeout_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def __aenter__(self) -> EventConsumer:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = _RETRY_WAIT_S
        while not self._stopping.is_set():
            started = loop.time()
            try:
                if self._subscription is None:
                    await self.subscribe()
                msgs = await self._subscription.fetch(
                    self._batch_size, timeout=self._fetch_timeout_s
                )
            except (nats.errors.TimeoutError, TimeoutError):
                msgs = []
            except Exception as exc:  # NATS away, consumer or stream deleted
                _log.warning(
                    "consumer %s: fetch failed, retrying in %.2fs: %s", self.name, backoff, exc
                )
                await self._drop_subscription()
                await self._sleep(backoff)
                backoff = min(backoff * 2, _RETRY_MAX_S)
                continue
            if not msgs:
                if loop.time() - started < self._fetch_timeout_s * _EARLY_FETCH_FRACTION:
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, _RETRY_MAX_S)
                else:
                    backoff = _RETRY_WAIT_S
                continue
            backoff = _RETRY_WAIT_S
            for msg in msgs:
                try:
                    await self.handle(msg)
                except Exception:  # never let one message stop the consumer
                    _log.exception("consumer %s: failed to settle a message", self.name)

    async def _drop_subscription(self) -> None:
        # Bind afresh on the next attempt: subscribe() creates the durable consumer
        # again if it was deleted (a fetch on a deleted consumer fails forever).
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def handle(self, msg: Msg) -> None:
        """Apply one delivered message: decode, run the handler once, ack or retry."""
        delivered = int(msg.metadata.num_delivered)
        try:
            event = decode_event(self.event_class, msg.data)
        except MalformedEvent as exc:
            await self._dead_letter(msg, event_id=None, error=str(exc), delivered=delivered)
            return
        eid = event_id(event)
        try:
            async with self._db.transaction() as session:
                if await _claim(session, self.name, eid):
                    await self._handler(event, session)
                else:
                    _log.debug("consumer %s: event %s already processed", self.name, eid)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if delivered >= self._max_deliver:
                await self._dead_letter(msg, event_id=eid, error=error, delivered=delivered)
            else:
                delay = self._backoff_s[min(delivered, len(self._backoff_s)) - 1]
                _log.warning(
                    "consumer %s: event %s failed (delivery %d), retrying in %.2fs: %s",
                    self.name,
                    eid,
                    delivered,
                    delay,
                    error,
                )
                await msg.nak(delay=delay)
            return
        await msg.ack()

    async def _dead_letter(
        self, msg: Msg, *, event_id: str | None, error: str, delivered: int
    ) -> None:
        error = error[:_MAX_ERROR_CHARS]
        sequence = int(msg.metadata.sequence.stream)
        target = dead_letter_subject(self._nats, consumer=self.name, subject=msg.subject)
        headers = {
            **(msg.headers or {}),
            DEAD_LETTER_SUBJECT_HEADER: msg.subject,
            DEAD_LETTER_CONSUMER_HEADER: self.name,
            DEAD_LETTER_ERROR_HEADER: error.replace("\r", " ").replace("\n", " "),
            DEAD_LETTER_DELIVERIES_HEADER: str(delivered),
            DEAD_LETTER_SEQUENCE_HEADER: str(sequence),
            # One dead letter per (consumer, stream message), even if this is retried.
            MSG_ID_HEADER: f"{self.name}:{self._nats.stream}:{sequence}",
        }
        for attempt in range(_DEAD_LETTER_ATTEMPTS):
            try:
                await self._js.publish(
                    target,
                    msg.data,
                    timeout=self._nats.publish_timeout_s,
                    stream=self._nats.dead_letter_stream,
                    headers=headers,
                )
                break
            except Exception as exc:
                _log.warning("consumer %s: dead-letter publish failed: %s", self.name, exc)
                if attempt + 1 == _DEAD_LETTER_ATTEMPTS:
                    # Redelivered once more (the spare delivery) and dead-lettered then.
                    await msg.nak(delay=self._backoff_s[-1])
                    return
                with contextlib.suppress(Exception):
                    await msg.in_progress()
                await asyncio.sleep(_RETRY_WAIT_S * (attempt + 1))
        _log.error(
            "consumer %s: dead-lettered %s (event %s) after %d deliveries: %s",
            self.name,
            msg.subject,
            event_id,
            delivered,
            error,
        )
        try:
            async with self._db.transaction() as session:
                session.add(
                    DeadLetterRecord(
                        consumer=self.name,
                        event_id=event_id,
                        subject=msg.subject,
                        dead_letter_subject=target,
                        stream_sequence=sequence,
                        delivery_count=delivered,
                        error=error,
                    )
                )
        except Exception:
            _log.exception("consumer %s: could not record the dead letter", self.name)
        await msg.term()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


async def tail_events(
    nc: Client,
    nats: NatsSettings,
    *,
    subject: str | None = None,
    deliver_all: bool = False,
    event_class: type[Message] | None = None,
    on_subscribed: Callable[[], None] | None = None,
) -> AsyncIterator[Message]:
    """Yield events as they are published, through an ephemeral ordered consumer.

    For tooling (``gyre events tail``, ``gyre demo``): nothing is acknowledged or
    recorded.

    Args:
        subject: filter, default every event (``"<subject_prefix>.>"``).
        deliver_all: start from the first stored event instead of new ones only.
        event_class: the envelope class; ``gyre.events.v1.Event`` by default.
        on_subscribed: called once the consumer exists (every event published after
            that is yielded), before the first event arrives.

    Undecodable messages are logged and skipped.

    Raises:
        nats.js.errors.NotFoundError: the stream does not exist.
    """
    cls = event_class or load_event_class()
    js = nc.jetstream(timeout=nats.publish_timeout_s)
    # New events are those after the last stored one, not DeliverPolicy.NEW: nats-py
    # recreates an ordered consumer that lost its server (NATS restarted) from the
    # stream sequence after the last message it delivered, i.e. from 1 when none came
    # yet, which would replay every stored event as new. Those are dropped here.
    after = 0
    if not deliver_all:
        after = int((await js.stream_info(nats.stream)).state.last_seq)
    sub = await js.subscribe(
        subject or f"{nats.subject_prefix}.>",
        stream=nats.stream,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL if deliver_all else DeliverPolicy.BY_START_SEQUENCE,
        config=None if deliver_all else ConsumerConfig(opt_start_seq=after + 1),
    )
    if on_subscribed is not None:
        on_subscribed()
    try:
        async for msg in sub.messages:
            if after and msg.metadata.sequence.stream <= after:
                continue
            try:
                yield decode_event(cls, msg.data)
            except MalformedEvent as exc:
                _log.warning("events tail: skipping %s: %s", msg.subject, exc)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
