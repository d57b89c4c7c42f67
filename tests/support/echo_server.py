"""A test-only gRPC service (``gyre.test.v1.EchoService``) built from generic handlers.

Messages are ``google.protobuf.StringValue`` so the runtime's server tests do not
depend on Gyre's own protos. The request text selects the behaviour:

* ``"not_found"``, ``"invalid"``, ``"aborted"``, ``"data_loss"`` raise the
  matching :class:`~gyre.runtime.errors.GyreError`;
* ``"boom"`` raises ``KeyError("secret/path")`` (an unexpected exception);
* ``"cancelled"``, ``"base_exception"``, ``"system_exit"``, ``"keyboard_interrupt"``
  raise ``asyncio.CancelledError``, ``BaseException``, ``SystemExit``,
  ``KeyboardInterrupt`` (the last three carrying the secret);
* ``"int_message"``, ``"int_metadata"`` raise ``NotFound`` with a non-string
  message or metadata; ``"huge"`` / ``"huge_unicode"`` an ``InvalidArgument`` far
  beyond gRPC's metadata limits; ``"unencodable"`` a ``NotFound`` whose field
  violations were replaced by something that cannot be encoded;
* ``"bad_response"`` makes ``Echo`` return (``Expand`` yield) a dict, not a message;
* ``"sleep:<seconds>"`` sleeps, then answers ``"slept"``;
* anything else is echoed back.

Run as ``python -m support.echo_server PORT`` (with ``tests`` on ``sys.path``) to
serve it with :func:`gyre.runtime.server.serve`; it prints ``READY <port>`` once
serving and ``STOPPED`` after its shutdown hook ran.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.wrappers_pb2 import StringValue

from gyre.runtime.errors import Aborted, DataLoss, FieldViolation, InvalidArgument, NotFound
from gyre.runtime.server import GyreServer, ServiceRegistration

__all__ = ["SECRET", "SERVICE_NAME", "EchoServicer", "echo_registration", "method"]

SERVICE_NAME = "gyre.test.v1.EchoService"
# Text of the unexpected exception that must never reach a client.
SECRET = "secret/path"


def method(name: str) -> str:
    """Full method path, e.g. ``/gyre.test.v1.EchoService/Echo``."""
    return f"/{SERVICE_NAME}/{name}"


def _answer(text: str) -> str:
    if text == "not_found":
        raise NotFound(
            "dataset datasets/d1 not found",
            reason="DATASET_NOT_FOUND",
            metadata={"name": "datasets/d1"},
        )
    if text == "invalid":
        raise InvalidArgument(
            "invalid request",
            reason="INVALID_DATASET",
            field_violations=[
                FieldViolation("dataset.name", "must match datasets/{dataset}"),
                FieldViolation("page_size", "must be positive"),
            ],
        )
    if text == "aborted":
        raise Aborted("etag mismatch", reason="ETAG_MISMATCH", metadata={"etag": "abc"})
    if text == "data_loss":
        raise DataLoss("chunk digest mismatch", reason="DIGEST_MISMATCH")
    if text == "boom":
        raise KeyError(SECRET)
    if text == "cancelled":
        raise asyncio.CancelledError()
    if text == "base_exception":
        raise BaseException(SECRET)
    if text == "system_exit":
        raise SystemExit(SECRET)
    if text == "keyboard_interrupt":
        raise KeyboardInterrupt(SECRET)
    if text == "int_message":
        raise NotFound(12345)  # type: ignore[arg-type]  # the mistake under test
    if text == "int_metadata":
        raise NotFound("nf", metadata={"a": 1})  # type: ignore[dict-item]
    if text in ("huge", "huge_unicode"):
        letter = "x" if text == "huge" else "é"
        raise InvalidArgument(
            letter * 20_000,
            reason="HUGE",
            metadata={f"key{i}": letter * 1000 for i in range(50)},
            field_violations=[FieldViolation(f"field{i}", letter * 1000) for i in range(50)],
        )
    if text == "unencodable":
        err = NotFound("nf")
        err.field_violations = [SECRET]  # type: ignore[list-item]
        raise err
    return text


class EchoServicer:
    """The four RPC kinds; each counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        # Set when an "Echo sleep:<s>" call has started sleeping.
        self.sleeping = asyncio.Event()

    async def Echo(self, request: StringValue, context: Any) -> StringValue:
        self.calls += 1
        if request.value.startswith("sleep:"):
            self.sleeping.set()
            await asyncio.sleep(float(request.value.removeprefix("sleep:")))
            return StringValue(value="slept")
        if request.value == "bad_response":
            return {"value": SECRET}  # type: ignore[return-value]  # the mistake under test
        return StringValue(value=_answer(request.value))

    async def Expand(self, request: StringValue, context: Any) -> AsyncIterator[StringValue]:
        """Yields "0", "1", "2", then applies the request's behaviour mid-stream."""
        self.calls += 1
        for i in range(3):
            yield StringValue(value=str(i))
        if request.value == "bad_response":
            yield {"value": SECRET}  # type: ignore[misc]  # the mistake under test
        yield StringValue(value=_answer(request.value))

    async def Collect(self, requests: AsyncIterator[StringValue], context: Any) -> StringValue:
        self.calls += 1
        parts = [_answer(r.value) async for r in requests]
        return StringValue(value=",".join(parts))

    async def Chat(
        self, requests: AsyncIterator[StringValue], context: Any
    ) -> AsyncIterator[StringValue]:
        self.calls += 1
        async for request in requests:
            yield StringValue(value=_answer(request.value))


def echo_registration(servicer: EchoServicer | None = None) -> ServiceRegistration:
    """A registration of :class:`EchoServicer` for ``serve`` / ``running_server``."""
    kwargs: dict[str, Any] = {
        "request_deserializer": StringValue.FromString,
        "response_serializer": StringValue.SerializeToString,
    }

    def add_to_server(echo: EchoServicer, server: Any) -> None:
        handler = grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Echo": grpc.unary_unary_rpc_method_handler(echo.Echo, **kwargs),
                "Expand": grpc.unary_stream_rpc_method_handler(echo.Expand, **kwargs),
                "Collect": grpc.stream_unary_rpc_method_handler(echo.Collect, **kwargs),
                "Chat": grpc.stream_stream_rpc_method_handler(echo.Chat, **kwargs),
            },
        )
        server.add_generic_rpc_handlers((handler,))

    return ServiceRegistration(add_to_server, servicer or EchoServicer(), SERVICE_NAME)


def main() -> None:
    from gyre.runtime.logging import configure_logging
    from gyre.runtime.server import run, serve
    from gyre.runtime.settings import ServerSettings, ServiceSettings

    port = int(sys.argv[1])
    settings = ServiceSettings(
        service_name="echo", server=ServerSettings(port=port, grace_period_s=5.0)
    )

    configure_logging(settings.logging, service_name=settings.service_name)

    async def ready(server: GyreServer) -> None:
        print(f"READY {server.port}", flush=True)

    async def stopped() -> None:
        print("STOPPED", flush=True)

    raise SystemExit(
        run(
            serve(
                settings, services=[echo_registration()], on_startup=[ready], on_shutdown=[stopped]
            )
        )
    )


if __name__ == "__main__":
    main()
