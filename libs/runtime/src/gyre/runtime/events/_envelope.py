"""The event envelope (``gyre.events.v1.Event``), handled through its descriptor.

The runtime reads and writes the envelope's common fields (``id``, ``type``,
``source``, ``subject``, ``time``, ``correlation_id``, ``causation_id``, trace context)
by name and finds the payload's oneof field from the payload's message type, so it
works with the generated ``Event`` class and with any message of the same shape.
"""

from __future__ import annotations

import importlib
import uuid
from datetime import datetime
from typing import Any, Final

from google.protobuf.message import DecodeError, Message

__all__ = [
    "ENVELOPE_SPEC_VERSION",
    "EVENT_CLASS_PATH",
    "MalformedEvent",
    "build_event",
    "decode_event",
    "event_id",
    "event_type",
    "load_event_class",
    "trace_headers",
]

# Module and class of the generated envelope.
EVENT_CLASS_PATH: Final = ("gyre.events.v1.event_pb2", "Event")
# W3C trace-context header names (https://www.w3.org/TR/trace-context/).
TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
# Envelope spec version written into ``spec_version`` (when the envelope has the field).
ENVELOPE_SPEC_VERSION: Final = "1.0"


class MalformedEvent(ValueError):
    """Bytes that are not a usable event envelope (undecodable, or no id or type)."""


def load_event_class() -> type[Message]:
    """The generated ``gyre.events.v1.Event`` class.

    Raises:
        ImportError: the SDK's generated code is not installed.
    """
    module_name, class_name = EVENT_CLASS_PATH
    cls: type[Message] = getattr(importlib.import_module(module_name), class_name)
    return cls


def event_id(event: Message) -> str:
    """The envelope's ``id``."""
    return str(getattr(event, "id"))  # noqa: B009 - protobuf fields are dynamic


def event_type(event: Message) -> str:
    """The envelope's ``type``, e.g. ``"models.version.registered"``."""
    return str(getattr(event, "type"))  # noqa: B009


def decode_event(event_class: type[Message], data: bytes) -> Message:
    """Parse an envelope and check that it carries an id and a type.

    Raises:
        MalformedEvent: ``data`` is not a valid envelope.
    """
    event = event_class()
    try:
        event.ParseFromString(data)
    except (DecodeError, ValueError) as exc:
        raise MalformedEvent(f"cannot decode {event_class.__name__}: {exc}") from exc
    if not event_id(event) or not event_type(event):
        raise MalformedEvent(f"{event_class.__name__} without id or type")
    return event


def trace_headers(event: Message) -> dict[str, str]:
    """The envelope's W3C trace context as NATS headers (empty values left out)."""
    headers: dict[str, str] = {}
    holder = _trace_holder(event)
    if holder is None:
        return headers
    for name in (TRACEPARENT, TRACESTATE):
        value = getattr(holder, name, "")
        if value:
            headers[name] = str(value)
    return headers


def _trace_holder(event: Message) -> Any:
    fields = event.DESCRIPTOR.fields_by_name
    if TRACEPARENT in fields:
        return event
    for name in ("trace", "trace_context"):
        if name in fields:
            return getattr(event, name)
    return None


def _payload_field(event_class: type[Message], event_type_: str, payload: Message) -> str:
    try:
        catalog = importlib.import_module("gyre.sdk.events_catalog")
    except ImportError:
        catalog = None
    if catalog is not None:
        field: str | None = getattr(catalog, "EVENT_TYPES", {}).get(event_type_)
        if field is not None:
            return field
    wanted = payload.DESCRIPTOR.full_name
    matches = [
        f.name
        for f in event_class.DESCRIPTOR.fields
        if f.containing_oneof is not None
        and f.message_type is not None
        and f.message_type.full_name == wanted
    ]
    if len(matches) != 1:
        raise ValueError(
            f"{event_class.__name__} has no single payload field of type {wanted} "
            f"for event type {event_type_!r}"
        )
    return matches[0]


def build_event(
    event_class: type[Message],
    *,
    type: str,
    source: str,
    subject: str,
    payload: Message,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    traceparent: str | None = None,
    tracestate: str | None = None,
    id: str | None = None,
    time: datetime | None = None,
) -> Message:
    """A new envelope around ``payload``.

    Args:
        event_class: the envelope class (``gyre.events.v1.Event``).
        type: event type, e.g. ``"models.version.registered"``.
        source: the emitting service, e.g. ``"model-registry"``.
        subject: resource name the event is about, e.g. ``"models/churn/versions/3"``.
        payload: the typed payload; its oneof field comes from the events catalog
            (``gyre.sdk.events_catalog.EVENT_TYPES``) or, failing that, from its type.
        correlation_id: id of the chain of events; defaults to the new event's id.
        causation_id: id of the event that caused this one, if any.
        traceparent, tracestate: W3C trace context to carry along.
        id: the event id; a new UUID4 by default.
        time: when it happened (aware datetime); now by default.

    Raises:
        ValueError: the envelope has no payload field for ``payload``'s type.
    """
    new_id = id or str(uuid.uuid4())
    event = event_class()
    setattr(event, "id", new_id)  # noqa: B010 - protobuf fields are dynamic
    setattr(event, "type", type)  # noqa: B010
    setattr(event, "source", source)  # noqa: B010
    setattr(event, "subject", subject)  # noqa: B010
    setattr(event, "correlation_id", correlation_id or new_id)  # noqa: B010
    if "spec_version" in event.DESCRIPTOR.fields_by_name:
        setattr(event, "spec_version", ENVELOPE_SPEC_VERSION)  # noqa: B010
    if causation_id:
        setattr(event, "causation_id", causation_id)  # noqa: B010
    stamp = getattr(event, "time")  # noqa: B009
    if time is None:
        stamp.GetCurrentTime()
    else:
        stamp.FromDatetime(time)
    holder = _trace_holder(event)
    if holder is not None:
        if traceparent:
            setattr(holder, TRACEPARENT, traceparent)
        if tracestate:
            setattr(holder, TRACESTATE, tracestate)
    field = _payload_field(event_class, type, payload)
    getattr(event, field).CopyFrom(payload)
    return event
