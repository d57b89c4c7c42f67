"""``gyre events tail``: print lifecycle events as they are published.

Registered through the ``gyre.cli`` entry point
(``events = "gyre.stack.events_cli:register"``). It lives with the local stack, not in
the SDK, because it talks to NATS JetStream directly (through
:func:`gyre.runtime.events.tail_events`) and the SDK depends on neither.

::

    gyre events tail                                    # new events, one line each
    gyre events tail --type 'training.run.*' --type validation.completed
    gyre events tail --all --json | jq -r .type         # replay the stream from its start
    gyre events tail --type 'monitoring.>' --count 1 --timeout 600

Exit codes: 0 stopped by ``--count``, by ``--timeout`` (without ``--count``) or by
Ctrl-C; 1 ``--timeout`` passed before ``--count`` events, or the event stream does not
exist or NATS refused the subscription; 2 NATS unreachable or a bad ``--type``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import sys
from collections.abc import AsyncGenerator, Iterator, Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, cast

import typer

from gyre.sdk.events_catalog import EVENT_TYPES, SUBJECT_PREFIX

if TYPE_CHECKING:
    from google.protobuf.descriptor import FieldDescriptor
    from google.protobuf.message import Message

    from gyre.events.v1.event_pb2 import Event
    from gyre.runtime.settings import NatsSettings

__all__ = [
    "EXIT_FAILED",
    "EXIT_UNREACHABLE",
    "format_event",
    "register",
    "subject_filter",
    "type_matches",
]

# Exit codes (see the module docstring); 2 is also click's usage-error code.
EXIT_FAILED: Final = 1
EXIT_UNREACHABLE: Final = 2

# Payload fields shown per line, and the longest value shown (longer ones are cut).
MAX_SUMMARY_FIELDS: Final = 5
MAX_VALUE_CHARS: Final = 40
# Width of the type column: the longest type of the catalog.
_TYPE_WIDTH: Final = max(map(len, EVENT_TYPES))
# Logger of the runtime's NATS helpers: silenced while connecting (one warning per
# refused attempt) and closing (a close looks like a disconnection to it).
_EVENTS_LOGGER: Final = "gyre.runtime.events"
_WILDCARD_ONE: Final = "*"
_WILDCARD_REST: Final = ">"
_TIMESTAMP_TYPES: Final = frozenset({"google.protobuf.Timestamp", "google.protobuf.Duration"})

events_app = typer.Typer(
    name="events",
    help="Lifecycle events on NATS JetStream: tail.",
    no_args_is_help=True,
)


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _normalize(pattern: str, *, prefix: str) -> str:
    """``pattern`` checked and without a leading ``<prefix>.``, e.g. ``training.run.*``.

    Raises:
        ValueError: empty tokens, whitespace, wildcards inside a token, ``>`` not last.
    """
    pattern = pattern.strip()
    if pattern.startswith(prefix + "."):
        pattern = pattern[len(prefix) + 1 :]
    if not pattern:
        raise ValueError("an empty event type pattern")
    tokens = pattern.split(".")
    for index, token in enumerate(tokens):
        if not token:
            raise ValueError(f"{pattern!r} has an empty token (two dots, or a dot at an end)")
        if any(c.isspace() for c in token):
            raise ValueError(f"{pattern!r} contains whitespace")
        if token not in (_WILDCARD_ONE, _WILDCARD_REST) and (
            _WILDCARD_ONE in token or _WILDCARD_REST in token
        ):
            raise ValueError(
                f"{pattern!r}: wildcards match whole tokens only: '*' one token, "
                "'>' every remaining one (e.g. training.run.* or monitoring.>)"
            )
        if token == _WILDCARD_REST and index != len(tokens) - 1:
            raise ValueError(f"{pattern!r}: '>' must be the last token")
    return pattern


def subject_filter(pattern: str, *, prefix: str = SUBJECT_PREFIX) -> str:
    """The NATS subject filter of an event type pattern.

    ``pattern`` is an event type (``data.version.committed``) or a NATS-style wildcard
    pattern over its dot-separated tokens: ``*`` matches exactly one token, ``>``
    (last only) one or more. A leading ``<prefix>.`` is accepted and dropped.
    ``subject_filter("training.run.*")`` is ``"gyre.v1.training.run.*"``.

    Args:
        pattern: the event type or pattern.
        prefix: the subject prefix; ``gyre.sdk.events_catalog.SUBJECT_PREFIX`` by
            default (``GYRE_NATS__SUBJECT_PREFIX`` in a deployment).

    Raises:
        ValueError: empty tokens, whitespace, a wildcard inside a token
            (``training.run.succ*``) or ``>`` before the last token.
    """
    return f"{prefix}.{_normalize(pattern, prefix=prefix)}"


def type_matches(pattern: str, event_type: str) -> bool:
    """Whether ``event_type`` matches ``pattern`` the way NATS matches subjects.

    ``pattern`` as for :func:`subject_filter`, already without the subject prefix.
    """
    wanted = pattern.split(".")
    tokens = event_type.split(".")
    for index, token in enumerate(wanted):
        if token == _WILDCARD_REST:
            return len(tokens) > index
        if index >= len(tokens) or token not in (_WILDCARD_ONE, tokens[index]):
            return False
    return len(tokens) == len(wanted)


def _enum_prefix(enum_name: str) -> str:
    # ValidationVerdict -> VALIDATION_VERDICT_ (AIP enum values carry their type's name).
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum_name).upper() + "_"


def _scalar(field: FieldDescriptor, value: Any) -> str | None:
    """A set scalar field as text; None for fields the summary leaves out."""
    enum = field.enum_type
    if enum is not None:
        known = enum.values_by_number.get(int(value))
        if known is None:
            return str(value)
        return known.name.removeprefix(_enum_prefix(enum.name))
    if field.type == field.TYPE_BOOL:
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int | str):
        return str(value)
    return None  # bytes


def _summary_fields(message: Message, *, skip: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """``(key, text)`` of the set non-repeated fields: enums, numbers and booleans
    first, then strings and timestamps, then one level of nested messages (keys
    ``parent.child``, or just ``child`` when the nested message is the only field)."""
    set_fields = message.ListFields()
    short: list[tuple[str, str]] = []
    text: list[tuple[str, str]] = []
    nested: list[tuple[str, Message]] = []
    for field, value in set_fields:
        if field.is_repeated:  # lists and maps
            continue
        if field.message_type is not None:
            if field.message_type.full_name in _TIMESTAMP_TYPES:
                text.append((field.name, value.ToJsonString()))
            elif depth == 0:
                nested.append((field.name, value))
            continue
        rendered = _scalar(field, value)
        if rendered is None or rendered == skip:
            continue
        (text if field.type == field.TYPE_STRING else short).append((field.name, rendered))
    yield from short
    yield from text
    alone = len(set_fields) == 1
    for name, child in nested:
        for key, rendered in _summary_fields(child, skip=skip, depth=depth + 1):
            yield (key if alone else f"{name}.{key}"), rendered


def _shown(value: str) -> str:
    if len(value) > MAX_VALUE_CHARS:
        value = value[: MAX_VALUE_CHARS - 3] + "..."
    if not value or any(c.isspace() or c == '"' for c in value):
        return json.dumps(value, ensure_ascii=False)
    return value


def _payload_summary(event: Event) -> str:
    field = event.WhichOneof("payload")
    if field is None:
        return ""
    payload: Message = getattr(event, field)
    shown = itertools.islice(_summary_fields(payload, skip=event.subject), MAX_SUMMARY_FIELDS)
    return " ".join(f"{key}={_shown(value)}" for key, value in shown)


def format_event(event: Event) -> str:
    """One line: UTC time (ms), type, the resource name it is about, payload summary.

    e.g. ``2025-03-01T12:00:00.123Z  validation.completed  validations/v-1
    verdict=PASSED model_version=models/elec2/versions/3 ...``: up to
    ``MAX_SUMMARY_FIELDS`` set, non-repeated payload fields (values cut at
    ``MAX_VALUE_CHARS``; ones equal to the resource name left out).
    """
    when = "-"
    if event.HasField("time"):
        stamp = event.time.ToDatetime(tzinfo=UTC)
        when = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    line = f"{when}  {event.type:<{_TYPE_WIDTH}}  {event.subject or '-'}  "
    return (line + _payload_summary(event)).rstrip()


def _format_json(event: Event) -> str:
    from google.protobuf.json_format import MessageToDict

    return json.dumps(MessageToDict(event, preserving_proto_field_name=True))


class _Captured(logging.Handler):
    """Keeps the last record's message instead of printing it."""

    last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[_Captured]:
    """Hold back the records of logger ``name`` (and below); yields the last one."""
    logger = logging.getLogger(name)
    captured = _Captured()
    propagate = logger.propagate
    logger.addHandler(captured)
    logger.propagate = False
    try:
        yield captured
    finally:
        logger.removeHandler(captured)
        logger.propagate = propagate


