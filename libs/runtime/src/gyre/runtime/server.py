"""The one gRPC server bootstrap every Gyre service uses.

A service's ``__main__`` is three lines::

    settings = RegistrySettings()
    configure_logging(settings.logging, service_name=settings.service_name)
    raise SystemExit(run(serve(settings, services=[ServiceRegistration(
        add_ModelRegistryServiceServicer_to_server, servicer,
        "gyre.models.v1.ModelRegistryService")])))

:func:`serve` starts a ``grpc.aio`` server with the error and telemetry
interceptors, the standard health service (``grpc.health.v1.Health``, SERVING
per registered service and overall under ``""``), server reflection and,
when ``settings.server.metrics_port`` is set, a Prometheus endpoint; it returns
after SIGTERM or SIGINT, having stopped gracefully: health goes NOT_SERVING,
in-flight RPCs get ``settings.server.grace_period_s`` to finish, then the
shutdown hooks run.

Tests use :func:`running_server` instead: the same server on ``127.0.0.1:0`` in
the test's own event loop, without signal handlers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gyre.runtime.interceptors import ErrorInterceptor, TelemetryInterceptor
from gyre.runtime.metrics import MetricsServer, start_metrics_server
from gyre.runtime.settings import ServerSettings, ServiceSettings

__all__ = [
    "HEALTH_SERVICE_NAME",
    "LOOPBACK_HOST",
    "OVERALL_HEALTH",
    "REFLECTION_SERVICE_NAME",
    "TEST_GRACE_PERIOD_S",
    "GyreServer",
    "OnShutdown",
    "OnStartup",
    "ServiceHealth",
    "ServiceRegistration",
    "run",
    "running_server",
    "serve",
    "start_server",
]

# Health-check name of the whole server (the empty service name, per the protocol).
OVERALL_HEALTH: Final = ""
HEALTH_SERVICE_NAME: Final = "grpc.health.v1.Health"
REFLECTION_SERVICE_NAME: Final[str] = reflection.SERVICE_NAME
# Interface running_server binds.
LOOPBACK_HOST: Final = "127.0.0.1"
# Seconds running_server gives in-flight RPCs when the block exits.
TEST_GRACE_PERIOD_S: Final = 1.0
# Signals serve() turns into a graceful stop.
_STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
# Modules protoc's gRPC plugin generates (their servicer base classes define the RPCs).
_GENERATED_GRPC_MODULE_SUFFIX: Final = "_pb2_grpc"

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceRegistration:
    """One gRPC service to host.

    Attributes:
        add_to_server: The generated ``add_<Service>Servicer_to_server(servicer,
            server)`` function (or any callable that registers handlers on the
            server, e.g. one calling ``server.add_generic_rpc_handlers``).
        servicer: The servicer instance passed to ``add_to_server``.
        service_name: Full protobuf service name, e.g.
            ``"gyre.models.v1.ModelRegistryService"``; used for health checking
            and reflection.

    Raises:
        TypeError: If the servicer overrides an RPC method of its generated base
            class (``<Service>Servicer`` in a ``*_pb2_grpc`` module) with a method
            that is neither ``async def`` nor an async generator. Gyre services
            are asyncio-only: grpc would run a synchronous method in a thread and
            send its exceptions' class and text to the client. (A synchronous
            handler registered some other way is refused per call; see
            :mod:`gyre.runtime.interceptors`.)
    """

    add_to_server: Callable[[Any, Any], None]
    servicer: object
    service_name: str

    def __post_init__(self) -> None:
        synchronous = _synchronous_rpc_methods(self.servicer)
        if synchronous:
            cls = type(self.servicer)
            raise TypeError(
                f"{cls.__module__}.{cls.__qualname__} implements RPC methods that are not "
                f"'async def' (or async generators): {', '.join(synchronous)}; "
                "Gyre services are asyncio-only"
            )


class ServiceHealth:
    """The server's health statuses (the standard ``grpc.health.v1.Health`` service).

    Every registered service starts SERVING, as does the overall status
    (service ``""``). A service flips itself with :meth:`set_not_serving` (e.g.
    while its database is unreachable) and back with :meth:`set_serving`. Once the
    server begins to shut down every status is NOT_SERVING for good and further
    changes are ignored.
    """

    def __init__(self) -> None:
        self._servicer = health.aio.HealthServicer()

    @property
    def servicer(self) -> Any:
        """The ``grpc_health`` asyncio servicer registered on the server."""
        return self._servicer

    async def set_serving(self, service: str = OVERALL_HEALTH) -> None:
        """Report ``service`` (default: the whole server) as SERVING."""
        await self._servicer.set(service, health_pb2.HealthCheckResponse.SERVING)

    async def set_not_serving(self, service: str = OVERALL_HEALTH) -> None:
        """Report ``service`` (default: the whole server) as NOT_SERVING."""
        await self._servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)

    async def enter_shutdown(self) -> None:
        """Set every status to NOT_SERVING permanently."""
        await self._servicer.enter_graceful_shutdown()


OnStartup = Callable[["GyreServer"], Awaitable[None]]
OnShutdown = Callable[[], Awaitable[None]]


class GyreServer:
    """A started Gyre gRPC server (returned by :func:`start_server`)."""

    def __init__(
        self,
        *,
        grpc_server: Any,
        host: str,
        port: int,
        health: ServiceHealth,
        on_shutdown: Sequence[OnShutdown],
        metrics_server: MetricsServer | None,
    ) -> None:
        self.grpc_server = grpc_server
        self.host = host
        self.port = port
        self.health = health
        self.metrics_server = metrics_server
        self._on_shutdown = list(on_shutdown)
        self._stopped: asyncio.Future[None] | None = None

    @property
    def target(self) -> str:
        """``host:port`` to dial, e.g. ``"127.0.0.1:50051"``."""
        return f"{self.host}:{self.port}"

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` has been called."""
        return self._stopped is not None

    async def stop(self, grace: float | None) -> None:
        """Stop gracefully; safe to call more than once (later calls wait for the first).

        Order: every health status goes NOT_SERVING; the server stops accepting
        RPCs and gives in-flight ones ``grace`` seconds (``None``: cancel them at
        once); the shutdown hooks run in reverse order (a failing hook is logged
        and the others still run); the metrics endpoint closes.
        """
        if self._stopped is not None:
            await asyncio.shield(self._stopped)
            return
        self._stopped = asyncio.get_running_loop().create_future()
        try:
            await self.health.enter_shutdown()
            await self.grpc_server.stop(grace)
            await _run_shutdown_hooks(self._on_shutdown)
            if self.metrics_server is not None:
                self.metrics_server.close()
        finally:
            self._stopped.set_result(None)

    async def wait_for_termination(self) -> None:
        """Return once the gRPC server has stopped."""
        await self.grpc_server.wait_for_termination()


