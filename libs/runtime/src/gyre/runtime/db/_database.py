"""The async database of one service: engine, the one transaction helper, retries.

SQLite (``sqlite+aiosqlite:///path``) is the embedded default; PostgreSQL
(``postgresql+psycopg://...``) runs in production. Store methods take the
:class:`~sqlalchemy.ext.asyncio.AsyncSession` of :meth:`Database.transaction` and never
commit on their own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from gyre.runtime.errors import Aborted, AlreadyExists, FailedPrecondition

__all__ = [
    "DEFAULT_POOL_SIZE",
    "DEFAULT_RETRY_ATTEMPTS",
    "DEFAULT_SQLITE_BUSY_TIMEOUT_MS",
    "Database",
    "after_commit",
    "ensure_sqlite_directory",
    "is_retryable",
    "translate_integrity_error",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")

# Connections kept open per process for server databases (SQLite ignores it).
DEFAULT_POOL_SIZE: Final = 10
# How long an SQLite writer waits for the write lock before failing with "database is locked".
DEFAULT_SQLITE_BUSY_TIMEOUT_MS: Final = 10_000
# Attempts (first one included) of a short transaction that hit a serialization failure,
# a deadlock or a busy SQLite database; waits grow from 10 ms to at most 500 ms, jittered.
DEFAULT_RETRY_ATTEMPTS: Final = 5
_RETRY_INITIAL_WAIT_S: Final = 0.01
_RETRY_MAX_WAIT_S: Final = 0.5

# PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected, unique/foreign-key/
# not-null/check violations.
_PG_RETRYABLE: Final = frozenset({"40001", "40P01"})
_PG_UNIQUE_VIOLATION: Final = "23505"
_SQLITE_BUSY_MARKERS: Final = ("database is locked", "database is busy", "database table is locked")

# Key in ``AsyncSession.info`` of the callbacks to run after a successful commit.
_AFTER_COMMIT_KEY: Final = "gyre.after_commit"


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback()`` once the transaction of ``session`` has committed.

    Used by the outbox to wake its relay; callbacks are dropped on rollback. They run
    in the event loop right after ``COMMIT`` returns and must not raise or block.
    """
    callbacks: list[Callable[[], None]] = session.info.setdefault(_AFTER_COMMIT_KEY, [])
    if callback not in callbacks:
        callbacks.append(callback)


def _sqlstate(exc: DBAPIError) -> str | None:
    state = getattr(exc.orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is a transient conflict worth retrying the whole transaction for.

    True for PostgreSQL serialization failures (40001) and deadlocks (40P01) and for
    SQLite "database is locked/busy" errors.
    """
    if not isinstance(exc, DBAPIError) or isinstance(exc, IntegrityError):
        return False
    if _sqlstate(exc) in _PG_RETRYABLE:
        return True
    message = str(exc.orig).lower()
    return any(marker in message for marker in _SQLITE_BUSY_MARKERS)


def translate_integrity_error(exc: IntegrityError) -> Exception:
    """The Gyre error for a constraint violation: unique → ``AlreadyExists``, else
    ``FailedPrecondition`` (foreign key, not null, check).

    The database's message is kept out of the error text (it may hold values); the
    caller raises the result ``from exc`` so that logs keep the cause.
    """
    message = str(exc.orig)
    if _sqlstate(exc) == _PG_UNIQUE_VIOLATION or "UNIQUE constraint failed" in message:
        return AlreadyExists("the resource already exists")
    return FailedPrecondition("the change violates a database constraint")


class Database:
    """An async SQLAlchemy engine for one service's database.

    Args:
        url: async SQLAlchemy URL, ``sqlite+aiosqlite:///path`` or
            ``postgresql+psycopg://user@host:port/db``.
        pool_size: connections kept open (PostgreSQL only).
        echo: log every SQL statement.
        sqlite_busy_timeout_ms: how long SQLite writers wait for the write lock.

    SQLite connections get ``journal_mode=WAL`` (readers never block the writer),
    ``foreign_keys=ON`` and ``busy_timeout``. Call :meth:`dispose` (or use
    ``async with``) when done.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        echo: bool = False,
        sqlite_busy_timeout_ms: int = DEFAULT_SQLITE_BUSY_TIMEOUT_MS,
    ) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect: str = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect != "sqlite":
            kwargs.update(pool_size=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            ensure_sqlite_directory(url)
            _configure_sqlite(self.engine, busy_timeout_ms=sqlite_busy_timeout_ms)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """True for an SQLite database (a single writer at a time)."""
        return self.dialect == "sqlite"

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """``async with db.transaction() as session:`` — one database transaction.

        Commits when the block exits normally and rolls back when it raises; then runs
        the :func:`after_commit` callbacks. The only place where Gyre code commits.

        Raises:
            AlreadyExists: a unique constraint was violated (at flush or commit).
            FailedPrecondition: another constraint (foreign key, not null, check) was.
        """
        async with self._sessions() as session:
            try:
                async with session.begin():
                    yield session
            except IntegrityError as exc:
                raise translate_integrity_error(exc) from exc
            callbacks: list[Callable[[], None]] = session.info.pop(_AFTER_COMMIT_KEY, [])
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    _log.exception("after-commit callback failed")

    async def run(
        self,
        work: Callable[[AsyncSession], Awaitable[T]],
        *,
        attempts: int = DEFAULT_RETRY_ATTEMPTS,
    ) -> T:
        """Run ``await work(session)`` in a transaction, retrying it on transient conflicts.

        For short transactions only: ``work`` may run several times, so it must not have
        effects outside the database. Retries on :func:`is_retryable` errors with
        jittered exponential waits (10 ms to 500 ms), ``attempts`` tries in all.

        Raises:
            Aborted: still conflicting after ``attempts`` tries.
            AlreadyExists, FailedPrecondition: see :meth:`transaction`.
        """
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_retryable),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(initial=_RETRY_INITIAL_WAIT_S, max=_RETRY_MAX_WAIT_S),
            reraise=False,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    async with self.transaction() as session:
                        result = await work(session)
                    return result
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            raise Aborted("the transaction kept conflicting with others; retry") from cause
        raise AssertionError("unreachable")  # pragma: no cover

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.dispose()


def ensure_sqlite_directory(url: str) -> None:
    """Create the directory of an SQLite database file (no-op for other URLs)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()
