"""Transactional outbox: events written with the state change, relayed to JetStream.

A service writes its events with :meth:`Outbox.emit` (or :meth:`Outbox.add`) inside
the same :meth:`Database.transaction` as the change they announce, so an event
exists if and only if the change committed. :class:`OutboxRelay` publishes the
pending rows, in order, to JetStream with ``Nats-Msg-Id`` = event id, so a row
published twice (a crash between publish and marking it) is stored once.

A row NATS can never accept must not hold back the rows behind it, so both ends
check: :meth:`Outbox.add` refuses an unknown or malformed event type and an event
larger than ``NatsSettings.max_payload_bytes`` (``InvalidArgument`` in the caller's
transaction, which rolls the state change back); the relay marks a row that NATS
rejects deterministically as failed (``failed_at``, counted in
``gyre_outbox_failed_total``) and goes on, while transient failures (no connection,
timeouts, a missing stream) keep the order and are retried with backoff.

The relay checks each row before publishing it, and decodes it inside that row's own
error handling, so a row an older writer, a bug or a hand edit left behind fails alone:
a subject outside the configured stream's ``"<subject_prefix>.>"`` (the prefix or the
stream was renamed since) could only ever get "no stream" answers, and stored headers
that are not a JSON object of one-line strings under RFC 7230 names could never be
sent. A "no stream" answer for a subject under the prefix means the stream itself is
missing: the relay creates it again and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Final

import nats.errors
from google.protobuf.message import Message
from nats.aio.client import Client
from nats.js.api import Header
from nats.js.errors import BadRequestError, NoStreamResponseError
from prometheus_client import Counter
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gyre.runtime.db import Database, OutboxRecord, after_commit, utcnow
from gyre.runtime.errors import InvalidArgument
from gyre.runtime.events._envelope import (
    build_event,
    event_id,
    event_type,
    load_event_class,
    trace_headers,
)
from gyre.runtime.events._nats import ensure_streams, event_subject
from gyre.runtime.settings import NatsSettings
from gyre.sdk.events_catalog import EVENT_TYPES

__all__ = [
    "DEFAULT_RELAY_BATCH_SIZE",
    "DEFAULT_RELAY_POLL_INTERVAL_S",
    "DEFAULT_RELAY_STOP_TIMEOUT_S",
    "MSG_ID_HEADER",
    "OUTBOX_FAILED_TOTAL",
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

# Full name of the generated envelope: its type must be in the events catalog and its
# payload oneof must be the type's field.
_CATALOG_ENVELOPE: Final = "gyre.events.v1.Event"
_PAYLOAD_ONEOF: Final = "payload"
# Event types of other envelopes: dot-separated tokens a subject can carry literally (no
# wildcards, whitespace or empty tokens), like the catalog's "<domain>.<resource>.<verb>".
_EVENT_TYPE: Final = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
# A subject the relay publishes: literal tokens only ("*" and ">" are wildcards that
# nats-server would store as they are; empty tokens match no stream).
_LITERAL_SUBJECT: Final = re.compile(r"[^.*>\s]+(?:\.[^.*>\s]+)*")
# Event ids travel as the Nats-Msg-Id header: printable ASCII without spaces.
_EVENT_ID: Final = re.compile(r"[\x21-\x7e]+")
# Header names: RFC 7230 tokens (what nats-py accepts).
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Column widths of the outbox table (see gyre.runtime.db.models).
_MAX_EVENT_ID_CHARS: Final = 64
_MAX_EVENT_TYPE_CHARS: Final = 200
_MAX_SUBJECT_CHARS: Final = 255
# Bytes of a NATS header block besides its "Name: value\r\n" lines ("NATS/1.0\r\n" and
# the closing "\r\n"), and per line besides the name and value (": " and "\r\n").
_HEADER_BLOCK_OVERHEAD: Final = len(b"NATS/1.0\r\n\r\n")
_HEADER_LINE_OVERHEAD: Final = len(b": \r\n")

# Longest stored header value quoted in a row's last_error.
_MAX_QUOTED_CHARS: Final = 80

OUTBOX_FAILED_TOTAL: Final = "gyre_outbox_failed_total"
_FAILED: Final = Counter(
    OUTBOX_FAILED_TOTAL,
    "Outbox rows the relay marked failed because NATS can never accept them, by reason.",
    ("reason",),
)


class UnpublishableRowError(Exception):
    """A stored row the relay can never publish as it is; found before publishing."""


class SubjectOutsideStreamError(UnpublishableRowError):
    """The row's subject is not under ``"<subject_prefix>.>"``: no configured stream takes it."""


