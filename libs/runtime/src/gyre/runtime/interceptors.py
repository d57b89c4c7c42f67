"""grpc.aio server interceptors: error mapping, and per-RPC logs and metrics.

Install them in this order (``serve`` does)::

    grpc.aio.server(interceptors=[TelemetryInterceptor(), ErrorInterceptor()])

The first interceptor is the outermost, so telemetry sees the status code the
error interceptor chose.

Both wrap the handler's behaviour once per method (the wrapped handler is cached),
so the per-call cost is one dictionary lookup plus the wrapper's own frame. They
support all four RPC kinds, with handlers written as coroutines (unary responses,
or streaming through ``context.write``) or as async generators (streaming).
Synchronous handlers are passed through untouched: Gyre services are asyncio.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, Final

import grpc
import structlog

from gyre.runtime.errors import GyreError, Internal, to_grpc_status
from gyre.runtime.logging import current_request_id, new_request_id, request_id_var, trace_id_var
from gyre.runtime.metrics import RpcMetrics, rpc_metrics

__all__ = [
    "INTERNAL_ERROR_MESSAGE",
    "REQUEST_ID_METADATA_KEY",
    "SERVER_FAULT_CODES",
    "TRACEPARENT_METADATA_KEY",
    "ErrorInterceptor",
    "TelemetryInterceptor",
]

# Metadata key a client may set to choose the request id; the server returns it
# in the trailers of failed calls.
REQUEST_ID_METADATA_KEY: Final = "x-request-id"
# W3C Trace Context header ("00-<trace id>-<span id>-<flags>").
TRACEPARENT_METADATA_KEY: Final = "traceparent"
# Status message of an unexpected exception; never the exception's own text.
INTERNAL_ERROR_MESSAGE: Final = "internal error; see server logs for request id {request_id}"
# Codes that mean the server (not the caller) failed; logged at WARNING.
SERVER_FAULT_CODES: Final = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)
# Wrapped handlers kept per interceptor; a generic handler that builds a new
# handler object per call would otherwise grow the cache without bound.
_MAX_CACHED_HANDLERS: Final = 4096

_AbortError: type[BaseException] = grpc.aio.AbortError
_log = structlog.get_logger(__name__)

Behavior = Callable[[Any, Any], Any]


class _WrappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Wraps each method handler's behaviour once and reuses the wrapped handler."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], tuple[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        key = (method, id(handler))
        entry = self._cache.get(key)
        if entry is not None and entry[0] is handler:
            return entry[1]
        wrapped = _rebuild(handler, self._wrap(handler, method))
        if len(self._cache) >= _MAX_CACHED_HANDLERS:
            self._cache.clear()
        self._cache[key] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: Any, method: str) -> Behavior | None:
        raise NotImplementedError


class ErrorInterceptor(_WrappingInterceptor):
    """Map exceptions raised by handlers to gRPC statuses.

    * :class:`~gyre.runtime.errors.GyreError` → its code and message, with
      ``ErrorInfo`` (and ``BadRequest`` for field violations) in the
      ``grpc-status-details-bin`` trailer, plus ``x-request-id``.
    * Any other exception → ``INTERNAL`` with the message
      ``"internal error; see server logs for request id <id>"``; the exception's
      text, traceback and class never reach the client. The full exception is
      logged server-side with the same request id.
    * ``context.abort(...)`` called by the handler and cancellation pass through.
    """

    def _wrap(self, handler: Any, method: str) -> Behavior | None:
        behavior = _behavior_of(handler)
        if behavior is None:
            return None
        abort = self._abort

        if inspect.isasyncgenfunction(behavior):

            async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                try:
                    async with aclosing(behavior(request, context)) as responses:
                        async for response in responses:
                            yield response
                except _AbortError:
                    raise
                except Exception as exc:
                    await abort(context, exc, method)

            return stream

        if inspect.iscoroutinefunction(behavior):

            async def call(request: Any, context: Any) -> Any:
                try:
                    return await behavior(request, context)
                except _AbortError:
                    raise
                except Exception as exc:
                    await abort(context, exc, method)

            return call
        return None

    @staticmethod
    async def _abort(context: Any, exc: Exception, method: str) -> None:
        request_id = current_request_id() or new_request_id()
        if isinstance(exc, GyreError):
            err = exc
            if err.code in SERVER_FAULT_CODES:
                _log.warning(
                    "rpc failed",
                    method=method,
                    code=err.code.name,
                    reason=err.reason,
                    request_id=request_id,
                    exc_info=exc,
                )
        else:
            _log.error(
                "unhandled exception in rpc", method=method, request_id=request_id, exc_info=exc
            )
            err = Internal(
                INTERNAL_ERROR_MESSAGE.format(request_id=request_id),
                reason="INTERNAL",
                metadata={"request_id": request_id},
            )
        status = to_grpc_status(err, trailing_metadata=((REQUEST_ID_METADATA_KEY, request_id),))
        await context.abort_with_status(status)


class TelemetryInterceptor(_WrappingInterceptor):
    """Per-RPC request context, access log line and Prometheus metrics.

    For every call: binds the request id (from ``x-request-id`` metadata, else a
    new one) and the trace id (from ``traceparent``) to the logging context;
    records ``gyre_grpc_server_handled_total{service,method,code}`` and
    ``gyre_grpc_server_handling_seconds{service,method}``; logs one line
    ``rpc`` with ``method``, ``code`` and ``duration_ms`` — at ``ok_level`` for
    OK, WARNING for server faults (INTERNAL, UNKNOWN, DATA_LOSS, UNAVAILABLE,
    UNIMPLEMENTED), INFO otherwise. Pass ``ok_level=logging.DEBUG`` on hot paths
    (the inference gateway) to keep successful calls out of the log.

    Args:
        metrics: Metric families to record into; the process-wide default if ``None``.
        ok_level: ``logging`` level of the line for successful calls.
    """

    def __init__(self, *, metrics: RpcMetrics | None = None, ok_level: int = logging.INFO) -> None:
        super().__init__()
        self._metrics = rpc_metrics() if metrics is None else metrics
        self._ok_level = ok_level

    def _wrap(self, handler: Any, method: str) -> Behavior | None:
        behavior = _behavior_of(handler)
        if behavior is None:
            return None
        service, _, method_name = method.lstrip("/").rpartition("/")
        histogram = self._metrics.handling_seconds.labels(service, method_name)
        handled = self._metrics.handled
        counters: dict[grpc.StatusCode, Any] = {}
        ok_level = self._ok_level
        # A concrete logger (not the lazy proxy): resolved once, cheap per call.
        log = structlog.get_logger(__name__).bind()

        def finish(started: float, code: grpc.StatusCode) -> None:
            elapsed = time.perf_counter() - started
            histogram.observe(elapsed)
            counter = counters.get(code)
            if counter is None:
                counter = counters[code] = handled.labels(service, method_name, code.name)
            counter.inc()
            if code is grpc.StatusCode.OK:
                level = ok_level
            elif code in SERVER_FAULT_CODES:
                level = logging.WARNING
            else:
                level = logging.INFO
            log.log(level, "rpc", method=method, code=code.name, duration_ms=elapsed * 1000.0)

        if inspect.isasyncgenfunction(behavior):

            async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                started = time.perf_counter()
                _bind_request(context)
                code = grpc.StatusCode.UNKNOWN
                try:
                    async with aclosing(behavior(request, context)) as responses:
                        async for response in responses:
                            yield response
                    code = context.code() or grpc.StatusCode.OK
                except _AbortError:
                    code = context.code() or grpc.StatusCode.UNKNOWN
                    raise
                except BaseException as exc:  # cancelled by the client, or a stray error
                    code = _code_of(exc)
                    raise
                finally:
                    finish(started, code)

            return stream

        if inspect.iscoroutinefunction(behavior):

            async def call(request: Any, context: Any) -> Any:
                started = time.perf_counter()
                _bind_request(context)
                code = grpc.StatusCode.UNKNOWN
                try:
                    response = await behavior(request, context)
                    code = context.code() or grpc.StatusCode.OK
                    return response
                except _AbortError:
                    code = context.code() or grpc.StatusCode.UNKNOWN
                    raise
                except BaseException as exc:
                    code = _code_of(exc)
                    raise
                finally:
                    finish(started, code)

            return call
        return None


def _code_of(exc: BaseException) -> grpc.StatusCode:
    # Without the error interceptor, grpc reports an unhandled exception as UNKNOWN.
    if isinstance(exc, GeneratorExit | asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


def _bind_request(context: Any) -> None:
    # Each RPC runs in its own asyncio task (its own contextvars context), so the
    # values need no reset: they end with the call.
    request_id: str | None = None
    trace_id: str | None = None
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_METADATA_KEY and isinstance(value, str) and value:
            request_id = value
        elif key == TRACEPARENT_METADATA_KEY and isinstance(value, str):
            parts = value.split("-")
            if len(parts) >= 3:
                trace_id = parts[1]
    request_id_var.set(request_id or new_request_id())
    trace_id_var.set(trace_id)


def _behavior_of(handler: Any) -> Behavior | None:
    if handler.request_streaming:
        return handler.stream_stream if handler.response_streaming else handler.stream_unary  # type: ignore[no-any-return]
    return handler.unary_stream if handler.response_streaming else handler.unary_unary  # type: ignore[no-any-return]


def _rebuild(handler: Any, behavior: Behavior | None) -> Any:
    """The handler with its behaviour replaced (or unchanged when not wrapped)."""
    if behavior is None:
        return handler
    if handler.request_streaming:
        factory = (
            grpc.stream_stream_rpc_method_handler
            if handler.response_streaming
            else grpc.stream_unary_rpc_method_handler
        )
    else:
        factory = (
            grpc.unary_stream_rpc_method_handler
            if handler.response_streaming
            else grpc.unary_unary_rpc_method_handler
        )
    return factory(
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
