"""Fixtures of the data registry's integration tests: the real service (real S3, NATS,
SQLite or PostgreSQL) running in a background thread, and a blocking SDK client."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.gyre_services import service_settings
from support.servers import NatsServer, PostgresServer, SeaweedS3

from gyre.runtime.settings import ServiceSettings
from gyre.sdk import GyreClient
from gyre.services.data_registry.app import running


class ServiceThread:
    """The data registry, run by ``app.running`` in an event loop of its own thread."""

    def __init__(self, settings: ServiceSettings, **options: Any) -> None:
        self.settings = settings
        self.options = options
        self.target = ""
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="data-registry", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running(self.settings, **self.options) as server:
            self.target = server.target
            self._started.set()
            await self._stop.wait()

    def start(self) -> None:
        self._thread.start()
        self._started.wait(120)
        if self._error is not None:
            raise self._error
        assert self.target, "the data registry did not start"

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


_counter = iter(range(1_000_000))


def _database(kind: str, request: pytest.FixtureRequest, home: Path) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{home / 'data-registry.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"data_registry_{next(_counter)}_{os.getpid()}")


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def registry(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    nats_server: NatsServer,
    s3_server: SeaweedS3,
) -> Iterator[ServiceThread]:
    """The running data registry, once per module and database kind."""
    home = tmp_path_factory.mktemp("data-registry")
    settings = service_settings(
        "data_registry",
        home,
        nats=nats_server,
        s3=s3_server,
        database_url=_database(request.param, request, home),
        bucket=f"gyre-data-registry-{request.param}",
    )
    service = ServiceThread(settings)
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def client(registry: ServiceThread) -> Iterator[GyreClient]:
    """A blocking SDK client of the running registry."""
    with GyreClient(addresses={"data_registry": registry.target}, timeout=120) as gyre:
        yield gyre


def unique_dataset(prefix: str = "ds") -> str:
    """A dataset id no other test uses."""
    return f"{prefix}-{next(_counter)}-{os.getpid()}"


def rpc_error_metadata(err: Any) -> dict[str, str]:
    """ErrorInfo metadata of a Gyre error."""
    return dict(getattr(err, "metadata", {}) or {})


@pytest.fixture(scope="module")
def small_sync_registry(
    tmp_path_factory: pytest.TempPathFactory, nats_server: NatsServer, s3_server: SeaweedS3
) -> Iterator[ServiceThread]:
    """A registry (SQLite) that profiles every version above 64 KiB in the background."""
    home = tmp_path_factory.mktemp("data-registry-async")
    settings = service_settings(
        "data_registry",
        home,
        nats=nats_server,
        s3=s3_server,
        database_url=f"sqlite+aiosqlite:///{home / 'data-registry.db'}",
        bucket="gyre-data-registry-async",
    )
    service = ServiceThread(settings, sync_profile_max_bytes=64 * 1024)
    service.start()
    try:
        yield service
    finally:
        service.stop()
