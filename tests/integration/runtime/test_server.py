"""The gRPC bootstrap over a real TCP channel: errors, streaming, health, reflection,
metrics, graceful stop, and SIGTERM handling of a server process."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
from google.protobuf.wrappers_pb2 import StringValue
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from prometheus_client import REGISTRY
from support.echo_server import SECRET, SERVICE_NAME, EchoServicer, echo_registration, method
from support.servers import free_port

from gyre.data.v1 import data_service_pb2, data_service_pb2_grpc
from gyre.runtime.errors import (
    ERROR_DOMAIN,
    Aborted,
    Cancelled,
    DataLoss,
    FieldViolation,
    GyreError,
    Internal,
    InvalidArgument,
    NotFound,
    Unimplemented,
    from_rpc_error,
)
from gyre.runtime.logging import configure_logging
from gyre.runtime.server import GyreServer, ServiceRegistration, running_server
from gyre.runtime.settings import LoggingSettings
from gyre.training.v1 import training_service_pb2, training_service_pb2_grpc

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
TESTS_DIR = REPO_ROOT / "tests"
SUBPROCESS_TIMEOUT_S = 30.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

_serialize = StringValue.SerializeToString
_deserialize = StringValue.FromString


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Server-side log records as JSON lines."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    configure_logging(LoggingSettings(format="json", level="INFO"), stream=stream)
    yield stream
    root.setLevel(level)
    for handler in [h for h in root.handlers if getattr(h, "_gyre_handler", False)]:
        root.removeHandler(handler)
    structlog.reset_defaults()


@pytest.fixture
async def echo() -> EchoServicer:
    return EchoServicer()


@pytest.fixture
async def server(echo: EchoServicer) -> AsyncIterator[GyreServer]:
    async with running_server(services=[echo_registration(echo)]) as running:
        yield running


@pytest.fixture
async def channel(server: GyreServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.target) as chan:
        yield chan


def _unary(channel: grpc.aio.Channel, name: str) -> Any:
    return channel.unary_unary(
        method(name), request_serializer=_serialize, response_deserializer=_deserialize
    )


async def _drain(responses: Any, into: list[str]) -> None:
    async for reply in responses:
        into.append(reply.value)


def _error_info(status: Any) -> error_details_pb2.ErrorInfo:
    info = error_details_pb2.ErrorInfo()
    found = [d for d in status.details if d.Unpack(info)]
    assert len(found) == 1
    return info


async def test_echo_round_trip(channel: grpc.aio.Channel) -> None:
    reply = await _unary(channel, "Echo")(StringValue(value="hello"))
    assert reply.value == "hello"


@pytest.mark.parametrize(
    ("text", "cls", "code", "message", "reason", "metadata"),
    [
        (
            "not_found",
            NotFound,
            grpc.StatusCode.NOT_FOUND,
            "dataset datasets/d1 not found",
            "DATASET_NOT_FOUND",
            {"name": "datasets/d1"},
        ),
        (
            "aborted",
            Aborted,
            grpc.StatusCode.ABORTED,
            "etag mismatch",
            "ETAG_MISMATCH",
            {"etag": "abc"},
        ),
        (
            "data_loss",
            DataLoss,
            grpc.StatusCode.DATA_LOSS,
            "chunk digest mismatch",
            "DIGEST_MISMATCH",
            {},
        ),
    ],
)
async def test_gyre_errors_arrive_with_code_message_and_error_info(
    channel: grpc.aio.Channel,
    text: str,
    cls: type[GyreError],
    code: grpc.StatusCode,
    message: str,
    reason: str,
    metadata: dict[str, str],
) -> None:
    call = _unary(channel, "Echo")(StringValue(value=text))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call

    assert caught.value.code() is code
    assert caught.value.details() == message
    # Decoded with grpc_status, as any gRPC client would.
    status = await rpc_status.aio.from_call(call)
    assert status.code == code.value[0]
    assert status.message == message
    info = _error_info(status)
    assert (info.reason, info.domain, dict(info.metadata)) == (reason, ERROR_DOMAIN, metadata)
    # Decoded with the SDK into the class the server raised.
    err = from_rpc_error(caught.value)
    assert type(err) is cls
    assert (err.message, err.reason, err.metadata) == (message, reason, metadata)


async def test_invalid_argument_carries_field_violations(channel: grpc.aio.Channel) -> None:
    call = _unary(channel, "Echo")(StringValue(value="invalid"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call

    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = await rpc_status.aio.from_call(call)
    bad_request = error_details_pb2.BadRequest()
    assert [d for d in status.details if d.Unpack(bad_request)]
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("dataset.name", "must match datasets/{dataset}"),
        ("page_size", "must be positive"),
    ]
    err = from_rpc_error(caught.value)
    assert isinstance(err, InvalidArgument)
    assert err.reason == "INVALID_DATASET"
    assert err.field_violations == [
        FieldViolation("dataset.name", "must match datasets/{dataset}"),
        FieldViolation("page_size", "must be positive"),
    ]


async def test_unexpected_exception_is_internal_without_leaking_it(
    channel: grpc.aio.Channel, log_stream: io.StringIO
) -> None:
    call = _unary(channel, "Echo")(
        StringValue(value="boom"), metadata=(("x-request-id", "req-42"),)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call

    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert caught.value.details() == "internal error; see server logs for request id req-42"
    trailers = caught.value.trailing_metadata()
    wire = repr(caught.value.details()) + repr(list(trailers))
    for leak in (SECRET, "KeyError", "Traceback", "echo_server"):
        assert leak not in wire
    assert dict(trailers)["x-request-id"] == "req-42"
    err = from_rpc_error(caught.value)
    assert type(err) is Internal
    assert err.metadata == {"request_id": "req-42"}
    # The full exception is in the server's log under the same request id.
    records = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    failures = [r for r in records if r["event"] == "unhandled exception in rpc"]
    assert len(failures) == 1
    assert failures[0]["request_id"] == "req-42"
    assert failures[0]["method"] == method("Echo")
    assert failures[0]["exception"][0]["exc_type"] == "KeyError"
    assert SECRET in failures[0]["exception"][0]["exc_value"]
    access = [r for r in records if r["event"] == "rpc"]
    assert access[-1]["code"] == "INTERNAL"
    assert access[-1]["request_id"] == "req-42"
    assert access[-1]["duration_ms"] >= 0


async def test_generated_request_id_is_returned_and_logged(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _unary(channel, "Echo")(StringValue(value="boom"))
    request_id = dict(caught.value.trailing_metadata())["x-request-id"]
    assert len(request_id) == 32
    assert caught.value.details().endswith(request_id)


async def test_unary_stream_error_mid_stream(channel: grpc.aio.Channel) -> None:
    expand = channel.unary_stream(
        method("Expand"), request_serializer=_serialize, response_deserializer=_deserialize
    )
    received: list[str] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _drain(expand(StringValue(value="data_loss")), received)

    assert received == ["0", "1", "2"]
    assert caught.value.code() is grpc.StatusCode.DATA_LOSS
    err = from_rpc_error(caught.value)
    assert isinstance(err, DataLoss)
    assert err.reason == "DIGEST_MISMATCH"


async def test_unary_stream_unexpected_error_mid_stream_is_internal(
    channel: grpc.aio.Channel,
) -> None:
    expand = channel.unary_stream(
        method("Expand"), request_serializer=_serialize, response_deserializer=_deserialize
    )
    received: list[str] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _drain(expand(StringValue(value="boom")), received)
    assert received == ["0", "1", "2"]
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert SECRET not in caught.value.details()


async def test_stream_unary_success_and_error(channel: grpc.aio.Channel) -> None:
    collect = channel.stream_unary(
        method("Collect"), request_serializer=_serialize, response_deserializer=_deserialize
    )
    ok = await collect(iter([StringValue(value="a"), StringValue(value="b")]))
    assert ok.value == "a,b"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(iter([StringValue(value="a"), StringValue(value="invalid")]))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len(from_rpc_error(caught.value).field_violations) == 2


async def test_stream_stream_error_after_replies(channel: grpc.aio.Channel) -> None:
    chat = channel.stream_stream(
        method("Chat"), request_serializer=_serialize, response_deserializer=_deserialize
    )
    received: list[str] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _drain(
            chat(
                iter(
                    [StringValue(value="a"), StringValue(value="not_found"), StringValue(value="c")]
                )
            ),
            received,
        )
    assert received == ["a"]
    assert isinstance(from_rpc_error(caught.value), NotFound)


async def test_health_is_serving_per_service_and_overall(
    server: GyreServer, channel: grpc.aio.Channel
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE_NAME):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == SERVING

    await server.health.set_not_serving(SERVICE_NAME)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
    assert reply.status == NOT_SERVING
    overall = await stub.Check(health_pb2.HealthCheckRequest(service=""))
    assert overall.status == SERVING

    await server.health.set_serving(SERVICE_NAME)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
    assert reply.status == SERVING


async def test_reflection_lists_the_services(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    names: list[str] = []
    async for reply in stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    ):
        names.extend(s.name for s in reply.list_services_response.service)
    assert set(names) == {
        SERVICE_NAME,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def _handled(method_name: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "gyre_grpc_server_handled_total",
        {"service": SERVICE_NAME, "method": method_name, "code": code},
    )
    return value or 0.0


def _handling_count(method_name: str) -> float:
    value = REGISTRY.get_sample_value(
        "gyre_grpc_server_handling_seconds_count",
        {"service": SERVICE_NAME, "method": method_name},
    )
    return value or 0.0


async def test_metrics_count_rpcs_by_code_and_are_scraped() -> None:
    metrics_port = free_port()
    ok_before, nf_before = _handled("Echo", "OK"), _handled("Echo", "NOT_FOUND")
    internal_before = _handled("Expand", "INTERNAL")
    timed_before = _handling_count("Echo")

    async with (
        running_server(services=[echo_registration()], metrics_port=metrics_port) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        echo = _unary(channel, "Echo")
        await echo(StringValue(value="a"))
        await echo(StringValue(value="b"))
        with pytest.raises(grpc.aio.AioRpcError):
            await echo(StringValue(value="not_found"))
        expand = channel.unary_stream(
            method("Expand"), request_serializer=_serialize, response_deserializer=_deserialize
        )
        with pytest.raises(grpc.aio.AioRpcError):
            async for _ in expand(StringValue(value="boom")):
                pass
        assert server.metrics_server is not None
        url = server.metrics_server.url
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())

    assert _handled("Echo", "OK") - ok_before == 2
    assert _handled("Echo", "NOT_FOUND") - nf_before == 1
    assert _handled("Expand", "INTERNAL") - internal_before == 1
    assert _handling_count("Echo") - timed_before == 3
    text = body.decode()
    assert (
        f'gyre_grpc_server_handled_total{{code="NOT_FOUND",method="Echo",service="{SERVICE_NAME}"}}'
        in text
    )


async def test_graceful_stop_finishes_in_flight_rpc_and_health_goes_not_serving(
    echo: EchoServicer,
) -> None:
    async with running_server(services=[echo_registration(echo)]) as server:
        channel = grpc.aio.insecure_channel(server.target)
        health = health_pb2_grpc.HealthStub(channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        assert (await watch.read()).status == SERVING

        in_flight = asyncio.ensure_future(_unary(channel, "Echo")(StringValue(value="sleep:0.5")))
        await echo.sleeping.wait()
        stopping = asyncio.ensure_future(server.stop(5.0))

        assert (await watch.read()).status == NOT_SERVING
        watch.cancel()
        reply = await in_flight
        assert reply.value == "slept"
        await stopping
        # A stopped server accepts nothing new.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _unary(channel, "Echo")(StringValue(value="late"), timeout=2)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        await channel.close()


async def test_shutdown_hooks_run_in_reverse_even_if_one_fails() -> None:
    order: list[str] = []

    async def startup(server: GyreServer) -> None:
        order.append(f"start:{server.port > 0}")

    async def first() -> None:
        order.append("first")

    async def failing() -> None:
        order.append("failing")
        raise RuntimeError("hook broke")

    async with running_server(
        services=[echo_registration()], on_startup=[startup], on_shutdown=[first, failing]
    ):
        order.append("serving")
    assert order == ["start:True", "serving", "failing", "first"]


async def test_failed_startup_hook_stops_the_server_and_runs_shutdown_hooks() -> None:
    shut_down: list[bool] = []

    async def broken(server: GyreServer) -> None:
        raise ConnectionError("database unreachable")

    async def cleanup() -> None:
        shut_down.append(True)

    with pytest.raises(ConnectionError, match="database unreachable"):
        async with running_server(
            services=[echo_registration()], on_startup=[broken], on_shutdown=[cleanup]
        ):
            pytest.fail("the block must not run")
    assert shut_down == [True]


def _start_echo_process(port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "support.echo_server", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == f"READY {port}", proc.stderr.read() if proc.stderr else line
    return proc


def test_sigterm_stops_a_server_process_gracefully() -> None:
    port = free_port()
    proc = _start_echo_process(port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo = channel.unary_unary(
                method("Echo"), request_serializer=_serialize, response_deserializer=_deserialize
            )
            assert echo(StringValue(value="up"), wait_for_ready=True, timeout=10).value == "up"
            # An RPC in flight when SIGTERM arrives still completes.
            in_flight = echo.future(StringValue(value="sleep:1"), timeout=10)
            health = health_pb2_grpc.HealthStub(channel)
            assert (
                health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status == SERVING
            )
            proc.send_signal(signal.SIGTERM)
            assert in_flight.result().value == "slept"
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.splitlines() == ["STOPPED"]


# --- Every call gets a status, and nothing of the server's internals leaks -----------

# What must never reach a client from a failing handler.
_LEAKS = (
    SECRET,
    "Traceback",
    "echo_server",
    "<class",
    "KeyError",
    "TypeError",
    "BaseException",
    "SystemExit",
    "KeyboardInterrupt",
)
# Seconds a call waits before failing the test instead of hanging it.
_CALL_TIMEOUT_S = 10.0


def _assert_safe_internal(error: grpc.aio.AioRpcError) -> None:
    assert error.code() is grpc.StatusCode.INTERNAL
    request_id = dict(error.trailing_metadata())["x-request-id"]
    assert error.details() == f"internal error; see server logs for request id {request_id}"
    wire = repr(error.details()) + repr(list(error.trailing_metadata()))
    for leak in _LEAKS:
        assert leak not in wire
    err = from_rpc_error(error)
    assert type(err) is Internal
    assert err.metadata == {"request_id": request_id}


def _log_records(log_stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_stream.getvalue().splitlines()]


async def _expand_all(channel: grpc.aio.Channel, text: str) -> tuple[list[str], Any]:
    expand = channel.unary_stream(
        method("Expand"), request_serializer=_serialize, response_deserializer=_deserialize
    )
    received: list[str] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _drain(expand(StringValue(value=text), timeout=_CALL_TIMEOUT_S), received)
    return received, caught.value


async def test_cancelled_error_from_a_handler_is_answered_cancelled(
    channel: grpc.aio.Channel, log_stream: io.StringIO
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _unary(channel, "Echo")(StringValue(value="cancelled"), timeout=_CALL_TIMEOUT_S)
    received, streamed = await _expand_all(channel, "cancelled")

    for error in (caught.value, streamed):
        assert error.code() is grpc.StatusCode.CANCELLED
        request_id = dict(error.trailing_metadata())["x-request-id"]
        assert error.details() == (
            f"operation cancelled by the server; see server logs for request id {request_id}"
        )
        assert type(from_rpc_error(error)) is Cancelled
    assert received == ["0", "1", "2"]
    warnings = [
        r
        for r in _log_records(log_stream)
        if r["event"] == "handler raised CancelledError while its call was not cancelled"
    ]
    assert len(warnings) == 2


async def test_a_client_cancelling_still_cancels_the_handler(
    echo: EchoServicer, channel: grpc.aio.Channel, log_stream: io.StringIO
) -> None:
    call = _unary(channel, "Echo")(StringValue(value="sleep:30"))
    await echo.sleeping.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    # The server is free again, and logged the call as cancelled, not as a handler bug.
    reply = await _unary(channel, "Echo")(StringValue(value="after"), timeout=_CALL_TIMEOUT_S)
    assert reply.value == "after"
    records = _log_records(log_stream)
    assert [r["code"] for r in records if r["event"] == "rpc"] == ["CANCELLED", "OK"]
    assert not [r for r in records if "CancelledError" in r["event"]]


async def test_base_exception_from_a_handler_is_internal(
    channel: grpc.aio.Channel, log_stream: io.StringIO
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _unary(channel, "Echo")(StringValue(value="base_exception"), timeout=_CALL_TIMEOUT_S)
    _assert_safe_internal(caught.value)
    failures = [r for r in _log_records(log_stream) if r["event"] == "unhandled exception in rpc"]
    assert failures[0]["exception"][0]["exc_type"] == "BaseException"


@pytest.mark.parametrize("text", ["system_exit", "keyboard_interrupt"])
async def test_system_exit_in_a_handler_fails_only_that_call(
    echo: EchoServicer, channel: grpc.aio.Channel, log_stream: io.StringIO, text: str
) -> None:
    in_flight = asyncio.ensure_future(
        _unary(channel, "Echo")(StringValue(value="sleep:0.5"), timeout=_CALL_TIMEOUT_S)
    )
    await echo.sleeping.wait()

    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await _unary(channel, "Echo")(StringValue(value=text), timeout=_CALL_TIMEOUT_S)
    received, streamed = await _expand_all(channel, text)

    _assert_safe_internal(unary.value)
    _assert_safe_internal(streamed)
    assert received == ["0", "1", "2"]
    # The server kept serving: the call in flight finished, and new calls work.
    assert (await in_flight).value == "slept"
    reply = await _unary(channel, "Echo")(StringValue(value="still up"), timeout=_CALL_TIMEOUT_S)
    assert reply.value == "still up"
    loud = [r for r in _log_records(log_stream) if r["level"] == "critical"]
    assert len(loud) == 2
    assert loud[0]["event"].startswith(f"handler raised {loud[0]['exception'][0]['exc_type']}")


def test_system_exit_in_a_handler_does_not_stop_a_server_process() -> None:
    port = free_port()
    proc = _start_echo_process(port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo = channel.unary_unary(
                method("Echo"), request_serializer=_serialize, response_deserializer=_deserialize
            )
            with pytest.raises(grpc.RpcError) as caught:
                echo(StringValue(value="system_exit"), wait_for_ready=True, timeout=10)
            assert caught.value.code() is grpc.StatusCode.INTERNAL
            assert echo(StringValue(value="up"), timeout=10).value == "up"
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.splitlines() == ["STOPPED"]


async def test_non_string_message_and_metadata_arrive_as_strings(
    channel: grpc.aio.Channel,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as int_message:
        await _unary(channel, "Echo")(StringValue(value="int_message"), timeout=_CALL_TIMEOUT_S)
    with pytest.raises(grpc.aio.AioRpcError) as int_metadata:
        await _unary(channel, "Echo")(StringValue(value="int_metadata"), timeout=_CALL_TIMEOUT_S)

    assert int_message.value.code() is grpc.StatusCode.NOT_FOUND
    assert int_message.value.details() == "12345"
    assert int_metadata.value.code() is grpc.StatusCode.NOT_FOUND
    err = from_rpc_error(int_metadata.value)
    assert (type(err), err.message, err.metadata) == (NotFound, "nf", {"a": "1"})


async def test_an_error_that_cannot_be_encoded_is_a_plain_internal(
    channel: grpc.aio.Channel, log_stream: io.StringIO
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _unary(channel, "Echo")(StringValue(value="unencodable"), timeout=_CALL_TIMEOUT_S)

    error = caught.value
    assert error.code() is grpc.StatusCode.INTERNAL
    request_id = dict(error.trailing_metadata())["x-request-id"]
    assert error.details() == f"internal error; see server logs for request id {request_id}"
    assert SECRET not in repr(list(error.trailing_metadata()))
    assert [r for r in _log_records(log_stream) if r["event"].startswith("cannot encode the error")]


@pytest.mark.parametrize("text", ["huge", "huge_unicode"])
async def test_an_oversized_error_arrives_bounded_with_its_code_and_error_info(
    channel: grpc.aio.Channel, text: str
) -> None:
    # Trailers between gRPC's soft and hard limits are rejected at random: repeat.
    for _ in range(20):
        call = _unary(channel, "Echo")(StringValue(value=text), timeout=_CALL_TIMEOUT_S)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call

        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().endswith("… (truncated)")
        status = await rpc_status.aio.from_call(call)
        assert status.message == caught.value.details()
        info = _error_info(status)
        assert (info.reason, info.domain) == ("HUGE", ERROR_DOMAIN)
        assert info.metadata
        err = from_rpc_error(caught.value)
        assert isinstance(err, InvalidArgument)
        assert err.reason == "HUGE"


async def test_a_response_that_is_not_a_message_is_internal(
    channel: grpc.aio.Channel, log_stream: io.StringIO
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await _unary(channel, "Echo")(StringValue(value="bad_response"), timeout=_CALL_TIMEOUT_S)
    received, streamed = await _expand_all(channel, "bad_response")

    _assert_safe_internal(unary.value)
    _assert_safe_internal(streamed)
    for leak in ("SerializeToString", "dict"):
        assert leak not in unary.value.details() + streamed.details()
    assert received == ["0", "1", "2"]
    logged = [
        r
        for r in _log_records(log_stream)
        if r["event"] == "handler returned a response that is not a protobuf message"
    ]
    assert [r["response_type"] for r in logged] == ["builtins.dict", "builtins.dict"]


class _SyncEcho:
    def Echo(self, request: StringValue, context: Any) -> StringValue:
        raise KeyError(SECRET)


def _sync_registration() -> ServiceRegistration:
    def add_to_server(servicer: _SyncEcho, server: Any) -> None:
        handler = grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Echo": grpc.unary_unary_rpc_method_handler(
                    servicer.Echo,
                    request_deserializer=_deserialize,
                    response_serializer=_serialize,
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))

    return ServiceRegistration(add_to_server, _SyncEcho(), SERVICE_NAME)


async def test_a_synchronous_generic_handler_is_refused_without_leaking(
    log_stream: io.StringIO,
) -> None:
    async with (
        running_server(services=[_sync_registration()]) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _unary(channel, "Echo")(StringValue(value="x"), timeout=_CALL_TIMEOUT_S)

    _assert_safe_internal(caught.value)
    refused = [r for r in _log_records(log_stream) if r["event"].startswith("synchronous rpc")]
    assert refused[0]["handler"] == "_SyncEcho.Echo"


class _PartialDataRegistry(data_service_pb2_grpc.DataRegistryServiceServicer):  # type: ignore[misc]
    async def GetDataset(
        self, request: data_service_pb2.GetDatasetRequest, context: Any
    ) -> data_service_pb2.GetDatasetResponse:
        return data_service_pb2.GetDatasetResponse()


async def test_a_generated_method_left_unimplemented_is_unimplemented() -> None:
    registration = ServiceRegistration(
        data_service_pb2_grpc.add_DataRegistryServiceServicer_to_server,
        _PartialDataRegistry(),
        "gyre.data.v1.DataRegistryService",
    )
    async with (
        running_server(services=[registration]) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = data_service_pb2_grpc.DataRegistryServiceStub(channel)
        await stub.GetDataset(data_service_pb2.GetDatasetRequest(), timeout=_CALL_TIMEOUT_S)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListDatasets(data_service_pb2.ListDatasetsRequest(), timeout=_CALL_TIMEOUT_S)

    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert caught.value.details() == (
        "method /gyre.data.v1.DataRegistryService/ListDatasets is not implemented"
    )
    assert type(from_rpc_error(caught.value)) is Unimplemented


class _MistypedTraining(training_service_pb2_grpc.TrainingServiceServicer):  # type: ignore[misc]
    """A real generated servicer whose handlers answer with the wrong message type."""

    async def GetRun(self, request: Any, context: Any) -> Any:
        # Serializes fine: without a type check the client would parse these bytes
        # as a GetRunResponse and get OK.
        return data_service_pb2.GetDatasetRequest(name="datasets/" + "x" * 40)

    async def GetExperiment(
        self, request: Any, context: Any
    ) -> training_service_pb2.GetExperimentResponse:
        return training_service_pb2.GetExperimentResponse()

    async def StreamRunLogs(self, request: Any, context: Any) -> AsyncIterator[Any]:
        yield training_service_pb2.StreamRunLogsResponse()
        yield data_service_pb2.GetDatasetRequest(name="datasets/d")

    async def CancelRun(self, request: Any, context: Any) -> Any:
        raise GeneratorExit


@pytest.fixture
async def training_stub(
    log_stream: io.StringIO,
) -> AsyncIterator[training_service_pb2_grpc.TrainingServiceStub]:
    registration = ServiceRegistration(
        training_service_pb2_grpc.add_TrainingServiceServicer_to_server,
        _MistypedTraining(),
        "gyre.training.v1.TrainingService",
    )
    async with (
        running_server(services=[registration]) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        yield training_service_pb2_grpc.TrainingServiceStub(channel)


async def _drain_messages(responses: Any, into: list[Any]) -> None:
    async for reply in responses:
        into.append(reply)


async def test_a_response_of_another_message_type_is_internal(
    training_stub: training_service_pb2_grpc.TrainingServiceStub, log_stream: io.StringIO
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await training_stub.GetRun(training_service_pb2.GetRunRequest(), timeout=_CALL_TIMEOUT_S)
    received: list[Any] = []
    logs = training_stub.StreamRunLogs(
        training_service_pb2.StreamRunLogsRequest(), timeout=_CALL_TIMEOUT_S
    )
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        await _drain_messages(logs, received)
    # A method answering with its declared type is untouched.
    ok = await training_stub.GetExperiment(
        training_service_pb2.GetExperimentRequest(), timeout=_CALL_TIMEOUT_S
    )

    _assert_safe_internal(unary.value)
    _assert_safe_internal(streamed.value)
    assert received == [training_service_pb2.StreamRunLogsResponse()]
    assert ok == training_service_pb2.GetExperimentResponse()
    logged = [
        (r["method"], r["response_type"], r["expected_type"])
        for r in _log_records(log_stream)
        if r["event"].startswith("handler returned a response of another message type")
    ]
    assert logged == [
        (
            "/gyre.training.v1.TrainingService/GetRun",
            "gyre.data.v1.GetDatasetRequest",
            "gyre.training.v1.GetRunResponse",
        ),
        (
            "/gyre.training.v1.TrainingService/StreamRunLogs",
            "gyre.data.v1.GetDatasetRequest",
            "gyre.training.v1.StreamRunLogsResponse",
        ),
    ]


async def test_generator_exit_from_a_unary_handler_is_internal(
    training_stub: training_service_pb2_grpc.TrainingServiceStub, log_stream: io.StringIO
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await training_stub.CancelRun(
            training_service_pb2.CancelRunRequest(), timeout=_CALL_TIMEOUT_S
        )

    _assert_safe_internal(caught.value)
    failures = [r for r in _log_records(log_stream) if r["event"] == "unhandled exception in rpc"]
    assert [r["exception"][0]["exc_type"] for r in failures] == ["GeneratorExit"]
    # The server keeps serving.
    ok = await training_stub.GetExperiment(
        training_service_pb2.GetExperimentRequest(), timeout=_CALL_TIMEOUT_S
    )
    assert ok == training_service_pb2.GetExperimentResponse()
