"""grpc.aio server interceptors: error mapping, and per-RPC logs and metrics.

Install them in this order (``serve`` does)::

    grpc.aio.server(interceptors=[TelemetryInterceptor(), ErrorInterceptor()])

The first interceptor is the outermost, so telemetry sees the status code the
error interceptor chose.

Both wrap the handler's behaviour once per method (the wrapped handler is cached),
so the per-call cost is one dictionary lookup plus the wrapper's own frame. They
support all four RPC kinds, with handlers written as coroutines (unary responses,
or streaming through ``context.write``) or as async generators (streaming).

Gyre services are asyncio-only. :class:`~gyre.runtime.server.ServiceRegistration`
refuses a servicer whose RPC methods are synchronous; a synchronous handler that
reaches the server another way (a generic handler) is never run: the error
interceptor answers it INTERNAL (UNIMPLEMENTED for the generated base class's
placeholder methods) and logs why, since grpc would otherwise run it in a thread
and send its exception's class and text to the client.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, Final, NoReturn

import grpc
import structlog
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

from gyre.runtime.errors import Cancelled, GyreError, Internal, Unimplemented, to_grpc_status
from gyre.runtime.logging import current_request_id, new_request_id, request_id_var, trace_id_var
from gyre.runtime.metrics import RpcMetrics, rpc_metrics

__all__ = [
    "CANCELLED_ERROR_MESSAGE",
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
# Status message of a handler that raised CancelledError while its call was not cancelled.
CANCELLED_ERROR_MESSAGE: Final = (
    "operation cancelled by the server; see server logs for request id {request_id}"
)
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
    """Map exceptions raised by handlers to gRPC statuses; every call gets a status.

    * :class:`~gyre.runtime.errors.GyreError` → its code and message, with
      ``ErrorInfo`` (and ``BadRequest`` for field violations) in the
      ``grpc-status-details-bin`` trailer, plus ``x-request-id``.
    * Any other exception → ``INTERNAL`` with the message
      ``"internal error; see server logs for request id <id>"``; the exception's
      text, traceback and class never reach the client. The full exception is
      logged server-side with the same request id. This includes ``BaseException``
      s: ``SystemExit`` and ``KeyboardInterrupt`` raised by a handler fail that
      call only (logged at CRITICAL) instead of stopping the whole server.
    * ``asyncio.CancelledError`` when the call was cancelled (by the client, its
      deadline, or the server stopping) passes through; raised while the call was
      not cancelled, it becomes ``CANCELLED`` with a safe message.
    * A response (or streamed item) that is not a protobuf message → ``INTERNAL``
      (logged), instead of grpc's UNKNOWN naming the serializer's TypeError; so is a
      message of another type than the method declares (it would serialize fine and
      the client would parse garbage). The declared class is looked up once per method
      in the default descriptor pool by the method's full name; a method not found
      there (a generic handler of an unregistered service) gets the message check
      only. Per call this costs a ``type(response) is cls`` test.
    * ``context.abort(...)`` called by the handler passes through, and so does
      ``GeneratorExit`` from an async generator handler (the generator being closed);
      from a coroutine handler it is a stray exception like any other → ``INTERNAL``.
    """

    def _wrap(self, handler: Any, method: str) -> Behavior | None:
        behavior = _behavior_of(handler)
        if behavior is None:
            return None
        abort = self._abort
        # None when the method is not in the descriptor pool: any message is accepted.
        expected = _declared_response_class(method)

        if inspect.isasyncgenfunction(behavior):

            async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                try:
                    async with aclosing(behavior(request, context)) as responses:
                        async for response in responses:
                            if type(response) is not expected and not _is_response(
                                response, expected
                            ):
                                await _abort_bad_response(context, response, method, expected)
                            yield response
                except (_AbortError, GeneratorExit):
                    raise
                except asyncio.CancelledError as exc:
                    if _call_cancelled(context):
                        raise
                    await abort(context, exc, method)
                except BaseException as exc:  # SystemExit, KeyboardInterrupt too: see above
                    await abort(context, exc, method)

            return stream

        if inspect.iscoroutinefunction(behavior):
            check_response = not handler.response_streaming

            async def call(request: Any, context: Any) -> Any:
                try:
                    response = await behavior(request, context)
                except _AbortError:
                    raise
                except asyncio.CancelledError as exc:
                    if _call_cancelled(context):
                        raise
                    await abort(context, exc, method)
                except GeneratorExit as exc:
                    if _closed_outside_a_task():
                        raise
                    await abort(context, exc, method)
                except BaseException as exc:  # SystemExit, KeyboardInterrupt too: see above
                    await abort(context, exc, method)
                # A non-OK code set with context.set_code() discards the response.
                if (
                    check_response
                    and type(response) is not expected
                    and not _is_response(response, expected)
                    and _code_is_ok(context)
                ):
                    await _abort_bad_response(context, response, method, expected)
                return response

            return call

        return _refuse_sync(behavior, method)

    @staticmethod
    async def _abort(context: Any, exc: BaseException, method: str) -> NoReturn:
        """Abort the call with the status for ``exc``: raises grpc's AbortError.

        Never fails otherwise: if the rich status cannot be built (an error whose
        attributes were replaced by non-strings, say), the call gets a plain
        INTERNAL with the safe message.
        """
        request_id = current_request_id() or new_request_id()
        trailers = ((REQUEST_ID_METADATA_KEY, request_id),)
        status: Any = None
        try:
            status = to_grpc_status(_error_for(exc, method, request_id), trailing_metadata=trailers)
        except Exception as encode_error:
            _log.error(
                "cannot encode the error status; answering INTERNAL",
                method=method,
                request_id=request_id,
                exc_info=encode_error,
            )
        if status is None:
            await context.abort(
                grpc.StatusCode.INTERNAL,
                INTERNAL_ERROR_MESSAGE.format(request_id=request_id),
                trailers,
            )
        else:
            await context.abort_with_status(status)
        raise AssertionError("grpc's abort returns only by raising")


def _error_for(exc: BaseException, method: str, request_id: str) -> GyreError:
    """The error to send for ``exc``, logged when it is the server's fault."""
    if isinstance(exc, GyreError):
        if exc.code in SERVER_FAULT_CODES:
            _log.warning(
                "rpc failed",
                method=method,
                code=exc.code.name,
                reason=exc.reason,
                request_id=request_id,
                exc_info=exc,
            )
        return exc
    if isinstance(exc, asyncio.CancelledError):
        _log.warning(
            "handler raised CancelledError while its call was not cancelled",
            method=method,
            request_id=request_id,
            exc_info=exc,
        )
        return Cancelled(
            CANCELLED_ERROR_MESSAGE.format(request_id=request_id),
            metadata={"request_id": request_id},
        )
    if isinstance(exc, SystemExit | KeyboardInterrupt):
        _log.critical(
            f"handler raised {type(exc).__name__}; failing this rpc, the server keeps serving",
            method=method,
            request_id=request_id,
            exc_info=exc,
        )
    else:
        _log.error("unhandled exception in rpc", method=method, request_id=request_id, exc_info=exc)
    return _internal(request_id)


