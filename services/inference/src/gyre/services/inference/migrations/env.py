"""Alembic environment of the inference gateway's tables."""

from __future__ import annotations

from gyre.runtime.db import run_env
from gyre.services.inference._migrations import INFERENCE_MIGRATIONS

run_env(INFERENCE_MIGRATIONS)
