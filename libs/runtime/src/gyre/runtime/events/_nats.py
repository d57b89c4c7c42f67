"""NATS connection and JetStream streams for lifecycle events."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from gyre.runtime.errors import Unavailable
from gyre.runtime.settings import NatsSettings

__all__ = [
    "DEFAULT_PING_INTERVAL_S",
    "DEFAULT_RECONNECT_WAIT_S",
    "connect_nats",
    "dead_letter_subject",
    "ensure_streams",
    "event_subject",
]

_log = logging.getLogger(__name__)

# Seconds between reconnect attempts to the same server (nats-py's default is 2 s;
# events should flow again quickly after a NATS restart).
DEFAULT_RECONNECT_WAIT_S: Final = 0.25
# Seconds between client pings; 3 unanswered pings mark a half-open connection dead.
DEFAULT_PING_INTERVAL_S: Final = 10
_MAX_OUTSTANDING_PINGS: Final = 3
# Reconnect forever: the outbox keeps events while NATS is away.
_RECONNECT_FOREVER: Final = -1


async def connect_nats(
    settings: NatsSettings,
    *,
    name: str | None = None,
    initial_timeout_s: float | None = None,
    reconnect_wait_s: float = DEFAULT_RECONNECT_WAIT_S,
) -> Client:
    """Connect to NATS, reconnecting forever after any disconnection.

    Args:
        settings: server URLs (comma-separated) and the connect timeout.
        name: client name shown by the server's monitoring (e.g. the service name).
        initial_timeout_s: give up on the *first* connection after this many seconds;
            ``None`` waits until a server answers (a service can start before NATS).
        reconnect_wait_s: seconds between reconnect attempts to the same server.

    Returns:
        A connected ``nats.aio.client.Client``; close it with ``await nc.close()``
        (or ``nc.drain()``).

    Raises:
        Unavailable: no server answered within ``initial_timeout_s``.
    """

    holder: list[Client] = []

    async def on_error(exc: Exception) -> None:
        # Refused connections repeat every reconnect_wait_s while NATS is away: the
        # disconnection was already logged once.
        reconnecting = bool(holder) and holder[0].is_reconnecting
        _log.log(logging.DEBUG if reconnecting else logging.WARNING, "nats error: %s", exc)

    async def on_disconnected() -> None:
        # nats-py calls this on a deliberate close() too: nothing to warn about then.
        if holder and (holder[0].is_closed or holder[0].is_draining):
            _log.debug("nats connection closed")
            return
        _log.warning("nats disconnected; reconnecting")

    async def on_reconnected() -> None:
        _log.info("nats reconnected")

    servers = [url.strip() for url in settings.url.split(",") if url.strip()]
    connecting = nats.connect(
        servers=servers,
        name=name,
        allow_reconnect=True,
        max_reconnect_attempts=_RECONNECT_FOREVER,
        reconnect_time_wait=reconnect_wait_s,
        connect_timeout=settings.connect_timeout_s,
        ping_interval=DEFAULT_PING_INTERVAL_S,
        max_outstanding_pings=_MAX_OUTSTANDING_PINGS,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
    )
    try:
        client: Client = await asyncio.wait_for(connecting, timeout=initial_timeout_s)
    except TimeoutError as exc:
        raise Unavailable(f"no NATS server answered at {settings.url}") from exc
    holder.append(client)
    return client


def event_subject(settings: NatsSettings, event_type: str) -> str:
    """The NATS subject of an event type: ``"<subject_prefix>.<event_type>"``."""
    return f"{settings.subject_prefix}.{event_type}"


def dead_letter_subject(settings: NatsSettings, *, consumer: str, subject: str) -> str:
    """Where ``consumer`` dead-letters a message received on ``subject``.

    ``"<dead_letter_prefix>.<consumer>.<subject without the subject prefix>"``, e.g.
    ``gyre.dlq.validation-gate.models.version.registered``.
    """
    prefix = settings.subject_prefix + "."
    tail = subject[len(prefix) :] if subject.startswith(prefix) else subject
    return f"{settings.dead_letter_prefix}.{consumer}.{tail}"


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
    except BadRequestError:
        # The stream exists with another configuration: bring it to ours.
        await js.update_stream(config)


async def ensure_streams(js: JetStreamContext, settings: NatsSettings) -> None:
    """Create (or update) the event stream and the dead-letter stream.

    ``settings.stream`` holds ``"<subject_prefix>.>"`` and
    ``settings.dead_letter_stream`` holds ``"<dead_letter_prefix>.>"``; both are
    file-backed with ``settings.duplicate_window_s`` of ``Nats-Msg-Id`` de-duplication.
    Idempotent.

    Raises:
        nats.errors.Error: NATS is unreachable or refused the configuration.
    """
    common: dict[str, Any] = {
        "storage": StorageType.FILE,
        "retention": RetentionPolicy.LIMITS,
        "discard": DiscardPolicy.OLD,
        "duplicate_window": settings.duplicate_window_s,
    }
    await _ensure_stream(
        js, StreamConfig(name=settings.stream, subjects=[f"{settings.subject_prefix}.>"], **common)
    )
    await _ensure_stream(
        js,
        StreamConfig(
            name=settings.dead_letter_stream,
            subjects=[f"{settings.dead_letter_prefix}.>"],
            **common,
        ),
    )
