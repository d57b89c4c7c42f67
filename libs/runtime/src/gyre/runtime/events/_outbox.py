"""Transactional outbox: events written with the state change, relayed to JetStream.

A service writes its events with :meth:`Outbox.emit` (or :meth:`Outbox.add`) inside
the same :meth:`Database.transaction` as the change they announce, so an event
exists if and only if the change committed. :class:`OutboxRelay` publishes the
pending rows, in order, to JetStream with ``Nats-Msg-Id`` = event id, so a row
published twice (a crash between publish and marking it) is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Final

from google.protobuf.message import Message
from nats.aio.client import Client
from nats.js.errors import NoStreamResponseError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.runtime.db import Database, OutboxRecord, after_commit, utcnow
from gyre.runtime.events._envelope import (
    build_event,
    event_id,
    event_type,
    load_event_class,
    trace_headers,
)
from gyre.runtime.events._nats import ensure_streams, event_subject
from gyre.runtime.settings import NatsSettings

__all__ = [
    "DEFAULT_RELAY_BATCH_SIZE",
    "DEFAULT_RELAY_POLL_INTERVAL_S",
    "DEFAULT_RELAY_STOP_TIMEOUT_S",
    "MSG_ID_HEADER",
    "Outbox",
    "OutboxRelay",
]

_log = logging.getLogger(__name__)

# JetStream's de-duplication header.
MSG_ID_HEADER: Final = "Nats-Msg-Id"
# NATS headers every event carries besides trace context.
EVENT_TYPE_HEADER: Final = "Gyre-Event-Type"
CONTENT_TYPE_HEADER: Final = "Content-Type"
PROTOBUF_CONTENT_TYPE: Final = "application/protobuf"

# Rows published per relay transaction.
DEFAULT_RELAY_BATCH_SIZE: Final = 100
# Seconds between checks for rows written by other processes (in-process commits wake
# the relay at once).
DEFAULT_RELAY_POLL_INTERVAL_S: Final = 1.0
# Backoff after a failed publish: starts at 0.1 s, doubles, capped at 5 s.
DEFAULT_RELAY_RETRY_INITIAL_S: Final = 0.1
DEFAULT_RELAY_RETRY_MAX_S: Final = 5.0
# Seconds stop() waits for pending rows to be published before cancelling.
DEFAULT_RELAY_STOP_TIMEOUT_S: Final = 5.0
# Seconds between deletions of published rows older than the retention.
DEFAULT_PRUNE_INTERVAL_S: Final = 60.0
# Longest last_error kept on a row.
_MAX_ERROR_CHARS: Final = 2000


class Outbox:
    """Writes events into the caller's transaction and wakes the in-process relay.

    Args:
        source: the emitting service, e.g. ``"model-registry"`` (the envelope's source).
        nats: where events go; only ``subject_prefix`` is used here.
        event_class: the envelope class; ``gyre.events.v1.Event`` by default.
    """

    def __init__(
        self,
        *,
        source: str,
        nats: NatsSettings | None = None,
        event_class: type[Message] | None = None,
    ) -> None:
        self.source = source
        self.nats = nats or NatsSettings()
        self._event_class = event_class
        self._wakeup: asyncio.Event | None = None

    @property
    def event_class(self) -> type[Message]:
        """The envelope class events are built with."""
        if self._event_class is None:
            self._event_class = load_event_class()
        return self._event_class

    @property
    def wakeup(self) -> asyncio.Event:
        """Set after a transaction that wrote events commits; the relay waits on it."""
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        return self._wakeup

    def notify(self) -> None:
        """Wake the relay (called after commit)."""
        self.wakeup.set()

    async def add(
        self,
        session: AsyncSession,
        event: Message,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> OutboxRecord:
        """Write ``event`` to the outbox in ``session``'s transaction (no commit).

        The NATS subject is ``"<subject_prefix>.<event.type>"``. After the transaction
        commits the relay is woken.

        Raises:
            ValueError: the event has no id or no type.
            AlreadyExists: (at commit) an event with this id is already in the outbox.
        """
        eid, etype = event_id(event), event_type(event)
        if not eid or not etype:
            raise ValueError("an event needs an id and a type")
        record = OutboxRecord(
            event_id=eid,
            event_type=etype,
            subject=event_subject(self.nats, etype),
            payload=event.SerializeToString(),
            headers={
                EVENT_TYPE_HEADER: etype,
                CONTENT_TYPE_HEADER: PROTOBUF_CONTENT_TYPE,
                **trace_headers(event),
                **(headers or {}),
            },
            attempts=0,
        )
        session.add(record)
        after_commit(session, self.notify)
        return record

    async def emit(
        self,
        session: AsyncSession,
        *,
        type: str,
        subject_resource: str,
        payload_message: Message,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        caused_by: Message | None = None,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> Message:
        """Build an envelope (new UUID, source, now) and :meth:`add` it.

        Args:
            session: the transaction of the state change.
            type: event type, e.g. ``"models.version.registered"``.
            subject_resource: resource name, e.g. ``"models/churn/versions/3"``.
            payload_message: the typed payload.
            correlation_id, causation_id: explicit ids (see ``caused_by``).
            caused_by: the event being handled; sets ``causation_id`` to its id and
                carries its ``correlation_id`` and trace context along.
            traceparent, tracestate: W3C trace context, if not taken from ``caused_by``.

        Returns:
            The envelope written.
        """
        if caused_by is not None:
            causation_id = causation_id or event_id(caused_by)
            correlation_id = correlation_id or str(getattr(caused_by, "correlation_id", ""))
            inherited = trace_headers(caused_by)
            traceparent = traceparent or inherited.get("traceparent")
            tracestate = tracestate or inherited.get("tracestate")
        event = build_event(
            self.event_class,
            type=type,
            source=self.source,
            subject=subject_resource,
            payload=payload_message,
            correlation_id=correlation_id or None,
            causation_id=causation_id,
            traceparent=traceparent,
            tracestate=tracestate,
        )
        await self.add(session, event)
        return event


class OutboxRelay:
    """Publishes pending outbox rows to JetStream in ``id`` order.

    Args:
        db: the service database holding the outbox.
        nc: a connected client (see :func:`connect_nats`; it reconnects forever).
        nats: stream names, subject prefixes, duplicate window, publish timeout.
        outbox: the in-process :class:`Outbox` whose commits wake the relay at once.
        batch_size: rows per relay transaction.
        poll_interval_s: seconds between checks for rows written by other processes.
        retention: published rows older than this are deleted; ``None`` keeps them.

    Several relays may run against one PostgreSQL database (rows are claimed with
    ``FOR UPDATE SKIP LOCKED``); SQLite has a single writer, run one relay. While NATS
    is unreachable rows stay pending (with ``attempts`` and ``last_error``) and the
    relay retries with exponential backoff; nothing is lost and, thanks to
    ``Nats-Msg-Id``, nothing is stored twice within the stream's duplicate window.
    """

    def __init__(
        self,
        db: Database,
        nc: Client,
        nats: NatsSettings,
        *,
        outbox: Outbox | None = None,
        batch_size: int = DEFAULT_RELAY_BATCH_SIZE,
        poll_interval_s: float = DEFAULT_RELAY_POLL_INTERVAL_S,
        retry_initial_s: float = DEFAULT_RELAY_RETRY_INITIAL_S,
        retry_max_s: float = DEFAULT_RELAY_RETRY_MAX_S,
        retention: timedelta | None = None,
        prune_interval_s: float = DEFAULT_PRUNE_INTERVAL_S,
    ) -> None:
        self._db = db
        self._nc = nc
        self._js = nc.jetstream(timeout=nats.publish_timeout_s)
        self._nats = nats
        self._outbox = outbox
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._retention = retention
        self._prune_interval_s = prune_interval_s
        self._streams_ready = False
        self._stopping = asyncio.Event()
        self._own_wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0

    @property
    def _wakeup(self) -> asyncio.Event:
        return self._outbox.wakeup if self._outbox is not None else self._own_wakeup

    async def ensure_streams(self) -> None:
        """Create or update the event and dead-letter streams (idempotent)."""
        await ensure_streams(self._js, self._nats)
        self._streams_ready = True

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; the number published.

        Stops at the first failed publish (keeping order); that row records the
        attempt and the error and stays pending.

        Raises:
            nats.errors.Error, TimeoutError: the first publish of the batch failed.
        """
        published, failure = await self._publish_batch()
        if failure is not None and published == 0:
            raise failure
        return published

    async def _publish_batch(self) -> tuple[int, BaseException | None]:
        if not self._streams_ready:
            await self.ensure_streams()
        published = 0
        failure: BaseException | None = None
        async with self._db.transaction() as session:
            query = (
                select(OutboxRecord)
                .where(OutboxRecord.published_at.is_(None))
                .order_by(OutboxRecord.id)
                .limit(self._batch_size)
            )
            if not self._db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = (await session.scalars(query)).all()
            for row in rows:
                headers = {**row.headers, MSG_ID_HEADER: row.event_id}
                try:
                    await self._js.publish(
                        row.subject,
                        row.payload,
                        timeout=self._nats.publish_timeout_s,
                        stream=self._nats.stream,
                        headers=headers,
                    )
                except Exception as exc:  # NATS down, timeout, stream missing
                    if isinstance(exc, NoStreamResponseError):
                        self._streams_ready = False
                    row.attempts += 1
                    row.last_error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
                    failure = exc
                    break
                row.published_at = utcnow()
                published += 1
        return published, failure

    async def prune(self) -> int:
        """Delete published rows older than the retention; the number deleted."""
        if self._retention is None:
            return 0
        cutoff = utcnow() - self._retention
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(OutboxRecord).where(
                    OutboxRecord.published_at.is_not(None), OutboxRecord.published_at < cutoff
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def start(self) -> None:
        """Start relaying in a background task (returns at once)."""
        if self._task is not None:
            raise RuntimeError("the relay is already running")
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="gyre-outbox-relay")

    async def stop(self, *, timeout_s: float = DEFAULT_RELAY_STOP_TIMEOUT_S) -> None:
        """Stop after publishing what is pending, waiting at most ``timeout_s``.

        Rows still pending when the timeout expires (or while NATS is down) stay in
        the outbox for the next start.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=timeout_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> OutboxRelay:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        backoff = self._retry_initial_s
        loop = asyncio.get_running_loop()
        while True:
            self._wakeup.clear()
            try:
                published, failure = await self._publish_batch()
            except Exception as exc:  # database or stream creation failed
                published, failure = 0, exc
            if failure is not None:
                if self._stopping.is_set():
                    return
                _log.warning(
                    "outbox relay: publish failed, retrying in %.2fs: %s", backoff, failure
                )
                await self._sleep(backoff)
                backoff = min(backoff * 2, self._retry_max_s)
                continue
            backoff = self._retry_initial_s
            if published >= self._batch_size:
                continue
            if self._stopping.is_set():
                return
            if (
                self._retention is not None
                and loop.time() - self._last_prune > self._prune_interval_s
            ):
                self._last_prune = loop.time()
                try:
                    await self.prune()
                except Exception:
                    _log.exception("outbox relay: pruning failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval_s)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