async def start_server(
    settings: ServiceSettings,
    *,
    services: Sequence[ServiceRegistration],
    on_startup: Sequence[OnStartup] = (),
    on_shutdown: Sequence[OnShutdown] = (),
    interceptors: Sequence[Any] = (),
    options: Sequence[tuple[str, Any]] = (),
    host: str | None = None,
    port: int | None = None,
    metrics_port: int | None = None,
    ok_log_level: int = logging.INFO,
) -> GyreServer:
    """Build, bind and start a server; the caller owns stopping it.

    Startup hooks run in order after the port is bound and before the server
    accepts RPCs, each receiving the :class:`GyreServer` (its port is known).
    If a hook raises, the server is stopped, *every* shutdown hook runs (so they
    must tolerate a partial startup), and the error propagates.

    Args:
        settings: ``settings.server`` gives host, port (0: a free port) and
            metrics port (0: no metrics endpoint).
        services: The services to host.
        on_startup: Awaited in order before serving.
        on_shutdown: Awaited in reverse order after the server stopped.
        interceptors: Extra ``grpc.aio.ServerInterceptor`` s, run inside the
            telemetry and error interceptors (so their errors are mapped too).
        options: gRPC channel arguments, e.g. ``("grpc.max_receive_message_length", n)``.
        host: Overrides ``settings.server.host``.
        port: Overrides ``settings.server.port``.
        metrics_port: Overrides ``settings.server.metrics_port``.
        ok_log_level: Level of the access-log line of successful RPCs
            (``logging.DEBUG`` keeps hot paths quiet).

    Raises:
        RuntimeError: If the port cannot be bound.
        OSError: If the metrics port cannot be bound.
        ValueError: If two registrations name the same service.
    """
    server_settings: ServerSettings = settings.server
    bind_host = server_settings.host if host is None else host
    bind_port = server_settings.port if port is None else port
    scrape_port = server_settings.metrics_port if metrics_port is None else metrics_port
    names = [registration.service_name for registration in services]
    if len(set(names)) != len(names):
        raise ValueError(
            f"services registered twice: {sorted(n for n in names if names.count(n) > 1)}"
        )

    grpc_server = grpc.aio.server(
        interceptors=[
            TelemetryInterceptor(ok_level=ok_log_level),
            ErrorInterceptor(),
            *interceptors,
        ],
        options=list(options),
    )
    for registration in services:
        registration.add_to_server(registration.servicer, grpc_server)
    service_health = ServiceHealth()
    health_pb2_grpc.add_HealthServicer_to_server(service_health.servicer, grpc_server)
    reflection.enable_server_reflection(
        (*names, HEALTH_SERVICE_NAME, REFLECTION_SERVICE_NAME), grpc_server
    )
    bound_port = grpc_server.add_insecure_port(f"{_bracket(bind_host)}:{bind_port}")
    if not bound_port:
        raise RuntimeError(f"cannot bind gRPC server to {bind_host}:{bind_port}")

    metrics_server = start_metrics_server(scrape_port, host=bind_host) if scrape_port else None
    server = GyreServer(
        grpc_server=grpc_server,
        host=bind_host,
        port=int(bound_port),
        health=service_health,
        on_shutdown=on_shutdown,
        metrics_server=metrics_server,
    )
    try:
        for hook in on_startup:
            await hook(server)
        await grpc_server.start()
    except BaseException:
        await server.stop(None)
        raise
    for name in names:
        await service_health.set_serving(name)
    await service_health.set_serving(OVERALL_HEALTH)
    _log.info(
        "grpc server started",
        service=settings.service_name,
        target=server.target,
        services=names,
        metrics_port=metrics_server.port if metrics_server else None,
    )
    return server


