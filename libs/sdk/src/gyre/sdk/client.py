"""A small typed client for every Gyre service.

:class:`GyreClient` (blocking) and :class:`AsyncGyreClient` (``grpc.aio``) hold one
channel per service, created on first use, and expose the generated stubs — so
every request and response is the typed protobuf message from ``gyre.<domain>.v1`` —
with one difference: failed calls raise the typed :mod:`gyre.sdk.errors` classes
(``NotFound``, ``InvalidArgument``, ``Aborted``, …, all subclasses of
:class:`~gyre.sdk.errors.GyreError`) that the server raised, rebuilt from the
``google.rpc.Status`` details, instead of a bare ``grpc.RpcError``::

    from gyre.data.v1 import data_service_pb2
    from gyre.sdk import GyreClient, NotFound

    with GyreClient() as gyre:
        try:
            gyre.data.GetDataset(data_service_pb2.GetDatasetRequest(name="datasets/elec2"))
        except NotFound as err:
            print(err.reason, err.metadata)

Addresses are resolved by :func:`gyre.sdk.endpoints.resolve_address`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar, cast, overload

import grpc
import grpc.aio
from google.protobuf.message import Message

from gyre.data.v1.data_service_pb2_grpc import DataRegistryServiceStub
from gyre.inference.v1.inference_service_pb2_grpc import InferenceServiceStub
from gyre.models.v1.models_service_pb2_grpc import ModelRegistryServiceStub
from gyre.monitoring.v1.monitoring_service_pb2_grpc import MonitoringServiceStub
from gyre.sdk.endpoints import (
    DATA_REGISTRY,
    INFERENCE,
    MODEL_REGISTRY,
    MONITORING,
    TRAINING,
    VALIDATION,
    ServiceInfo,
    resolve_address,
)
from gyre.sdk.errors import from_rpc_error
from gyre.training.v1.training_service_pb2_grpc import TrainingServiceStub
from gyre.validation.v1.validation_service_pb2_grpc import ValidationServiceStub

__all__ = ["DEFAULT_TIMEOUT_S", "AsyncGyreClient", "GyreClient"]

#: Deadline applied to every unary call that does not pass its own ``timeout`` (seconds).
DEFAULT_TIMEOUT_S = 30.0
#: Largest message a client sends or accepts (bytes); predictions may carry large batches.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
)

StubT = TypeVar("StubT")


class _SyncMethod:
    """Wraps one multi-callable so failures raise typed Gyre errors."""

    __slots__ = ("_default_timeout", "_inner")

    def __init__(self, inner: Any, default_timeout: float | None) -> None:
        self._inner = inner
        self._default_timeout = default_timeout

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        streaming_response = isinstance(
            self._inner, grpc.UnaryStreamMultiCallable | grpc.StreamStreamMultiCallable
        )
        if not streaming_response:
            kwargs.setdefault("timeout", self._default_timeout)
        try:
            result = self._inner(request, **kwargs)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc
        if streaming_response:
            return _translate_iter(result)
        return result


def _translate_iter(responses: Iterator[Message]) -> Iterator[Message]:
    try:
        yield from responses
    except grpc.RpcError as exc:
        raise from_rpc_error(exc) from exc


class _AsyncMethod:
    """Wraps one ``grpc.aio`` multi-callable so failures raise typed Gyre errors."""

    __slots__ = ("_default_timeout", "_inner")

    def __init__(self, inner: Any, default_timeout: float | None) -> None:
        self._inner = inner
        self._default_timeout = default_timeout

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        if isinstance(
            self._inner, grpc.aio.UnaryStreamMultiCallable | grpc.aio.StreamStreamMultiCallable
        ):
            return _translate_aiter(self._inner(request, **kwargs))
        kwargs.setdefault("timeout", self._default_timeout)
        return self._unary(request, **kwargs)

    async def _unary(self, request: Any, **kwargs: Any) -> Any:
        try:
            return await self._inner(request, **kwargs)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc


async def _translate_aiter(call: Any) -> AsyncIterator[Message]:
    try:
        async for response in call:
            yield response
    except grpc.RpcError as exc:
        raise from_rpc_error(exc) from exc


class _TranslatingStub:
    """A generated stub whose every method raises typed Gyre errors."""

    def __init__(self, stub: object, wrap: Callable[[Any], Any]) -> None:
        self._stub = stub
        self._wrap = wrap

    def __getattr__(self, name: str) -> Any:
        method = self._wrap(getattr(self._stub, name))
        setattr(self, name, method)
        return method


class _Service(Generic[StubT]):
    """Class attribute giving a client's translating stub for one service, created once
    per client instance on first access."""

    def __init__(self, info: ServiceInfo, stub_type: type[StubT]) -> None:
        self._info = info
        self._stub_type = stub_type
        self._attr = f"_stub_{info.key}"

    @overload
    def __get__(self, client: None, owner: type[Any]) -> _Service[StubT]: ...
    @overload
    def __get__(self, client: _BaseClient, owner: type[Any]) -> StubT: ...
    def __get__(self, client: _BaseClient | None, owner: type[Any]) -> StubT | _Service[StubT]:
        if client is None:
            return self
        stub: StubT | None = client.__dict__.get(self._attr)
        if stub is None:
            stub = client._stub(self._info, self._stub_type)
            client.__dict__[self._attr] = stub
        return stub


class _BaseClient:
    def _stub(self, info: ServiceInfo, stub_type: type[StubT]) -> StubT:
        raise NotImplementedError

    def __init__(
        self,
        *,
        addresses: Mapping[str, str] | None = None,
        home: Path | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._addresses = dict(addresses or {})
        self._home = home
        self._timeout = timeout

    def address(self, info: ServiceInfo) -> str:
        """The ``host:port`` this client dials for ``info``."""
        return resolve_address(info, address=self._addresses.get(info.key), home=self._home)


class GyreClient(_BaseClient):
    """Blocking client for every Gyre service; a context manager that closes its channels.

    Args:
        addresses: Optional ``{service key: "host:port"}`` overrides (keys as in
            :data:`gyre.sdk.endpoints.SERVICES`, e.g. ``"data_registry"``).
        home: Gyre state directory whose ``stack.json`` names the local stack's
            addresses (default ``$GYRE_HOME`` or ``./.gyre``).
        timeout: Default deadline of unary calls in seconds (``None``: no deadline).
    """

    def __init__(
        self,
        *,
        addresses: Mapping[str, str] | None = None,
        home: Path | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(addresses=addresses, home=home, timeout=timeout)
        self._channels: dict[str, grpc.Channel] = {}

    def channel(self, info: ServiceInfo) -> grpc.Channel:
        """The (lazily created, cached) channel to ``info``'s service."""
        channel = self._channels.get(info.key)
        if channel is None:
            channel = grpc.insecure_channel(self.address(info), options=_CHANNEL_OPTIONS)
            self._channels[info.key] = channel
        return channel

    def _stub(self, info: ServiceInfo, stub_type: type[StubT]) -> StubT:
        wrap = functools.partial(_SyncMethod, default_timeout=self._timeout)
        return cast(StubT, _TranslatingStub(stub_type(self.channel(info)), wrap))  # type: ignore[call-arg]

    data = _Service(DATA_REGISTRY, DataRegistryServiceStub)
    """The data registry (``gyre.data.v1.DataRegistryService``)."""
    training = _Service(TRAINING, TrainingServiceStub)
    """The training scheduler (``gyre.training.v1.TrainingService``)."""
    models = _Service(MODEL_REGISTRY, ModelRegistryServiceStub)
    """The model registry (``gyre.models.v1.ModelRegistryService``)."""
    validation = _Service(VALIDATION, ValidationServiceStub)
    """The validation gate (``gyre.validation.v1.ValidationService``)."""
    inference = _Service(INFERENCE, InferenceServiceStub)
    """The inference gateway (``gyre.inference.v1.InferenceService``)."""
    monitoring = _Service(MONITORING, MonitoringServiceStub)
    """The monitor (``gyre.monitoring.v1.MonitoringService``)."""

    def close(self) -> None:
        """Close every channel this client opened."""
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def __enter__(self) -> GyreClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncGyreClient(_BaseClient):
    """``asyncio`` client for every Gyre service (``grpc.aio``); same arguments as
    :class:`GyreClient`. Use it as ``async with AsyncGyreClient() as gyre: ...``;
    unary calls are awaited, server-streaming calls are async iterators."""

    def __init__(
        self,
        *,
        addresses: Mapping[str, str] | None = None,
        home: Path | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(addresses=addresses, home=home, timeout=timeout)
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, info: ServiceInfo) -> grpc.aio.Channel:
        """The (lazily created, cached) channel to ``info``'s service."""
        channel = self._channels.get(info.key)
        if channel is None:
            channel = grpc.aio.insecure_channel(self.address(info), options=_CHANNEL_OPTIONS)
            self._channels[info.key] = channel
        return channel

    def _stub(self, info: ServiceInfo, stub_type: type[StubT]) -> StubT:
        wrap = functools.partial(_AsyncMethod, default_timeout=self._timeout)
        return cast(StubT, _TranslatingStub(stub_type(self.channel(info)), wrap))  # type: ignore[call-arg]

    data = _Service(DATA_REGISTRY, DataRegistryServiceStub)
    """The data registry; methods are awaitable."""
    training = _Service(TRAINING, TrainingServiceStub)
    """The training scheduler; methods are awaitable."""
    models = _Service(MODEL_REGISTRY, ModelRegistryServiceStub)
    """The model registry; methods are awaitable."""
    validation = _Service(VALIDATION, ValidationServiceStub)
    """The validation gate; methods are awaitable."""
    inference = _Service(INFERENCE, InferenceServiceStub)
    """The inference gateway; methods are awaitable."""
    monitoring = _Service(MONITORING, MonitoringServiceStub)
    """The monitor; methods are awaitable; streams are async iterators."""

    async def close(self) -> None:
        """Close every channel this client opened."""
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    async def __aenter__(self) -> AsyncGyreClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
