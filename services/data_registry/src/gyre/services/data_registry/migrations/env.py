"""Alembic environment of the data registry's tables."""

from __future__ import annotations

from gyre.runtime.db import run_env
from gyre.services.data_registry.migrations_chain import DATA_REGISTRY_MIGRATIONS

run_env(DATA_REGISTRY_MIGRATIONS)
