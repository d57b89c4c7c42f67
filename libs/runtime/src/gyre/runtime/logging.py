"""Structured logging for every Gyre process (structlog, with stdlib routed through).

Call :func:`configure_logging` once at process start, then log with
``structlog.get_logger(__name__)``. Records from the standard library's
``logging`` (grpc, SQLAlchemy, alembic, ...) go through the same processors and
renderer, so one process writes one format: a JSON object per line
(``format="json"``) or aligned, human-readable lines (``format="console"``), to
stderr.

Every record carries the request id and trace id of the RPC being handled, taken
from context variables the server's interceptor sets (:func:`bind_request`), plus
anything bound with ``structlog.contextvars.bind_contextvars``.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, TextIO

import structlog

from gyre.runtime.settings import LoggingSettings

__all__ = [
    "LOG_FORMATS",
    "bind_request",
    "configure_logging",
    "current_request_id",
    "current_trace_id",
    "new_request_id",
    "request_id_var",
    "trace_id_var",
]

# Renderers configure_logging accepts in LoggingSettings.format.
LOG_FORMATS: Final = ("json", "console")
# Marks the root handler configure_logging installs, so calling it again replaces it.
_HANDLER_MARK: Final = "_gyre_handler"

# Id of the request being handled (from "x-request-id" metadata, or generated).
request_id_var: ContextVar[str | None] = ContextVar("gyre_request_id", default=None)
# W3C trace id of the request being handled (from "traceparent" metadata), if any.
trace_id_var: ContextVar[str | None] = ContextVar("gyre_trace_id", default=None)


def new_request_id() -> str:
    """A fresh request id: 32 lowercase hex characters (a random UUID4)."""
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The request id bound in the current context, or ``None`` outside a request."""
    return request_id_var.get()


def current_trace_id() -> str | None:
    """The trace id bound in the current context, or ``None``."""
    return trace_id_var.get()


@contextmanager
def bind_request(request_id: str, trace_id: str | None = None) -> Iterator[None]:
    """Bind a request id (and trace id) to every record logged inside the block."""
    request_token = request_id_var.set(request_id)
    trace_token = trace_id_var.set(trace_id)
    try:
        yield
    finally:
        trace_id_var.reset(trace_token)
        request_id_var.reset(request_token)


def _add_request_context(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request_id = request_id_var.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
        trace_id = trace_id_var.get()
        if trace_id is not None:
            event_dict.setdefault("trace_id", trace_id)
    return event_dict


def configure_logging(
    settings: LoggingSettings,
    *,
    service_name: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and the standard library's root logger.

    Safe to call again (tests, reconfiguration): the handler a previous call
    installed is replaced, other root handlers are left alone.

    Args:
        settings: Level (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``) and format
            (``"json"`` or ``"console"``).
        service_name: Added to every record as ``service`` when given.
        stream: Where records go; stderr by default.

    Raises:
        ValueError: If the level or the format is not one of the above.
    """
    level_name = settings.level.upper()
    level = logging.getLevelNamesMapping().get(level_name)
    if level is None:
        raise ValueError(f"unknown log level {settings.level!r}")
    if settings.format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, got {settings.format!r}")
    out = sys.stderr if stream is None else stream

    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_request_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if service_name:
        shared.append(_constant("service", service_name))

    renderer: structlog.typing.Processor
    final: list[structlog.typing.Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta
    ]
    if settings.format == "json":
        # Tracebacks as data, without frame locals (they may hold secrets).
        final.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        colors = out.isatty()
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=_console_traceback_formatter(colors=colors)
        )
    final.append(renderer)

    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(processors=final, foreign_pre_chain=shared)
    )
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Calls below the level are no-ops that build nothing (cheap debug logs).
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )


def _console_traceback_formatter(*, colors: bool) -> structlog.typing.ExceptionRenderer:
    """Tracebacks for people, without frame locals (they may hold secrets).

    structlog's default shows every frame's locals (rich, or better-exceptions).
    """
    if importlib.util.find_spec("rich") is not None:
        return structlog.dev.RichTracebackFormatter(
            color_system="truecolor" if colors else None, show_locals=False
        )
    return structlog.dev.plain_traceback


def _constant(key: str, value: str) -> structlog.typing.Processor:
    def add(
        _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault(key, value)
        return event_dict

    return add
