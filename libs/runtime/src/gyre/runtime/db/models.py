"""The runtime's own tables: transactional outbox, processed events, dead letters.

Every service database holds these tables (created by :data:`RUNTIME_MIGRATIONS`)
next to the service's own tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gyre.runtime.db._base import RuntimeBase, UtcDateTime, utcnow

__all__ = [
    "DEAD_LETTERS_TABLE",
    "OUTBOX_TABLE",
    "PROCESSED_EVENTS_TABLE",
    "DeadLetterRecord",
    "OutboxRecord",
    "ProcessedEventRecord",
]

OUTBOX_TABLE = "gyre_outbox"
PROCESSED_EVENTS_TABLE = "gyre_processed_events"
DEAD_LETTERS_TABLE = "gyre_dead_letters"

# Identifier lengths: event ids are UUIDs (36 chars); event types and consumer names are
# short dotted/dashed tokens; NATS subjects stay well below 255 characters.
_ID_LEN = 64
_NAME_LEN = 200
_SUBJECT_LEN = 255

# BIGINT primary keys autoincrement on PostgreSQL; SQLite only autoincrements INTEGER.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class OutboxRecord(RuntimeBase):
    """One event waiting to be (or already) published to JetStream.

    Written in the same transaction as the state change it announces; the relay
    publishes pending rows (neither published nor failed) in ``id`` order and sets
    ``published_at``, or ``failed_at`` when NATS can never accept the row.
    """

    __tablename__ = OUTBOX_TABLE
    __table_args__ = (Index("ix_gyre_outbox_pending", "published_at", "failed_at", "id"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    # The envelope's id; also the JetStream ``Nats-Msg-Id`` (server-side de-duplication).
    event_id: Mapped[str] = mapped_column(String(_ID_LEN), unique=True)
    # Event type, e.g. "models.version.registered".
    event_type: Mapped[str] = mapped_column(String(_NAME_LEN))
    # NATS subject, e.g. "gyre.v1.models.version.registered".
    subject: Mapped[str] = mapped_column(String(_SUBJECT_LEN))
    # The serialized ``gyre.events.v1.Event``.
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    # Extra NATS headers (trace context, content type).
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Failed publish attempts so far and the last failure, for operators.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Set when the row failed permanently (NATS rejects it as it is, e.g. too large or a
    # bad subject): the relay skips it so the rows behind it are not blocked.
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ProcessedEventRecord(RuntimeBase):
    """An event a consumer has applied; its presence makes redeliveries no-ops."""

    __tablename__ = PROCESSED_EVENTS_TABLE

    consumer: Mapped[str] = mapped_column(String(_NAME_LEN), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(_ID_LEN), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DeadLetterRecord(RuntimeBase):
    """A message a consumer gave up on and published to the dead-letter stream."""

    __tablename__ = DEAD_LETTERS_TABLE

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(_NAME_LEN), index=True)
    # Empty when the payload could not be decoded.
    event_id: Mapped[str | None] = mapped_column(String(_ID_LEN), nullable=True)
    subject: Mapped[str] = mapped_column(String(_SUBJECT_LEN))
    dead_letter_subject: Mapped[str] = mapped_column(String(_SUBJECT_LEN))
    stream_sequence: Mapped[int] = mapped_column(BigInteger)
    delivery_count: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