def _unreachable(settings: NatsSettings, reason: object) -> int:
    _err(
        f"gyre events tail: cannot reach NATS at {settings.url} ({reason}). Is the stack up? "
        "Start it with `gyre up`, or point at a running one with `. .gyre/env` "
        "(GYRE_NATS__URL)."
    )
    return EXIT_UNREACHABLE


async def _tail(
    settings: NatsSettings,
    *,
    subject: str | None,
    patterns: Sequence[str],
    deliver_all: bool,
    as_json: bool,
    count: int | None,
    timeout_s: float | None,
) -> int:
    """Print events until a stop condition; returns the exit code."""
    import nats.errors

    from gyre.runtime.errors import Unavailable
    from gyre.runtime.events import connect_nats, tail_events

    with _quiet(_EVENTS_LOGGER) as connecting:
        try:
            nc = await connect_nats(
                settings, name="gyre-events-tail", initial_timeout_s=settings.connect_timeout_s
            )
        except Unavailable:
            # The last refused attempt says why (refused, unknown host, ...).
            last = (connecting.last or "").removeprefix("nats error: ")
            return _unreachable(settings, last or f"no answer in {settings.connect_timeout_s:g}s")
        except (OSError, nats.errors.Error) as exc:
            return _unreachable(settings, exc)
    loop = asyncio.get_running_loop()
    printed = 0
    idle = asyncio.timeout(timeout_s)
    try:
        # An async generator (typed as an iterator): closing it unsubscribes.
        events = cast(
            "AsyncGenerator[Message, None]",
            tail_events(nc, settings, subject=subject, deliver_all=deliver_all),
        )
        async with contextlib.aclosing(events), idle:
            async for message in events:
                event = cast("Event", message)
                if patterns and not any(type_matches(p, event.type) for p in patterns):
                    continue
                typer.echo(_format_json(event) if as_json else format_event(event))
                printed += 1
                if count is not None and printed >= count:
                    return 0
                if timeout_s is not None:
                    idle.reschedule(loop.time() + timeout_s)
    except TimeoutError:
        # nats-py's own timeouts are TimeoutErrors too: only ours is an idle stop.
        if not idle.expired():
            _err(f"gyre events tail: NATS at {settings.url} did not answer (is JetStream on?)")
            return EXIT_FAILED
        if count is not None:
            _err(f"gyre events tail: {printed} of {count} events, then none for {timeout_s:g}s")
            return EXIT_FAILED
        return 0
    except BrokenPipeError:
        # The reader went away (`| head`): stop, without an error at interpreter exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except nats.errors.Error as exc:
        from nats.js.errors import NotFoundError

        if isinstance(exc, NotFoundError):
            _err(
                f"gyre events tail: no event stream {settings.stream!r} at {settings.url}; the "
                "Gyre services create it when they start (`gyre up`)."
            )
        else:
            _err(f"gyre events tail: NATS at {settings.url} refused the subscription: {exc}")
        return EXIT_FAILED
    finally:
        with _quiet(_EVENTS_LOGGER), contextlib.suppress(Exception):
            await nc.close()
    return 0  # the subscription ended (not reached while NATS is up)