class MalformedHeadersError(UnpublishableRowError):
    """The row's stored headers are not a JSON object of one-line strings under token names."""


class MalformedEventIdError(UnpublishableRowError):
    """The row's event id cannot travel as a ``Nats-Msg-Id`` header (printable ASCII only)."""


def _stored_headers(row: OutboxRecord) -> dict[str, str]:
    """The row's stored headers, checked as :meth:`Outbox.add` writes them.

    Raises:
        MalformedHeadersError: not a JSON object, or a name that is not an RFC 7230
            token, or a value that is not a one-line string.
    """
    stored: object = row.headers
    if not isinstance(stored, dict):
        kind = "null" if stored is None else type(stored).__name__
        raise MalformedHeadersError(f"stored headers must be a JSON object, got {kind}")
    for name, value in stored.items():
        if (
            not isinstance(name, str)
            or not _HEADER_NAME.fullmatch(name)
            or not isinstance(value, str)
            or "\r" in value
            or "\n" in value
        ):
            raise MalformedHeadersError(
                f"stored header {name!r}: {repr(value)[:_MAX_QUOTED_CHARS]}: names must be "
                "RFC 7230 tokens and values one-line strings"
            )
    return stored


def _wire_size(payload: bytes, headers: Mapping[str, str]) -> int:
    """Bytes a message counts against nats-server's max_payload: headers plus payload."""
    header_bytes = _HEADER_BLOCK_OVERHEAD + sum(
        len(name.encode()) + len(value.encode()) + _HEADER_LINE_OVERHEAD
        for name, value in headers.items()
    )
    return header_bytes + len(payload)


def _publish_headers(
    headers: Mapping[str, str], event_id_: str, nats: NatsSettings
) -> dict[str, str]:
    """Every header the relay sends: the row's, the message id and the expected stream."""
    return {**headers, MSG_ID_HEADER: event_id_, Header.EXPECTED_STREAM: nats.stream}


# JetStream's "expected stream does not match": the deployment's stream layout is wrong,
# not the row; every row would fail the same way, so it is retried like an outage.
_STREAM_MISMATCH_ERR_CODE: Final = 10060


