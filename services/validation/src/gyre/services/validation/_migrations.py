"""The validation gate's Alembic chain."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from gyre.runtime.db import MigrationChain
from gyre.services.validation._tables import ValidationBase

__all__ = ["VALIDATION_MIGRATIONS"]

VALIDATION_MIGRATIONS: Final = MigrationChain(
    name="validation",
    script_location=str(Path(__file__).parent / "migrations"),
    version_table="gyre_validation_alembic_version",
    metadata=ValidationBase.metadata,
)