@events_app.command("tail")
def tail(
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            "-t",
            metavar="PATTERN",
            help="Event type or pattern ('*' one token, '>' the rest), e.g. "
            "'training.run.*', 'monitoring.>', data.version.committed. Repeatable.",
            show_default=False,
        ),
    ] = None,
    deliver_all: Annotated[
        bool, typer.Option("--all", help="Replay the stored events from the first one.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object (the whole envelope) per line.")
    ] = False,
    count: Annotated[
        int | None, typer.Option("--count", "-n", min=1, metavar="N", help="Stop after N events.")
    ] = None,
    timeout_s: Annotated[
        float | None,
        typer.Option(
            "--timeout", min=0.0, metavar="S", help="Stop after S seconds without an event."
        ),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Stack whose NATS to watch (default: $GYRE_HOME, else ./.gyre; "
            "GYRE_NATS__URL overrides).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print lifecycle events as they are published (new ones; --all from the start).

    One line per event: time (UTC), type, the resource it is about, payload fields.
    Stop with Ctrl-C, --count or --timeout; with both, exits 1 if the timeout came first.
    """
    from gyre.stack._endpoints import stack_nats_settings

    nats = stack_nats_settings(home)
    patterns: list[str] = []
    for raw in types or []:
        try:
            patterns.append(_normalize(raw, prefix=nats.subject_prefix))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--type'") from exc
    for pattern in patterns:
        if not any(type_matches(pattern, known) for known in EVENT_TYPES):
            hint = ""
            if pattern.endswith("." + _WILDCARD_ONE):
                hint = f" ('*' is one token; {pattern[:-1]}> matches everything under it)"
            _err(f"gyre events tail: warning: {pattern!r} matches no known event type{hint}")
    # One pattern filters on the server; several are matched here on every event.
    subject = f"{nats.subject_prefix}.{patterns[0]}" if len(patterns) == 1 else None
    try:
        code = asyncio.run(
            _tail(
                nats,
                subject=subject,
                patterns=patterns if len(patterns) > 1 else (),
                deliver_all=deliver_all,
                as_json=as_json,
                count=count,
                timeout_s=timeout_s,
            )
        )
    except KeyboardInterrupt:
        code = 0  # Ctrl-C is how a tail ends
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``gyre events`` (``tail``) to ``app``."""
    app.add_typer(events_app)
