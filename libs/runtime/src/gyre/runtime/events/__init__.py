"""Lifecycle events: transactional outbox, JetStream relay and idempotent consumers.

::

    nc = await connect_nats(settings.nats, name=settings.service_name)
    outbox = Outbox(source=settings.service_name, nats=settings.nats)
    relay = OutboxRelay(db, nc, settings.nats, outbox=outbox)
    relay.start()
    async with db.transaction() as session:
        ...  # the state change
        await outbox.emit(session, type="models.version.registered", ...)
"""

from __future__ import annotations

from gyre.runtime.events._consumer import (
    DEAD_LETTER_CONSUMER_HEADER,
    DEAD_LETTER_DELIVERIES_HEADER,
    DEAD_LETTER_ERROR_HEADER,
    DEAD_LETTER_SEQUENCE_HEADER,
    DEAD_LETTER_SUBJECT_HEADER,
    DEFAULT_ACK_WAIT_S,
    DEFAULT_BACKOFF_S,
    DEFAULT_FETCH_BATCH,
    DEFAULT_FETCH_TIMEOUT_S,
    DEFAULT_MAX_DELIVER,
    EventConsumer,
    EventHandler,
    tail_events,
)
from gyre.runtime.events._envelope import (
    MalformedEvent,
    build_event,
    decode_event,
    event_id,
    event_type,
    load_event_class,
)
from gyre.runtime.events._nats import (
    connect_nats,
    dead_letter_subject,
    ensure_streams,
    event_subject,
)
from gyre.runtime.events._outbox import (
    DEFAULT_RELAY_BATCH_SIZE,
    DEFAULT_RELAY_POLL_INTERVAL_S,
    DEFAULT_RELAY_STOP_TIMEOUT_S,
    MSG_ID_HEADER,
    OUTBOX_FAILED_TOTAL,
    Outbox,
    OutboxRelay,
)

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
    "DEFAULT_RELAY_BATCH_SIZE",
    "DEFAULT_RELAY_POLL_INTERVAL_S",
    "DEFAULT_RELAY_STOP_TIMEOUT_S",
    "MSG_ID_HEADER",
    "OUTBOX_FAILED_TOTAL",
    "EventConsumer",
    "EventHandler",
    "MalformedEvent",
    "Outbox",
    "OutboxRelay",
    "build_event",
    "connect_nats",
    "dead_letter_subject",
    "decode_event",
    "ensure_streams",
    "event_id",
    "event_subject",
    "event_type",
    "load_event_class",
    "tail_events",
]
