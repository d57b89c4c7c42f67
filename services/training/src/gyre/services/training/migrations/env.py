"""Alembic environment of the training scheduler's tables."""

from __future__ import annotations

from gyre.runtime.db import run_env
from gyre.services.training.db import TRAINING_MIGRATIONS

run_env(TRAINING_MIGRATIONS)
