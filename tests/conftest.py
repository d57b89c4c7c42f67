"""Fixtures shared by every test suite: real servers on free ports, stopped afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.servers import NatsServer, PostgresServer, RayHead, SeaweedS3, TritonServer

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Tests start what they need on free ports and pass its address explicitly: a shell that
# sourced a local stack's `.gyre/env` (GYRE_*_ADDRESS, GYRE_HOME, RAY_ADDRESS, ...) must
# not point them at that stack instead.
for _name in list(os.environ):
    if (_name.startswith("GYRE_") and _name != "GYRE_DATASETS_DIR") or _name in {
        "RAY_ADDRESS",
        "RAY_AUTH_MODE",
        "RAY_AUTH_TOKEN_PATH",
    }:
        del os.environ[_name]


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real nats-server with JetStream, shared by the session (restartable)."""
    server = NatsServer(store_dir=tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedS3]:
    """A real S3 endpoint (SeaweedFS), shared by the session."""
    with SeaweedS3.running() as server:
        yield server


@pytest.fixture(scope="session")
def triton_server() -> Iterator[TritonServer]:
    """A real Triton (explicit model control, Python backend), shared by the session.

    Tests write models into ``triton_server.model_repository`` under names of their
    own and load / unload them through the client.
    """
    with TritonServer.running() as server:
        yield server


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    """A real Ray head (token auth on, 1 CPU), shared by the session."""
    with RayHead.running() as head:
        yield head


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL cluster, shared by the session.

    Skipped locally when PostgreSQL is not installed; in CI (``CI=true``) its
    absence is an error, so a green CI always means PostgreSQL was tested.
    """
    if not PostgresServer.available():
        if IN_CI:
            pytest.fail("PostgreSQL is not installed; .ci/run must install Debian's postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with PostgresServer.running() as server:
        yield server


_db_counter = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL: SQLite in a temp dir, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gyre.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"test_{next(_db_counter)}_{os.getpid()}")