def _is_permanent(exc: BaseException) -> bool:
    """Whether publishing the same row again must fail again (NATS rejects the row)."""
    if isinstance(
        exc,
        UnpublishableRowError
        | nats.errors.MaxPayloadError
        | nats.errors.BadSubjectError
        | nats.errors.BadHeaderError,
    ):
        return True
    # 400 from JetStream: the server refused this message (e.g. larger than the stream's
    # max_msg_size); 503s, timeouts and connection errors are transient.
    return isinstance(exc, BadRequestError) and exc.err_code != _STREAM_MISMATCH_ERR_CODE


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

        The event is checked first, so that a row the relay could never publish is never
        written: with the generated ``gyre.events.v1.Event`` envelope the type must be in
        the events catalog (``gyre.sdk.events_catalog.EVENT_TYPES``) and the payload
        oneof must hold that type's field; with another envelope class the type must be
        dot-separated tokens of letters, digits, ``_`` and ``-``. The serialized event
        plus every NATS header the relay sends must fit ``nats.max_payload_bytes``.

        Raises:
            InvalidArgument: the event has no id or type, an unknown or malformed type, a
                payload that does not match its type, bad extra headers, or is larger
                than ``nats.max_payload_bytes``. Raised inside the caller's
                transaction, so the state change it announces is rolled back.
            AlreadyExists: (at commit) an event with this id is already in the outbox.
        """
        eid, etype = event_id(event), event_type(event)
        self._check_identity(event, eid, etype)
        subject = event_subject(self.nats, etype)
        if len(subject) > _MAX_SUBJECT_CHARS or not _LITERAL_SUBJECT.fullmatch(subject):
            raise InvalidArgument(
                f"event subject {subject!r} is not a literal NATS subject of at most "
                f"{_MAX_SUBJECT_CHARS} characters",
                reason="INVALID_EVENT_TYPE",
                metadata={"event_type": etype},
            )
        extra = dict(headers or {})
        for name, value in extra.items():
            if not _HEADER_NAME.fullmatch(name) or "\r" in value or "\n" in value:
                raise InvalidArgument(
                    f"bad NATS header {name!r}: names are RFC 7230 tokens, values one line",
                    reason="INVALID_EVENT_HEADER",
                    metadata={"event_type": etype, "header": name},
                )
        payload = event.SerializeToString()
        row_headers = {
            EVENT_TYPE_HEADER: etype,
            CONTENT_TYPE_HEADER: PROTOBUF_CONTENT_TYPE,
            **trace_headers(event),
            **extra,
        }
        size = _wire_size(payload, _publish_headers(row_headers, eid, self.nats))
        if size > self.nats.max_payload_bytes:
            raise InvalidArgument(
                f"event {etype!r} is {size} bytes with its headers, more than the "
                f"{self.nats.max_payload_bytes} bytes NATS accepts; put large data in the "
                "object store and refer to it by name",
                reason="EVENT_TOO_LARGE",
                metadata={
                    "event_type": etype,
                    "size_bytes": str(size),
                    "max_payload_bytes": str(self.nats.max_payload_bytes),
                },
            )
        record = OutboxRecord(
            event_id=eid,
            event_type=etype,
            subject=subject,
            payload=payload,
            headers=row_headers,
            attempts=0,
        )
        session.add(record)
        after_commit(session, self.notify)
        return record

    @staticmethod
    def _check_identity(event: Message, eid: str, etype: str) -> None:
        if not eid or len(eid) > _MAX_EVENT_ID_CHARS or not _EVENT_ID.fullmatch(eid):
            raise InvalidArgument(
                f"an event id must be 1-{_MAX_EVENT_ID_CHARS} printable ASCII characters "
                f"without spaces, got {eid!r}",
                reason="INVALID_EVENT_ID",
            )
        if event.DESCRIPTOR.full_name == _CATALOG_ENVELOPE:
            field = EVENT_TYPES.get(etype)
            if field is None:
                raise InvalidArgument(
                    f"unknown event type {etype!r}: not in gyre.sdk.events_catalog",
                    reason="UNKNOWN_EVENT_TYPE",
                    metadata={"event_type": etype},
                )
            held = event.WhichOneof(_PAYLOAD_ONEOF)
            if held != field:
                raise InvalidArgument(
                    f"an event of type {etype!r} carries payload {field!r}, not {held!r}",
                    reason="EVENT_PAYLOAD_MISMATCH",
                    metadata={"event_type": etype},
                )
        elif len(etype) > _MAX_EVENT_TYPE_CHARS or not _EVENT_TYPE.fullmatch(etype):
            raise InvalidArgument(
                f"an event type is dot-separated tokens of letters, digits, _ and - (at "
                f"most {_MAX_EVENT_TYPE_CHARS} characters), got {etype!r}",
                reason="INVALID_EVENT_TYPE",
                metadata={"event_type": etype},
            )

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

        Raises:
            InvalidArgument: see :meth:`add`; also when the envelope has no payload
                field for ``payload_message``'s type.
        """
        if caused_by is not None:
            causation_id = causation_id or event_id(caused_by)
            correlation_id = correlation_id or str(getattr(caused_by, "correlation_id", ""))
            inherited = trace_headers(caused_by)
            traceparent = traceparent or inherited.get("traceparent")
            tracestate = tracestate or inherited.get("tracestate")
        try:
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
        except (ValueError, TypeError) as exc:  # no payload field for this payload/type
            raise InvalidArgument(
                str(exc), reason="EVENT_PAYLOAD_MISMATCH", metadata={"event_type": type}
            ) from exc
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

    A row NATS rejects as it is (larger than the server's ``max_payload`` with its
    headers, a subject with wildcards, whitespace or empty tokens, a subject outside
    ``"<subject_prefix>.>"``, malformed stored headers, a 400 from JetStream such as the
    stream's ``max_msg_size``) is not retried: the relay sets
    its ``failed_at`` and ``last_error``, logs an error, counts it in
    ``gyre_outbox_failed_total{reason}`` and publishes the rows behind it. Failed rows
    are kept (pruning deletes published rows only).
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

        A row NATS can never accept is marked failed and skipped (not counted). A
        transient failure (no connection, timeout) stops the batch, keeping order;
        that row records the attempt and the error and stays pending.

        Raises:
            nats.errors.Error, TimeoutError: the batch's first row failed transiently.
        """
        published, _failed, failure = await self._publish_batch()
        if failure is not None and published == 0:
            raise failure
        return published

    def _row_headers(self, row: OutboxRecord) -> dict[str, str]:
        """Every header to publish ``row`` with, after checking the row can be published.

        What the server would reject without a useful answer: a wildcard or empty token
        is stored as is or gets no responders (looks like a missing stream), so does a
        subject outside the stream's ``"<subject_prefix>.>"``; a message over
        max_payload with its headers makes nats-server close the connection (looks like
        an outage; nats-py checks the payload alone); malformed stored headers fail
        inside nats-py with whatever error the bad value causes.

        Raises:
            UnpublishableRowError, nats.errors.BadSubjectError, nats.errors.MaxPayloadError:
                the row can never be published.
        """
        if not _LITERAL_SUBJECT.fullmatch(row.subject):
            raise nats.errors.BadSubjectError
        if not _EVENT_ID.fullmatch(row.event_id):
            raise MalformedEventIdError(
                f"event id {row.event_id!r} is not printable ASCII without spaces"
            )
        prefix = self._nats.subject_prefix + "."
        if not row.subject.startswith(prefix):
            raise SubjectOutsideStreamError(
                f"subject {row.subject!r} is outside stream {self._nats.stream!r}'s "
                f"subjects {prefix + '>'!r} (was the subject prefix or stream renamed?)"
            )
        # The relay's own headers win over any stored under the same name.
        headers = _publish_headers(_stored_headers(row), row.event_id, self._nats)
        size = _wire_size(row.payload, headers)
        if size > self._nc.max_payload:
            raise nats.errors.MaxPayloadError(
                f"{size} bytes with headers > server max_payload {self._nc.max_payload}"
            )
        return headers

    async def _publish_batch(self) -> tuple[int, int, BaseException | None]:
        """Publish one batch: (rows published, rows marked failed, transient failure)."""
        if not self._streams_ready:
            await self.ensure_streams()
        published = 0
        failed: list[tuple[OutboxRecord, BaseException]] = []
        failure: BaseException | None = None
        async with self._db.transaction() as session:
            query = (
                select(OutboxRecord)
                .where(OutboxRecord.published_at.is_(None), OutboxRecord.failed_at.is_(None))
                .order_by(OutboxRecord.id)
                .limit(self._batch_size)
            )
            if not self._db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = (await session.scalars(query)).all()
            for row in rows:
                # Everything read from the row is decoded and checked in here, so a
                # malformed row fails alone instead of rolling back the whole batch.
                try:
                    headers = self._row_headers(row)
                    await self._js.publish(
                        row.subject,
                        row.payload,
                        timeout=self._nats.publish_timeout_s,
                        headers=headers,
                    )
                except Exception as exc:
                    row.attempts += 1
                    row.last_error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
                    if _is_permanent(exc):
                        row.failed_at = utcnow()
                        failed.append((row, exc))
                        continue
                    # NATS down, timeout, stream missing: keep order, retry later.
                    if isinstance(exc, NoStreamResponseError):
                        # The subject is under the prefix (checked above), so the
                        # stream is gone: create it again before the next attempt.
                        self._streams_ready = False
                    failure = exc
                    break
                row.published_at = utcnow()
                published += 1
        self._report_failed(failed)
        return published, len(failed), failure

    @staticmethod
    def _report_failed(failed: Sequence[tuple[OutboxRecord, BaseException]]) -> None:
        # After the commit, so a rolled-back batch is neither logged nor counted twice.
        for row, exc in failed:
            _FAILED.labels(reason=type(exc).__name__).inc()
            _log.error(
                "outbox relay: event %s (%s, %d bytes) can never be published to %r; "
                "marked failed, relaying the rows behind it: %s",
                row.event_id,
                row.event_type,
                len(row.payload),
                row.subject,
                row.last_error,
            )

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
                published, failed, failure = await self._publish_batch()
            except Exception as exc:  # database or stream creation failed
                published, failed, failure = 0, 0, exc
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
            if published + failed >= self._batch_size:
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