def _internal(request_id: str) -> Internal:
    return Internal(
        INTERNAL_ERROR_MESSAGE.format(request_id=request_id),
        reason="INTERNAL",
        metadata={"request_id": request_id},
    )


def _declared_response_class(method: str) -> type[Message] | None:
    """The message class ``method`` ("/<service>/<name>") declares as its response.

    Looked up in the default descriptor pool, which holds every generated module
    imported (a servicer's ``_pb2`` is imported to register it); ``None`` when the
    method is not there.
    """
    service, _, name = method.lstrip("/").rpartition("/")
    try:
        output = descriptor_pool.Default().FindMethodByName(f"{service}.{name}").output_type
        return message_factory.GetMessageClass(output)
    except Exception:  # KeyError (not in the pool) or a descriptor without a class
        return None


def _is_response(response: Any, expected: type[Message] | None) -> bool:
    """Whether ``response`` may be sent: a message, of the declared type when known.

    The slow path behind ``type(response) is expected``: also accepts a subclass, or
    the same message type generated into another class (another descriptor pool).
    """
    if not isinstance(response, Message):
        return False
    return expected is None or response.DESCRIPTOR.full_name == expected.DESCRIPTOR.full_name


def _closed_outside_a_task() -> bool:
    """Whether a GeneratorExit comes from the coroutine being closed, not its code.

    A handler's own code runs in the server's task; ``coroutine.close()`` (a pending
    coroutine garbage-collected) does not, and must not be answered with an await.
    """
    try:
        return asyncio.current_task() is None
    except RuntimeError:  # no running event loop
        return True


async def _abort_bad_response(
    context: Any, response: Any, method: str, expected: type[Message] | None
) -> None:
    """Abort INTERNAL: a handler returned or yielded a non-message or a wrong message."""
    request_id = current_request_id() or new_request_id()
    if isinstance(response, Message) and expected is not None:
        _log.error(
            "handler returned a response of another message type than the method declares",
            method=method,
            request_id=request_id,
            response_type=response.DESCRIPTOR.full_name,
            expected_type=expected.DESCRIPTOR.full_name,
        )
    else:
        _log.error(
            "handler returned a response that is not a protobuf message",
            method=method,
            request_id=request_id,
            response_type=f"{type(response).__module__}.{type(response).__qualname__}",
        )
    status = to_grpc_status(
        _internal(request_id), trailing_metadata=((REQUEST_ID_METADATA_KEY, request_id),)
    )
    await context.abort_with_status(status)


def _call_cancelled(context: Any) -> bool:
    """Whether the call itself was cancelled: by the client, or its task by grpc."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        return True
    try:
        return bool(context.cancelled() or context.done())
    except Exception:  # an older grpc or a test double without these methods
        return False


def _code_is_ok(context: Any) -> bool:
    code = context.code()
    return code is None or code == grpc.StatusCode.OK or code == 0


def _refuse_sync(behavior: Any, method: str) -> Behavior:
    """A coroutine answering in place of a synchronous handler, which never runs."""
    placeholder = str(getattr(behavior, "__module__", "")).endswith("_pb2_grpc")

    async def refused(request: Any, context: Any) -> None:
        request_id = current_request_id() or new_request_id()
        err: GyreError
        if placeholder:
            # The generated base class's method: the servicer does not implement it.
            err = Unimplemented(f"method {method} is not implemented")
        else:
            _log.error(
                "synchronous rpc handler refused; Gyre services must be async",
                method=method,
                request_id=request_id,
                handler=getattr(behavior, "__qualname__", repr(behavior)),
            )
            err = _internal(request_id)
        status = to_grpc_status(err, trailing_metadata=((REQUEST_ID_METADATA_KEY, request_id),))
        await context.abort_with_status(status)

    return refused


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