async def serve(
    settings: ServiceSettings,
    *,
    services: Sequence[ServiceRegistration],
    on_startup: Sequence[OnStartup] = (),
    on_shutdown: Sequence[OnShutdown] = (),
    interceptors: Sequence[Any] = (),
    options: Sequence[tuple[str, Any]] = (),
    ok_log_level: int = logging.INFO,
) -> None:
    """Run a service until SIGTERM or SIGINT, then stop gracefully and return.

    See :func:`start_server` for the arguments and startup;
    :meth:`GyreServer.stop` for the shutdown sequence, which gets
    ``settings.server.grace_period_s``. A second signal while stopping is
    ignored (the grace period bounds the wait). Signal handlers are installed
    only when running in the main thread; elsewhere, cancel the task to stop.

    Raises:
        RuntimeError: If the port cannot be bound.
    """
    server = await start_server(
        settings,
        services=services,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        interceptors=interceptors,
        options=options,
        ok_log_level=ok_log_level,
    )
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    installed: list[signal.Signals] = []

    def request_stop(signum: signal.Signals) -> None:
        _log.info(
            "stop requested", signal=signum.name, grace_period_s=settings.server.grace_period_s
        )
        stop_requested.set()

    if threading.current_thread() is threading.main_thread():
        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, request_stop, signum)
            installed.append(signum)
    try:
        await stop_requested.wait()
    finally:
        try:
            await server.stop(settings.server.grace_period_s)
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
    _log.info("grpc server stopped", service=settings.service_name)


@asynccontextmanager
async def running_server(
    *,
    services: Sequence[ServiceRegistration],
    settings: ServiceSettings | None = None,
    on_startup: Sequence[OnStartup] = (),
    on_shutdown: Sequence[OnShutdown] = (),
    interceptors: Sequence[Any] = (),
    options: Sequence[tuple[str, Any]] = (),
    metrics_port: int = 0,
    grace: float = TEST_GRACE_PERIOD_S,
) -> AsyncIterator[GyreServer]:
    """The server of :func:`serve`, in-process on ``127.0.0.1:<free port>`` (tests).

    Runs in the caller's event loop with no signal handlers; yields the started
    :class:`GyreServer` (``.target``, ``.port``, ``.health``) and stops it when
    the block exits, giving in-flight RPCs ``grace`` seconds. ``metrics_port``
    (0: none) serves Prometheus metrics too.

    Raises:
        RuntimeError: If no port could be bound.
    """
    server = await start_server(
        settings if settings is not None else ServiceSettings(),
        services=services,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        interceptors=interceptors,
        options=options,
        host=LOOPBACK_HOST,
        port=0,
        metrics_port=metrics_port,
    )
    try:
        yield server
    finally:
        await server.stop(grace)


def run(main: Coroutine[Any, Any, object]) -> int:
    """Run a service's main coroutine to completion; return a process exit code.

    For ``__main__`` modules: ``raise SystemExit(run(serve(settings, ...)))``.
    Returns 0 when ``main`` returns and 130 on a KeyboardInterrupt that escaped
    it (``serve`` handles SIGINT itself); other exceptions propagate.
    """
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    return 0


async def _run_shutdown_hooks(hooks: Sequence[OnShutdown]) -> None:
    for hook in reversed(hooks):
        try:
            await hook()
        except Exception:
            _log.exception("shutdown hook failed", hook=getattr(hook, "__qualname__", repr(hook)))


def _synchronous_rpc_methods(servicer: object) -> list[str]:
    """Names of the generated base class's RPC methods the servicer overrides synchronously."""
    cls = type(servicer)
    found: list[str] = []
    for base in cls.__mro__[1:]:
        if not base.__module__.endswith(_GENERATED_GRPC_MODULE_SUFFIX):
            continue
        for name, placeholder in vars(base).items():
            if name.startswith("_") or not inspect.isfunction(placeholder):
                continue
            implementation = inspect.getattr_static(cls, name, None)
            if implementation is placeholder or name in found:
                continue
            function = getattr(implementation, "__func__", implementation)
            if not (inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)):
                found.append(name)
    return found


def _bracket(host: str) -> str:
    """IPv6 literals need brackets in a gRPC address."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
