"""Fixtures of the data registry's integration tests: the real service (real S3, NATS,
SQLite or PostgreSQL) running in a background thread, and a blocking SDK client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from data_registry_support import ServiceThread
from support.gyre_services import service_settings
from support.servers import NatsServer, PostgresServer, SeaweedS3

from gyre.sdk import GyreClient

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
