"""Alembic environment of the validation gate's tables."""

from __future__ import annotations

from gyre.runtime.db import run_env
from gyre.services.validation._migrations import VALIDATION_MIGRATIONS

run_env(VALIDATION_MIGRATIONS)
