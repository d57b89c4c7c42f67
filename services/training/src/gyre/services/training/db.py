"""The training scheduler's Alembic chain."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from gyre.runtime.db import MigrationChain
from gyre.services.training.models import TrainingBase

__all__ = ["TRAINING_MIGRATIONS"]

TRAINING_MIGRATIONS: Final = MigrationChain(
    name="training",
    script_location=str(Path(__file__).parent / "migrations"),
    version_table="gyre_training_alembic_version",
    metadata=TrainingBase.metadata,
)
