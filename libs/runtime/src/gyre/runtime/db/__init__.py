"""Database access for Gyre services: engine, transactions, per-owner Alembic migrations.

::

    db = Database(settings.database_url(), pool_size=settings.database.pool_size)
    await migrate(db.url, chains=[RUNTIME_MIGRATIONS, MY_SERVICE_MIGRATIONS])
    async with db.transaction() as session:
        session.add(row)
"""

from __future__ import annotations

from gyre.runtime.db._base import NAMING_CONVENTION, RuntimeBase, UtcDateTime, utcnow
from gyre.runtime.db._database import (
    DEFAULT_POOL_SIZE,
    DEFAULT_RETRY_ATTEMPTS,
    DEFAULT_SQLITE_BUSY_TIMEOUT_MS,
    Database,
    after_commit,
    is_retryable,
    translate_integrity_error,
)
from gyre.runtime.db._migrate import (
    RUNTIME_MIGRATIONS,
    SQLITE_MIGRATION_LOCK_SUFFIX,
    MigrationChain,
    downgrade,
    migrate,
    run_env,
    schema_diff,
)
from gyre.runtime.db.models import (
    DEAD_LETTERS_TABLE,
    OUTBOX_TABLE,
    PROCESSED_EVENTS_TABLE,
    DeadLetterRecord,
    OutboxRecord,
    ProcessedEventRecord,
)

__all__ = [
    "DEAD_LETTERS_TABLE",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_RETRY_ATTEMPTS",
    "DEFAULT_SQLITE_BUSY_TIMEOUT_MS",
    "NAMING_CONVENTION",
    "OUTBOX_TABLE",
    "PROCESSED_EVENTS_TABLE",
    "RUNTIME_MIGRATIONS",
    "SQLITE_MIGRATION_LOCK_SUFFIX",
    "Database",
    "DeadLetterRecord",
    "MigrationChain",
    "OutboxRecord",
    "ProcessedEventRecord",
    "RuntimeBase",
    "UtcDateTime",
    "after_commit",
    "downgrade",
    "is_retryable",
    "migrate",
    "run_env",
    "schema_diff",
    "translate_integrity_error",
    "utcnow",
]
