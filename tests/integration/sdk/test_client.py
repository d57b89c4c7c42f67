"""The SDK clients against a real gRPC server built with the runtime's serve().

A test-only TrainingService servicer answers two RPCs; everything between the
client and it (channel, interceptors, status details) is the real stack.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from gyre.runtime.server import ServiceRegistration, running_server
from gyre.sdk import AsyncGyreClient, FieldViolation, GyreClient, InvalidArgument, NotFound
from gyre.sdk.endpoints import TRAINING
from gyre.training.v1 import run_pb2, training_service_pb2, training_service_pb2_grpc


class _Training(training_service_pb2_grpc.TrainingServiceServicer):
    async def GetRun(self, request: Any, context: Any) -> Any:
        if not request.name.startswith("runs/"):
            raise InvalidArgument(
                "name must look like runs/{run}",
                field_violations=[FieldViolation("name", "expected runs/{run}")],
            )
        if request.name != "runs/r1":
            raise NotFound(f"{request.name} does not exist", metadata={"resource": request.name})
        return training_service_pb2.GetRunResponse(run=run_pb2.Run(name="runs/r1"))

    async def StreamRunLogs(self, request: Any, context: Any) -> AsyncIterator[Any]:
        for offset in range(3):
            yield training_service_pb2.StreamRunLogsResponse(
                lines=[training_service_pb2.LogLine(offset=offset, text=f"line {offset}")]
            )
        raise NotFound("run vanished mid-stream")


def _registration() -> ServiceRegistration:
    return ServiceRegistration(
        training_service_pb2_grpc.add_TrainingServiceServicer_to_server,
        _Training(),
        TRAINING.grpc_service,
    )


async def test_async_client_gets_typed_responses_and_errors() -> None:
    async with (
        running_server(services=[_registration()]) as server,
        AsyncGyreClient(addresses={"training": server.target}) as gyre,
    ):
        request = training_service_pb2.GetRunRequest(name="runs/r1")
        response = await gyre.training.GetRun(request)
        assert response.run.name == "runs/r1"

        with pytest.raises(NotFound) as missing:
            await gyre.training.GetRun(training_service_pb2.GetRunRequest(name="runs/nope"))
        assert missing.value.metadata == {"resource": "runs/nope"}
        assert "runs/nope does not exist" in str(missing.value)

        with pytest.raises(InvalidArgument) as invalid:
            await gyre.training.GetRun(training_service_pb2.GetRunRequest(name="bad"))
        assert invalid.value.field_violations == [FieldViolation("name", "expected runs/{run}")]

        texts: list[str] = []

        async def read_logs() -> None:
            async for chunk in gyre.training.StreamRunLogs(
                training_service_pb2.StreamRunLogsRequest(name="runs/r1")
            ):
                texts.extend(line.text for line in chunk.lines)

        with pytest.raises(NotFound, match="vanished"):
            await read_logs()
        assert texts == ["line 0", "line 1", "line 2"]


async def test_blocking_client_from_another_thread() -> None:
    async with running_server(services=[_registration()]) as server:

        def use_blocking_client() -> tuple[str, type[BaseException], list[str]]:
            with GyreClient(addresses={"training": server.target}) as gyre:
                name = gyre.training.GetRun(
                    training_service_pb2.GetRunRequest(name="runs/r1")
                ).run.name
                try:
                    gyre.training.GetRun(training_service_pb2.GetRunRequest(name="runs/x"))
                except Exception as exc:
                    error = type(exc)
                texts: list[str] = []
                stream: Iterator[Any] = gyre.training.StreamRunLogs(
                    training_service_pb2.StreamRunLogsRequest(name="runs/r1")
                )
                try:
                    for chunk in stream:
                        texts.extend(line.text for line in chunk.lines)
                except NotFound:
                    texts.append("<not found>")
                return name, error, texts

        name, error, texts = await asyncio.to_thread(use_blocking_client)
        assert name == "runs/r1"
        assert error is NotFound
        assert texts == ["line 0", "line 1", "line 2", "<not found>"]
