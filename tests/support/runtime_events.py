"""Fixtures and helpers for the runtime's database and event tests.

Import the fixtures into a test module (`from support.runtime_events import db, nc, ...`):
each test gets its own streams, subject prefixes and migrated database.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError
from sqlalchemy import MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gyre.runtime.db import NAMING_CONVENTION, RUNTIME_MIGRATIONS, Database, migrate
from gyre.runtime.events import connect_nats
from gyre.runtime.settings import NatsSettings
from support.servers import NatsServer

# Deadline of eventually(): generous, it only bounds a failing test.
EVENTUALLY_TIMEOUT_S = 30.0


class EffectsBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Widget(EffectsBase):
    """A state change that announces itself with an event."""

    __tablename__ = "test_widgets"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)


class Applied(EffectsBase):
    """A handler's effect: one row per application (duplicates would show here)."""

    __tablename__ = "test_applied"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(64))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database (runtime chain) plus the tests' own effect tables."""
    await migrate(database_url, chains=[RUNTIME_MIGRATIONS])
    database = Database(database_url, pool_size=5)
    async with database.engine.begin() as conn:
        await conn.run_sync(EffectsBase.metadata.create_all)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def nats_settings(nats_server: NatsServer) -> AsyncIterator[NatsSettings]:
    """Stream names and subject prefixes of this test only; the streams are deleted after."""
    tag = uuid.uuid4().hex[:10]
    settings = NatsSettings(
        url=nats_server.url,
        stream=f"T{tag}",
        subject_prefix=f"t{tag}.v1",
        dead_letter_stream=f"TD{tag}",
        dead_letter_prefix=f"t{tag}.dlq",
        publish_timeout_s=1.0,
        connect_timeout_s=1.0,
    )
    yield settings
    if nats_server.proc is None:
        nats_server.start()
    nc = await connect_nats(settings, initial_timeout_s=10)
    try:
        js = nc.jetstream()
        for stream in (settings.stream, settings.dead_letter_stream):
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(stream)
    finally:
        await nc.close()


@pytest.fixture
async def nc(nats_settings: NatsSettings) -> AsyncIterator[Client]:
    client = await connect_nats(nats_settings, name="gyre-tests", initial_timeout_s=10)
    try:
        yield client
    finally:
        await client.close()


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within_s: float = EVENTUALLY_TIMEOUT_S
) -> Any:
    """Poll ``await check()`` until truthy; fail the test if it never becomes so."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within_s}s: {check}")
        await asyncio.sleep(0.02)
