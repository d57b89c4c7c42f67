"""The runtime's Alembic chain on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

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
# Replica processes that migrate one fresh SQLite file at the same moment.
CONCURRENT_MIGRATORS = 3
# Seconds added to every CREATE statement in the migrator processes, as on a slow disk:
# it widens the race between reading the version table and creating the tables from a
# few milliseconds (a regression would show now and then) to one that every run hits.
SLOW_DDL_S = 0.05
# One replica: waits for the start file (so all begin together), then migrates.
_MIGRATOR = """
import asyncio, pathlib, sys, time
from sqlalchemy import event
from sqlalchemy.engine import Engine
from gyre.runtime.db import RUNTIME_MIGRATIONS, migrate

@event.listens_for(Engine, "before_cursor_execute")
def slow_ddl(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("CREATE"):
        time.sleep(float(sys.argv[3]))

start = pathlib.Path(sys.argv[2])
while not start.exists():
    time.sleep(0.005)
asyncio.run(migrate(sys.argv[1], chains=[RUNTIME_MIGRATIONS]))
"""


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


async def test_concurrent_migrators_on_one_sqlite_file_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'replicas.db'}"
    start = tmp_path / "start"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _MIGRATOR,
            url,
            str(start),
            str(SLOW_DDL_S),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(CONCURRENT_MIGRATORS)
    ]
    await asyncio.sleep(2.0)  # every replica has imported and waits for the start file
    start.touch()
    # Each replica's exception line, if it died.
    errors = [
        [line for line in (await proc.communicate())[1].decode().splitlines() if "Error" in line][
            -1:
        ]
        for proc in procs
    ]

    assert [(proc.returncode, error) for proc, error in zip(procs, errors, strict=True)] == [
        (0, [])
    ] * CONCURRENT_MIGRATORS
    assert await _tables(url) == RUNTIME_TABLES | {RUNTIME_MIGRATIONS.version_table}
    assert await schema_diff(url, chain=RUNTIME_MIGRATIONS) == []
