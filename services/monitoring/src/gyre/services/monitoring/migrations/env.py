"""Alembic environment of the monitor's tables."""

from __future__ import annotations

from gyre.runtime.db import run_env
from gyre.services.monitoring.models import MONITORING_MIGRATIONS

run_env(MONITORING_MIGRATIONS)
