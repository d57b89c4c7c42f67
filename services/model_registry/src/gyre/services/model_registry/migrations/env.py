"""Alembic environment of the model registry's tables."""

from __future__ import annotations

from gyre.runtime.db import run_env
from gyre.services.model_registry.schema import MIGRATIONS

run_env(MIGRATIONS)
