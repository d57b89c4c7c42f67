"""Alembic migrations per owner: the runtime and each service have their own chain.

Every chain lives in its owner's package (an Alembic script directory whose ``env.py``
calls :func:`run_env`) and records its revision in its own version table, so several
chains share one database without seeing each other's tables.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from filelock import FileLock
from sqlalchemy import MetaData, TypeDecorator, create_engine, pool, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from gyre.runtime.db import models as _models  # registers the runtime tables
from gyre.runtime.db._base import RuntimeBase
from gyre.runtime.db._database import ensure_sqlite_directory

__all__ = [
    "RUNTIME_MIGRATIONS",
    "SQLITE_MIGRATION_LOCK_SUFFIX",
    "MigrationChain",
    "downgrade",
    "migrate",
    "run_env",
    "schema_diff",
]

# Key of pg_advisory_xact_lock held while migrating, so that replicas starting together
# migrate one after the other (an arbitrary constant: "gyre" in ASCII).
_PG_MIGRATION_LOCK_KEY: Final = 0x67797265
# Suffix of the lock file created next to an SQLite database while migrating it, so that
# processes starting together on one file migrate one after the other.
SQLITE_MIGRATION_LOCK_SUFFIX: Final = ".migrate.lock"
# Config.attributes keys handed from migrate() to env.py.
_CONNECTION_ATTR: Final = "connection"
_CHAIN_ATTR: Final = "gyre_chain"


@dataclass(frozen=True)
class MigrationChain:
    """One owner's Alembic migrations.

    Attributes:
        name: the owner, e.g. ``"runtime"`` or ``"model-registry"``.
        script_location: path of the Alembic script directory (holds ``env.py`` and
            ``versions/``).
        version_table: table recording this chain's revision, e.g.
            ``"gyre_runtime_alembic_version"``; unique per chain.
        metadata: the owner's ORM metadata; its tables are the only ones this chain
            compares and autogenerates.
    """

    name: str
    script_location: str
    version_table: str
    metadata: MetaData

    def include_name(self, name: str | None, type_: str, parent_names: Any) -> bool:
        """Alembic ``include_name`` hook: only this chain's tables exist for it."""
        if type_ == "table":
            return name in self.metadata.tables
        return True

    def alembic_config(self, connection: Connection | None = None) -> Config:
        """An Alembic config for this chain, bound to ``connection`` when given."""
        config = Config()
        config.set_main_option("script_location", self.script_location)
        config.attributes[_CHAIN_ATTR] = self
        if connection is not None:
            config.attributes[_CONNECTION_ATTR] = connection
        return config


RUNTIME_MIGRATIONS: Final = MigrationChain(
    name="runtime",
    script_location=str(Path(__file__).parent / "migrations"),
    version_table="gyre_runtime_alembic_version",
    metadata=RuntimeBase.metadata,
)
assert _models.OUTBOX_TABLE in RUNTIME_MIGRATIONS.metadata.tables


def sync_url(url: str) -> str:
    """The synchronous-driver form of an async URL (for the Alembic command line)."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite")
    return parsed.render_as_string(hide_password=False)


def _sqlite_lock_path(url: str) -> Path | None:
    """The migration lock file of an SQLite database file; ``None`` for other URLs."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + SQLITE_MIGRATION_LOCK_SUFFIX)


@contextlib.asynccontextmanager
async def _sqlite_file_lock(url: str) -> AsyncIterator[None]:
    # SQLite has no advisory locks: an inter-process file lock next to the database
    # serializes migrators (fcntl/msvcrt, released by the OS if the process dies).
    path = _sqlite_lock_path(url)
    if path is None:
        yield
        return
    # thread_local=False: acquired in a worker thread (waiting must not block the event
    # loop), released from this one.
    lock = FileLock(path, thread_local=False)
    await asyncio.to_thread(lock.acquire)
    try:
        yield
    finally:
        lock.release()


async def _run_locked(url: str, steps: Sequence[tuple[MigrationChain, str, bool]]) -> None:
    ensure_sqlite_directory(url)
    async with _sqlite_file_lock(url):
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"),
                        {"key": _PG_MIGRATION_LOCK_KEY},
                    )
                for chain, revision, up in steps:
                    await conn.run_sync(_run_command, chain, revision, up)
        finally:
            await engine.dispose()


def _run_command(conn: Connection, chain: MigrationChain, revision: str, up: bool) -> None:
    config = chain.alembic_config(conn)
    if up:
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


async def migrate(url: str, *, chains: Sequence[MigrationChain]) -> None:
    """Upgrade ``chains`` (in order) to their heads in the database at ``url``.

    Services call ``await migrate(url, chains=[RUNTIME_MIGRATIONS, THEIR_CHAIN])`` at
    start-up. Everything runs in one transaction (PostgreSQL's DDL is transactional),
    under a lock so that concurrent replicas do not race: an advisory lock on
    PostgreSQL, a file lock next to the database file
    (``<file>`` + :data:`SQLITE_MIGRATION_LOCK_SUFFIX`) on SQLite.

    Args:
        url: async SQLAlchemy URL (``sqlite+aiosqlite://`` or ``postgresql+psycopg://``).
        chains: the migration chains to apply, the runtime's first.

    Raises:
        alembic.util.CommandError: a chain's scripts are inconsistent.
        sqlalchemy.exc.DBAPIError: the database refused a migration.
    """
    await _run_locked(url, [(chain, "head", True) for chain in chains])


async def downgrade(url: str, *, chain: MigrationChain, revision: str = "base") -> None:
    """Downgrade one chain to ``revision`` (``"base"`` drops all of its tables)."""
    await _run_locked(url, [(chain, revision, False)])


async def schema_diff(url: str, *, chain: MigrationChain) -> list[Any]:
    """Differences between ``chain.metadata`` and the migrated database (empty = in sync).

    Alembic's ``compare_metadata`` restricted to the chain's own tables, with type
    comparison on. Each entry is an Alembic diff tuple such as ``("add_table", table)``.
    """
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_compare, chain)
    finally:
        await engine.dispose()


def _compare(conn: Connection, chain: MigrationChain) -> list[Any]:
    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "include_name": chain.include_name,
            "version_table": chain.version_table,
        },
    )
    return list(compare_metadata(context, chain.metadata))


def run_env(chain: MigrationChain) -> None:
    """Body of every chain's ``env.py``: run the migrations of ``chain``.

    Under :func:`migrate` the connection comes from ``config.attributes``; from the
    ``alembic`` command line it is made from the ``sqlalchemy.url`` option (an async
    URL is turned into its sync-driver form). SQLite gets ``render_as_batch`` so that
    ALTERs become table copies.
    """
    from alembic import context

    config = context.config
    connection: Connection | None = config.attributes.get(_CONNECTION_ATTR)
    if connection is not None:
        _configure_and_run(context, connection, chain)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url (alembic -x or alembic.ini) to run migrations")
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _configure_and_run(context, conn, chain)
            conn.commit()
    finally:
        engine.dispose()


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Autogenerated scripts must not import Gyre code: render type decorators (such as
    # UtcDateTime) as the plain SQLAlchemy type they store.
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def _configure_and_run(context: Any, connection: Connection, chain: MigrationChain) -> None:
    context.configure(
        connection=connection,
        target_metadata=chain.metadata,
        version_table=chain.version_table,
        include_name=chain.include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
