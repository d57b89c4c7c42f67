"""The runtime's Alembic chain on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, pool
from sqlalchemy.ext.asyncio import create_async_engine

from gyre.runtime.db import (
    DEAD_LETTERS_TABLE,
    OUTBOX_TABLE,
    PROCESSED_EVENTS_TABLE,
    RUNTIME_MIGRATIONS,
    downgrade,
    migrate,
    schema_diff,
)

pytestmark = pytest.mark.integration

RUNTIME_TABLES = {OUTBOX_TABLE, PROCESSED_EVENTS_TABLE, DEAD_LETTERS_TABLE}


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


async def test_models_match_migrations(database_url: str) -> None:
    await migrate(database_url, chains=[RUNTIME_MIGRATIONS])

    assert await schema_diff(database_url, chain=RUNTIME_MIGRATIONS) == []


async def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    await migrate(database_url, chains=[RUNTIME_MIGRATIONS])
    assert await _tables(database_url) == RUNTIME_TABLES | {RUNTIME_MIGRATIONS.version_table}

    await downgrade(database_url, chain=RUNTIME_MIGRATIONS)
    assert await _tables(database_url) & RUNTIME_TABLES == set()

    await migrate(database_url, chains=[RUNTIME_MIGRATIONS])
    assert await _tables(database_url) >= RUNTIME_TABLES
    assert await schema_diff(database_url, chain=RUNTIME_MIGRATIONS) == []


async def test_migrate_is_idempotent(database_url: str) -> None:
    await migrate(database_url, chains=[RUNTIME_MIGRATIONS])
    await migrate(database_url, chains=[RUNTIME_MIGRATIONS])

    assert await schema_diff(database_url, chain=RUNTIME_MIGRATIONS) == []
