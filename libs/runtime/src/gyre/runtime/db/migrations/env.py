"""Alembic environment of the runtime's own tables (outbox, processed events, dead letters)."""

from __future__ import annotations

from gyre.runtime.db._migrate import RUNTIME_MIGRATIONS, run_env

run_env(RUNTIME_MIGRATIONS)
